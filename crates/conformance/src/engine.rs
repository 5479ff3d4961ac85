//! chainwalk's packet-flow engine ([`chainwalk_netfilter::eval::Simulator`]) behind the
//! [`Engine`] seam: the case's host and ruleset are read as chainwalk reads them, every
//! packet is traced from the conntrack table the packets before it left, and the engine's
//! events, fate and headers become [`Record`]s.
//!
//! The lab's facts the engine is told about (they are facts about the lab, not about
//! netfilter):
//!
//! - Packets are addressed to the node's MAC address, so a bridge of the lab routes them;
//!   the engine's host therefore has the bridge as an ordinary interface.
//! - The node has no listening sockets: a TCP segment delivered locally is answered with a
//!   reset, and conntrack deletes a connection whose only answer is that reset.
//! - Packets carry TTL 64; forwarding takes one off.
//! - The node has a link-local address on each interface (the lab's MAC addresses change
//!   from run to run, so the engine's host has a stand-in, [`node_link_local`]). An IPv6
//!   packet routed back out of the interface it came in by makes the node send its sender
//!   an ICMPv6 redirect from that address (rate-limited per address, a burst of six).
//! - The node has no IPsec policies or states (its namespace is new): `-m policy --dir out`
//!   sees no transform on any route.
//! - The lab sends its local packets from raw sockets this process opened: `-m owner` sees
//!   this process's file system user and group ids and supplementary groups (root in CI).
//!   The node's own answers (resets, ICMP errors, echo replies) leave from kernel sockets,
//!   which have no owner.
//! - `-m limit` buckets refill with time: where the kernel's records carry the times their
//!   packets were sent ([`follow_kernel`]), each packet is traced at its time; otherwise the
//!   packets of a case pass back to back.

use std::fmt::Write as _;

use chainwalk_host::kernel::{Ingress, InterfaceKind, PacketSpec, Proto, tcp_flags};
use chainwalk_netfilter::conntrack::{self, Direction, Entry, Tuple};
use chainwalk_netfilter::eval::{Simulator, State};
use chainwalk_netfilter::ext::conntrack::CtState;
use chainwalk_netfilter::host::Host;
use chainwalk_netfilter::ipset::IpSets;
use chainwalk_netfilter::model::{IfName, Protocol, Ruleset};
use chainwalk_netfilter::packet::{Packet, PacketDesc, Sender, has_ports};
use chainwalk_netfilter::syntax::parse_save;
use chainwalk_netfilter::trace::{self, EventKind, FateKind, Note};

use crate::ConformanceError;
use crate::case::Case;
use crate::compare::Engine;
use crate::record::{At, CtEntry, CtTuple, Fate, FinalHeaders, Port, Record, Step, Verdict};

/// The TTL (hop limit) the lab's packets are sent with.
const SENT_TTL: u8 = 64;

/// chainwalk's engine as a conformance [`Engine`].
#[derive(Debug, Default, Clone, Copy)]
pub struct ChainwalkEngine;

impl Engine for ChainwalkEngine {
    fn name(&self) -> &str {
        "chainwalk"
    }

    /// Every packet must have exactly one outcome with nothing uncertain (the cases are
    /// deterministic); anything else shows as a step that disagrees with the kernel.
    fn run(&self, case: &Case) -> Result<Vec<Record>, ConformanceError> {
        self.run_choosing(case, &mut |_, _| 0, true)
    }
}

impl ChainwalkEngine {
    /// Runs a case whose packets may branch (`-m statistic --mode random`): at each packet,
    /// `choose(index, records)` picks which of the engine's outcomes (each a record) the case
    /// goes on with. With `single`, more than one outcome is itself marked as a disagreement.
    /// Uncertain outcomes are always marked.
    pub fn run_choosing(
        &self,
        case: &Case,
        choose: &mut dyn FnMut(usize, &[Record]) -> usize,
        single: bool,
    ) -> Result<Vec<Record>, ConformanceError> {
        self.run_timed(case, &[], choose, single)
    }

    /// [`ChainwalkEngine::run_choosing`] with the time each packet was sent, counted from the
    /// first packet (`times[i]` for packet `i`; a packet without a time passes right after
    /// the one before it). The node's answer to a packet passes at the packet's time.
    pub fn run_timed(
        &self,
        case: &Case,
        times: &[Option<std::time::Duration>],
        choose: &mut dyn FnMut(usize, &[Record]) -> usize,
        single: bool,
    ) -> Result<Vec<Record>, ConformanceError> {
        let host = engine_host(case)?;
        let ruleset = engine_ruleset(case)?;
        let sets = lab_ipsets(case)?;
        let sim = Simulator::new(&ruleset, &host).with_ipsets(&sets);
        let mut state = State::default();
        let mut records: Vec<Record> = Vec::with_capacity(case.packets.len());
        let mut redirect_peers = RedirectPeers::default();
        for (i, p) in case.packets.iter().enumerate() {
            if p.flush_conntrack {
                state.conntrack = conntrack::Table::default();
            }
            let spec = match case.resolve(i, &records) {
                Ok(spec) => spec,
                Err(ConformanceError::Packet { .. }) => break,
                Err(e) => return Err(e),
            };
            let mut desc = packet_desc(&spec)?;
            desc.time = times
                .get(i)
                .copied()
                .flatten()
                .map(|t| u64::try_from(t.as_nanos()).unwrap_or(u64::MAX))
                .map(|t| t.max(state.clock()));
            let (trace, states) = sim
                .trace_with_state(
                    &[chainwalk_netfilter::packet::PacketSpec::Desc(desc)],
                    &state,
                )
                .map_err(|e| ConformanceError::Engine(format!("packet {i}: {e}")))?;
            let mut candidates = Vec::with_capacity(trace.outcomes.len());
            for (outcome, st) in trace.outcomes.iter().zip(states) {
                candidates.push(record_of(spec.clone(), outcome, st)?);
            }
            let many = trace.outcomes.len();
            let (recs, sts): (Vec<Record>, Vec<State>) = candidates.into_iter().unzip();
            let k = choose(i, &recs);
            let (Some(mut record), Some(next)) = (recs.into_iter().nth(k), sts.into_iter().nth(k))
            else {
                return Err(ConformanceError::Engine(format!(
                    "packet {i}: no outcome {k}"
                )));
            };
            if single && many != 1 {
                record.steps.push(unfit(format!(
                    "the engine has {many} outcomes for a deterministic case"
                )));
            }
            state = next;
            if let Some(outcome) = trace.outcomes.get(k)
                && let Some(desc) = node_redirect(&host, outcome, &mut redirect_peers)
            {
                // The node's ICMPv6 redirect to a packet forwarded back out of the interface
                // it came in by passes OUTPUT and POSTROUTING (and, refused by REJECT, its
                // answer loops back). Its path is not compared.
                trace_answers(&sim, &host, &mut state, desc, None);
            }
            if let Some(outcome) = trace.outcomes.get(k) {
                // REJECT's answer (a TCP reset or an ICMP error) passes OUTPUT and
                // POSTROUTING, and PREROUTING and INPUT when it loops back to a local
                // address: it advances nth counters and may change connections. An answer
                // REJECT refuses in turn is answered too (a reset refused with an ICMP
                // error). Their paths are not compared.
                if let Some((desc, attach)) =
                    reject_answer(&host, outcome, refused_conn(outcome, &state))
                {
                    trace_answers(&sim, &host, &mut state, desc, attach);
                }
                record.conntrack = ct_entry(&state, &record.packet);
            }
            if let Some(answer) = node_answer(&record) {
                // A connection whose only answer is the node's reset is deleted when
                // conntrack sees the reset (unless the raw table dropped or untracked it).
                let input = Tuple::of(&packet_of(&record.packet));
                let unreplied = answer.proto == Proto::Tcp
                    && state
                        .conntrack
                        .find(&input)
                        .and_then(|(i, _)| state.conntrack.entries.get(i))
                        .is_some_and(|e| !e.seen_reply);
                // The node's own answer passes the hooks too (looped back through
                // PREROUTING and INPUT when it is for a local address): it advances nth
                // counters and updates connections. Its path is not compared.
                let mut desc = packet_desc(&answer)?;
                desc.quoted = quoted_header(&record, &answer);
                desc.sender = Some(Sender::Kernel);
                if let Ok((t, states)) = sim.trace_with_state(
                    &[chainwalk_netfilter::packet::PacketSpec::Desc(desc)],
                    &state,
                ) && let (Some(st), Some(o)) = (states.into_iter().next(), t.outcomes.first())
                {
                    state = st;
                    // REJECT may refuse the answer in turn (a reset in OUTPUT, as
                    // ESTABLISHED): its error carries the answer's connection and loops
                    // back when it is for a local address.
                    let refused = reject_answer(&host, o, refused_conn(o, &state));
                    let seen = o.steps.first().is_some_and(|s| {
                        s.notes
                            .iter()
                            .any(|(_, n)| matches!(n, Note::Conntrack { .. }))
                    });
                    let mut deleted = false;
                    if unreplied
                        && seen
                        && let Some((i, _)) = state.conntrack.find(&input)
                    {
                        state.conntrack.entries.remove(i);
                        deleted = true;
                    }
                    if let Some((desc, attach)) = refused {
                        // A connection the reset deleted is gone from the table; the error
                        // still carries it in the kernel, but being confirmed already it is
                        // never entered again: traced without it (the error is then not
                        // RELATED to anything, which only a ctstate rule on the looped-back
                        // error could tell apart).
                        let attach = if deleted { None } else { attach };
                        trace_answers(&sim, &host, &mut state, desc, attach);
                    }
                }
                record.conntrack = ct_entry(&state, &record.packet);
            }
            records.push(record);
        }
        Ok(records)
    }
}

/// Traces a packet the node sends for its effect on the state (`desc`, carrying the
/// connection `attach`), then REJECT's answer to it when REJECT refuses it, and so on.
fn trace_answers(
    sim: &Simulator<'_>,
    host: &Host,
    state: &mut State,
    desc: PacketDesc,
    attach: Option<Attach>,
) {
    let mut next = Some((desc, attach));
    while let Some((desc, attach)) = next.take() {
        let Ok((t, states)) = sim.trace_attached(&desc, &attach, state) else {
            break;
        };
        let (Some(st), Some(o)) = (states.into_iter().next(), t.outcomes.first()) else {
            break;
        };
        *state = st;
        // The connection the answer carried, as the table holds it now.
        let carried = attach.map(|(e, index, dir)| {
            let index = index.or_else(|| state.conntrack.find(&e.orig).map(|(i, _)| i));
            let e = index
                .and_then(|i| state.conntrack.entries.get(i).cloned())
                .unwrap_or(e);
            (e, index, dir)
        });
        next = reject_answer(host, o, carried);
    }
}

/// How many redirects each address (as a forwarded packet's destination or as the
/// redirect's destination) has been allowed in a case: the kernel's per-address token
/// bucket (`inet_peer_xrlim_allow`, one token a second) starts full with
/// [`REDIRECT_BURST`] tokens, and a case's packets pass within a second of each other.
type RedirectPeers = std::collections::HashMap<std::net::IpAddr, u32>;

/// The tokens a new per-address bucket holds (`XRLIM_BURST_FACTOR`).
const REDIRECT_BURST: u32 = 6;

/// The ICMPv6 redirect the node sends when an arriving IPv6 packet is routed back out of the
/// interface it came in by (`ip6_forward`, before FORWARD: also when FORWARD then drops
/// it). It needs a token of the packet's destination's bucket, a route to the destination
/// without a gateway (the target is then the destination itself), a route to the source
/// without a gateway, and a token of the source's bucket. It leaves from the node's
/// link-local address on that interface (see [`node_link_local`]) to the packet's source:
/// ICMPv6 type 137, code 0, from a kernel socket.
fn node_redirect(
    host: &Host,
    outcome: &trace::Outcome,
    peers: &mut RedirectPeers,
) -> Option<PacketDesc> {
    let step = outcome.steps.first()?;
    let p = &step.fate.packet;
    // The source as ip6_forward sees it: before any source NAT in POSTROUTING (nothing
    // before routing changes it).
    let src = step.input.src;
    if !src.is_ipv6() {
        return None;
    }
    let in_iface = step.input.in_iface.as_deref()?;
    let forwarded = match step.fate.kind {
        FateKind::Forwarded => step.fate.iface.as_deref(),
        FateKind::Dropped | FateKind::Rejected | FateKind::Queued
            if step.events.iter().any(|e| {
                matches!(
                    e.hook,
                    chainwalk_netfilter::model::Hook::Forward
                        | chainwalk_netfilter::model::Hook::Postrouting
                )
            }) =>
        {
            p.out_iface.as_deref()
        }
        _ => None,
    }?;
    if forwarded != in_iface {
        return None;
    }
    let index = host.interfaces.iter().position(|i| i.name == in_iface)?;
    let mut allow = |a: std::net::IpAddr| {
        let used = peers.entry(a).or_insert(0);
        let ok = *used < REDIRECT_BURST;
        if ok {
            *used += 1;
        }
        ok
    };
    if !allow(p.dst) {
        return None;
    }
    let towards_dst = chainwalk_netfilter::route::lookup(host, p.dst).ok()?;
    let towards_src = chainwalk_netfilter::route::lookup(host, src).ok()?;
    if towards_dst.via.is_some() || towards_src.via.is_some() || !allow(src) {
        return None;
    }
    Some(PacketDesc {
        proto: Protocol::ICMPV6,
        src: Some(std::net::IpAddr::V6(node_link_local(index))),
        dst: src,
        sport: None,
        dport: None,
        tcp_flags: None,
        icmp: Some((137, 0)),
        in_iface: None,
        mark: 0,
        quoted: None,
        sender: Some(Sender::Kernel),
        time: None,
    })
}

/// The link-local address the engine's host gives the node on its interface number `index`
/// (in the case's order). The lab's node derives its link-local addresses from MAC
/// addresses that change from run to run, so the engine uses a stand-in of the same
/// (EUI-64) shape; the generated rules never name the node's link-local addresses.
pub fn node_link_local(index: usize) -> std::net::Ipv6Addr {
    let n = u16::try_from(index).unwrap_or(u16::MAX);
    std::net::Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0x00ff, 0xfe00, n)
}

/// The case's ruleset as chainwalk parses it (a parse problem is an engine error).
pub fn engine_ruleset(case: &Case) -> Result<Ruleset, ConformanceError> {
    let family = match case.family {
        chainwalk_host::kernel::Family::Ipv4 => chainwalk_netfilter::model::Family::Ipv4,
        chainwalk_host::kernel::Family::Ipv6 => chainwalk_netfilter::model::Family::Ipv6,
    };
    let parsed = parse_save(&case.rules, Some(family));
    if let Some(d) = parsed
        .diagnostics
        .iter()
        .find(|d| d.severity == chainwalk_netfilter::syntax::Severity::Error)
    {
        return Err(ConformanceError::Engine(format!(
            "ruleset does not parse: {}",
            d.error
        )));
    }
    Ok(parsed.ruleset)
}

/// The ipsets of the lab: every set the ruleset references exists and is empty (the lab
/// creates them so that the ruleset loads).
pub fn lab_ipsets(case: &Case) -> Result<IpSets, ConformanceError> {
    let fam = match case.family {
        chainwalk_host::kernel::Family::Ipv4 => "inet",
        chainwalk_host::kernel::Family::Ipv6 => "inet6",
    };
    let mut text = String::new();
    for (name, dims) in chainwalk_host::kernel::referenced_ipsets(&case.rules) {
        let kind = match dims {
            1 => "hash:ip",
            2 => "hash:ip,port",
            _ => "hash:ip,port,ip",
        };
        let _ = writeln!(text, "create {name} {kind} family {fam}");
    }
    IpSets::parse(&text).map_err(|e| ConformanceError::Engine(format!("ipsets: {e}")))
}

/// The case's host in chainwalk's YAML host format, with the neighbours behind each
/// interface (bridges as ordinary interfaces: the lab's packets are routed through them).
pub fn engine_host_yaml(case: &Case) -> String {
    let h = &case.host;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "forwarding: {{ipv4: {}, ipv6: {}}}",
        h.forwarding_v4, h.forwarding_v6
    );
    let _ = writeln!(s, "ipsec: false");
    let _ = writeln!(s, "interfaces:");
    if !h
        .interfaces
        .iter()
        .any(|i| i.kind == InterfaceKind::Loopback)
    {
        let _ = writeln!(s, "  - name: lo\n    addresses: [127.0.0.1/8, ::1/128]");
    }
    for (index, i) in h.interfaces.iter().enumerate() {
        let mut addrs = i.addresses.clone();
        if i.kind == InterfaceKind::Loopback {
            for a in ["127.0.0.1/8", "::1/128"] {
                if !addrs.iter().any(|x| x == a) {
                    addrs.push(a.to_string());
                }
            }
        } else {
            // The node's link-local address (a stand-in, see `node_link_local`), as a
            // single address: the kernel's fe80::/64 routes are not modelled.
            addrs.push(format!("{}/128", node_link_local(index)));
        }
        let nbs: Vec<String> = case
            .neighbors
            .iter()
            .filter(|n| n.interface == i.name)
            .map(|n| n.address.to_string())
            .collect();
        let _ = writeln!(
            s,
            "  - name: {}\n    addresses: [{}]\n    neighbors: [{}]",
            i.name,
            addrs.join(", "),
            nbs.join(", ")
        );
    }
    let _ = writeln!(s, "routes:{}", if h.routes.is_empty() { " []" } else { "" });
    for r in &h.routes {
        let _ = writeln!(s, "  - to: {}", r.to);
        if let Some(v) = &r.via {
            let _ = writeln!(s, "    via: {v}");
        }
        let _ = writeln!(s, "    dev: {}", r.dev);
    }
    s
}

/// The case's host as chainwalk models it (see [`engine_host_yaml`]).
pub fn engine_host(case: &Case) -> Result<Host, ConformanceError> {
    Host::from_yaml(&engine_host_yaml(case))
        .map_err(|e| ConformanceError::Engine(format!("host: {e}")))
}

/// The socket the lab sends its local packets from: a raw socket this process opened, so
/// owned by this process's file system user and group ids, with its supplementary groups
/// (read from `/proc/self/status`; `None` when that cannot be read).
pub fn lab_sender() -> Option<Sender> {
    static SENDER: std::sync::OnceLock<Option<Sender>> = std::sync::OnceLock::new();
    SENDER
        .get_or_init(|| {
            let status = std::fs::read_to_string("/proc/self/status").ok()?;
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|rest| {
                        rest.split_whitespace()
                            .filter_map(|t| t.parse::<u32>().ok())
                            .collect::<Vec<u32>>()
                    })
            };
            // `Uid:` and `Gid:` list the real, effective, saved and file system ids.
            let uid = field("Uid:")?.get(3).copied();
            let gid = field("Gid:")?.get(3).copied();
            let groups = field("Groups:");
            Some(Sender::Process { uid, gid, groups })
        })
        .clone()
}

/// A lab packet as chainwalk's packet description (a local packet sent from the lab's
/// socket, see [`lab_sender`]; no time).
pub fn packet_desc(p: &PacketSpec) -> Result<PacketDesc, ConformanceError> {
    let in_iface =
        match &p.ingress {
            Ingress::Interface(i) => Some(IfName::new(i).ok_or_else(|| {
                ConformanceError::Engine(format!("`{i}` is not an interface name"))
            })?),
            Ingress::Local => None,
        };
    Ok(PacketDesc {
        in_iface,
        ..headers_desc(p)
    })
}

/// [`packet_desc`] without the input interface.
fn headers_desc(p: &PacketSpec) -> PacketDesc {
    let proto = Protocol(p.proto.number());
    let ports = has_ports(proto);
    PacketDesc {
        proto,
        src: Some(p.src),
        dst: p.dst,
        sport: ports.then_some(p.sport),
        dport: ports.then_some(p.dport),
        tcp_flags: (p.proto == Proto::Tcp).then_some(p.tcp_flags),
        icmp: matches!(p.proto, Proto::Icmp | Proto::Icmpv6).then_some((p.icmp_type, p.icmp_code)),
        in_iface: None,
        mark: p.mark,
        quoted: None,
        sender: match &p.ingress {
            Ingress::Interface(_) => None,
            Ingress::Local => lab_sender(),
        },
        time: None,
    }
}

/// One engine event as the kernel's trace shows it.
pub fn step_of(e: &trace::Event) -> Step {
    Step {
        hook: e.hook.chain_name().to_string(),
        table: e.table.as_str().to_string(),
        chain: e.chain().to_string(),
        at: match (e.kind, e.rule) {
            (EventKind::Rule, Some(p)) => At::Rule(u32::try_from(p).unwrap_or(u32::MAX)),
            (EventKind::Policy, _) => At::Policy,
            (EventKind::Return, _) | (EventKind::Rule, None) => At::Return,
        },
        verdict: Verdict::from_kernel(&e.kernel_verdict()),
    }
}

fn headers_of(p: &Packet, ttl: u8) -> FinalHeaders {
    let ports = has_ports(p.proto);
    FinalHeaders {
        src: p.src,
        dst: p.dst,
        proto: p.proto.0,
        sport: if ports {
            p.sport.map(Port::Exact)
        } else {
            None
        },
        dport: if ports {
            p.dport.map(Port::Exact)
        } else {
            None
        },
        tcp_flags: if p.proto == Protocol::TCP {
            p.tcp_flags
        } else {
            None
        },
        icmp_type: p.icmp.map(|(t, _)| t),
        ttl,
    }
}

fn ct_tuple(t: &Tuple, icmp_id: Option<u16>) -> CtTuple {
    let ports = has_ports(t.proto);
    CtTuple {
        src: t.src,
        dst: t.dst,
        sport: ports.then_some(Port::Exact(t.sport)),
        dport: ports.then_some(Port::Exact(t.dport)),
        icmp_id,
    }
}

/// A step that never agrees with the kernel, carrying why the engine's answer is unfit.
fn unfit(message: String) -> Step {
    Step {
        hook: "ENGINE".into(),
        table: "-".into(),
        chain: "-".into(),
        at: At::Return,
        verdict: Verdict::Other(message),
    }
}

/// The packet's tuple as the engine keys connections (ports only where the protocol has
/// them, as the engine's packets carry them).
fn packet_of(p: &PacketSpec) -> Packet {
    let d = headers_desc(p);
    Packet {
        proto: d.proto,
        src: p.src,
        dst: d.dst,
        sport: d.sport,
        dport: d.dport,
        tcp_flags: d.tcp_flags,
        icmp: d.icmp,
        in_iface: None,
        out_iface: None,
        physdev_in: None,
        physdev_out: None,
        mark: d.mark,
        sport_random: false,
        quoted: None,
        sender: d.sender,
    }
}

/// The conntrack entry holding `packet` (as sent) in the engine's table.
fn ct_entry(state: &State, packet: &PacketSpec) -> Option<CtEntry> {
    let table = &state.conntrack;
    let icmp_id = matches!(packet.proto, Proto::Icmp | Proto::Icmpv6).then_some(packet.sport);
    table
        .find(&Tuple::of(&packet_of(packet)))
        .and_then(|(i, _)| table.entries.get(i))
        .map(|e| CtEntry {
            proto: e.orig.proto.0,
            orig: ct_tuple(&e.orig, icmp_id),
            reply: ct_tuple(&e.reply, icmp_id),
            mark: e.mark,
        })
}

/// What the lab's node answers to a packet delivered to it (it has no listening sockets):
/// a TCP reset to a TCP segment that is not one, an ICMP port unreachable to UDP, an echo
/// reply to an echo request. The lab's IPv4 timestamp requests carry no timestamps, and the
/// kernel does not answer a timestamp request shorter than its 4-byte originate timestamp.
pub fn node_answer(r: &Record) -> Option<PacketSpec> {
    if r.fate != Fate::Delivered {
        return None;
    }
    let h = r.headers.as_ref()?;
    let v4 = h.src.is_ipv4();
    let mut p = PacketSpec {
        proto: Proto::Tcp,
        src: h.dst,
        dst: h.src,
        sport: h.dport.map(|p| p.value()).unwrap_or(0),
        dport: h.sport.map(|p| p.value()).unwrap_or(0),
        tcp_flags: 0,
        icmp_type: 0,
        icmp_code: 0,
        mark: 0,
        ingress: Ingress::Local,
    };
    match (h.proto, h.icmp_type) {
        (6, _) => {
            let f = h.tcp_flags.unwrap_or(0);
            if f & tcp_flags::RST != 0 {
                return None;
            }
            p.tcp_flags = if f & tcp_flags::ACK != 0 {
                tcp_flags::RST
            } else {
                tcp_flags::RST | tcp_flags::ACK
            };
        }
        (17, _) => {
            p.proto = if v4 { Proto::Icmp } else { Proto::Icmpv6 };
            (p.icmp_type, p.icmp_code) = if v4 { (3, 3) } else { (1, 4) };
            p.sport = 0;
            p.dport = 0;
        }
        (1, Some(8)) => {
            p.proto = Proto::Icmp;
            p.icmp_type = 0;
            p.sport = r.packet.sport;
            p.dport = 0;
        }
        (58, Some(128)) => {
            p.proto = Proto::Icmpv6;
            p.icmp_type = 129;
            p.sport = r.packet.sport;
            p.dport = 0;
        }
        _ => return None,
    }
    Some(p)
}

/// A connection a packet carries: the entry, its index in the table (`None`: never
/// confirmed) and the packet's direction in it.
type Attach = (Entry, Option<usize>, Direction);

/// The packet the node sends when `REJECT` refuses a packet (the outcome's fate), and the
/// connection the kernel attaches to it (`nf_ct_attach`: the refused packet's connection,
/// confirmed or not, in the other direction). A reset answers a TCP segment without RST; an
/// ICMP or ICMPv6 error (quoting the refused packet as it was refused) answers anything but
/// another ICMP error. The error's source is the refused packet's destination when that is
/// local, else the address routing picks towards its source.
fn reject_answer(
    host: &Host,
    outcome: &trace::Outcome,
    refused: Option<Attach>,
) -> Option<(PacketDesc, Option<Attach>)> {
    let step = outcome.steps.first()?;
    if step.fate.kind != FateKind::Rejected {
        return None;
    }
    let with = step.fate.reason.as_deref()?;
    let old = &step.fate.packet;
    let v4 = old.dst.is_ipv4();
    let mut desc = PacketDesc {
        proto: old.proto,
        src: Some(old.dst),
        dst: old.src,
        sport: None,
        dport: None,
        tcp_flags: None,
        icmp: None,
        in_iface: None,
        mark: 0,
        quoted: None,
        // REJECT's answers are traced for their effect on the state only; which socket
        // `-m owner` would see on them is not modelled.
        sender: None,
        time: None,
    };
    if with == "tcp-reset" {
        let flags = old.tcp_flags?;
        if old.proto != Protocol::TCP || flags & tcp_flags::RST != 0 {
            return None;
        }
        desc.sport = old.dport;
        desc.dport = old.sport;
        desc.tcp_flags = Some(if flags & tcp_flags::ACK != 0 {
            tcp_flags::RST
        } else {
            tcp_flags::RST | tcp_flags::ACK
        });
        return Some((desc, answer_conn(refused)));
    }
    if chainwalk_netfilter::conntrack::is_icmp_error(old) {
        return None;
    }
    let code = match with {
        "icmp-net-unreachable" | "icmp6-no-route" => 0,
        "icmp-host-unreachable" | "icmp6-adm-prohibited" => 1,
        "icmp-proto-unreachable" => 2,
        "icmp-port-unreachable" | "icmp6-addr-unreachable" => 3,
        "icmp6-port-unreachable" => 4,
        "icmp6-policy-fail" => 5,
        "icmp6-reject-route" => 6,
        "icmp-net-prohibited" => 9,
        "icmp-host-prohibited" => 10,
        "icmp-admin-prohibited" => 13,
        _ => return None,
    };
    desc.proto = if v4 { Protocol::ICMP } else { Protocol::ICMPV6 };
    desc.icmp = Some((if v4 { 3 } else { 1 }, code));
    desc.quoted = Some(Tuple::of(old));
    desc.src = Some(if host.is_local(old.dst) {
        old.dst
    } else if host.is_local(old.src) {
        old.src
    } else {
        chainwalk_netfilter::route::lookup(host, old.src)
            .ok()
            .and_then(|r| r.src)
            .unwrap_or(old.dst)
    });
    Some((desc, answer_conn(refused)))
}

/// The connection an answer carries: the refused packet's, in the other direction.
fn answer_conn(refused: Option<Attach>) -> Option<Attach> {
    refused.map(|(e, i, dir)| {
        let other = match dir {
            Direction::Original => Direction::Reply,
            Direction::Reply => Direction::Original,
        };
        (e, i, other)
    })
}

/// The connection conntrack gave a packet REJECT refused (the outcome's first step, `state`
/// the state it left): the table's entry and the packet's direction, or a connection never
/// confirmed; `None` when conntrack had none for it (INVALID, UNTRACKED, or no conntrack).
fn refused_conn(outcome: &trace::Outcome, state: &State) -> Option<Attach> {
    let step = outcome.steps.first()?;
    let bits = step.notes.iter().rev().find_map(|(_, n)| match n {
        Note::Conntrack { state, .. } => Some(*state),
        _ => None,
    })?;
    if bits & (CtState::INVALID | CtState::UNTRACKED) != 0 {
        return None;
    }
    Some(match state.conntrack.find(&Tuple::of(&step.input)) {
        Some((i, dir)) => (
            state
                .conntrack
                .entries
                .get(i)
                .cloned()
                .unwrap_or_else(|| Entry::new(&step.input)),
            Some(i),
            dir,
        ),
        None => {
            let mut e = Entry::new(&step.input);
            e.reply = Tuple::of(&step.fate.packet).inverse();
            (e, None, Direction::Original)
        }
    })
}

/// The header the node's `answer` to a delivered packet quotes when the answer is an ICMP
/// error: the packet as it was delivered (after any NAT), which is what the node's stack
/// saw and answers.
pub fn quoted_header(r: &Record, answer: &PacketSpec) -> Option<Tuple> {
    let icmp_error = match answer.proto {
        Proto::Icmp => matches!(answer.icmp_type, 3 | 4 | 5 | 11 | 12),
        Proto::Icmpv6 => (1..=4).contains(&answer.icmp_type),
        _ => false,
    };
    if !icmp_error {
        return None;
    }
    let h = r.headers.as_ref()?;
    let ports = has_ports(Protocol(h.proto));
    Some(Tuple {
        proto: Protocol(h.proto),
        src: h.src,
        sport: if ports {
            h.sport.map(|p| p.value()).unwrap_or(0)
        } else {
            0
        },
        dst: h.dst,
        dport: if ports {
            h.dport.map(|p| p.value()).unwrap_or(0)
        } else {
            0
        },
    })
}

/// The record of one outcome of a traced packet, and the state it leaves behind.
fn record_of(
    packet: PacketSpec,
    outcome: &trace::Outcome,
    state: State,
) -> Result<(Record, State), ConformanceError> {
    let step = outcome
        .steps
        .first()
        .ok_or_else(|| ConformanceError::Engine("outcome without a step".into()))?;
    let mut steps: Vec<Step> = step.events.iter().map(step_of).collect();
    for u in &outcome.uncertain {
        steps.push(unfit(format!("uncertain: {}", u.reason)));
    }
    let fate = match step.fate.kind {
        FateKind::Local => Fate::Delivered,
        FateKind::Forwarded => Fate::Forwarded,
        FateKind::Sent => Fate::Sent,
        FateKind::Dropped if step.fate.by.is_some() => Fate::Dropped,
        FateKind::Dropped => Fate::Unknown,
        FateKind::Rejected => Fate::Rejected,
        FateKind::Queued => Fate::Dropped,
    };
    let (out_iface, headers) = match fate {
        Fate::Forwarded => (
            step.fate.iface.map(String::from),
            Some(headers_of(&step.fate.packet, SENT_TTL - 1)),
        ),
        Fate::Sent => (
            step.fate.iface.map(String::from),
            Some(headers_of(&step.fate.packet, SENT_TTL)),
        ),
        Fate::Delivered => (None, Some(headers_of(&step.fate.packet, SENT_TTL))),
        _ => (None, None),
    };
    let conntrack = ct_entry(&state, &packet);
    Ok((
        Record {
            packet,
            steps,
            fate,
            out_iface,
            headers,
            conntrack,
            sent_at: None,
        },
        state,
    ))
}

/// The engine's records for a case whose rules branch at random (`-m statistic --mode
/// random`), following the kernel's choices: at each packet, the engine's outcome that
/// agrees with the kernel's record of it (the first outcome when none does). Each packet
/// passes at the time the kernel's record says it was sent (for `-m limit`). Every outcome
/// is one the engine itself says can happen; how often each happens is checked apart, with
/// [`crate::stats`].
pub fn follow_kernel(case: &Case, kernel: &[Record]) -> Result<Vec<Record>, ConformanceError> {
    let mut earlier: Vec<Record> = Vec::new();
    let mut choose = |i: usize, candidates: &[Record]| {
        let upto = kernel.get(..=i).unwrap_or(kernel);
        let k = candidates
            .iter()
            .position(|c| {
                let mut ours = earlier.clone();
                ours.push(c.clone());
                match crate::compare::compare(case, upto, &ours) {
                    crate::compare::Outcome::Agree => true,
                    crate::compare::Outcome::Disagree(d) => d.iter().all(|x| x.packet != i),
                }
            })
            .unwrap_or(0);
        if let Some(c) = candidates.get(k) {
            earlier.push(c.clone());
        }
        k
    };
    let times: Vec<_> = kernel.iter().map(|r| r.sent_at).collect();
    ChainwalkEngine.run_timed(case, &times, &mut choose, false)
}

/// The engine's exact probability of each branch rule for packet `packet` of `case` (a
/// fixed packet): the sum of the probabilities of the outcomes whose path passes the rule.
/// Fails when an outcome passes no branch or several, or rests on an uncertain decision.
pub fn branch_probabilities(
    case: &Case,
    packet: &PacketSpec,
    branches: &[crate::stats::RuleRef],
) -> Result<Vec<f64>, ConformanceError> {
    let host = engine_host(case)?;
    let ruleset = engine_ruleset(case)?;
    let sets = lab_ipsets(case)?;
    let sim = Simulator::new(&ruleset, &host).with_ipsets(&sets);
    let trace = sim
        .trace(&[chainwalk_netfilter::packet::PacketSpec::Desc(packet_desc(
            packet,
        )?)])
        .map_err(|e| ConformanceError::Engine(e.to_string()))?;
    let mut sums = vec![chainwalk_netfilter::eval::Prob::zero(); branches.len()];
    for o in &trace.outcomes {
        if let Some(u) = o.uncertain.first() {
            return Err(ConformanceError::Engine(format!("uncertain: {}", u.reason)));
        }
        let hit: Vec<usize> = branches
            .iter()
            .enumerate()
            .filter(|(_, b)| {
                o.steps.iter().flat_map(|s| &s.events).any(|e| {
                    e.kind == EventKind::Rule
                        && e.table.as_str() == b.table
                        && e.chain() == b.chain
                        && e.rule.and_then(|r| u32::try_from(r).ok()) == Some(b.position)
                })
            })
            .map(|(i, _)| i)
            .collect();
        match hit.as_slice() {
            [i] => {
                if let Some(s) = sums.get_mut(*i) {
                    *s = s.add(&o.probability);
                }
            }
            _ => {
                return Err(ConformanceError::Engine(format!(
                    "an outcome of probability {} passes {} of the branches",
                    o.probability.to_f64(),
                    hit.len()
                )));
            }
        }
    }
    Ok(sums.iter().map(|p| p.to_f64()).collect())
}
