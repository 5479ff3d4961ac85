//! `-m rt`: the IPv6 routing header (type, segments left, length).

use crate::ext::MatchExt;
use crate::ext::common::{number, push_neg, push_range, range};
use crate::model::{Family, Neg, Span};
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;

/// The `rt` match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rt {
    /// `--rt-type`.
    pub rt_type: Option<Neg<u8>>,
    /// `--rt-segsleft`: inclusive range.
    pub segsleft: Option<Neg<(u32, u32)>>,
    /// `--rt-len`.
    pub len: Option<Neg<u32>>,
    /// `--rt-0-res`: the type-0 reserved field must be zero.
    pub res0: bool,
}

impl MatchExt for Rt {
    const OPTIONS: &'static [&'static str] =
        &["--rt-type", "--rt-segsleft", "--rt-len", "--rt-0-res"];

    fn new() -> Self {
        Rt::default()
    }

    fn option(&mut self, mut opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        match opt.name {
            "--rt-type" => {
                let v = args.value_negatable(&mut opt)?;
                self.rt_type = Some(Neg {
                    negated: opt.negated,
                    value: number(v, opt.name, 0, 255)? as u8,
                });
            }
            "--rt-segsleft" => {
                let v = args.value_negatable(&mut opt)?;
                self.segsleft = Some(Neg {
                    negated: opt.negated,
                    value: range(v, opt.name, u32::MAX)?,
                });
            }
            "--rt-len" => {
                let v = args.value_negatable(&mut opt)?;
                self.len = Some(Neg {
                    negated: opt.negated,
                    value: number(v, opt.name, 0, u32::MAX)?,
                });
            }
            _ => {
                if !matches!(
                    self.rt_type,
                    Some(Neg {
                        value: 0,
                        negated: false
                    })
                ) {
                    return Err(opt.error("`--rt-type 0` is required before `--rt-0-res`"));
                }
                self.res0 = true;
            }
        }
        Ok(())
    }

    fn finish(&mut self, args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if args.family != Family::Ipv6 {
            return Err(ParseError::new(at, "match `rt` exists for IPv6 only"));
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        if let Some(t) = &self.rt_type {
            push_neg(out, t.negated);
            out.push_str(&format!(" --rt-type {}", t.value));
        }
        if let Some(s) = &self.segsleft {
            push_neg(out, s.negated);
            out.push_str(" --rt-segsleft ");
            push_range(out, s.value);
        }
        if let Some(l) = &self.len {
            push_neg(out, l.negated);
            out.push_str(&format!(" --rt-len {}", l.value));
        }
        if self.res0 {
            out.push_str(" --rt-0-res");
        }
    }
}

impl Rt {
    /// Not decidable from what a trace knows: always uncertain, saying why.
    pub fn eval(&self, _cx: &crate::eval::Cx<'_>) -> crate::eval::Truth {
        // Traced packets carry no IPv6 extension headers, and without a routing header the
        // kernel's ip6t_rt does not match whatever its options (inverted ones included).
        crate::eval::Truth::No
    }
}
