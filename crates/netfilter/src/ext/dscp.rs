//! `-m dscp`: the DSCP field (upper six bits of the TOS / traffic class byte).

use crate::ext::MatchExt;
use crate::ext::common::{number, push_neg};
use crate::model::{Neg, Span};
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;
use crate::syntax::token::Token;

/// Parses a DSCP class name (`BE`, `CS0`–`CS7`, `AF11`–`AF43`, `EF`), case-insensitively.
pub(crate) fn parse_class(tok: &Token) -> Result<u8, ParseError> {
    let up = tok.text.to_ascii_uppercase();
    let b = up.as_bytes();
    let value = match b {
        b"BE" => Some(0),
        b"EF" => Some(46),
        [b'C', b'S', d] if (b'0'..=b'7').contains(d) => Some((d - b'0') * 8),
        [b'A', b'F', x, y] if (b'1'..=b'4').contains(x) && (b'1'..=b'3').contains(y) => {
            Some((x - b'0') * 8 + (y - b'0') * 2)
        }
        _ => None,
    };
    value.ok_or_else(|| {
        ParseError::new(tok.span, format!("unknown DSCP class `{}`", tok.text))
            .with_help("classes are BE, EF, CS0 to CS7 and AF11 to AF43")
    })
}

/// The `dscp` match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dscp {
    /// `--dscp` / `--dscp-class`: the 6-bit value.
    pub dscp: Option<Neg<u8>>,
}

impl MatchExt for Dscp {
    const OPTIONS: &'static [&'static str] = &["--dscp", "--dscp-class"];

    fn new() -> Self {
        Dscp::default()
    }

    fn option(&mut self, mut opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        let v = args.value_negatable(&mut opt)?;
        let value = if opt.name == "--dscp" {
            number(v, opt.name, 0, 63)? as u8
        } else {
            parse_class(v)?
        };
        self.dscp = Some(Neg {
            negated: opt.negated,
            value,
        });
        Ok(())
    }

    fn finish(&mut self, _args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if self.dscp.is_none() {
            return Err(ParseError::new(
                at,
                "match `dscp` requires `--dscp` or `--dscp-class`",
            ));
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        if let Some(d) = &self.dscp {
            push_neg(out, d.negated);
            out.push_str(&format!(" --dscp 0x{:02x}", d.value));
        }
    }
}

impl Dscp {
    /// Not decidable from what a trace knows: always uncertain, saying why.
    pub fn eval(&self, _cx: &crate::eval::Cx<'_>) -> crate::eval::Truth {
        crate::eval::Truth::Unknown(
            "match `-m dscp`: the packet's DSCP field is not modelled".into(),
        )
    }
}
