//! `-m iprange`: source or destination address within an inclusive range.

use std::net::IpAddr;

use crate::eval::{Cx, Truth};
use crate::ext::MatchExt;
use crate::ext::common::{ip_of_family, push_neg};
use crate::model::{Neg, Span};
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;

/// The `iprange` match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Iprange {
    /// `--src-range FROM-TO`.
    pub src: Option<Neg<(IpAddr, IpAddr)>>,
    /// `--dst-range FROM-TO`.
    pub dst: Option<Neg<(IpAddr, IpAddr)>>,
}

impl MatchExt for Iprange {
    const OPTIONS: &'static [&'static str] = &["--src-range", "--dst-range"];

    fn new() -> Self {
        Iprange::default()
    }

    fn option(&mut self, mut opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        let v = args.value_negatable(&mut opt)?;
        let (a, b) = v.text.split_once('-').unwrap_or((&v.text, &v.text));
        let range = (
            ip_of_family(v, a, args.family)?,
            ip_of_family(v, b, args.family)?,
        );
        let val = Some(Neg {
            negated: opt.negated,
            value: range,
        });
        if opt.name == "--src-range" {
            self.src = val;
        } else {
            self.dst = val;
        }
        Ok(())
    }

    fn finish(&mut self, _args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if self.src.is_none() && self.dst.is_none() {
            return Err(ParseError::new(
                at,
                "match `iprange` needs `--src-range` or `--dst-range`",
            ));
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        for (name, r) in [("--src-range", &self.src), ("--dst-range", &self.dst)] {
            if let Some(r) = r {
                push_neg(out, r.negated);
                out.push_str(&format!(" {name} {}-{}", r.value.0, r.value.1));
            }
        }
    }
}

impl Iprange {
    /// Evaluates the ranges against the packet's source and destination (an address of the
    /// other family is never within a range).
    pub fn eval(&self, cx: &Cx<'_>) -> Truth {
        let within = |r: &Option<Neg<(IpAddr, IpAddr)>>, ip: IpAddr| {
            r.as_ref().is_none_or(|r| {
                let (lo, hi) = r.value;
                r.apply(lo.is_ipv4() == ip.is_ipv4() && lo <= ip && ip <= hi)
            })
        };
        Truth::of(within(&self.src, cx.pkt.src) && within(&self.dst, cx.pkt.dst))
    }
}
