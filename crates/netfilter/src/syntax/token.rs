//! Splits one line of restore input into arguments, exactly as `iptables-restore` does.
//!
//! The rules (iptables' own restore tokenizer): blanks (space, tab) separate arguments; a double
//! quote opens a quoted stretch in which blanks are kept and a backslash takes the next character
//! literally; the closing quote ends the argument (so `""` is an empty argument). Single quotes and
//! backslashes outside quotes have no special meaning.

use crate::model::Span;

/// One argument of a line, with where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// The argument after unquoting.
    pub text: String,
    /// Where the argument stands in the input (quotes included).
    pub span: Span,
    /// Whether any part of it was quoted.
    pub quoted: bool,
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

/// Splits `line` (which starts at byte `offset` of the input and is line number `line_no`) into
/// arguments.
pub fn tokenize(line: &str, line_no: u32, offset: usize) -> Result<Vec<Token>, TokenError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start: Option<usize> = None;
    let mut quoted = false;
    let mut quote_open = false;
    let mut quote_at = 0usize;
    let mut escaped = false;
    let span_of = |from: usize, to: usize| Span {
        line: line_no,
        col: col_of(line, from),
        start: offset + from,
        end: offset + to,
    };
    for (i, c) in line.char_indices() {
        if quote_open {
            if escaped {
                cur.push(c);
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                quote_open = false;
                let from = start.unwrap_or(i);
                out.push(Token {
                    text: std::mem::take(&mut cur),
                    span: span_of(from, i + 1),
                    quoted: true,
                });
                start = None;
                quoted = false;
            } else {
                cur.push(c);
            }
            continue;
        }
        match c {
            '"' => {
                quote_open = true;
                quoted = true;
                quote_at = i;
                start.get_or_insert(i);
            }
            ' ' | '\t' | '\n' | '\r' => {
                if let Some(from) = start.take() {
                    out.push(Token {
                        text: std::mem::take(&mut cur),
                        span: span_of(from, i),
                        quoted,
                    });
                    quoted = false;
                }
            }
            _ => {
                start.get_or_insert(i);
                cur.push(c);
            }
        }
        if cur.len() > MAX_ARG_LEN {
            return Err(TokenError::TooLong(span_of(start.unwrap_or(i), i)));
        }
    }
    if quote_open {
        return Err(TokenError::UnbalancedQuote(span_of(quote_at, quote_at + 1)));
    }
    if let Some(from) = start {
        out.push(Token {
            text: cur,
            span: span_of(from, line.len()),
            quoted,
        });
    }
    Ok(out)
}

/// The 1-based character column of byte `at` in `line`.
pub(crate) fn col_of(line: &str, at: usize) -> u32 {
    let upto = line.get(..at).unwrap_or(line);
    u32::try_from(upto.chars().count())
        .unwrap_or(u32::MAX)
        .saturating_add(1)
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
            .map(|t| t.text)
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
}
