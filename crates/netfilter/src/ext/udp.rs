//! `-m udp`: source and destination ports of UDP datagrams.

use crate::ext::MatchExt;
use crate::ext::port::PortRange;
use crate::ext::tcp::print_ports;
use crate::model::Neg;
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;

/// The `udp` match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Udp {
    /// `--sport`.
    pub sport: Option<Neg<PortRange>>,
    /// `--dport`.
    pub dport: Option<Neg<PortRange>>,
}

impl MatchExt for Udp {
    const OPTIONS: &'static [&'static str] =
        &["--sport", "--source-port", "--dport", "--destination-port"];

    fn new() -> Self {
        Udp::default()
    }

    fn option(&mut self, mut opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        let v = args.value_negatable(&mut opt)?;
        let range = Neg {
            negated: opt.negated,
            value: PortRange::parse(v, &v.text)?,
        };
        if opt.name.starts_with("--s") {
            self.sport = Some(range);
        } else {
            self.dport = Some(range);
        }
        Ok(())
    }

    fn finish(&mut self, args: &Args<'_>, at: crate::model::Span) -> Result<(), ParseError> {
        crate::ext::common::require_proto(args, at, "udp", &[crate::model::Protocol::UDP], "udp")
    }

    fn print(&self, out: &mut String) {
        print_ports(out, self.sport.as_ref(), self.dport.as_ref());
    }
}

impl Udp {
    /// Evaluates the match: source and destination ports.
    pub fn eval(&self, cx: &crate::eval::Cx<'_>) -> crate::eval::Truth {
        let p = cx.pkt;
        if p.proto != crate::model::Protocol::UDP {
            return crate::eval::Truth::No;
        }
        let port_ok = |r: &Option<Neg<crate::ext::port::PortRange>>, v: Option<u16>| {
            r.as_ref()
                .is_none_or(|r| r.apply(v.is_some_and(|v| r.value.contains(v))))
        };
        crate::eval::Truth::of(port_ok(&self.sport, p.sport) && port_ok(&self.dport, p.dport))
    }
}
