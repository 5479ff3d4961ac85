//! Runs a case on the real kernel and turns what it showed into [`Record`]s.

use std::time::{Duration, Instant};

use chainwalk_host::kernel::{
    FateKind, Headers, KernelObservation, Lab, PacketSpec, TraceEvent, TraceKind,
};

use crate::ConformanceError;
use crate::case::Case;
use crate::record::{At, CtEntry, Fate, FinalHeaders, Port, Record, RuleIndex, Step, Verdict};

/// The kernel's answer to a case, with how long it took.
#[derive(Debug, Clone)]
pub struct KernelRun {
    /// One record per packet.
    pub records: Vec<Record>,
    /// The ruleset as the kernel's `iptables-save` prints it after loading (`#` lines
    /// removed).
    pub saved: String,
    /// Time to build the lab and load the ruleset.
    pub setup: Duration,
    /// Time to send and observe all packets.
    pub packets: Duration,
}

/// Builds the case's lab (namespaces are deleted when this returns, also on error),
/// loads the ruleset, sends every packet and records what the kernel did.
pub fn run_kernel(case: &Case) -> Result<KernelRun, ConformanceError> {
    let start = Instant::now();
    let mut lab = Lab::new(&case.host, &case.neighbors)?;
    lab.restore(&case.rules, case.family)?;
    prepare(&lab);
    let saved = lab.save(case.family, false)?;
    let index = RuleIndex::parse(&case.rules);
    let setup = start.elapsed();
    let start = Instant::now();
    let records = run_packets(&lab, case, &index)?;
    Ok(KernelRun {
        records,
        saved,
        setup,
        packets: start.elapsed(),
    })
}

/// Lab settings every case runs with: `nf_conntrack_tcp_be_liberal=1`, because the
/// packets of a flow carry fixed sequence numbers, and conntrack's TCP window tracking
/// (which chainwalk does not model) would otherwise mark a handshake's later segments
/// INVALID. Best effort: without the conntrack module there is nothing to set.
pub fn prepare(lab: &Lab) {
    let _ = lab
        .node()
        .sysctl("net.netfilter.nf_conntrack_tcp_be_liberal", "1");
}

/// Sends the case's packets through an existing lab that already holds the case's
/// ruleset. A packet that cannot be derived from an earlier one (a reply to a packet that
/// was dropped) ends the case: the records stop there.
pub fn run_packets(
    lab: &Lab,
    case: &Case,
    index: &RuleIndex,
) -> Result<Vec<Record>, ConformanceError> {
    let mut records: Vec<Record> = Vec::with_capacity(case.packets.len());
    let mut first: Option<Instant> = None;
    for (i, p) in case.packets.iter().enumerate() {
        if p.flush_conntrack {
            lab.flush_conntrack()?;
        }
        let spec = match case.resolve(i, &records) {
            Ok(spec) => spec,
            Err(ConformanceError::Packet { .. }) => break,
            Err(e) => return Err(e),
        };
        let now = Instant::now();
        let sent_at = now.duration_since(*first.get_or_insert(now));
        let obs = lab.send(&spec)?;
        let mut record = record_from(spec, &obs, index);
        record.sent_at = Some(sent_at);
        records.push(record);
    }
    Ok(records)
}

fn step(e: &TraceEvent) -> Step {
    Step {
        hook: e.hook.clone(),
        table: e.table.clone(),
        chain: e.chain.clone(),
        at: match (e.kind, e.rule_position) {
            (TraceKind::Rule, Some(p)) => At::Rule(p),
            (TraceKind::Rule, None) | (TraceKind::Return, _) => At::Return,
            (TraceKind::Policy, _) => At::Policy,
        },
        verdict: Verdict::from_kernel(&e.verdict),
    }
}

/// Final headers from the kernel's view of them.
pub fn final_headers(h: &Headers) -> FinalHeaders {
    FinalHeaders {
        src: h.src,
        dst: h.dst,
        proto: h.proto,
        sport: h.sport.map(Port::Exact),
        dport: h.dport.map(Port::Exact),
        tcp_flags: h.tcp_flags,
        icmp_type: h.icmp_type,
        ttl: h.ttl,
    }
}

/// Turns one kernel observation into a record.
pub fn record_from(packet: PacketSpec, obs: &KernelObservation, index: &RuleIndex) -> Record {
    let steps: Vec<Step> = obs.events.iter().map(step).collect();
    let fate = match obs.fate.kind {
        FateKind::DeliveredLocal => Fate::Delivered,
        FateKind::Forwarded => Fate::Forwarded,
        FateKind::Sent => Fate::Sent,
        FateKind::Dropped => {
            let rejected = steps.last().is_some_and(|s| match s.at {
                At::Rule(p) => index.target(&s.table, &s.chain, p) == Some("REJECT"),
                _ => false,
            });
            if rejected {
                Fate::Rejected
            } else {
                Fate::Dropped
            }
        }
        FateKind::Unknown => Fate::Unknown,
    };
    let headers = match fate {
        Fate::Forwarded | Fate::Sent => obs.fate.packet_out.as_ref().map(final_headers),
        Fate::Delivered => obs.fate.last_header.as_ref().map(final_headers),
        _ => None,
    };
    let out_iface = match fate {
        Fate::Forwarded | Fate::Sent | Fate::Delivered => obs.fate.out_iface.clone(),
        _ => None,
    };
    let conntrack = obs
        .conntrack
        .iter()
        .filter_map(|l| CtEntry::parse(l))
        .find(|c| c.holds(&packet));
    Record {
        packet,
        steps,
        fate,
        out_iface,
        headers,
        conntrack,
        sent_at: None,
    }
}
