//! The simulator: packet paths through the hooks, the chain walk (jump, goto, return,
//! policies), branching, targets, and conntrack across the packets of a sequence.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::conntrack::{self, CtInfo, Direction, Entry, Tuple};
use crate::eval::cache::{RuleAt, RuleField};
use crate::eval::head::{Decision, HeadTarget};
use crate::eval::hook::Stage;
use crate::eval::matches::eval_ip;
use crate::eval::{Cx, Prob, Truth};
use crate::ext::Match;
use crate::ext::limit::Bucket;
use crate::ext::statistic::Mode;
use crate::host::{Host, RouteKind};
use crate::ipset::IpSets;
use crate::model::{Family, Hook, IfName, Policy, Rule, Ruleset, Table, TableName};
use crate::packet::{Packet, PacketDesc, PacketSpec, has_ports, tcp_flags};
use crate::route;
use crate::target::Target;
use crate::target::redirect::Redirect;
use crate::trace::{
    Effect, Endpoint, Event, EventKind, EventNames, Fate, FateKind, Note, Outcome, RouteDecision,
    RuleRef, SharedStr, Step, Trace, Uncertain,
};

/// Targets chainwalk keeps verbatim that change nothing a trace follows (they log, count,
/// or rewrite header fields that traces do not model).
const PASSIVE_UNMODELLED: &[&str] = &[
    "AUDIT",
    "CONNSECMARK",
    "ECN",
    "IDLETIMER",
    "LED",
    "RATEEST",
    "SECMARK",
    "TCPOPTSTRIP",
    "TEE",
    "ULOG",
];

/// The source port given to a packet whose description has none.
pub const DEFAULT_SPORT: u16 = 40000;

/// Why a packet sequence cannot be traced.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TraceError {
    /// A packet does not fit the ruleset or the host.
    #[error("packet {packet}: {message}")]
    Packet {
        /// 1-based number of the packet in the sequence.
        packet: usize,
        /// What is wrong.
        message: String,
    },
    /// The random and undecidable matches branch into too many outcomes.
    #[error("the trace branches into more than {limit} outcomes")]
    TooManyOutcomes {
        /// The limit ([`MAX_OUTCOMES`]).
        limit: usize,
    },
}

/// Follows packets through a ruleset on a host.
#[derive(Clone, Debug)]
pub struct Simulator<'a> {
    ruleset: &'a Ruleset,
    host: &'a Host,
    family: Family,
    sets: Option<&'a IpSets>,
    recent: Option<&'a crate::recent::RecentLists>,
    /// Whether conntrack runs at all: the kernel registers it only for a ruleset that needs it.
    tracking: bool,
    /// Whether a rule has a `-m limit` match (its answer depends on the packets' times).
    has_limit: bool,
    /// Branches made so far in the current trace.
    branches: std::cell::Cell<usize>,
    /// Candidate indexes of long chains; `None` walks every rule (the reference walk).
    pub(super) index: Option<crate::eval::index::SharedIndex>,
    /// The stages each hook runs for this ruleset.
    plan: crate::eval::hook::Plan,
    /// The host's routes, compiled for lookups.
    routes: route::RouteTable<'a>,
    /// Per table of the ruleset (in its order), each chain's rules: the walk reads a
    /// chain's rules from this compact list rather than from the chain.
    chain_rules: Vec<Vec<&'a [Rule]>>,
    /// Where each table (by `TableName as usize`) is in the ruleset, when it has one.
    table_pos: [Option<usize>; 5],
    /// Chain names, rule texts and jump targets, made once for every event.
    strings: std::sync::Arc<crate::eval::cache::RulesetStrings>,
    /// Lists and worlds of finished traces, reused by the next ones.
    spare: std::cell::RefCell<Spare>,
}

/// What finished traces leave for the next ones to reuse ([`Simulator::recycle`]): empty
/// lists with their room, and the boxes worlds live in. At most [`Spare::KEEP`] of each.
#[derive(Default)]
struct Spare {
    worlds: Vec<World>,
    events: Vec<Vec<Event>>,
    notes: Vec<Vec<(usize, Note)>>,
    steps: Vec<Vec<Step>>,
    outcomes: Vec<Vec<Outcome>>,
}

impl Spare {
    /// How many of each kind are kept.
    const KEEP: usize = 64;

    /// Lists with more room than this are not kept (a long trace's lists would hold on to
    /// memory no ordinary trace needs).
    const MAX_ROOM: usize = 256;

    /// Keeps an emptied list for reuse, when there is room and it has any.
    fn keep<T>(pool: &mut Vec<Vec<T>>, mut v: Vec<T>) {
        if pool.len() < Spare::KEEP && (1..=Spare::MAX_ROOM).contains(&v.capacity()) {
            v.clear();
            pool.push(v);
        }
    }

    /// A list from the pool, or a new one with room for `n`.
    fn take<T>(pool: Option<&mut Vec<Vec<T>>>, n: usize) -> Vec<T> {
        pool.and_then(Vec::pop)
            .unwrap_or_else(|| Vec::with_capacity(n))
    }
}

/// A simulator's copy starts with nothing to reuse.
impl Clone for Spare {
    fn clone(&self) -> Spare {
        Spare::default()
    }
}

impl std::fmt::Debug for Spare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spare")
            .field("worlds", &self.worlds.len())
            .field("events", &self.events.len())
            .finish_non_exhaustive()
    }
}

/// Match and target names whose kernel modules register connection tracking in the network
/// namespace (`nf_ct_netns_get` in their checkentry).
const CT_MATCHES: &[&str] = &[
    "conntrack",
    "state",
    "connmark",
    "connbytes",
    "connlimit",
    "connlabel",
    "helper",
    "cluster",
    "ipvs",
];
const CT_TARGETS: &[&str] = &[
    "DNAT",
    "SNAT",
    "MASQUERADE",
    "REDIRECT",
    "NETMAP",
    "CONNMARK",
    "CONNSECMARK",
    "CT",
    "NOTRACK",
    "SYNPROXY",
];

/// Whether the kernel would track connections for this ruleset: only when a rule uses a match
/// or target that needs conntrack (a NAT target, a conntrack, state or connmark match, a
/// CONNMARK or CT target, ...). Without one, conntrack never sees a packet, so no packet has a
/// connection and the nat chains, which run only for tracked packets, are never traversed.
pub fn needs_conntrack(ruleset: &Ruleset) -> bool {
    ruleset.tables.iter().any(|t| {
        t.chains.iter().any(|c| {
            c.rules.iter().any(|r| {
                r.matches.iter().any(|m| CT_MATCHES.contains(&m.name()))
                    || r.target
                        .as_ref()
                        .is_some_and(|t| CT_TARGETS.contains(&t.name()))
            })
        })
    })
}

/// Whether a rule of the ruleset has a `-m limit` match.
fn has_limit(ruleset: &Ruleset) -> bool {
    ruleset.tables.iter().any(|t| {
        t.chains.iter().any(|c| {
            c.rules
                .iter()
                .any(|r| r.matches.iter().any(|m| matches!(m, Match::Limit(_))))
        })
    })
}

/// The most outcomes a trace may have; beyond it the trace fails rather than exhaust memory.
pub const MAX_OUTCOMES: usize = 10_000;

/// What a traced sequence leaves behind for the packets after it: the conntrack table, the
/// counters of `-m statistic --mode nth` rules (which count every packet that reaches them,
/// for as long as the ruleset is loaded), the token buckets of `-m limit` rules and the time
/// of the last packet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// The conntrack table.
    pub conntrack: conntrack::Table,
    /// The nth counters, by table, chain index and rule/match position.
    nth: BTreeMap<(TableName, usize, usize), u32>,
    /// The `-m limit` buckets, by table, chain index and rule/match position (a rule no
    /// packet reached yet has a full bucket).
    limits: BTreeMap<(TableName, usize, usize), Bucket>,
    /// When the last packet passed, in nanoseconds since the ruleset was loaded.
    clock: u64,
}

impl State {
    /// When the last packet passed, in nanoseconds since the ruleset was loaded (0 before
    /// any packet).
    pub fn clock(&self) -> u64 {
        self.clock
    }
}

/// One way the sequence can go so far, boxed: stages hand it on as a pointer.
type World = Box<WorldState>;

#[derive(Clone, Debug)]
struct WorldState {
    prob: Prob,
    uncertain: Vec<Uncertain>,
    steps: Vec<Step>,
    table: conntrack::Table,
    counters: BTreeMap<(TableName, usize, usize), u32>,
    limits: BTreeMap<(TableName, usize, usize), Bucket>,
    /// When the current packet passes (nanoseconds since the ruleset was loaded).
    clock: u64,
    recent: Option<crate::recent::RecentLists>,
    pkt: Packet,
    input: Packet,
    events: Vec<Event>,
    notes: Vec<(usize, Note)>,
    ct: CtInfo,
    /// The conntrack entry of the first packet, once confirmed.
    flow: Option<usize>,
    /// Whether the sequence stopped here (a `reply`/`again` packet of a connection the first
    /// packet never made).
    stopped: bool,
    /// Whether the packet's connection is confirmed when it leaves (not for the last packet
    /// of a trace whose final states nobody reads).
    confirm: bool,
}

impl WorldState {
    fn note(&mut self, n: Note) {
        self.notes.push((self.events.len(), n));
    }
}

/// When each packet of a sequence passes; the first kept inline (most traces have one).
struct Times {
    first: u64,
    rest: Vec<u64>,
}

impl Times {
    /// The time of packet `i` (0-based).
    fn get(&self, i: usize) -> Option<u64> {
        match i.checked_sub(1) {
            None => Some(self.first),
            Some(r) => self.rest.get(r).copied(),
        }
    }

    /// The time of the last packet.
    fn last(&self) -> u64 {
        self.rest.last().copied().unwrap_or(self.first)
    }
}

/// A table's verdict for the packet.
#[derive(Clone, Debug)]
enum Verdict {
    Accept,
    Drop(RuleRef),
    Reject(RuleRef, String),
    Queue(RuleRef),
}

#[derive(Clone, Debug)]
struct Cursor {
    chain: usize,
    pos: usize,
    stack: CallStack,
    decided: Option<bool>,
}

/// Where to go on after the chains jumped from (chain, position); the first few are kept
/// inline, so a walk allocates nothing for its jumps.
#[derive(Clone, Debug, Default)]
struct CallStack {
    inline: [(usize, usize); 4],
    len: usize,
    more: Vec<(usize, usize)>,
}

impl CallStack {
    fn push(&mut self, e: (usize, usize)) {
        match self.inline.get_mut(self.len) {
            Some(slot) if self.more.is_empty() => {
                *slot = e;
                self.len += 1;
            }
            _ => self.more.push(e),
        }
    }

    fn pop(&mut self) -> Option<(usize, usize)> {
        if let Some(e) = self.more.pop() {
            return Some(e);
        }
        let i = self.len.checked_sub(1)?;
        self.len = i;
        self.inline.get(i).copied()
    }

    fn is_empty(&self) -> bool {
        self.len == 0 && self.more.is_empty()
    }
}

/// A rule's matches evaluated for one world: one answer, or the worlds it split into.
enum Evaluated {
    One(World, bool),
    Many(Vec<(World, bool)>),
}

/// Zero, one or more values in order, the first kept inline: most packets take one path, so
/// handing worlds from stage to stage allocates nothing.
struct Few<T> {
    first: Option<T>,
    rest: Vec<T>,
}

impl<T> Few<T> {
    fn new() -> Few<T> {
        Few {
            first: None,
            rest: Vec::new(),
        }
    }

    fn one(t: T) -> Few<T> {
        Few {
            first: Some(t),
            rest: Vec::new(),
        }
    }

    fn push(&mut self, t: T) {
        if self.first.is_none() && self.rest.is_empty() {
            self.first = Some(t);
        } else {
            self.rest.push(t);
        }
    }

    /// How many values.
    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    /// The values, in order, to change.
    fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.first.iter_mut().chain(self.rest.iter_mut())
    }

    /// Hands each value to `f`, in order.
    fn each(self, mut f: impl FnMut(T)) {
        if let Some(t) = self.first {
            f(t);
        }
        if !self.rest.is_empty() {
            self.rest.into_iter().for_each(f);
        }
    }
}

impl<T> IntoIterator for Few<T> {
    type Item = T;
    type IntoIter = std::iter::Chain<std::option::IntoIter<T>, std::vec::IntoIter<T>>;

    fn into_iter(self) -> Self::IntoIter {
        self.first.into_iter().chain(self.rest)
    }
}

impl<'a> Simulator<'a> {
    /// A simulator for `ruleset` on `host`. The ruleset's family decides which packets fit
    /// (IPv4 when the ruleset does not say).
    pub fn new(ruleset: &'a Ruleset, host: &'a Host) -> Simulator<'a> {
        Self::with_index(ruleset, host, true)
    }

    /// A simulator with chain indexes (`indexed`) or without (the reference walk).
    pub(super) fn with_index(ruleset: &'a Ruleset, host: &'a Host, indexed: bool) -> Simulator<'a> {
        let tracking = needs_conntrack(ruleset);
        Simulator {
            ruleset,
            host,
            family: ruleset.family.unwrap_or(Family::Ipv4),
            sets: None,
            recent: None,
            tracking,
            plan: crate::eval::hook::Plan::new(ruleset, tracking),
            routes: route::RouteTable::new(host),
            chain_rules: ruleset
                .tables
                .iter()
                .map(|t| t.chains.iter().map(|c| c.rules.as_slice()).collect())
                .collect(),
            table_pos: {
                let mut pos = [None; 5];
                for (i, t) in ruleset.tables.iter().enumerate() {
                    if let Some(slot @ None) = pos.get_mut(t.name as usize) {
                        *slot = Some(i);
                    }
                }
                pos
            },
            has_limit: has_limit(ruleset),
            branches: std::cell::Cell::new(1),
            index: indexed
                .then(|| std::sync::Arc::new(crate::eval::index::RulesetIndex::build(ruleset))),
            strings: std::sync::Arc::new(crate::eval::cache::RulesetStrings::new(ruleset, indexed)),
            spare: std::cell::RefCell::default(),
        }
    }

    /// The position of table `t` in the ruleset, and the table.
    fn table_at(&self, t: TableName) -> Option<(usize, &'a Table)> {
        let p = self.table_pos.get(t as usize).copied().flatten()?;
        Some((p, self.ruleset.tables.get(p)?))
    }

    /// Gives the simulator the `-m recent` lists the trace starts from.
    pub fn with_recent(mut self, lists: &'a crate::recent::RecentLists) -> Simulator<'a> {
        self.recent = Some(lists);
        self
    }

    /// Gives the simulator the contents of the host's ipsets (for `-m set`).
    pub fn with_ipsets(mut self, sets: &'a IpSets) -> Simulator<'a> {
        self.sets = Some(sets);
        self
    }

    /// Traces a packet sequence from an empty conntrack table.
    pub fn trace(&self, specs: &[PacketSpec]) -> Result<Trace, TraceError> {
        self.trace_from(specs, &conntrack::Table::default())
    }

    /// Takes back a trace the caller is done with, to reuse its lists for the next traces:
    /// tracing many packets (a batch, a capture) then allocates no new event, note, step or
    /// outcome lists. Optional; dropping a trace is as correct.
    pub fn recycle(&self, trace: Trace) {
        let Ok(mut spare) = self.spare.try_borrow_mut() else {
            return;
        };
        // Lists are taken where they lie: steps and outcomes are large, moving them costs.
        let mut outcomes = trace.outcomes;
        for o in &mut outcomes {
            for st in &mut o.steps {
                Spare::keep(&mut spare.events, std::mem::take(&mut st.events));
                Spare::keep(&mut spare.notes, std::mem::take(&mut st.notes));
            }
            Spare::keep(&mut spare.steps, std::mem::take(&mut o.steps));
        }
        Spare::keep(&mut spare.outcomes, outcomes);
    }

    /// Traces a packet sequence starting from the given conntrack table.
    pub fn trace_from(
        &self,
        specs: &[PacketSpec],
        table: &conntrack::Table,
    ) -> Result<Trace, TraceError> {
        let state = State {
            conntrack: table.clone(),
            ..State::default()
        };
        self.trace_carrying(specs, Cow::Owned(state), CtInfo::None, false)
            .map(|(t, _)| t)
    }

    /// Traces a packet sequence starting from `state` (conntrack table and `-m statistic
    /// --mode nth` counters, as earlier packets left them), and returns with the trace the
    /// state each outcome ends with (same order as the outcomes).
    pub fn trace_with_state(
        &self,
        specs: &[PacketSpec],
        state: &State,
    ) -> Result<(Trace, Vec<State>), TraceError> {
        self.trace_carrying(specs, Cow::Borrowed(state), CtInfo::None, true)
    }

    /// Traces a packet the node sends in answer to a packet that `REJECT` refused (its TCP
    /// reset or ICMP error), from `state`. The kernel attaches the refused packet's connection
    /// to the answer (`nf_ct_attach`), so conntrack does not look the answer up: it belongs to
    /// that connection as RELATED, in direction `dir` (the other way), also when the connection
    /// was never confirmed (`index` `None`); such a connection is confirmed by an answer in
    /// its original direction only. The node's ICMP errors carry the connection of the
    /// packet they answer the same way.
    /// Without a connection (`conn` `None`: the refused packet had none), conntrack looks the
    /// answer up as any packet.
    pub fn trace_attached(
        &self,
        answer: &PacketDesc,
        conn: &Option<(Entry, Option<usize>, Direction)>,
        state: &State,
    ) -> Result<(Trace, Vec<State>), TraceError> {
        let ct = match conn {
            Some((entry, index, dir)) => CtInfo::Conn {
                entry: entry.clone(),
                index: *index,
                dir: *dir,
                dst_done: true,
                src_done: true,
                related: true,
            },
            None => CtInfo::None,
        };
        self.trace_carrying(
            &[PacketSpec::Desc(answer.clone())],
            Cow::Borrowed(state),
            ct,
            true,
        )
    }

    /// Traces a packet sequence from `state`, the first packet carrying `ct` (as conntrack
    /// attached it, or [`CtInfo::None`] to be looked up); with the state each outcome ends
    /// with when `keep_states` (else the list is empty).
    fn trace_carrying(
        &self,
        specs: &[PacketSpec],
        state: Cow<'_, State>,
        ct: CtInfo,
        keep_states: bool,
    ) -> Result<(Trace, Vec<State>), TraceError> {
        self.branches.set(1);
        let mut assumptions = self.host.assumptions.clone();
        let first = match specs.first() {
            Some(PacketSpec::Desc(d)) => d,
            _ => {
                return Err(TraceError::Packet {
                    packet: 1,
                    message: "the first packet must be described in full".into(),
                });
            }
        };
        for (i, s) in specs.iter().enumerate() {
            if let PacketSpec::Desc(d) = s {
                self.check_desc(i + 1, d)?;
            }
        }
        let times = self.times(specs, state.clock, &mut assumptions)?;
        let pkt0 = self.build(1, first, &mut assumptions)?;
        // The starting state is moved in when the trace made it (`trace_from`), else copied
        // once.
        let start_clock = state.clock;
        let State {
            conntrack,
            nth,
            limits,
            ..
        } = state.into_owned();
        let (reused, steps, events, notes) = {
            let mut spare = self.spare.try_borrow_mut().ok();
            let reused = spare.as_mut().and_then(|s| s.worlds.pop());
            let steps = match specs.len() {
                1 => Spare::take(spare.as_mut().map(|s| &mut s.steps), 1),
                n => Vec::with_capacity(n),
            };
            let events = Spare::take(spare.as_mut().map(|s| &mut s.events), 16);
            let notes = Spare::take(spare.as_mut().map(|s| &mut s.notes), 8);
            (reused, steps, events, notes)
        };
        let first = WorldState {
            prob: Prob::one(),
            uncertain: Vec::new(),
            steps,
            table: conntrack,
            counters: nth,
            limits,
            clock: times.get(0).unwrap_or(start_clock),
            recent: self.recent.cloned(),
            input: pkt0.clone(),
            pkt: pkt0,
            events,
            notes,
            ct,
            flow: None,
            stopped: false,
            // Nothing reads the table after the last packet unless the states are kept.
            confirm: keep_states || specs.len() > 1,
        };
        let w0 = match reused {
            Some(mut b) => {
                *b = first;
                b
            }
            None => Box::new(first),
        };
        let mut worlds = Few::new();
        self.run(w0, &mut worlds);
        // The first packet's connection, for the `reply` and `again` packets after it.
        for w in worlds.iter_mut().filter(|_| specs.len() > 1) {
            w.flow = w
                .steps
                .first()
                .and_then(|st| w.table.find(&Tuple::of(&st.input)))
                .map(|(i, _)| i);
        }
        for (n, spec) in specs.iter().enumerate().skip(1) {
            let mut next = Few::new();
            for mut w in worlds {
                if w.stopped {
                    next.push(w);
                    continue;
                }
                let pkt = match spec {
                    PacketSpec::Desc(d) => self.build(n + 1, d, &mut assumptions)?,
                    PacketSpec::Reply { tcp_flags: f, .. } => match self.reply_packet(&w, *f) {
                        Some(p) => p,
                        None => {
                            w.stopped = true;
                            next.push(w);
                            continue;
                        }
                    },
                    PacketSpec::Again { tcp_flags: f, .. } => match self.again_packet(&w, *f) {
                        Some(p) => p,
                        None => {
                            w.stopped = true;
                            next.push(w);
                            continue;
                        }
                    },
                };
                w.input = pkt.clone();
                w.pkt = pkt;
                w.clock = times.get(n).unwrap_or(w.clock);
                w.events.clear();
                w.notes.clear();
                if w.events.capacity() == 0 {
                    // The step before took the lists.
                    let mut spare = self.spare.try_borrow_mut().ok();
                    w.events = Spare::take(spare.as_mut().map(|s| &mut s.events), 16);
                    w.notes = Spare::take(spare.as_mut().map(|s| &mut s.notes), 8);
                }
                w.ct = CtInfo::None;
                w.confirm = keep_states || n + 1 < specs.len();
                self.run(w, &mut next);
            }
            worlds = next;
        }
        if self.branches.get() > MAX_OUTCOMES {
            return Err(TraceError::TooManyOutcomes {
                limit: MAX_OUTCOMES,
            });
        }
        assumptions.dedup();
        let mut tables = Vec::with_capacity(if keep_states { worlds.len() } else { 0 });
        let mut spare = self.spare.try_borrow_mut().ok();
        let mut outcomes = match worlds.len() {
            1 => Spare::take(spare.as_mut().map(|s| &mut s.outcomes), 1),
            n => Vec::with_capacity(n),
        };
        for mut w in worlds {
            if keep_states {
                tables.push(State {
                    conntrack: std::mem::take(&mut w.table),
                    nth: std::mem::take(&mut w.counters),
                    limits: std::mem::take(&mut w.limits),
                    clock: times.last(),
                });
            }
            outcomes.push(Outcome {
                probability: std::mem::replace(&mut w.prob, Prob::one()),
                uncertain: std::mem::take(&mut w.uncertain),
                steps: std::mem::take(&mut w.steps),
            });
            if let Some(spare) = spare.as_mut()
                && spare.worlds.len() < Spare::KEEP
            {
                // What the world still holds goes now; its box waits for the next trace.
                w.table = conntrack::Table::default();
                w.counters = BTreeMap::new();
                w.limits = BTreeMap::new();
                w.recent = None;
                spare.worlds.push(w);
            }
        }
        Ok((
            Trace {
                assumptions,
                outcomes,
            },
            tables,
        ))
    }

    /// When each packet passes (nanoseconds since the ruleset was loaded): its `--time`, or
    /// right after the packet before it. Times may not go back.
    fn times(
        &self,
        specs: &[PacketSpec],
        start: u64,
        assumptions: &mut Vec<String>,
    ) -> Result<Times, TraceError> {
        let secs = |t: u64| format!("{}.{:09}", t / 1_000_000_000, t % 1_000_000_000);
        let mut clock = start;
        let mut times = Times {
            first: start,
            rest: Vec::with_capacity(specs.len().saturating_sub(1)),
        };
        for (i, s) in specs.iter().enumerate() {
            let time = match s {
                PacketSpec::Desc(d) => d.time,
                PacketSpec::Reply { time, .. } | PacketSpec::Again { time, .. } => *time,
            };
            match time {
                Some(t) if t < clock => {
                    return Err(TraceError::Packet {
                        packet: i + 1,
                        message: format!(
                            "`--time {}` is earlier than the packet before it ({} s)",
                            secs(t),
                            secs(clock)
                        ),
                    });
                }
                Some(t) => clock = t,
                None if self.has_limit => assumptions.push(format!(
                    "packet {}: no --time given: it passes {} s after the ruleset was loaded, right after the packet before it (`-m limit` buckets start full and refill with time)",
                    i + 1,
                    secs(clock)
                )),
                None => {}
            }
            if i == 0 {
                times.first = clock;
            } else {
                times.rest.push(clock);
            }
        }
        Ok(times)
    }

    fn check_desc(&self, n: usize, d: &PacketDesc) -> Result<(), TraceError> {
        let err = |message: String| TraceError::Packet { packet: n, message };
        let fam_name = |f: Family| match f {
            Family::Ipv4 => "IPv4",
            Family::Ipv6 => "IPv6",
        };
        for a in d.src.iter().chain(std::iter::once(&d.dst)) {
            let f = if a.is_ipv4() {
                Family::Ipv4
            } else {
                Family::Ipv6
            };
            if f != self.family {
                return Err(err(format!(
                    "`{a}` is an {} address, but the ruleset is {} ({})",
                    fam_name(f),
                    fam_name(self.family),
                    self.family.save_tool()
                )));
            }
        }
        if let Some(i) = &d.in_iface
            && self.host.interface(i).is_none()
        {
            let names: Vec<&str> = self
                .host
                .interfaces
                .iter()
                .map(|i| i.name.as_str())
                .collect();
            return Err(err(format!(
                "the host has no interface `{i}` (it has {})",
                names.join(", ")
            )));
        }
        Ok(())
    }

    fn build(
        &self,
        n: usize,
        d: &PacketDesc,
        assumptions: &mut Vec<String>,
    ) -> Result<Packet, TraceError> {
        let src = match (d.src, &d.in_iface) {
            (Some(s), _) => s,
            (None, Some(_)) => {
                return Err(TraceError::Packet {
                    packet: n,
                    message: "an arriving packet (`-i`) needs a source address (`-s`)".into(),
                });
            }
            (None, None) => match self.routes.lookup(d.dst) {
                Ok(r) => match r.src {
                    Some(s) => {
                        assumptions.push(format!(
                            "packet {n}: source {s} chosen by the route lookup for {} (via {})",
                            d.dst, r.dev
                        ));
                        s
                    }
                    None => {
                        return Err(TraceError::Packet {
                            packet: n,
                            message: format!(
                                "no source address for {} on {}: give `-s`",
                                d.dst, r.dev
                            ),
                        });
                    }
                },
                Err(_) => {
                    return Err(TraceError::Packet {
                        packet: n,
                        message: format!(
                            "no route to {}: a local process cannot send there (connect() fails)",
                            d.dst
                        ),
                    });
                }
            },
        };
        let ports = has_ports(d.proto);
        let sport = if ports {
            Some(d.sport.unwrap_or_else(|| {
                assumptions.push(format!(
                    "packet {n}: no --sport given; source port {DEFAULT_SPORT} assumed"
                ));
                DEFAULT_SPORT
            }))
        } else {
            None
        };
        let flags =
            (d.proto == crate::model::Protocol::TCP).then(|| d.tcp_flags.unwrap_or(tcp_flags::SYN));
        let mut p = Packet {
            proto: d.proto,
            src,
            dst: d.dst,
            sport,
            dport: if ports { d.dport } else { None },
            tcp_flags: flags,
            icmp: d.icmp,
            in_iface: d.in_iface,
            out_iface: None,
            physdev_in: None,
            physdev_out: None,
            mark: d.mark,
            sport_random: false,
            quoted: d.quoted,
            sender: if d.in_iface.is_none() {
                d.sender.clone()
            } else {
                None
            },
        };
        if let Some(i) = &d.in_iface
            && let Some(b) = self.host.bridge_of(i)
        {
            p.physdev_in = Some(*i);
            p.in_iface = Some(b.name);
        }
        Ok(p)
    }

    fn first_step<'w>(&self, w: &'w WorldState) -> Option<(&'w Step, Entry)> {
        let step = w.steps.first()?;
        let idx = w.flow?;
        let e = w.table.entries.get(idx)?.clone();
        Some((step, e))
    }

    fn reply_packet(&self, w: &WorldState, flags: Option<u8>) -> Option<Packet> {
        let (step, e) = self.first_step(w)?;
        let first = &step.input;
        let in_iface = match step.fate.kind {
            FateKind::Forwarded | FateKind::Sent => step.fate.iface,
            FateKind::Local => None,
            _ => return None,
        };
        let (in_iface, physdev_in) = match in_iface {
            Some(i) if self.host.interface(&i).is_some_and(|x| x.bridge) => {
                let port = self.host.bridge_port_for(&i, e.reply.src).map(|p| p.name);
                (Some(i), port)
            }
            other => (other, None),
        };
        let ports = has_ports(first.proto);
        let flags = first.tcp_flags.map(|f| {
            flags.unwrap_or(if f & tcp_flags::SYN != 0 && f & tcp_flags::ACK == 0 {
                tcp_flags::SYN | tcp_flags::ACK
            } else {
                tcp_flags::ACK
            })
        });
        let icmp = first.icmp.map(|(t, c)| match t {
            8 => (0, c),
            128 => (129, c),
            other => (other, c),
        });
        Some(Packet {
            proto: first.proto,
            src: e.reply.src,
            dst: e.reply.dst,
            sport: ports.then_some(e.reply.sport),
            dport: ports.then_some(e.reply.dport),
            tcp_flags: flags,
            icmp,
            in_iface,
            out_iface: None,
            physdev_in,
            physdev_out: None,
            mark: 0,
            sport_random: false,
            quoted: None,
            sender: None,
        })
    }

    fn again_packet(&self, w: &WorldState, flags: Option<u8>) -> Option<Packet> {
        let (step, _) = self.first_step(w)?;
        let mut p = step.input.clone();
        if p.tcp_flags.is_some() {
            p.tcp_flags = Some(flags.unwrap_or(tcp_flags::ACK));
        }
        Some(p)
    }

    // ----- packet paths -----

    /// Follows one packet through the host; the worlds it ends in go to `done`.
    fn run(&self, w: World, done: &mut Few<World>) {
        if w.pkt.in_iface.is_some() {
            self.arriving(w, done);
        } else {
            self.local(w, done);
        }
    }

    fn finish(
        &self,
        w: World,
        kind: FateKind,
        by: Option<RuleRef>,
        reason: Option<String>,
        done: &mut Few<World>,
    ) {
        done.push(self.finished(w, kind, by, reason));
    }

    fn finished(
        &self,
        mut w: World,
        kind: FateKind,
        by: Option<RuleRef>,
        reason: Option<String>,
    ) -> World {
        // A new connection is confirmed only when its packet leaves netfilter alive; an
        // entry already in the table is changed in place (its mark by CONNMARK, seen both
        // ways by a reply), also when the packet is dropped afterwards.
        if w.confirm
            && (matches!(kind, FateKind::Local | FateKind::Forwarded | FateKind::Sent)
                || matches!(w.ct, CtInfo::Conn { index: Some(_), .. }))
        {
            w.table.confirm(&w.ct);
        }
        let iface = match kind {
            FateKind::Forwarded | FateKind::Sent => w.pkt.out_iface,
            _ => None,
        };
        // The world's packets are not read again until the next packet of the sequence
        // replaces them: the step takes them.
        let rest = spent(&w.pkt);
        let step = Step {
            input: std::mem::replace(&mut w.input, rest.clone()),
            events: std::mem::take(&mut w.events),
            notes: std::mem::take(&mut w.notes),
            fate: Fate {
                kind,
                iface,
                packet: std::mem::replace(&mut w.pkt, rest),
                by,
                reason,
            },
        };
        w.steps.push(step);
        w
    }

    fn arriving(&self, mut w: World, done: &mut Few<World>) {
        if let Some(reason) = unreceivable_v6_source(&w.pkt) {
            self.finish(w, FateKind::Dropped, None, Some(reason), done);
            return;
        }
        let fam = w.pkt.family();
        let bridge = w
            .pkt
            .in_iface
            .as_deref()
            .and_then(|i| self.host.interface(i))
            .filter(|i| i.bridge)
            .cloned();
        let bridged = bridge.as_ref().is_some_and(|b| {
            !self.host.is_local(w.pkt.dst)
                && !self.host.is_broadcast(w.pkt.dst)
                && b.addresses.iter().any(|a| a.contains(w.pkt.dst))
        });
        if let (true, Some(b)) = (bridged, &bridge)
            && !self.host.bridge_calls_iptables(fam)
        {
            w.note(Note::Bridged {
                bridge: b.name,
                iptables: false,
            });
            w.pkt.out_iface = Some(b.name);
            w.pkt.physdev_out = self
                .host
                .bridge_port_for(&b.name, w.pkt.dst)
                .map(|p| p.name);
            self.finish(w, FateKind::Forwarded, None, None, done);
            return;
        }
        let original_dst = w.pkt.dst;
        for w in self.hook(Few::one(w), Hook::Prerouting, done) {
            match (&bridge, bridged && w.pkt.dst == original_dst) {
                (Some(b), true) => {
                    let mut w = w;
                    w.note(Note::Bridged {
                        bridge: b.name,
                        iptables: true,
                    });
                    w.pkt.out_iface = Some(b.name);
                    w.pkt.physdev_out = self
                        .host
                        .bridge_port_for(&b.name, w.pkt.dst)
                        .map(|p| p.name);
                    self.forward(w, done);
                }
                _ => self.route_arriving(w, done),
            }
        }
    }

    fn route_arriving(&self, mut w: World, done: &mut Few<World>) {
        let fam = w.pkt.family();
        match self.routes.lookup(w.pkt.dst) {
            Err(e) => {
                let reason = e.to_string();
                w.note(Note::Route {
                    reroute: false,
                    decision: RouteDecision::Drop {
                        reason: reason.clone(),
                    },
                });
                self.finish(w, FateKind::Dropped, None, Some(reason), done);
            }
            Ok(r) => match r.kind {
                RouteKind::Local | RouteKind::Broadcast => {
                    w.note(Note::Route {
                        reroute: false,
                        decision: RouteDecision::Local,
                    });
                    for w in self.hook(Few::one(w), Hook::Input, done) {
                        self.finish(w, FateKind::Local, None, None, done);
                    }
                }
                RouteKind::Unicast => {
                    // ip6_forward's order: forwarding first, then the source, which it
                    // checks only for a packet leaving by another interface (one routed
                    // back out of its own gets a redirect and is forwarded).
                    let refuse = |mut w: World, reason: String, done: &mut Few<World>| {
                        w.note(Note::Route {
                            reroute: false,
                            decision: RouteDecision::Drop {
                                reason: reason.clone(),
                            },
                        });
                        self.finish(w, FateKind::Dropped, None, Some(reason), done);
                    };
                    let back_out = w.pkt.in_iface == Some(r.dev);
                    if !self.host.forwarding(fam) {
                        let reason = format!(
                            "{} is not local and forwarding is off ({})",
                            w.pkt.dst,
                            match fam {
                                Family::Ipv4 => "net.ipv4.ip_forward=0",
                                Family::Ipv6 => "net.ipv6.conf.all.forwarding=0",
                            }
                        );
                        refuse(w, reason, done);
                        return;
                    }
                    if !back_out && let Some(reason) = unforwardable_v6_source(w.pkt.src) {
                        refuse(w, reason, done);
                        return;
                    }
                    w.note(Note::Route {
                        reroute: false,
                        decision: RouteDecision::Out {
                            dev: r.dev,
                            via: r.via,
                        },
                    });
                    // Routed out of a bridge: the bridge port is chosen after POSTROUTING, so
                    // iptables does not see it (physdev-out is only known for bridged packets).
                    w.pkt.out_iface = Some(r.dev);
                    self.forward(w, done);
                }
                kind => {
                    let reason = format!("{:?} route to {}", kind, w.pkt.dst).to_lowercase();
                    w.note(Note::Route {
                        reroute: false,
                        decision: RouteDecision::Drop {
                            reason: reason.clone(),
                        },
                    });
                    self.finish(w, FateKind::Dropped, None, Some(reason), done);
                }
            },
        }
    }

    fn forward(&self, w: World, done: &mut Few<World>) {
        let ws = self.hook(Few::one(w), Hook::Forward, done);
        for w in self.hook(ws, Hook::Postrouting, done) {
            self.finish(w, FateKind::Forwarded, None, None, done);
        }
    }

    fn local(&self, mut w: World, done: &mut Few<World>) {
        let r = match self.routes.lookup(w.pkt.dst) {
            Ok(r) => r,
            Err(e) => {
                let reason = format!("{e}: the socket cannot send");
                w.note(Note::Route {
                    reroute: false,
                    decision: RouteDecision::Drop {
                        reason: reason.clone(),
                    },
                });
                self.finish(w, FateKind::Dropped, None, Some(reason), done);
                return;
            }
        };
        let is_local = matches!(r.kind, RouteKind::Local);
        w.note(Note::Route {
            reroute: false,
            decision: if is_local {
                RouteDecision::Local
            } else {
                RouteDecision::Out {
                    dev: r.dev,
                    via: r.via,
                }
            },
        });
        if let Some(src) = r.src
            && src == w.pkt.src
            && !is_local
        {
            w.note(Note::SourceSelected {
                addr: src,
                dev: r.dev,
            });
        }
        w.pkt.out_iface = Some(if is_local { IfName::LO } else { r.dev });
        let before = (w.pkt.dst, w.pkt.mark);
        let mut after_output = Few::new();
        for mut w in self.hook(Few::one(w), Hook::Output, done) {
            if (w.pkt.dst, w.pkt.mark) != before {
                match self.routes.lookup(w.pkt.dst) {
                    Ok(r2) => {
                        let local2 = matches!(r2.kind, RouteKind::Local);
                        w.note(Note::Route {
                            reroute: true,
                            decision: if local2 {
                                RouteDecision::Local
                            } else {
                                RouteDecision::Out {
                                    dev: r2.dev,
                                    via: r2.via,
                                }
                            },
                        });
                        w.pkt.out_iface = Some(if local2 { IfName::LO } else { r2.dev });
                    }
                    Err(e) => {
                        let reason = e.to_string();
                        w.note(Note::Route {
                            reroute: true,
                            decision: RouteDecision::Drop {
                                reason: reason.clone(),
                            },
                        });
                        self.finish(w, FateKind::Dropped, None, Some(reason), done);
                        continue;
                    }
                }
            }
            after_output.push(w);
        }
        for mut w in self.hook(after_output, Hook::Postrouting, done) {
            if w.pkt.out_iface.as_deref() == Some("lo") && self.host.is_local(w.pkt.dst) {
                // Loops back: confirmed in POSTROUTING, then in through lo.
                let idx = w.table.confirm_index(&w.ct);
                if let (CtInfo::Conn { index, .. }, Some(i)) = (&mut w.ct, idx) {
                    *index = Some(i);
                }
                w.note(Note::Loopback);
                w.pkt.in_iface = Some(IfName::LO);
                w.pkt.out_iface = None;
                for w in self.hook(Few::one(w), Hook::Prerouting, done) {
                    for w in self.hook(Few::one(w), Hook::Input, done) {
                        self.finish(w, FateKind::Local, None, None, done);
                    }
                }
            } else {
                self.finish(w, FateKind::Sent, None, None, done);
            }
        }
    }

    // ----- hooks and stages -----

    fn hook(&self, ws: Few<World>, hook: Hook, done: &mut Few<World>) -> Few<World> {
        let mut ws = ws;
        for stage in self.plan.stages(hook) {
            let mut next = Few::new();
            ws.each(|w| self.stage(w, hook, *stage, &mut next, done));
            ws = next;
        }
        ws
    }

    /// Runs one stage of a hook for a world: the worlds that go on are pushed to `next`,
    /// those that end here (dropped, rejected, queued) to `done`.
    fn stage(
        &self,
        mut w: World,
        hook: Hook,
        stage: Stage,
        next: &mut Few<World>,
        done: &mut Few<World>,
    ) {
        match stage {
            Stage::Conntrack => {
                if self.tracking && matches!(w.ct, CtInfo::None) {
                    w.ct = w.table.classify(&w.pkt);
                    let (existing, reply) = match &w.ct {
                        CtInfo::Conn { index, dir, .. } => {
                            (index.is_some(), *dir == Direction::Reply)
                        }
                        _ => (false, false),
                    };
                    let state = w.ct.state_bits();
                    w.note(Note::Conntrack {
                        state,
                        existing,
                        reply,
                    });
                }
                next.push(w);
            }
            Stage::Table(t) => self.table_stage(w, hook, t, None, next, done),
            // Without conntrack the nat hooks find no connection and let the packet pass.
            Stage::NatDst | Stage::NatSrc if !self.tracking => next.push(w),
            Stage::NatDst | Stage::NatSrc => {
                let dst_side = stage == Stage::NatDst;
                if w.ct.nat_pending(dst_side) {
                    let has_chain = self
                        .table_at(TableName::Nat)
                        .is_some_and(|(p, t)| self.strings.builtin(p, t, hook).is_some());
                    if !has_chain {
                        set_done(&mut w.ct, dst_side);
                        next.push(w);
                        return;
                    }
                    self.table_stage(w, hook, TableName::Nat, Some(dst_side), next, done);
                    return;
                }
                match w.ct.clone() {
                    CtInfo::Conn {
                        entry, dir, index, ..
                    } => {
                        let from = endpoint(&w.pkt, dst_side);
                        if conntrack::apply_binding(&mut w.pkt, &entry, dir, dst_side) {
                            let to = endpoint(&w.pkt, dst_side);
                            w.note(Note::CtNat {
                                hook,
                                dst_side,
                                from,
                                to,
                            });
                        } else if index.is_some() && self.table_at(TableName::Nat).is_some() {
                            w.note(Note::NatSkipped {
                                hook,
                                why: "not the first packet of its connection".into(),
                            });
                        }
                    }
                    CtInfo::Untracked => {
                        if self.table_at(TableName::Nat).is_some() {
                            w.note(Note::NatSkipped {
                                hook,
                                why: "untracked".into(),
                            });
                        }
                    }
                    CtInfo::Invalid | CtInfo::None => {
                        if self.table_at(TableName::Nat).is_some() {
                            w.note(Note::NatSkipped {
                                hook,
                                why: "no connection (conntrack state INVALID)".into(),
                            });
                        }
                    }
                }
                next.push(w);
            }
        }
    }

    /// Walks table `t`'s chain for the hook; worlds the table accepts go to `next`, the
    /// others, finished, to `done`. `nat_side`: the nat stage this walk is (its binding is
    /// made once the walk ends).
    fn table_stage(
        &self,
        w: World,
        hook: Hook,
        t: TableName,
        nat_side: Option<bool>,
        next: &mut Few<World>,
        done: &mut Few<World>,
    ) {
        let Some((p, table)) = self.table_at(t) else {
            next.push(w);
            return;
        };
        let Some(start) = self.strings.builtin(p, table, hook) else {
            next.push(w);
            return;
        };
        self.walk(w, p, table, hook, start, &mut |mut w, v| {
            if let Some(side) = nat_side {
                set_done(&mut w.ct, side);
            }
            match v {
                Verdict::Accept => next.push(w),
                Verdict::Drop(r) => done.push(self.finished(w, FateKind::Dropped, Some(r), None)),
                Verdict::Reject(r, with) => {
                    done.push(self.finished(w, FateKind::Rejected, Some(r), Some(with)))
                }
                Verdict::Queue(r) => done.push(self.finished(w, FateKind::Queued, Some(r), None)),
            }
        })
    }

    // ----- the chain walk -----

    /// Walks `table` (at position `p` in the ruleset) from its built-in chain `start`; each
    /// world the walk ends in is handed to `out` with the table's verdict.
    #[allow(clippy::too_many_arguments)]
    fn walk(
        &self,
        w: World,
        p: usize,
        table: &Table,
        hook: Hook,
        start: usize,
        out: &mut dyn FnMut(World, Verdict),
    ) {
        // The branch to follow next; the others wait in `work` (a stack: the branch where a
        // rule matched is followed first).
        let mut next = Some((
            w,
            Cursor {
                chain: start,
                pos: 0,
                stack: CallStack::default(),
                decided: None,
            },
        ));
        let mut work: Vec<(World, Cursor)> = Vec::new();
        // The strings cache, the index and the rule lists keep the ruleset's table order.
        let slot = p;
        let base_policy = table
            .chains
            .get(start)
            .and_then(|c| c.policy)
            .unwrap_or(Policy::Accept);
        let base_name = SharedStr::from_static(hook.chain_name());
        // The table's chain indexes, rule slots and heads, looked up once.
        let indexes = self.index.as_ref().and_then(|ix| ix.table_at(p));
        let view = self.strings.view(slot);
        let lists = self.chain_rules.get(p);
        while let Some((mut w, mut cur)) = next.take().or_else(|| work.pop()) {
            while let Some(chain) = table.chains.get(cur.chain) {
                let rules = match lists.and_then(|l| l.get(cur.chain)) {
                    Some(r) => *r,
                    None => chain.rules.as_slice(),
                };
                // Only long chains have an index: the length is at hand, the index list not.
                if cur.decided.is_none()
                    && rules.len() >= crate::eval::index::MIN_INDEXED_RULES
                    && let Some(ix) = indexes
                        .and_then(|i| i.get(cur.chain))
                        .and_then(Option::as_ref)
                {
                    cur.pos = ix.next(cur.pos, w.pkt.dst);
                }
                let Some(rule) = rules.get(cur.pos) else {
                    // End of the chain.
                    if !chain.is_builtin() && cur.stack.is_empty() {
                        // The end of a chain reached by goto from the base chain: the kernel
                        // reports the implicit return, then the base chain's policy.
                        w.events.push(Event {
                            hook,
                            table: table.name,
                            rule: None,
                            kind: EventKind::Return,
                            jump: false,
                            goto: false,
                            effect: None,
                            mark: w.pkt.mark,
                            names: EventNames::fixed(
                                self.strings.chain_name(slot, table, cur.chain),
                                "RETURN",
                            ),
                        });
                    }
                    if chain.is_builtin() || cur.stack.is_empty() {
                        let policy = if chain.is_builtin() {
                            chain.policy.unwrap_or(Policy::Accept)
                        } else {
                            base_policy
                        };
                        w.events.push(Event {
                            hook,
                            table: table.name,
                            rule: None,
                            kind: EventKind::Policy,
                            jump: false,
                            goto: false,
                            effect: None,
                            mark: w.pkt.mark,
                            names: EventNames::fixed(base_name.clone(), policy.as_str()),
                        });
                        let v = match policy {
                            Policy::Accept => Verdict::Accept,
                            Policy::Drop => Verdict::Drop(RuleRef {
                                hook,
                                table: table.name,
                                chain: base_name.clone(),
                                rule: None,
                            }),
                        };
                        out(w, v);
                        break;
                    }
                    w.events.push(Event {
                        hook,
                        table: table.name,
                        rule: None,
                        kind: EventKind::Return,
                        jump: false,
                        goto: false,
                        effect: None,
                        mark: w.pkt.mark,
                        names: EventNames::fixed(
                            self.strings.chain_name(slot, table, cur.chain),
                            "RETURN",
                        ),
                    });
                    if let Some((c, p)) = cur.stack.pop() {
                        cur.chain = c;
                        cur.pos = p;
                    }
                    continue;
                };
                let key = view.and_then(|v| v.key(cur.chain, cur.pos));
                let head = view.zip(key).and_then(|(v, k)| v.head(k));
                let here = || RuleAt {
                    strings: &self.strings,
                    key,
                    table,
                    chain: cur.chain,
                    rule,
                    head,
                };
                let at = || RuleRef {
                    hook,
                    table: table.name,
                    chain: here().string(RuleField::Chain),
                    rule: Some(cur.pos + 1),
                };
                // A branch resumed with its answer, or the rule's head when it decides.
                let (known, ip_holds) = match cur.decided.take() {
                    Some(m) => (Some(m), false),
                    None => match head {
                        Some(h) => match h.head.decide(&w.pkt) {
                            Decision::Fails => (Some(false), false),
                            Decision::Holds => (Some(true), false),
                            Decision::IpHolds => (None, true),
                            Decision::Unknown => (None, false),
                        },
                        None => (None, false),
                    },
                };
                let matched = match known {
                    Some(m) => m,
                    None => match self.eval_rule(w, rule, ip_holds, table.name, &cur, hook, &at) {
                        Evaluated::One(w1, m) => {
                            w = w1;
                            m
                        }
                        Evaluated::Many(mut results) => {
                            // The branch where the rule matched first, as the rule reads.
                            results.sort_by_key(|(_, m)| !*m);
                            if results.len() == 1 {
                                let Some((w1, m)) = results.pop() else { break };
                                w = w1;
                                m
                            } else {
                                let mut results = results.into_iter();
                                let first = results.next();
                                for (w2, m) in results.rev() {
                                    let mut c2 = cur.clone();
                                    c2.decided = Some(m);
                                    work.push((w2, c2));
                                }
                                if let Some((w1, m)) = first {
                                    let mut c1 = cur.clone();
                                    c1.decided = Some(m);
                                    next = Some((w1, c1));
                                }
                                break;
                            }
                        }
                    },
                };
                if !matched {
                    cur.pos += 1;
                    continue;
                }
                let here = here();
                let names = here.event_names();
                // A jump (to a chain found before) or an ACCEPT is followed from the rule's
                // head and slot, without reading the rule, as `target` would.
                let quick = match head.map(|h| h.head.target()) {
                    Some(t @ (HeadTarget::Jump | HeadTarget::Goto)) => {
                        here.known_jump().map(|c| (t, c))
                    }
                    Some(HeadTarget::Accept) => Some((HeadTarget::Accept, 0)),
                    _ => None,
                };
                if let Some((t, to)) = quick {
                    w.events.push(Event {
                        hook,
                        table: table.name,
                        rule: Some(cur.pos + 1),
                        kind: EventKind::Rule,
                        jump: t != HeadTarget::Accept,
                        goto: t == HeadTarget::Goto,
                        effect: None,
                        mark: w.pkt.mark,
                        names,
                    });
                    if t == HeadTarget::Accept {
                        out(w, Verdict::Accept);
                        break;
                    }
                    if t == HeadTarget::Jump {
                        cur.stack.push((cur.chain, cur.pos + 1));
                    }
                    cur.chain = to;
                    cur.pos = 0;
                    continue;
                }
                let pos = cur.pos;
                let at = || RuleRef {
                    hook,
                    table: table.name,
                    chain: here.string(RuleField::Chain),
                    rule: Some(pos + 1),
                };
                match self.target(&mut w, rule, table, &here, names, hook, &at, &mut cur) {
                    Some(v) => {
                        out(w, v);
                        break;
                    }
                    None => continue,
                }
            }
        }
    }

    /// Evaluates a rule's matches in order, branching on chance and undecidable matches.
    /// While every answer is a plain yes or no the world is not copied or split.
    /// `ip_holds`: the rule's generic part is known to hold (its head said so).
    #[allow(clippy::too_many_arguments)]
    fn eval_rule(
        &self,
        mut w: World,
        rule: &Rule,
        ip_holds: bool,
        table: TableName,
        cur: &Cursor,
        hook: Hook,
        at: &dyn Fn() -> RuleRef,
    ) -> Evaluated {
        let mut t = if ip_holds {
            Truth::Yes
        } else {
            let cx = self.cx(&w, hook);
            eval_ip(&rule.ip, &cx)
        };
        let mut rest = rule.matches.iter().enumerate();
        loop {
            match t {
                Truth::Yes => {}
                Truth::No => return Evaluated::One(w, false),
                _ => break,
            }
            match rest.next() {
                None => return Evaluated::One(w, true),
                Some((mi, m)) => t = self.eval_match(&mut w, m, mi, table, cur, hook),
            }
        }
        // A chance or an undecidable answer: split from here on.
        let at = at();
        let mut out = Vec::new();
        let mut pending = Vec::new();
        split(w, t, &at, &mut pending, &mut out, &self.branches);
        for (mi, m) in rest {
            let mut next = Vec::new();
            for mut w in pending {
                let t = self.eval_match(&mut w, m, mi, table, cur, hook);
                split(w, t, &at, &mut next, &mut out, &self.branches);
            }
            pending = next;
        }
        out.extend(pending.into_iter().map(|w| (w, true)));
        Evaluated::Many(out)
    }

    /// Evaluates match `mi` of the rule at the cursor for one world.
    fn eval_match(
        &self,
        w: &mut WorldState,
        m: &Match,
        mi: usize,
        table: TableName,
        cur: &Cursor,
        hook: Hook,
    ) -> Truth {
        match m {
            Match::Recent(r) => match &mut w.recent {
                Some(lists) => r.eval(&w.pkt, lists),
                None => r.eval_without_lists(),
            },
            Match::Statistic(s) if matches!(s.mode, Mode::Nth { .. }) => {
                let key = (table, cur.chain, cur.pos * 64 + mi.min(63));
                let count = w.counters.entry(key).or_insert_with(|| s.nth_initial());
                Truth::of(s.eval_nth(count))
            }
            Match::Limit(l) => {
                let key = (table, cur.chain, cur.pos * 64 + mi.min(63));
                let now = w.clock;
                let bucket = w.limits.entry(key).or_insert_with(|| l.full_bucket());
                Truth::of(l.eval_bucket(bucket, now))
            }
            _ => {
                let cx = self.cx(w, hook);
                m.eval(&cx)
            }
        }
    }

    fn cx<'w>(&'w self, w: &'w WorldState, hook: Hook) -> Cx<'w> {
        Cx {
            pkt: &w.pkt,
            hook,
            host: self.host,
            ct: &w.ct,
            family: self.family,
            ruleset: self.ruleset,
            sets: self.sets,
        }
    }

    /// Runs a matched rule's target: records the event, applies the effect, and returns the
    /// table's verdict when the traversal ends here (`None`: go on at the cursor).
    #[allow(clippy::too_many_arguments)]
    fn target(
        &self,
        w: &mut WorldState,
        rule: &Rule,
        table: &Table,
        here: &RuleAt<'_>,
        names: EventNames,
        hook: Hook,
        at: &dyn Fn() -> RuleRef,
        cur: &mut Cursor,
    ) -> Option<Verdict> {
        let mut ev = Event {
            hook,
            table: table.name,
            rule: Some(cur.pos + 1),
            kind: EventKind::Rule,
            jump: matches!(rule.target, Some(Target::Jump(_) | Target::Goto(_))),
            goto: matches!(rule.target, Some(Target::Goto(_))),
            effect: None,
            mark: w.pkt.mark,
            names,
        };
        let mut verdict = None;
        let mut advance = true;
        #[allow(unreachable_patterns)]
        match &rule.target {
            None => {}
            Some(Target::Accept) => verdict = Some(Verdict::Accept),
            Some(Target::Drop) => verdict = Some(Verdict::Drop(at())),
            Some(Target::Queue) => verdict = Some(Verdict::Queue(at())),
            Some(Target::Reject(r)) => {
                verdict = Some(Verdict::Reject(at(), r.answer(self.family).to_string()))
            }
            Some(Target::Return) => {
                advance = false;
                match cur.stack.pop() {
                    Some((c, p)) => {
                        cur.chain = c;
                        cur.pos = p;
                    }
                    None => {
                        // RETURN with nothing to return to: the base chain's policy.
                        w.events.push(ev);
                        let policy = table
                            .chain(hook.chain_name())
                            .and_then(|c| c.policy)
                            .unwrap_or(Policy::Accept);
                        w.events.push(Event {
                            hook,
                            table: table.name,
                            rule: None,
                            kind: EventKind::Policy,
                            jump: false,
                            goto: false,
                            effect: None,
                            mark: w.pkt.mark,
                            names: EventNames::fixed(
                                SharedStr::from_static(hook.chain_name()),
                                policy.as_str(),
                            ),
                        });
                        return Some(match policy {
                            Policy::Accept => Verdict::Accept,
                            Policy::Drop => Verdict::Drop(RuleRef {
                                hook,
                                table: table.name,
                                chain: SharedStr::from_static(hook.chain_name()),
                                rule: None,
                            }),
                        });
                    }
                }
            }
            Some(Target::Jump(c)) | Some(Target::Goto(c)) => {
                match here.jump(|| self.chain_position(table, c)) {
                    Some(idx) => {
                        advance = false;
                        if matches!(rule.target, Some(Target::Jump(_))) {
                            cur.stack.push((cur.chain, cur.pos + 1));
                        }
                        cur.chain = idx;
                        cur.pos = 0;
                    }
                    None => {
                        w.uncertain.push(Uncertain {
                            at: at(),
                            reason: format!(
                                "chain `{c}` does not exist (the kernel would refuse the ruleset)"
                            ),
                            assumed: None,
                        });
                    }
                }
            }
            Some(Target::Mark(m)) => {
                let from = w.pkt.mark;
                w.pkt.mark = m.apply(from);
                ev.effect = Some(Effect::Mark {
                    from,
                    to: w.pkt.mark,
                });
            }
            Some(Target::Dnat(n)) => {
                let from = endpoint(&w.pkt, true);
                let (addr, port, doubt) = n.translate(from.addr, from.port);
                self.set_dst(w, addr, port);
                ev.effect = Some(Effect::Dnat {
                    from,
                    to: endpoint(&w.pkt, true),
                });
                note_unmodelled(w, at, doubt);
                verdict = Some(Verdict::Accept);
            }
            Some(Target::Snat(n)) => {
                let from = endpoint(&w.pkt, false);
                let (addr, port, doubt) = n.translate(from.addr, from.port);
                self.set_src(w, addr, port, n.random_fully);
                ev.effect = Some(Effect::Snat {
                    from,
                    to: endpoint(&w.pkt, false),
                    random_port: n.random_fully,
                });
                note_unmodelled(w, at, doubt);
                verdict = Some(Verdict::Accept);
            }
            Some(Target::Masquerade(m)) => {
                let from = endpoint(&w.pkt, false);
                let source = match w.pkt.out_iface {
                    Some(out) => self.routes.masquerade_source(out, w.pkt.dst),
                    None => {
                        let toward = self
                            .routes
                            .lookup(w.pkt.dst)
                            .ok()
                            .and_then(|r| r.via)
                            .unwrap_or(w.pkt.dst);
                        route::select_source(self.host, "", toward)
                    }
                };
                match source {
                    Some(addr) => {
                        let (port, doubt) = m.translate_port(from.port);
                        self.set_src(w, addr, port, m.random_fully);
                        ev.effect = Some(Effect::Snat {
                            from,
                            to: endpoint(&w.pkt, false),
                            random_port: m.random_fully,
                        });
                        note_unmodelled(w, at, doubt);
                        verdict = Some(Verdict::Accept);
                    }
                    None => {
                        let out = w.pkt.out_iface.as_deref().unwrap_or_default();
                        ev.effect = Some(Effect::Unknown(format!(
                            "{out} has no address to masquerade to"
                        )));
                        verdict = Some(Verdict::Drop(at()));
                    }
                }
            }
            Some(Target::Connmark(c)) => {
                if let CtInfo::Conn { entry, .. } = &mut w.ct {
                    match c.apply(entry.mark, w.pkt.mark) {
                        Some((ct, mark)) => {
                            entry.mark = ct;
                            if mark != w.pkt.mark {
                                ev.effect = Some(Effect::Mark {
                                    from: w.pkt.mark,
                                    to: mark,
                                });
                                w.pkt.mark = mark;
                            }
                        }
                        None => {
                            let reason =
                                "CONNMARK without an operation is not modelled".to_string();
                            ev.effect = Some(Effect::Unknown(reason.clone()));
                            w.uncertain.push(Uncertain {
                                at: at(),
                                reason,
                                assumed: None,
                            });
                        }
                    }
                }
            }
            Some(Target::Ct(ct)) if ct.notrack => {
                w.ct = CtInfo::Untracked;
                ev.effect = Some(Effect::Untracked);
            }
            Some(Target::Notrack(_)) => {
                w.ct = CtInfo::Untracked;
                ev.effect = Some(Effect::Untracked);
            }
            Some(Target::Nfqueue(q)) => {
                if q.bypass {
                    w.uncertain.push(Uncertain {
                        at: at(),
                        reason: "NFQUEUE --queue-bypass: whether a listener exists is not known; assumed one does".into(),
                        assumed: None,
                    });
                }
                verdict = Some(Verdict::Queue(at()));
            }
            Some(Target::Redirect(r)) => verdict = self.redirect(w, r, hook, at, &mut ev),
            // Targets that change nothing the trace follows: they log, count, or rewrite
            // header fields traces do not model; `CT` without `--notrack` attaches helpers,
            // zones or timeouts; `SET` changes an ipset, but a trace keeps the given
            // contents as they are.
            Some(
                Target::Ct(_)
                | Target::Log(_)
                | Target::Nflog(_)
                | Target::Trace(_)
                | Target::Checksum(_)
                | Target::Tcpmss(_)
                | Target::Classify(_)
                | Target::Dscp(_)
                | Target::Tos(_)
                | Target::Ttl(_)
                | Target::Hl(_)
                | Target::Set(_),
            ) => {}
            Some(Target::Opaque(o)) if PASSIVE_UNMODELLED.contains(&o.name.as_str()) => {}
            Some(other) => {
                let reason = format!(
                    "target `{}` is not modelled; assumed to let the packet go on unchanged",
                    other.name()
                );
                ev.effect = Some(Effect::Unknown(reason.clone()));
                w.uncertain.push(Uncertain {
                    at: at(),
                    reason,
                    assumed: None,
                });
            }
        }
        ev.mark = w.pkt.mark;
        w.events.push(ev);
        if advance {
            cur.pos += 1;
        }
        verdict
    }

    /// `REDIRECT`: to the host itself, at the first address of the input interface
    /// (loopback for locally generated packets), to the port [`Redirect::port`] chooses.
    fn redirect(
        &self,
        w: &mut WorldState,
        r: &Redirect,
        hook: Hook,
        at: &dyn Fn() -> RuleRef,
        ev: &mut Event,
    ) -> Option<Verdict> {
        let from = endpoint(&w.pkt, true);
        let addr = match hook {
            Hook::Output => Some(if w.pkt.dst.is_ipv4() {
                IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
            } else {
                IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
            }),
            _ => w
                .pkt
                .in_iface
                .as_deref()
                .and_then(|i| self.host.interface(i))
                .and_then(|i| {
                    i.addresses
                        .iter()
                        .find(|a| a.addr.is_ipv4() == w.pkt.dst.is_ipv4())
                })
                .map(|a| a.addr),
        };
        match addr {
            Some(a) => {
                let (port, doubt) = r.port(from.port);
                self.set_dst(w, a, port);
                ev.effect = Some(Effect::Dnat {
                    from,
                    to: endpoint(&w.pkt, true),
                });
                note_unmodelled(w, at, doubt);
                Some(Verdict::Accept)
            }
            None => {
                ev.effect = Some(Effect::Unknown(
                    "the input interface has no address to redirect to".into(),
                ));
                Some(Verdict::Drop(at()))
            }
        }
    }

    fn set_dst(&self, w: &mut WorldState, addr: IpAddr, port: Option<u16>) {
        w.pkt.dst = addr;
        if has_ports(w.pkt.proto) {
            w.pkt.dport = port.or(w.pkt.dport);
        }
        if let CtInfo::Conn { entry, .. } = &mut w.ct {
            entry.reply.src = w.pkt.dst;
            entry.reply.sport = w.pkt.dport.unwrap_or(0);
        }
    }

    fn set_src(&self, w: &mut WorldState, addr: IpAddr, port: Option<u16>, random: bool) {
        w.pkt.src = addr;
        if has_ports(w.pkt.proto) {
            w.pkt.sport = port.or(w.pkt.sport);
            w.pkt.sport_random |= random;
        }
        if let CtInfo::Conn { entry, .. } = &mut w.ct {
            entry.reply.dst = w.pkt.src;
            entry.reply.dport = w.pkt.sport.unwrap_or(0);
            entry.sport_random |= random && has_ports(w.pkt.proto);
        }
    }
}

/// The IPv6 input path drops a packet from a multicast or loopback source that arrives on
/// an interface other than `lo`, before PREROUTING (checked on this kernel: rules in raw
/// PREROUTING never count it).
fn unreceivable_v6_source(p: &Packet) -> Option<String> {
    let IpAddr::V6(a) = p.src else {
        return None;
    };
    let on = p.in_iface.filter(|i| *i != IfName::LO)?;
    (a.is_multicast() || a.is_loopback()).then(|| {
        format!(
            "{} cannot be the source of a packet arriving on {on}: the IPv6 input path drops it before PREROUTING",
            p.src
        )
    })
}

/// ip6_forward refuses, before the FORWARD hook, a packet leaving by another interface than
/// it came in on whose source is unspecified, multicast, loopback or link-local
/// (link-local: answered with "not a neighbour").
fn unforwardable_v6_source(src: IpAddr) -> Option<String> {
    let IpAddr::V6(a) = src else {
        return None;
    };
    let link_local = (a.segments()[0] & 0xffc0) == 0xfe80;
    (a.is_unspecified() || a.is_multicast() || a.is_loopback() || link_local)
        .then(|| format!("{src} is not a forwardable IPv6 source: ip6_forward drops the packet"))
}

fn set_done(ct: &mut CtInfo, dst_side: bool) {
    if let CtInfo::Conn {
        dst_done, src_done, ..
    } = ct
    {
        if dst_side {
            *dst_done = true;
        } else {
            *src_done = true;
        }
    }
}

/// What stays in a world of a packet its step took: the headers without the interfaces.
fn spent(p: &Packet) -> Packet {
    Packet {
        in_iface: None,
        out_iface: None,
        physdev_in: None,
        physdev_out: None,
        sender: p.sender.clone(),
        ..*p
    }
}

fn endpoint(p: &Packet, dst: bool) -> Endpoint {
    if dst {
        Endpoint {
            addr: p.dst,
            port: p.dport,
        }
    } else {
        Endpoint {
            addr: p.src,
            port: p.sport,
        }
    }
}

/// Splits a world on a match's answer into the worlds where it held (`held`) and those where it
/// did not (`out`, with `false`).
fn split(
    w: World,
    t: Truth,
    at: &RuleRef,
    held: &mut Vec<World>,
    out: &mut Vec<(World, bool)>,
    branches: &std::cell::Cell<usize>,
) {
    // Past the limit, stop branching (the trace fails at the end).
    let over = branches.get() > MAX_OUTCOMES;
    let t = match t {
        Truth::Chance(p) if over => Truth::of(p >= p.complement()),
        Truth::Unknown(_) if over => Truth::Yes,
        Truth::Chance(p) if !p.is_zero() && !p.is_one() => {
            branches.set(branches.get() + 1);
            Truth::Chance(p)
        }
        Truth::Unknown(r) => {
            branches.set(branches.get() + 1);
            Truth::Unknown(r)
        }
        other => other,
    };
    match t {
        Truth::Yes => held.push(w),
        Truth::No => out.push((w, false)),
        Truth::Chance(p) => {
            let q = p.complement();
            if !p.is_zero() {
                let mut a = w.clone();
                a.prob = a.prob.mul(&p);
                held.push(a);
            }
            if !q.is_zero() {
                let mut b = w;
                b.prob = b.prob.mul(&q);
                out.push((b, false));
            }
        }
        Truth::Unknown(reason) => {
            let mut a = w.clone();
            a.uncertain.push(Uncertain {
                at: at.clone(),
                reason: reason.clone(),
                assumed: Some(true),
            });
            held.push(a);
            let mut b = w;
            b.uncertain.push(Uncertain {
                at: at.clone(),
                reason,
                assumed: Some(false),
            });
            out.push((b, false));
        }
    }
}

impl conntrack::Table {
    /// Confirms and returns the entry's index.
    fn confirm_index(&mut self, info: &CtInfo) -> Option<usize> {
        self.confirm(info);
        match info {
            CtInfo::Conn { index: Some(i), .. } => Some(*i),
            CtInfo::Conn {
                index: None,
                related,
                dir,
                ..
            } if !*related || *dir == Direction::Original => self.entries.len().checked_sub(1),
            _ => None,
        }
    }
}

/// Records that a target's effect rested on a choice the engine cannot make (a NAT range wider
/// than one address, a random port): the outcome is kept, marked uncertain, not split.
fn note_unmodelled(w: &mut WorldState, at: &dyn Fn() -> RuleRef, doubt: Option<String>) {
    if let Some(reason) = doubt {
        w.uncertain.push(Uncertain {
            at: at(),
            reason,
            assumed: None,
        });
    }
}
