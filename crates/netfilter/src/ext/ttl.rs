//! `-m ttl` (IPv4 TTL) and, through [`HopTest`], `-m hl` (IPv6 hop limit): compare the field
//! with a number.

use crate::ext::MatchExt;
use crate::ext::common::number;
use crate::model::{Family, Span};
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;

/// A comparison of the TTL or hop limit with a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HopTest {
    /// `--ttl-eq N` / `--hl-eq N`.
    Eq(u8),
    /// `! --ttl-eq N` / `! --hl-eq N`.
    Ne(u8),
    /// `--ttl-lt N` / `--hl-lt N`.
    Lt(u8),
    /// `--ttl-gt N` / `--hl-gt N`.
    Gt(u8),
}

impl HopTest {
    /// Applies `--PREFIX-eq|lt|gt` (`prefix` is `ttl` or `hl`).
    pub(crate) fn parse(
        slot: &mut Option<HopTest>,
        opt: &Opt<'_>,
        args: &mut Args<'_>,
    ) -> Result<(), ParseError> {
        let v = args.value(opt)?;
        let n = number(v, opt.name, 0, 255)? as u8;
        if slot.is_some() {
            return Err(opt.error("only one comparison per match"));
        }
        *slot = Some(if opt.name.ends_with("-eq") {
            if opt.negated {
                HopTest::Ne(n)
            } else {
                HopTest::Eq(n)
            }
        } else {
            if opt.negated {
                return Err(opt.error(format!("`{}` cannot be negated", opt.name)));
            }
            if opt.name.ends_with("-lt") {
                HopTest::Lt(n)
            } else {
                HopTest::Gt(n)
            }
        });
        Ok(())
    }

    /// Writes the comparison with option prefix `prefix` (`ttl` or `hl`).
    pub(crate) fn push(&self, out: &mut String, prefix: &str) {
        match *self {
            HopTest::Eq(n) => out.push_str(&format!(" --{prefix}-eq {n}")),
            HopTest::Ne(n) => out.push_str(&format!(" ! --{prefix}-eq {n}")),
            HopTest::Lt(n) => out.push_str(&format!(" --{prefix}-lt {n}")),
            HopTest::Gt(n) => out.push_str(&format!(" --{prefix}-gt {n}")),
        }
    }

    pub(crate) fn finish(
        slot: &Option<HopTest>,
        args: &Args<'_>,
        at: Span,
        name: &str,
        family: Family,
        other: &str,
    ) -> Result<(), ParseError> {
        if args.family != family {
            return Err(ParseError::new(
                at,
                format!("match `{name}` does not exist for this family; use `-m {other}`"),
            ));
        }
        if slot.is_none() {
            return Err(ParseError::new(
                at,
                format!("match `{name}` needs one of `--{name}-eq`, `--{name}-lt`, `--{name}-gt`"),
            ));
        }
        Ok(())
    }
}

/// The `ttl` match (IPv4).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ttl {
    /// The comparison.
    pub test: Option<HopTest>,
}

impl MatchExt for Ttl {
    const OPTIONS: &'static [&'static str] = &["--ttl-eq", "--ttl-lt", "--ttl-gt"];

    fn new() -> Self {
        Ttl::default()
    }

    fn option(&mut self, opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        HopTest::parse(&mut self.test, &opt, args)
    }

    fn finish(&mut self, args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        HopTest::finish(&self.test, args, at, "ttl", Family::Ipv4, "hl")
    }

    fn print(&self, out: &mut String) {
        if let Some(t) = &self.test {
            t.push(out, "ttl");
        }
    }
}

impl Ttl {
    /// Not decidable from what a trace knows: always uncertain, saying why.
    pub fn eval(&self, _cx: &crate::eval::Cx<'_>) -> crate::eval::Truth {
        crate::eval::Truth::Unknown("match `-m ttl`: the packet's TTL is not modelled".into())
    }
}
