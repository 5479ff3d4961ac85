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

#[cfg(test)]
mod tests {
    use crate::eval::Truth;
    use crate::eval::testkit::{Fixture, match4, packet};
    use crate::ext::Match;
    use crate::model::Protocol;

    fn iprange(rule: &str) -> super::Iprange {
        match match4(rule) {
            Match::Iprange(m) => *m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ranges_are_inclusive() {
        let m = iprange("-m iprange --src-range 10.0.0.1-10.0.0.9");
        let at = |src: &str| Fixture::new(packet(Protocol::TCP, src, "192.168.49.2"));
        assert_eq!(m.eval(&at("10.0.0.1").cx()), Truth::Yes);
        assert_eq!(m.eval(&at("10.0.0.9").cx()), Truth::Yes);
        assert_eq!(m.eval(&at("10.0.0.10").cx()), Truth::No);
        let not = iprange("-m iprange ! --src-range 10.0.0.1-10.0.0.9");
        assert_eq!(not.eval(&at("10.0.0.10").cx()), Truth::Yes);
        assert_eq!(not.eval(&at("10.0.0.5").cx()), Truth::No);
        let both = iprange(
            "-m iprange --src-range 10.0.0.1-10.0.0.9 --dst-range 192.168.49.0-192.168.49.1",
        );
        assert_eq!(both.eval(&at("10.0.0.5").cx()), Truth::No);
    }
}
