//! Splits one line of restore input into arguments, exactly as `iptables-restore` does.
//!
//! The rules (iptables' own restore tokenizer): blanks (space, tab) separate arguments; a double
//! quote opens a quoted stretch in which blanks are kept and a backslash takes the next character
//! literally; the closing quote ends the argument (so `""` is an empty argument). Single quotes and
//! backslashes outside quotes have no special meaning.

use std::borrow::Cow;

use crate::model::Span;

/// One argument of a line, with where it came from. The text borrows from the line unless
/// unquoting changed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token<'a> {
    /// The argument after unquoting.
    pub text: Cow<'a, str>,
    /// Where the argument stands in the input (quotes included).
    pub span: Span,
    /// Whether any part of it was quoted.
    pub quoted: bool,
}

impl Token<'_> {
    /// The argument after unquoting.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The token with its text owned, so that it outlives the line it came from.
    pub fn into_owned(self) -> Token<'static> {
        Token {
            text: Cow::Owned(self.text.into_owned()),
            span: self.span,
            quoted: self.quoted,
        }
    }
}

/// The longest argument iptables-restore accepts, in bytes.
pub const MAX_ARG_LEN: usize = 1023;

/// A line could not be split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenError {
    /// A double quote was opened and never closed; the span covers the quote.
    UnbalancedQuote(Span),
    /// An argument is longer than iptables-restore accepts.
    TooLong(Span),
}

/// Byte offsets within one line, turned into spans; the column (in characters) is counted
/// incrementally, as offsets only grow.
struct Spans<'a> {
    line: &'a str,
    line_no: u32,
    offset: usize,
    ascii: bool,
    at: usize,
    col: u32,
}

impl Spans<'_> {
    fn col(&mut self, at: usize) -> u32 {
        if self.ascii {
            return u32::try_from(at).unwrap_or(u32::MAX).saturating_add(1);
        }
        if at < self.at {
            self.at = 0;
            self.col = 1;
        }
        let bytes = self.line.as_bytes();
        let upto = at.min(bytes.len());
        let chars = bytes
            .get(self.at..upto)
            .map_or(0, |b| b.iter().filter(|&&c| (c & 0xC0) != 0x80).count());
        self.col = self
            .col
            .saturating_add(u32::try_from(chars).unwrap_or(u32::MAX));
        self.at = upto.max(self.at);
        self.col
    }

    fn span(&mut self, from: usize, to: usize) -> Span {
        Span {
            line: self.line_no,
            col: self.col(from),
            start: to_u32(self.offset + from),
            end: to_u32(self.offset + to),
        }
    }
}

pub(crate) fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Splits `line` (which starts at byte `offset` of the input and is line number `line_no`) into
/// arguments.
pub fn tokenize(line: &str, line_no: u32, offset: usize) -> Result<Vec<Token<'_>>, TokenError> {
    let mut out = Vec::new();
    tokenize_into(line, line_no, offset, &mut out)?;
    Ok(out)
}

/// [`BYTE_CLASS`] of a byte that continues an unquoted argument.
const PLAIN: u8 = 0;
/// [`BYTE_CLASS`] of a blank (space, tab, CR, LF): it ends an argument.
const BLANK: u8 = 1;
/// [`BYTE_CLASS`] of `"`: it starts a quoted stretch.
const QUOTE: u8 = 2;

/// What each byte is to the tokenizer, looked up once per byte.
static BYTE_CLASS: [u8; 256] = {
    let mut t = [PLAIN; 256];
    t[b' ' as usize] = BLANK;
    t[b'\t' as usize] = BLANK;
    t[b'\n' as usize] = BLANK;
    t[b'\r' as usize] = BLANK;
    t[b'"' as usize] = QUOTE;
    t
};

/// Eight 0x01 bytes.
const ONES: u64 = u64::from_le_bytes([0x01; 8]);
/// Eight 0x80 bytes.
const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);

/// Whether a byte of `x` is zero (exact as to whether any is).
fn has_zero(x: u64) -> bool {
    x.wrapping_sub(ONES) & !x & HIGHS != 0
}

/// Whether a byte of `x` could end an unquoted stretch: a blank or a control byte (at most
/// 0x20), or `"`. Bytes of multi-byte characters (0x80 and above) never do.
fn may_end_plain(x: u64) -> bool {
    x.wrapping_sub(ONES * 0x21) & !x & HIGHS != 0 || has_zero(x ^ (ONES * u64::from(b'"')))
}

/// Whether a byte of `x` is `"` or `\`, which end or escape within a quoted stretch.
fn may_end_quoted(x: u64) -> bool {
    has_zero(x ^ (ONES * u64::from(b'"'))) || has_zero(x ^ (ONES * u64::from(b'\\')))
}

/// The first position at or after `at`, in steps of eight bytes, where the next eight
/// bytes might hold one `may_end` looks for (or fewer than eight are left).
fn skip_words(bytes: &[u8], mut at: usize, may_end: fn(u64) -> bool) -> usize {
    while let Some(chunk) = bytes
        .get(at..at + 8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
    {
        if may_end(u64::from_le_bytes(chunk)) {
            break;
        }
        at += 8;
    }
    at
}

/// Like [`tokenize`], appending to `out` (which is cleared first), so that one vector can
/// serve every line.
pub fn tokenize_into<'a>(
    line: &'a str,
    line_no: u32,
    offset: usize,
    out: &mut Vec<Token<'a>>,
) -> Result<(), TokenError> {
    out.clear();
    let bytes = line.as_bytes();
    let mut sp = Spans {
        line,
        line_no,
        offset,
        ascii: line.is_ascii(),
        at: 0,
        col: 1,
    };
    let is_blank = |b: u8| BYTE_CLASS[usize::from(b)] == BLANK;
    let mut i = 0usize;
    let n = bytes.len();
    while i < n {
        if is_blank(bytes[i]) {
            i += 1;
            continue;
        }
        // An argument starts at `start`: an unquoted stretch, then perhaps a quoted one.
        let start = i;
        // Eight bytes at a time while none can end the argument, then byte by byte.
        i = skip_words(bytes, i, may_end_plain);
        while i < n && BYTE_CLASS[usize::from(bytes[i])] == PLAIN {
            i += 1;
        }
        if i - start > MAX_ARG_LEN {
            // iptables-restore stops at the byte that makes the argument too long.
            let mut at = start + MAX_ARG_LEN;
            while !line.is_char_boundary(at) {
                at -= 1;
            }
            return Err(TokenError::TooLong(sp.span(start, at)));
        }
        if i >= n || bytes[i] != b'"' {
            out.push(Token {
                text: Cow::Borrowed(line.get(start..i).unwrap_or("")),
                span: sp.span(start, i),
                quoted: false,
            });
            continue;
        }
        let quote_at = i;
        let mut j = skip_words(bytes, i + 1, may_end_quoted);
        let mut escapes = false;
        loop {
            match bytes.get(j) {
                None => return Err(TokenError::UnbalancedQuote(sp.span(quote_at, quote_at + 1))),
                Some(b'\\') => {
                    escapes = true;
                    j += 2;
                }
                Some(b'"') => break,
                Some(_) => j += 1,
            }
        }
        // The closing quote ends the argument.
        let inner = line.get(quote_at + 1..j).unwrap_or("");
        let text = if start == quote_at && !escapes {
            Cow::Borrowed(inner)
        } else {
            let mut s = String::with_capacity(j - start);
            s.push_str(line.get(start..quote_at).unwrap_or(""));
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(next) = chars.next() {
                        s.push(next);
                    }
                } else {
                    s.push(c);
                }
            }
            Cow::Owned(s)
        };
        out.push(Token {
            text,
            span: sp.span(start, j + 1),
            quoted: true,
        });
        i = j + 1;
    }
    Ok(())
}

/// The 1-based character column of byte `at` in `line`.
pub(crate) fn col_of(line: &str, at: usize) -> u32 {
    let upto = line.get(..at).unwrap_or(line);
    let chars = if upto.is_ascii() {
        upto.len()
    } else {
        upto.chars().count()
    };
    u32::try_from(chars).unwrap_or(u32::MAX).saturating_add(1)
}

/// Writes `value` as `iptables-save` writes a string option: bare when it is a non-empty run of
/// letters, digits, `_` and `-`; otherwise in double quotes with `"`, `\` and `'` escaped.
pub fn push_save_string(out: &mut String, value: &str) {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        out.push_str(value);
        return;
    }
    out.push('"');
    for c in value.chars() {
        if matches!(c, '"' | '\\' | '\'') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// Writes `value` so that [`tokenize`] reads it back as one argument: bare unless it is empty or
/// holds a blank, a quote or a backslash.
pub fn push_restore_arg(out: &mut String, value: &str) {
    if !value.is_empty() && !value.contains([' ', '\t', '"', '\\', '\n', '\r']) {
        out.push_str(value);
        return;
    }
    out.push('"');
    for c in value.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(line: &str) -> Vec<String> {
        tokenize(line, 1, 0)
            .unwrap()
            .into_iter()
            .map(|t| t.text.into_owned())
            .collect()
    }

    #[test]
    fn splits_and_unquotes() {
        assert_eq!(
            texts("-A  INPUT\t-j ACCEPT  "),
            ["-A", "INPUT", "-j", "ACCEPT"]
        );
        assert_eq!(texts(r#"--comment "a b" x"#), ["--comment", "a b", "x"]);
        assert_eq!(
            texts(r#"--comment "a \"q\" \\ b""#),
            ["--comment", r#"a "q" \ b"#]
        );
        assert_eq!(texts(r#"--comment """#), ["--comment", ""]);
        assert_eq!(texts(r#"ab"c d"e"#), ["abc d", "e"]);
        assert_eq!(texts(r"a\b 'c d'"), [r"a\b", "'c", "d'"]);
    }

    #[test]
    fn spans_point_at_arguments() {
        let toks = tokenize(r#"-A X -m comment --comment "hi there""#, 3, 100).unwrap();
        let last = toks.last().unwrap();
        assert_eq!(last.span.line, 3);
        assert_eq!(last.span.col, 27);
        assert_eq!(last.span.start, 126);
        assert!(last.quoted);
    }

    #[test]
    fn unbalanced_quote() {
        assert_eq!(
            tokenize(r#"-A X --comment "oops"#, 1, 0),
            Err(TokenError::UnbalancedQuote(Span {
                line: 1,
                col: 16,
                start: 15,
                end: 16
            }))
        );
    }

    #[test]
    fn save_string_quoting() {
        let q = |v: &str| {
            let mut s = String::new();
            push_save_string(&mut s, v);
            s
        };
        assert_eq!(q("plain-name_1"), "plain-name_1");
        assert_eq!(q("two words"), "\"two words\"");
        assert_eq!(q(""), "\"\"");
        assert_eq!(q("a\"b"), "\"a\\\"b\"");
        assert_eq!(q("ns/svc:port"), "\"ns/svc:port\"");
    }

    /// The tokenizer byte by byte, as the module documentation states the rules: what the
    /// eight-bytes-at-a-time scan must agree with. (text, start, end, quoted) per argument.
    fn plain_scan(line: &str) -> Option<Vec<(String, usize, usize, bool)>> {
        let b = line.as_bytes();
        let blank = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r');
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if blank(b[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && !blank(b[i]) && b[i] != b'"' {
                i += 1;
            }
            if i - start > MAX_ARG_LEN {
                return None;
            }
            if i == b.len() || b[i] != b'"' {
                out.push((line[start..i].to_string(), start, i, false));
                continue;
            }
            let mut text = line[start..i].to_string();
            let mut j = i + 1;
            let mut inner = Vec::new();
            loop {
                match b.get(j) {
                    None => return None,
                    Some(b'\\') => {
                        if let Some(&c) = b.get(j + 1) {
                            inner.push(c);
                        }
                        j += 2;
                    }
                    Some(b'"') => break,
                    Some(&c) => {
                        inner.push(c);
                        j += 1;
                    }
                }
            }
            text.push_str(&String::from_utf8_lossy(&inner));
            out.push((text, start, j + 1, true));
            i = j + 1;
        }
        Some(out)
    }

    proptest::proptest! {
        #[test]
        fn fast_scan_agrees_with_a_plain_scan(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    "[a-z0-9./:-]{0,30}",
                    "[ a\"\\\\\t\r\x01]{0,12}",
                    "\"[a-z \\\\]{0,20}\"",
                ],
                0..10,
            )
        ) {
            let line: String = parts.concat();
            let want = plain_scan(&line);
            let mut got = Vec::new();
            let ok = tokenize_into(&line, 1, 0, &mut got).is_ok();
            proptest::prop_assert_eq!(ok, want.is_some(), "{:?}", line);
            if let Some(want) = want {
                let got: Vec<(String, usize, usize, bool)> = got
                    .iter()
                    .map(|t| (t.text.to_string(), t.span.start as usize, t.span.end as usize, t.quoted))
                    .collect();
                proptest::prop_assert_eq!(got, want, "{:?}", line);
            }
        }
    }
}
