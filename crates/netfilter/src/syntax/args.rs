//! A cursor over one rule's arguments, shared by the rule parser and every extension.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::model::{Family, Protocol, Span};
use crate::syntax::error::ParseError;
use crate::syntax::token::Token;

/// The arguments of one rule, and what the extensions need to know about it.
#[derive(Debug)]
pub struct Args<'t> {
    toks: &'t [Token<'t>],
    pos: usize,
    /// The family of the ruleset being read.
    pub family: Family,
    /// The rule's `-p` protocol so far (extensions such as `multiport` depend on it).
    pub proto: Option<Protocol>,
    /// Span to report when the arguments run out.
    pub end: Span,
    /// Whether the rule's `-p` was negated (`! -p tcp`): iptables then skips its protocol checks.
    pub proto_inverted: bool,
    /// The chains of the table being built, whose names jumps share.
    names: Option<&'t FxHashMap<Arc<str>, usize>>,
}

/// An option an extension recognised: its canonical name, negation and token.
#[derive(Clone, Debug)]
pub struct Opt<'t> {
    /// The option's full name (an abbreviation is expanded), e.g. `--dport`.
    pub name: &'static str,
    /// Whether `!` stood before it.
    pub negated: bool,
    /// The option token as written.
    pub tok: &'t Token<'t>,
}

impl<'t> Opt<'t> {
    /// An error about this option.
    pub fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError::new(self.tok.span, message)
    }
}

impl<'t> Args<'t> {
    /// A cursor at the start of `toks`.
    pub fn new(toks: &'t [Token<'t>], family: Family, end: Span) -> Args<'t> {
        Args {
            toks,
            pos: 0,
            family,
            proto: None,
            end,
            proto_inverted: false,
            names: None,
        }
    }

    /// Lets jumps share the names of these chains.
    pub(crate) fn share_names(&mut self, names: Option<&'t FxHashMap<Arc<str>, usize>>) {
        self.names = names;
    }

    /// A chain name for a jump: the one the table's chain holds when there is one.
    pub(crate) fn chain_name(&self, name: &str) -> Arc<str> {
        self.names
            .and_then(|m| m.get_key_value(name))
            .map_or_else(|| name.into(), |(k, _)| Arc::clone(k))
    }

    /// The next token, without consuming it.
    pub fn peek(&self) -> Option<&'t Token<'t>> {
        self.toks.get(self.pos)
    }

    /// The token after the next one.
    pub fn peek2(&self) -> Option<&'t Token<'t>> {
        self.toks.get(self.pos + 1)
    }

    /// Consumes and returns the next token.
    pub fn bump(&mut self) -> Option<&'t Token<'t>> {
        let t = self.toks.get(self.pos);
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    /// The cursor position, for [`Args::rewind`].
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Moves the cursor back to a position taken with [`Args::position`].
    pub fn rewind(&mut self, pos: usize) {
        self.pos = pos.min(self.toks.len());
    }

    /// Whether every argument has been consumed.
    pub fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    /// Consumes the next option when it (after an optional `!`) is one of `known`, or an
    /// unambiguous abbreviation of one, as getopt accepts them.
    pub fn option(&mut self, known: &'static [&'static str]) -> Option<Opt<'t>> {
        let (negated, tok) = match self.peek() {
            Some(t) if t.text == "!" && !t.quoted => (true, self.peek2()?),
            Some(t) => (false, t),
            None => return None,
        };
        if tok.quoted || !tok.text.starts_with("--") {
            return None;
        }
        let name = resolve(&tok.text, known)?;
        self.pos += if negated { 2 } else { 1 };
        Some(Opt { name, negated, tok })
    }

    /// The value of `opt`: the next argument, whatever it looks like (as getopt takes it).
    pub fn value(&mut self, opt: &Opt<'_>) -> Result<&'t Token<'t>, ParseError> {
        self.bump().ok_or_else(|| {
            ParseError::new(
                opt.tok.span,
                format!("option `{}` requires a value", opt.name),
            )
        })
    }

    /// The value of `opt`, also accepting the old `--opt ! value` negation form; sets
    /// `opt.negated` when it is used.
    pub fn value_negatable(&mut self, opt: &mut Opt<'_>) -> Result<&'t Token<'t>, ParseError> {
        if let Some(t) = self.peek()
            && t.text == "!"
            && !t.quoted
            && self.peek2().is_some()
        {
            if opt.negated {
                return Err(ParseError::new(t.span, "`!` given twice for one option"));
            }
            opt.negated = true;
            self.pos += 1;
        }
        self.value(opt)
    }

    /// The next argument when it is a value (not an option starting with `-` or a lone `!`).
    pub fn optional_value(&mut self) -> Option<&'t Token<'t>> {
        match self.peek() {
            Some(t) if t.quoted || !(t.text.starts_with('-') || t.text == "!") => self.bump(),
            _ => None,
        }
    }
}

/// Resolves `--name` against the known options: an exact match, else a unique prefix.
pub(crate) fn resolve(text: &str, known: &'static [&'static str]) -> Option<&'static str> {
    if let Some(k) = known.iter().find(|k| **k == text) {
        return Some(k);
    }
    if text.len() < 3 {
        return None;
    }
    let mut found = known.iter().filter(|k| k.starts_with(text));
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

/// Parses a number in decimal or `0x` hex, as iptables' `strtoul(…, 0)` users accept it.
pub fn parse_u32(text: &str) -> Option<u32> {
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        if hex.is_empty() || hex.len() > 8 {
            return None;
        }
        return u32::from_str_radix(hex, 16).ok();
    }
    if text.len() > 1 && text.starts_with('0') && text.bytes().all(|b| b.is_ascii_digit()) {
        return u32::from_str_radix(&text[1..], 8).ok();
    }
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::token::tokenize;

    #[test]
    fn options_and_abbreviations() {
        let toks = tokenize("! --dport 80 --sp 1 --d 2", 1, 0).unwrap();
        let mut a = Args::new(&toks, Family::Ipv4, Span::default());
        const KNOWN: &[&str] = &["--dport", "--sport", "--dports"];
        let o = a.option(KNOWN).unwrap();
        assert_eq!((o.name, o.negated), ("--dport", true));
        assert_eq!(a.value(&o).unwrap().text, "80");
        let o = a.option(KNOWN).unwrap();
        assert_eq!(o.name, "--sport");
        a.bump();
        assert!(a.option(KNOWN).is_none(), "`--d` is ambiguous");
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_u32("0x4000"), Some(0x4000));
        assert_eq!(parse_u32("16384"), Some(16384));
        assert_eq!(parse_u32("010"), Some(8));
        assert_eq!(parse_u32("0"), Some(0));
        assert_eq!(parse_u32("0x"), None);
        assert_eq!(parse_u32("12a"), None);
        assert_eq!(parse_u32("4294967296"), None);
    }
}
