//! What the engine returns: a [`Trace`] of every outcome of a packet (or a sequence of
//! packets), each with its exact probability, the uncertain decisions it rests on, and per
//! packet the netfilter events in the kernel's order and the packet's fate. Data only: the
//! wording for people is the report crate's business.

use std::fmt;
use std::net::IpAddr;
use std::ops::Deref;
use std::sync::Arc;

use crate::eval::cache::{RuleField, RuleKey, RulesetStrings};
use crate::eval::prob::Prob;
use crate::model::{Hook, IfName, TableName};
use crate::packet::Packet;

/// An immutable string that is cheap to clone: a `&'static str` or a shared `Arc<str>`.
/// Events carry chain names, targets and rule texts in it, so that recording an event
/// copies no text; it reads like a `&str` (`Deref`, `as_str`, comparisons with `str`).
#[derive(Clone)]
pub struct SharedStr(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
    /// One of the strings the simulator keeps for a rule.
    Rule(Arc<RulesetStrings>, RuleKey, RuleField),
}

impl SharedStr {
    /// A string that needs no allocation.
    pub const fn from_static(s: &'static str) -> SharedStr {
        SharedStr(Repr::Static(s))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
            Repr::Rule(r, k, f) => r.field(*k, *f),
        }
    }

    /// A string of a rule's shared record.
    pub(crate) fn of_rule(r: &Arc<RulesetStrings>, k: RuleKey, f: RuleField) -> SharedStr {
        SharedStr(Repr::Rule(Arc::clone(r), k, f))
    }
}

impl Default for SharedStr {
    fn default() -> SharedStr {
        SharedStr::from_static("")
    }
}

impl Deref for SharedStr {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for SharedStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::borrow::Borrow<str> for SharedStr {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for SharedStr {
    fn from(s: &str) -> SharedStr {
        SharedStr(Repr::Shared(Arc::from(s)))
    }
}

impl From<String> for SharedStr {
    fn from(s: String) -> SharedStr {
        SharedStr(Repr::Shared(Arc::from(s)))
    }
}

impl From<Arc<str>> for SharedStr {
    fn from(s: Arc<str>) -> SharedStr {
        SharedStr(Repr::Shared(s))
    }
}

impl From<SharedStr> for String {
    fn from(s: SharedStr) -> String {
        s.as_str().to_string()
    }
}

impl PartialEq for SharedStr {
    fn eq(&self, other: &SharedStr) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for SharedStr {}

impl PartialEq<str> for SharedStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for SharedStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for SharedStr {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<SharedStr> for str {
    fn eq(&self, other: &SharedStr) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<SharedStr> for &str {
    fn eq(&self, other: &SharedStr) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<SharedStr> for String {
    fn eq(&self, other: &SharedStr) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialOrd for SharedStr {
    fn partial_cmp(&self, other: &SharedStr) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SharedStr {
    fn cmp(&self, other: &SharedStr) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::hash::Hash for SharedStr {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl serde::Serialize for SharedStr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The result of tracing a packet sequence.
#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    /// Assumptions made about the host (empty when a host was given) or the packets (source
    /// port picked, source address chosen by routing).
    pub assumptions: Vec<String>,
    /// Every distinct outcome; probabilities sum to 1 (see [`Outcome::probability`]).
    pub outcomes: Vec<Outcome>,
}

/// One way the sequence can go.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The exact probability of this outcome, given the choices in `uncertain`: random
    /// statistic branches multiply in exactly; every uncertain decision splits the outcome
    /// in two that both carry the probability of their random choices, so
    /// `Σ probability · 2^-uncertain.len()` over all outcomes is 1, and the plain sum is 1
    /// when nothing is uncertain.
    pub probability: Prob,
    /// The undecidable matches this outcome assumed an answer for.
    pub uncertain: Vec<Uncertain>,
    /// One step per packet of the sequence, in order.
    pub steps: Vec<Step>,
}

/// What happened to one packet of the sequence in one outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// The packet as it entered (arriving) or was built by the local process.
    pub input: Packet,
    /// Netfilter events in the kernel's order: rules whose matches all held, policies taken,
    /// and returns from the end of user chains.
    pub events: Vec<Event>,
    /// What happened outside the rules (conntrack, routing, bridging), each with the number
    /// of events that came before it.
    pub notes: Vec<(usize, Note)>,
    /// Where the packet ended.
    pub fate: Fate,
}

/// What kind of event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A rule whose matches all held (its target ran).
    Rule,
    /// A built-in chain's policy was taken.
    Policy,
    /// The end of a user chain was reached: back to the caller.
    Return,
}

/// One netfilter event.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// The hook.
    pub hook: Hook,
    /// The table.
    pub table: TableName,
    /// 1-based position of the rule in its chain; `None` for a policy or an implicit return.
    pub rule: Option<usize>,
    /// What kind of event.
    pub kind: EventKind,
    /// Whether the target is a user chain (`-j CHAIN` or `-g CHAIN`).
    pub jump: bool,
    /// Whether the rule used `-g` (goto).
    pub goto: bool,
    /// What the target did to the packet, when anything.
    pub effect: Option<Effect>,
    /// The mark after the event.
    pub mark: u32,
    /// The chain, the target and the rule's text ([`Event::chain`], [`Event::target`],
    /// [`Event::rule_text`]).
    pub names: EventNames,
}

impl Event {
    /// The chain.
    pub fn chain(&self) -> &str {
        self.names.chain()
    }

    /// The target: `ACCEPT`, `DROP`, a chain name for a jump or goto, `MARK`, `DNAT`, …; the
    /// policy for a policy event; `RETURN` for an implicit return; empty for a rule without
    /// target.
    pub fn target(&self) -> &str {
        self.names.target()
    }

    /// The rule as `iptables-save` prints it (after `-A CHAIN`); `None` for non-rule events.
    pub fn rule_text(&self) -> Option<&str> {
        self.names.rule_text()
    }

    /// The verdict as the kernel's nf_tables trace spells it for this event: `jump CHAIN`,
    /// `goto CHAIN`, `accept` (ACCEPT and the NAT targets), `drop` (DROP, REJECT), `return`
    /// (a `-j RETURN` rule), `queue`, and `continue` for non-terminating targets and for the
    /// implicit return at the end of a user chain; a policy event gives the policy
    /// (`accept`/`drop`).
    pub fn kernel_verdict(&self) -> String {
        match self.kind {
            EventKind::Policy => self.target().to_ascii_lowercase(),
            EventKind::Return => "continue".into(),
            EventKind::Rule if self.goto => format!("goto {}", self.target()),
            EventKind::Rule if self.jump => format!("jump {}", self.target()),
            EventKind::Rule => match self.target() {
                "ACCEPT" | "DNAT" | "SNAT" | "MASQUERADE" | "REDIRECT" => "accept".into(),
                "DROP" | "REJECT" => "drop".into(),
                "RETURN" => "return".into(),
                "QUEUE" | "NFQUEUE" => "queue".into(),
                _ => "continue".into(),
            },
        }
    }
}

/// The chain's name, the target's name and the rule's text of an event, held together: a
/// rule's event holds the simulator's shared record of the rule (one reference, no text
/// copied), other events their chain and target.
#[derive(Clone)]
pub struct EventNames(Names);

#[derive(Clone)]
enum Names {
    /// A rule's event: the names of the rule at this key.
    Rule(Arc<RulesetStrings>, RuleKey),
    /// A policy or an implicit return: a chain and a fixed target, no rule text.
    Fixed(SharedStr, &'static str),
    /// Anything else.
    Given(Box<(SharedStr, SharedStr, Option<SharedStr>)>),
}

impl EventNames {
    /// Names given as strings; `rule_text` is `None` for an event that is not a rule's.
    pub fn new(
        chain: impl Into<SharedStr>,
        target: impl Into<SharedStr>,
        rule_text: Option<SharedStr>,
    ) -> EventNames {
        EventNames(Names::Given(Box::new((
            chain.into(),
            target.into(),
            rule_text,
        ))))
    }

    /// A policy's or an implicit return's names: the chain and a fixed target.
    pub(crate) fn fixed(chain: SharedStr, target: &'static str) -> EventNames {
        EventNames(Names::Fixed(chain, target))
    }

    /// The names of the rule at `k` in the simulator's record.
    pub(crate) fn of_rule(r: &Arc<RulesetStrings>, k: RuleKey) -> EventNames {
        EventNames(Names::Rule(Arc::clone(r), k))
    }

    /// The chain.
    pub fn chain(&self) -> &str {
        match &self.0 {
            Names::Rule(r, k) => r.field(*k, RuleField::Chain),
            Names::Fixed(c, _) => c,
            Names::Given(g) => &g.0,
        }
    }

    /// The target.
    pub fn target(&self) -> &str {
        match &self.0 {
            Names::Rule(r, k) => r.field(*k, RuleField::Target),
            Names::Fixed(_, t) => t,
            Names::Given(g) => &g.1,
        }
    }

    /// The rule's text, for a rule's event.
    pub fn rule_text(&self) -> Option<&str> {
        match &self.0 {
            Names::Rule(r, k) => Some(r.field(*k, RuleField::Text)),
            Names::Fixed(..) => None,
            Names::Given(g) => g.2.as_deref(),
        }
    }
}

impl PartialEq for EventNames {
    fn eq(&self, other: &EventNames) -> bool {
        (self.chain(), self.target(), self.rule_text())
            == (other.chain(), other.target(), other.rule_text())
    }
}

impl fmt::Debug for EventNames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventNames")
            .field("chain", &self.chain())
            .field("target", &self.target())
            .field("rule_text", &self.rule_text())
            .finish()
    }
}

/// An address and an optional port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// The address.
    pub addr: IpAddr,
    /// The port (for protocols with ports).
    pub port: Option<u16>,
}

/// What a target did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// The mark changed (or was set to the same value).
    Mark {
        /// Before.
        from: u32,
        /// After.
        to: u32,
    },
    /// Destination NAT (DNAT, REDIRECT).
    Dnat {
        /// Before.
        from: Endpoint,
        /// After.
        to: Endpoint,
    },
    /// Source NAT (SNAT, MASQUERADE).
    Snat {
        /// Before.
        from: Endpoint,
        /// After.
        to: Endpoint,
        /// Whether the port is randomised (`--random-fully`); the port shown is the original.
        random_port: bool,
    },
    /// The packet was marked untracked (NOTRACK, CT --notrack).
    Untracked,
    /// The target is not modelled; its effect is unknown.
    Unknown(String),
}

/// Something that happened outside the rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// Conntrack looked the packet up.
    Conntrack {
        /// `--ctstate` bits the packet has from here on.
        state: u8,
        /// Whether the entry came from earlier packets (`false`: a new connection).
        existing: bool,
        /// Whether the packet is a reply.
        reply: bool,
    },
    /// Conntrack applied a connection's recorded translation (no nat rules consulted).
    CtNat {
        /// The hook.
        hook: Hook,
        /// `true` for the destination side, `false` for the source side.
        dst_side: bool,
        /// Before.
        from: Endpoint,
        /// After.
        to: Endpoint,
    },
    /// The nat table was skipped for this connection (not its first packet, or untracked).
    NatSkipped {
        /// The hook.
        hook: Hook,
        /// Why.
        why: String,
    },
    /// The routing decision.
    Route {
        /// Whether this is the re-route after OUTPUT changed the destination or mark.
        reroute: bool,
        /// The decision.
        decision: RouteDecision,
    },
    /// A locally generated packet got its source address from the route.
    SourceSelected {
        /// The address.
        addr: IpAddr,
        /// The interface it came from.
        dev: IfName,
    },
    /// The packet was bridged (layer 2) by this bridge.
    Bridged {
        /// The bridge.
        bridge: IfName,
        /// Whether `bridge-nf-call-iptables` sends it through iptables.
        iptables: bool,
    },
    /// A locally generated packet for a local address loops back through `lo`.
    Loopback,
}

/// What the routing decision said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteDecision {
    /// Deliver locally.
    Local,
    /// Forward / send out of this interface.
    Out {
        /// The interface.
        dev: IfName,
        /// The gateway.
        via: Option<IpAddr>,
    },
    /// No way: the packet is dropped.
    Drop {
        /// Why ("no route to host", "forwarding is off", "blackhole route").
        reason: String,
    },
}

/// Where a packet ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FateKind {
    /// Delivered to a local socket.
    Local,
    /// Forwarded (routed or bridged) out of an interface.
    Forwarded,
    /// A locally generated packet left through an interface.
    Sent,
    /// Dropped (by a rule, a policy, or routing).
    Dropped,
    /// Rejected (dropped with an ICMP error or TCP reset sent back).
    Rejected,
    /// Handed to a userspace queue (QUEUE, NFQUEUE).
    Queued,
}

impl FateKind {
    /// The name used in JSON: `local`, `forwarded`, `sent`, `dropped`, `rejected`, `queued`.
    pub fn as_str(self) -> &'static str {
        match self {
            FateKind::Local => "local",
            FateKind::Forwarded => "forwarded",
            FateKind::Sent => "sent",
            FateKind::Dropped => "dropped",
            FateKind::Rejected => "rejected",
            FateKind::Queued => "queued",
        }
    }
}

/// Where a rule or policy stands.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RuleRef {
    /// The hook.
    pub hook: Hook,
    /// The table.
    pub table: TableName,
    /// The chain.
    pub chain: SharedStr,
    /// 1-based position; `None` for a policy.
    pub rule: Option<usize>,
}

/// A packet's fate.
#[derive(Clone, Debug, PartialEq)]
pub struct Fate {
    /// What happened.
    pub kind: FateKind,
    /// The output interface (forwarded, sent) or the interface of local delivery.
    pub iface: Option<IfName>,
    /// The headers as the packet leaves or is delivered (or as they were when dropped).
    pub packet: Packet,
    /// The rule or policy that dropped, rejected or queued it.
    pub by: Option<RuleRef>,
    /// Why, for drops outside the rules (routing) and rejects (the answer sent).
    pub reason: Option<String>,
}

/// A decision the engine could not make from packet, host and conntrack.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Uncertain {
    /// Where.
    pub at: RuleRef,
    /// Why it cannot be decided.
    pub reason: String,
    /// For an undecidable match, what this outcome assumed: that it held (`Some(true)`) or
    /// not (`Some(false)`); the outcome was split in two there. `None` for an effect that is
    /// not modelled (the outcome was not split).
    pub assumed: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An event stays small enough to be copied without a call to `memcpy` (at most 128
    /// bytes): a trace records one per rule that matched.
    #[test]
    fn events_stay_small() {
        assert!(
            std::mem::size_of::<Event>() <= 128,
            "Event: {}",
            std::mem::size_of::<Event>()
        );
    }

    #[test]
    fn given_names_read_back() {
        let n = EventNames::new("KUBE-SERVICES", "KUBE-SVC-X", Some("-j KUBE-SVC-X".into()));
        assert_eq!(
            (n.chain(), n.target(), n.rule_text()),
            ("KUBE-SERVICES", "KUBE-SVC-X", Some("-j KUBE-SVC-X"))
        );
        let f = EventNames::fixed(SharedStr::from_static("INPUT"), "ACCEPT");
        assert_eq!(
            (f.chain(), f.target(), f.rule_text()),
            ("INPUT", "ACCEPT", None)
        );
        assert_eq!(f, EventNames::new("INPUT", "ACCEPT", None));
    }
}
