//! The packet-flow engine: follows packets through the netfilter hooks as the kernel runs
//! them, exactly, branching where `-m statistic --mode random` branches (with exact
//! probabilities) and where a match cannot be decided (marked uncertain, never guessed).
//!
//! [`Simulator::new`] skips work the answer does not depend on: long chains are indexed by
//! destination ([`index`]), and each rule's addresses, protocol and ports are copied into a
//! flat per-table array of rule heads (`head`) that reject (or match) most rules without
//! reading them. [`Simulator::reference`] tests every rule in turn, as the kernel does; the
//! property tests in `tests/index_equivalence.rs` hold the two to identical traces.
//!
//! ```
//! use chainwalk_netfilter::eval::Simulator;
//! use chainwalk_netfilter::host::Host;
//! use chainwalk_netfilter::packet::parse_packet_line;
//! use chainwalk_netfilter::syntax::parse_save;
//! use chainwalk_netfilter::trace::FateKind;
//!
//! let rules = parse_save("*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n", None).ruleset;
//! let host = Host::from_yaml("interfaces:\n  - name: eth0\n    addresses: [10.0.0.2/24]\n").unwrap();
//! let sim = Simulator::new(&rules, &host);
//! let trace = sim.trace(&parse_packet_line("-p tcp -s 10.0.0.9 -d 10.0.0.2 --dport 22 -i eth0").unwrap()).unwrap();
//! assert_eq!(trace.outcomes.len(), 1);
//! assert_eq!(trace.outcomes[0].steps[0].fate.kind, FateKind::Local);
//! ```

pub(crate) mod cache;
pub(crate) mod head;
pub mod hook;
pub mod index;
pub mod matches;
pub mod prob;
#[cfg(test)]
pub(crate) mod testkit;
mod walk;

use crate::conntrack::CtInfo;
use crate::host::Host;
use crate::model::{Family, Hook, Ruleset};
use crate::packet::Packet;

pub use prob::Prob;
pub use walk::{DEFAULT_SPORT, MAX_OUTCOMES, Simulator, State, TraceError, needs_conntrack};

/// What a match evaluates against.
#[derive(Clone, Copy, Debug)]
pub struct Cx<'a> {
    /// The packet's current headers and metadata.
    pub pkt: &'a Packet,
    /// The hook being traversed.
    pub hook: Hook,
    /// The host.
    pub host: &'a Host,
    /// What conntrack knows about the packet.
    pub ct: &'a CtInfo,
    /// The ruleset's family.
    pub family: Family,
    /// The ruleset (for matches that need more of it).
    pub ruleset: &'a Ruleset,
    /// ipset contents, when given.
    pub sets: Option<&'a crate::ipset::IpSets>,
}

/// The answer of a match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Truth {
    /// It holds.
    Yes,
    /// It does not hold.
    No,
    /// It holds with this probability (`-m statistic --mode random`).
    Chance(Prob),
    /// It cannot be decided from packet, host and conntrack; the reason says why.
    Unknown(String),
}

impl Truth {
    /// `Yes` or `No`.
    pub fn of(b: bool) -> Truth {
        if b { Truth::Yes } else { Truth::No }
    }

    /// Conjunction, evaluated left to right: a `No` decides; `Unknown` wins over `Yes`.
    pub fn and(self, other: impl FnOnce() -> Truth) -> Truth {
        match self {
            Truth::No => Truth::No,
            Truth::Yes => other(),
            Truth::Unknown(r) => match other() {
                Truth::No => Truth::No,
                _ => Truth::Unknown(r),
            },
            Truth::Chance(p) => match other() {
                Truth::No => Truth::No,
                Truth::Yes => Truth::Chance(p),
                Truth::Chance(q) => Truth::Chance(p.mul(&q)),
                Truth::Unknown(r) => Truth::Unknown(r),
            },
        }
    }
}
