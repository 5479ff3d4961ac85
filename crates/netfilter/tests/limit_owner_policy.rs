//! Matches decided from facts a trace is given: `-m limit` from the packets' times (token
//! buckets carried from packet to packet and across traces), `-m owner` from the sending
//! socket (`--uid`, `--gid`, `--groups`, `--socket`), `-m policy --dir out` from the host's
//! `ipsec` flag. Without the fact, the answer stays uncertain (or, for time, back to back,
//! said in the assumptions).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use chainwalk_netfilter::eval::{Simulator, State, TraceError};
use chainwalk_netfilter::host::Host;
use chainwalk_netfilter::packet::parse_packet_line;
use chainwalk_netfilter::syntax::parse_save;
use chainwalk_netfilter::trace::{FateKind, Trace};
use common::HOST;

/// 2/sec: a packet costs 500 ms of credit, the bucket holds two packets' worth.
const LIMIT: &str = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p udp -m udp --dport 53 -m limit --limit 2/sec --limit-burst 2 -j ACCEPT\n-A INPUT -p udp -j DROP\nCOMMIT\n";
const DNS: &str = "-p udp -s 10.0.0.9 --sport 1000 -d 10.0.0.2 --dport 53 -i eth0";

fn trace_on(rules: &str, host: &str, packets: &str, state: &State) -> (Trace, Vec<State>) {
    let parsed = parse_save(rules, None);
    assert!(!parsed.has_errors(), "{:?}", parsed.diagnostics);
    let host = Host::from_yaml(host).unwrap();
    Simulator::new(&parsed.ruleset, &host)
        .trace_with_state(&parse_packet_line(packets).unwrap(), state)
        .unwrap()
}

/// Whether each packet of the only outcome was delivered (passed INPUT).
fn delivered(t: &Trace) -> Vec<bool> {
    assert_eq!(t.outcomes.len(), 1, "{t:?}");
    assert!(t.outcomes[0].uncertain.is_empty(), "{t:?}");
    t.outcomes[0]
        .steps
        .iter()
        .map(|s| s.fate.kind == FateKind::Local)
        .collect()
}

#[test]
fn a_limit_bucket_starts_full_and_refills_with_time() {
    let packets = format!(
        "{DNS} --then {DNS} --then {DNS} --then {DNS} --time 0.6 --then {DNS} --time 0.61 --then {DNS} --time 5"
    );
    let (t, states) = trace_on(LIMIT, HOST, &packets, &State::default());
    // The burst passes back to back, the third packet does not; 0.6 s later a packet's
    // worth (and 100 ms) has come back, 10 ms after that not; after a long pause the bucket
    // is full again.
    assert_eq!(delivered(&t), [true, true, false, true, false, true]);
    assert_eq!(states[0].clock(), 5_000_000_000);
    // Packets without a time are taken to pass right after the one before, and the trace
    // says so.
    let untimed: Vec<&String> = t
        .assumptions
        .iter()
        .filter(|a| a.contains("no --time"))
        .collect();
    assert_eq!(untimed.len(), 3, "{:?}", t.assumptions);
    assert!(untimed[0].starts_with("packet 1:"), "{untimed:?}");
    assert!(untimed[2].starts_with("packet 3:"), "{untimed:?}");
}

#[test]
fn buckets_carry_over_between_traces() {
    let (t, states) = trace_on(
        LIMIT,
        HOST,
        &format!("{DNS} --then {DNS}"),
        &State::default(),
    );
    assert_eq!(delivered(&t), [true, true]);
    let state = &states[0];
    let (t, _) = trace_on(LIMIT, HOST, DNS, state);
    assert_eq!(delivered(&t), [false]);
    let (t, _) = trace_on(LIMIT, HOST, &format!("{DNS} --time 0.5"), state);
    assert_eq!(delivered(&t), [true]);
    // A fresh ruleset's bucket is full whenever its first packet comes.
    let (t, _) = trace_on(
        LIMIT,
        HOST,
        &format!("{DNS} --time 3600"),
        &State::default(),
    );
    assert_eq!(delivered(&t), [true]);
}

#[test]
fn times_may_not_go_back() {
    let parsed = parse_save(LIMIT, None);
    let host = Host::from_yaml(HOST).unwrap();
    let sim = Simulator::new(&parsed.ruleset, &host);
    let err = sim
        .trace(&parse_packet_line(&format!("{DNS} --time 2 --then {DNS} --time 1")).unwrap())
        .unwrap_err();
    match err {
        TraceError::Packet { packet, message } => {
            assert_eq!(packet, 2);
            assert!(
                message.contains("earlier than the packet before it"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn rulesets_without_limit_assume_nothing_about_time() {
    let rules = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p udp -j ACCEPT\nCOMMIT\n";
    let (t, _) = trace_on(
        rules,
        HOST,
        &format!("{DNS} --then again"),
        &State::default(),
    );
    assert!(
        t.assumptions.iter().all(|a| !a.contains("--time")),
        "{:?}",
        t.assumptions
    );
}

const OWNER: &str = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -m owner --uid-owner 104 -j DROP\n-A OUTPUT -m owner --gid-owner 7 --suppl-groups -j REJECT\nCOMMIT\n*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -m owner --socket-exists -j DROP\nCOMMIT\n";
const LOCAL: &str = "-p tcp -d 10.1.0.7 --dport 80";

fn fate(rules: &str, host: &str, packet: &str) -> Vec<FateKind> {
    let (t, _) = trace_on(rules, host, packet, &State::default());
    t.outcomes.iter().map(|o| o.steps[0].fate.kind).collect()
}

#[test]
fn owner_is_decided_from_the_sending_socket() {
    use FateKind::*;
    // Not known: every answer, each marked uncertain.
    let (t, _) = trace_on(OWNER, HOST, LOCAL, &State::default());
    assert_eq!(t.outcomes.len(), 4);
    assert!(t.outcomes.iter().all(|o| !o.uncertain.is_empty()));
    assert!(t.outcomes[0].uncertain[0].reason.contains("--uid"));
    assert_eq!(
        fate(OWNER, HOST, &format!("{LOCAL} --uid 104 --gid 0")),
        [Dropped]
    );
    assert_eq!(
        fate(
            OWNER,
            HOST,
            &format!("{LOCAL} --uid 0 --gid 0 --groups 5,7")
        ),
        [Rejected]
    );
    // A process socket exists: mangle POSTROUTING drops it.
    assert_eq!(
        fate(OWNER, HOST, &format!("{LOCAL} --uid 0 --gid 0 --groups 5")),
        [Dropped]
    );
    // No socket at all: only negated tests hold.
    assert_eq!(fate(OWNER, HOST, &format!("{LOCAL} --socket none")), [Sent]);
    // A kernel socket exists but has no owner.
    assert_eq!(
        fate(OWNER, HOST, &format!("{LOCAL} --socket kernel")),
        [Dropped]
    );
    // Forwarded packets have no socket.
    assert_eq!(
        fate(
            OWNER,
            HOST,
            "-p tcp -s 10.0.0.9 --sport 1000 -d 10.1.0.7 --dport 80 -i eth0"
        ),
        [Forwarded]
    );
}

#[test]
fn policy_out_is_decided_on_a_host_without_ipsec() {
    let rules = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A FORWARD -m policy --dir out --pol ipsec -j DROP\n-A OUTPUT -m policy --dir out --pol none -j REJECT\nCOMMIT\n";
    let through = "-p tcp -s 10.0.0.9 --sport 1000 -d 10.1.0.7 --dport 80 -i eth0";
    // Not known: uncertain.
    let (t, _) = trace_on(rules, HOST, through, &State::default());
    assert_eq!(t.outcomes.len(), 2);
    assert!(t.outcomes[0].uncertain[0].reason.contains("ipsec"));
    let no_ipsec = format!("ipsec: false\n{HOST}");
    assert_eq!(fate(rules, &no_ipsec, through), [FateKind::Forwarded]);
    assert_eq!(fate(rules, &no_ipsec, LOCAL), [FateKind::Rejected]);
    // A host with IPsec: which packets a policy takes is not modelled.
    let (t, _) = trace_on(
        rules,
        &format!("ipsec: true\n{HOST}"),
        LOCAL,
        &State::default(),
    );
    assert_eq!(t.outcomes.len(), 2);
}
