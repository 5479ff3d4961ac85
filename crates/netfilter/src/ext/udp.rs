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
