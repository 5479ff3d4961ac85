//! `-m pkttype --pkt-type TYPE`: the link-layer packet type (unicast, broadcast, multicast…).

use crate::ext::MatchExt;
use crate::ext::common::push_neg;
use crate::model::{Neg, Span};
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;

/// Packet type names as iptables prints them, by the kernel's `PACKET_*` number.
pub const PKT_TYPES: [&str; 6] = [
    "unicast",
    "broadcast",
    "multicast",
    "otherhost",
    "outgoing",
    "loopback",
];

/// The `pkttype` match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pkttype {
    /// `--pkt-type`, as the kernel's `PACKET_*` number.
    pub pkt_type: Option<Neg<u8>>,
}

impl MatchExt for Pkttype {
    const OPTIONS: &'static [&'static str] = &["--pkt-type"];

    fn new() -> Self {
        Pkttype::default()
    }

    fn option(&mut self, mut opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        let v = args.value_negatable(&mut opt)?;
        let lower = v.text.to_ascii_lowercase();
        let n = if lower == "host" {
            Some(0)
        } else {
            PKT_TYPES.iter().position(|t| *t == lower)
        };
        let n = n.ok_or_else(|| {
            ParseError::new(v.span, format!("unknown packet type `{}`", v.text))
                .with_help("packet types are unicast (host), broadcast, multicast, otherhost, outgoing, loopback")
        })?;
        self.pkt_type = Some(Neg {
            negated: opt.negated,
            value: n as u8,
        });
        Ok(())
    }

    fn finish(&mut self, _args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if self.pkt_type.is_none() {
            return Err(ParseError::new(at, "match `pkttype` requires `--pkt-type`"));
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        if let Some(t) = &self.pkt_type {
            push_neg(out, t.negated);
            let name = PKT_TYPES
                .get(usize::from(t.value))
                .copied()
                .unwrap_or("unicast");
            out.push_str(&format!(" --pkt-type {name}"));
        }
    }
}

impl Pkttype {
    /// Not decidable from what a trace knows: always uncertain, saying why.
    pub fn eval(&self, _cx: &crate::eval::Cx<'_>) -> crate::eval::Truth {
        crate::eval::Truth::Unknown("match `-m pkttype`: the packet's link-layer type (unicast, broadcast, multicast) is not modelled".into())
    }
}
