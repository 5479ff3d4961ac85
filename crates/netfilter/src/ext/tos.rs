//! `-m tos --tos VALUE[/MASK]`: the IPv4 TOS byte (IPv6 traffic class), masked.

use crate::ext::MatchExt;
use crate::ext::common::push_neg;
use crate::model::{Neg, Span};
use crate::syntax::args::{Args, Opt, parse_u32};
use crate::syntax::error::ParseError;
use crate::syntax::token::Token;

/// The symbolic TOS names iptables accepts; they imply the mask 0x3f.
pub const TOS_NAMES: [(&str, u8); 5] = [
    ("Minimize-Delay", 0x10),
    ("Maximize-Throughput", 0x08),
    ("Maximize-Reliability", 0x04),
    ("Minimize-Cost", 0x02),
    ("Normal-Service", 0x00),
];

/// Parses `VALUE[/MASK]` or a symbolic name into (value, mask); a bare number has mask 0xff.
pub(crate) fn parse_tos(tok: &Token) -> Result<(u8, u8), ParseError> {
    if let Some((_, v)) = TOS_NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(&tok.text))
    {
        return Ok((*v, 0x3f));
    }
    let bad = || {
        ParseError::new(tok.span, format!("invalid TOS value `{}`", tok.text)).with_help(
            "give VALUE[/MASK] (0-255) or one of Minimize-Delay, Maximize-Throughput, \
             Maximize-Reliability, Minimize-Cost, Normal-Service",
        )
    };
    let byte = |s: &str| {
        parse_u32(s)
            .filter(|n| *n <= 255)
            .map(|n| n as u8)
            .ok_or_else(bad)
    };
    match tok.text.split_once('/') {
        Some((v, m)) => Ok((byte(v)?, byte(m)?)),
        None => Ok((byte(&tok.text)?, 0xff)),
    }
}

/// The `tos` match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tos {
    /// `--tos`: (value, mask).
    pub tos: Option<Neg<(u8, u8)>>,
}

impl MatchExt for Tos {
    const OPTIONS: &'static [&'static str] = &["--tos"];

    fn new() -> Self {
        Tos::default()
    }

    fn option(&mut self, mut opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        let v = args.value_negatable(&mut opt)?;
        self.tos = Some(Neg {
            negated: opt.negated,
            value: parse_tos(v)?,
        });
        Ok(())
    }

    fn finish(&mut self, _args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if self.tos.is_none() {
            return Err(ParseError::new(at, "match `tos` requires `--tos`"));
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        if let Some(t) = &self.tos {
            push_neg(out, t.negated);
            out.push_str(&format!(" --tos 0x{:02x}/0x{:02x}", t.value.0, t.value.1));
        }
    }
}

impl Tos {
    /// Not decidable from what a trace knows: always uncertain, saying why.
    pub fn eval(&self, _cx: &crate::eval::Cx<'_>) -> crate::eval::Truth {
        crate::eval::Truth::Unknown("match `-m tos`: the packet's TOS byte is not modelled".into())
    }
}
