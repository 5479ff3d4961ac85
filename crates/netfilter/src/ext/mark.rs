//! `-m mark --mark VALUE[/MASK]`: tests the packet mark: `(mark & MASK) == VALUE`.

use crate::ext::MatchExt;
use crate::model::{Neg, Span};
use crate::syntax::args::{Args, Opt, parse_u32};
use crate::syntax::error::ParseError;
use crate::syntax::token::Token;

/// A mark value with a mask, as `--mark` and `--set-xmark` take it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MarkMask {
    /// The value.
    pub value: u32,
    /// The mask (all ones when none was given).
    pub mask: u32,
}

impl MarkMask {
    /// Parses `VALUE` or `VALUE/MASK` (decimal, octal or `0x` hex).
    pub fn parse(tok: &Token) -> Result<MarkMask, ParseError> {
        let bad = || {
            ParseError::new(tok.span, format!("invalid mark `{}`", tok.text))
                .with_help("a mark is VALUE or VALUE/MASK, e.g. 0x4000/0x4000")
        };
        let (v, m) = match tok.text.split_once('/') {
            Some((v, m)) => (v, Some(m)),
            None => (tok.as_str(), None),
        };
        let value = parse_u32(v).ok_or_else(bad)?;
        let mask = match m {
            Some(m) => parse_u32(m).ok_or_else(bad)?,
            None => u32::MAX,
        };
        Ok(MarkMask { value, mask })
    }

    /// Writes `0xV` or `0xV/0xM` as `iptables-save` prints a mark test.
    pub fn push(&self, out: &mut String) {
        if self.mask == u32::MAX {
            out.push_str(&format!("{:#x}", self.value));
        } else {
            out.push_str(&format!("{:#x}/{:#x}", self.value, self.mask));
        }
    }
}

/// The `mark` match.
#[derive(Clone, Debug, PartialEq)]
pub struct MarkMatch {
    /// `--mark`.
    pub mark: Neg<MarkMask>,
    given: bool,
}

impl MarkMatch {
    /// Whether a packet mark passes this test.
    pub fn holds(&self, mark: u32) -> bool {
        self.mark
            .apply(mark & self.mark.value.mask == self.mark.value.value)
    }
}

impl MatchExt for MarkMatch {
    const OPTIONS: &'static [&'static str] = &["--mark"];

    fn new() -> Self {
        MarkMatch {
            mark: Neg::plain(MarkMask {
                value: 0,
                mask: u32::MAX,
            }),
            given: false,
        }
    }

    fn option(&mut self, mut opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        let v = args.value_negatable(&mut opt)?;
        self.mark = Neg {
            negated: opt.negated,
            value: MarkMask::parse(v)?,
        };
        self.given = true;
        Ok(())
    }

    fn finish(&mut self, _args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if !self.given {
            return Err(ParseError::new(at, "match `mark` requires `--mark`"));
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        if self.mark.negated {
            out.push_str(" !");
        }
        out.push_str(" --mark ");
        self.mark.value.push(out);
    }
}

impl MarkMatch {
    /// Evaluates `--mark` against the packet mark.
    pub fn eval(&self, cx: &crate::eval::Cx<'_>) -> crate::eval::Truth {
        crate::eval::Truth::of(self.holds(cx.pkt.mark))
    }
}

#[cfg(test)]
mod tests {
    use crate::eval::Truth;
    use crate::eval::testkit::{Fixture, match4, packet};
    use crate::ext::Match;
    use crate::model::Protocol;

    #[test]
    fn masked_packet_mark() {
        let mut pkt = packet(Protocol::TCP, "192.168.49.7", "192.168.49.2");
        pkt.mark = 0x4001;
        let fix = Fixture::new(pkt);
        let eval = |rule: &str| match match4(rule) {
            Match::Mark(m) => m.eval(&fix.cx()),
            other => panic!("{other:?}"),
        };
        assert_eq!(eval("-m mark --mark 0x4000/0x4000"), Truth::Yes);
        assert_eq!(eval("-m mark --mark 0x4000"), Truth::No);
        assert_eq!(eval("-m mark ! --mark 0x4000/0x4000"), Truth::No);
        assert_eq!(eval("-m mark ! --mark 0x2/0x2"), Truth::Yes);
    }
}
