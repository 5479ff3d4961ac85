//! Behaviours found by comparing the engine with the real kernel
//! (`crates/conformance`, `chainwalk-conformance`): each test names the kernel fact it
//! holds the engine to. The facts themselves are shown on the kernel by
//! `crates/conformance/tests/kernel_facts.rs` and by the conformance runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use chainwalk_netfilter::eval::{Simulator, State, needs_conntrack};
use chainwalk_netfilter::host::Host;
use chainwalk_netfilter::model::{Hook, TableName};
use chainwalk_netfilter::packet::parse_packet_line;
use chainwalk_netfilter::syntax::parse_save;
use chainwalk_netfilter::trace::{EventKind, Trace};
use common::{HOST, TO_LOCAL};

fn ruleset(rules: &str) -> chainwalk_netfilter::model::Ruleset {
    let parsed = parse_save(rules, None);
    assert!(!parsed.has_errors(), "{:?}", parsed.diagnostics);
    parsed.ruleset
}

fn run(rules: &str, packet: &str) -> Trace {
    let rs = ruleset(rules);
    let host = Host::from_yaml(HOST).unwrap();
    Simulator::new(&rs, &host)
        .trace(&parse_packet_line(packet).unwrap())
        .unwrap()
}

fn tables_seen(t: &Trace) -> Vec<(Hook, TableName)> {
    let mut v: Vec<(Hook, TableName)> = Vec::new();
    for e in &t.outcomes[0].steps[0].events {
        if v.last() != Some(&(e.hook, e.table)) {
            v.push((e.hook, e.table));
        }
    }
    v
}

#[test]
fn nat_chains_are_not_traversed_when_nothing_in_the_ruleset_needs_conntrack() {
    // Only ACCEPT and MARK rules: the kernel never registers conntrack, and the nat hooks
    // find no connection, so not even the nat policies show in the trace.
    let quiet = "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n-A PREROUTING -p tcp -j MARK --set-mark 0x1\n-A INPUT -j ACCEPT\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -j ACCEPT\nCOMMIT\n";
    assert!(!needs_conntrack(&ruleset(quiet)));
    let t = run(quiet, TO_LOCAL);
    assert!(
        t.outcomes[0].steps[0]
            .events
            .iter()
            .all(|e| e.table != TableName::Nat),
        "{:?}",
        tables_seen(&t)
    );
    // The same nat rules run once one rule anywhere needs conntrack.
    let tracked = quiet.replace(
        "-A INPUT -p tcp -j ACCEPT",
        "-A INPUT -p tcp -m conntrack --ctstate NEW -j ACCEPT",
    );
    assert!(needs_conntrack(&ruleset(&tracked)));
    let t = run(&tracked, TO_LOCAL);
    let seen = tables_seen(&t);
    assert!(
        seen.contains(&(Hook::Prerouting, TableName::Nat)),
        "{seen:?}"
    );
    assert!(seen.contains(&(Hook::Input, TableName::Nat)), "{seen:?}");
}

#[test]
fn input_runs_nat_before_security_as_iptables_nft_registers_them() {
    // iptables-nft registers the security table at priority 150, nat INPUT at 100.
    let rules = "*nat\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -j SNAT --to-source 10.0.0.50\nCOMMIT\n*security\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp\nCOMMIT\n";
    let t = run(rules, TO_LOCAL);
    let input: Vec<TableName> = tables_seen(&t)
        .into_iter()
        .filter(|(h, _)| *h == Hook::Input)
        .map(|(_, t)| t)
        .collect();
    assert_eq!(
        input,
        vec![TableName::Filter, TableName::Nat, TableName::Security]
    );
}

#[test]
fn nth_counters_persist_across_separately_traced_packets() {
    // `-m statistic --mode nth` counts every packet that reaches it for as long as the rule
    // is loaded, also when conntrack is flushed in between.
    let rules = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m statistic --mode nth --every 2 --packet 0 -j DROP\nCOMMIT\n";
    let rs = ruleset(rules);
    let host = Host::from_yaml(HOST).unwrap();
    let sim = Simulator::new(&rs, &host);
    let packet = parse_packet_line(TO_LOCAL).unwrap();
    let mut state = State::default();
    let mut dropped = Vec::new();
    for _ in 0..4 {
        let (t, states) = sim.trace_with_state(&packet, &state).unwrap();
        assert_eq!(t.outcomes.len(), 1);
        dropped.push(
            t.outcomes[0].steps[0]
                .events
                .iter()
                .any(|e| e.kind == EventKind::Rule && e.target() == "DROP"),
        );
        state = states.into_iter().next().unwrap();
        state.conntrack = Default::default();
    }
    assert_eq!(dropped, vec![true, false, true, false]);
}

const HOST6: &str = "forwarding: {ipv4: true, ipv6: true}
interfaces:
  - name: lo
    addresses: [::1/128]
  - name: eth0
    addresses: [2001:db8::2/64]
routes:
  - to: default
    via: 2001:db8::1
    dev: eth0
";

#[test]
fn ipv6_addrtype_unicast_holds_for_a_local_address() {
    // xt_addrtype checks UNICAST of an IPv6 address by the address itself (any unicast
    // address, local ones included), unlike IPv4 where a local address is only LOCAL.
    let rules =
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m addrtype --dst-type UNICAST -j DROP\nCOMMIT\n";
    let rs = parse_save(rules, Some(chainwalk_netfilter::model::Family::Ipv6)).ruleset;
    let host = Host::from_yaml(HOST6).unwrap();
    let t = Simulator::new(&rs, &host)
        .trace(
            &parse_packet_line(
                "-p tcp -s 2001:db8::9 --sport 1000 -d 2001:db8::2 --dport 22 -i eth0",
            )
            .unwrap(),
        )
        .unwrap();
    assert_eq!(
        t.outcomes[0].steps[0].fate.kind,
        chainwalk_netfilter::trace::FateKind::Dropped
    );
    // And LOCAL too; MULTICAST not.
    for (types, dropped) in [
        ("LOCAL", true),
        ("UNICAST,LOCAL", true),
        ("MULTICAST", false),
    ] {
        let r = rules.replace("UNICAST", types);
        let rs = parse_save(&r, Some(chainwalk_netfilter::model::Family::Ipv6)).ruleset;
        let t = Simulator::new(&rs, &host)
            .trace(
                &parse_packet_line(
                    "-p tcp -s 2001:db8::9 --sport 1000 -d 2001:db8::2 --dport 22 -i eth0",
                )
                .unwrap(),
            )
            .unwrap();
        assert_eq!(
            t.outcomes[0].steps[0].fate.kind == chainwalk_netfilter::trace::FateKind::Dropped,
            dropped,
            "{types}"
        );
    }
}

#[test]
fn masquerade_through_lo_picks_the_first_global_address_not_loopback() {
    // A local packet to a local address leaves through `lo`; MASQUERADE asks
    // inet_select_addr for a universe-scope address, which lo's 127.0.0.1 (host scope) is
    // not, so the first global address of the first interface that has one is taken.
    let rules = "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -j MASQUERADE\nCOMMIT\n";
    let t = run(
        rules,
        "-p tcp -s 10.1.0.2 --sport 1000 -d 10.1.0.2 --dport 80",
    );
    let st = &t.outcomes[0].steps[0];
    assert_eq!(
        st.fate.packet.src,
        "10.0.0.2".parse::<std::net::IpAddr>().unwrap(),
        "{:?}",
        st.fate
    );
}

#[test]
fn ipv6_rt_match_never_holds_for_a_packet_without_a_routing_header() {
    // ip6t_rt returns false when the packet has no routing header, also with `!` options.
    let host = Host::from_yaml(HOST6).unwrap();
    for opt in ["--rt-type 0", "! --rt-type 0", "--rt-segsleft 0"] {
        let rules = format!("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m rt {opt} -j DROP\nCOMMIT\n");
        let rs = parse_save(&rules, Some(chainwalk_netfilter::model::Family::Ipv6)).ruleset;
        let t = Simulator::new(&rs, &host)
            .trace(
                &parse_packet_line(
                    "-p tcp -s 2001:db8::9 --sport 1000 -d 2001:db8::2 --dport 22 -i eth0",
                )
                .unwrap(),
            )
            .unwrap();
        assert_eq!(t.outcomes.len(), 1, "{opt}");
        assert_eq!(
            t.outcomes[0].steps[0].fate.kind,
            chainwalk_netfilter::trace::FateKind::Local,
            "{opt}"
        );
    }
}

#[test]
fn ipv6_packets_with_a_link_local_source_are_not_forwarded() {
    // ip6_forward drops a packet from a link-local source leaving by another interface
    // before the FORWARD hook.
    let host = Host::from_yaml(
        "forwarding: {ipv4: true, ipv6: true}
interfaces:
  - name: eth0
    addresses: [fd00:200::1/64]
  - name: eth1
    addresses: [fd00:201::1/64]
",
    )
    .unwrap();
    let rules = "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -j DROP\nCOMMIT\n";
    let rs = parse_save(rules, Some(chainwalk_netfilter::model::Family::Ipv6)).ruleset;
    let sim = Simulator::new(&rs, &host);
    let t = sim
        .trace(&parse_packet_line("-p icmpv6 -s fe80::1 -d fd00:201::2 -i eth0").unwrap())
        .unwrap();
    let st = &t.outcomes[0].steps[0];
    assert!(st.events.is_empty(), "{:?}", st.events);
    assert_eq!(st.fate.kind, chainwalk_netfilter::trace::FateKind::Dropped);
    assert!(st.fate.by.is_none());
    // A global source is forwarded (here into the DROP rule).
    let t = sim
        .trace(&parse_packet_line("-p icmpv6 -s fd00:200::2 -d fd00:201::2 -i eth0").unwrap())
        .unwrap();
    assert!(t.outcomes[0].steps[0].fate.by.is_some());
    // Routed back out of eth0, the link-local source is forwarded too (the kernel sends a
    // redirect and forwards; see the kernel suite's `special_ipv6_sources_agree_with_the_kernel`).
    let t = sim
        .trace(&parse_packet_line("-p icmpv6 -s fe80::1 -d fd00:200::2 -i eth0").unwrap())
        .unwrap();
    assert!(t.outcomes[0].steps[0].fate.by.is_some(), "{t:?}");
    // A loopback source arriving on eth0 never reaches PREROUTING.
    let t = sim
        .trace(&parse_packet_line("-p icmpv6 -s ::1 -d fd00:200::1 -i eth0").unwrap())
        .unwrap();
    let st = &t.outcomes[0].steps[0];
    assert!(st.events.is_empty() && st.notes.is_empty(), "{st:?}");
    assert_eq!(st.fate.kind, chainwalk_netfilter::trace::FateKind::Dropped);
    assert!(
        st.fate
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("before PREROUTING")),
        "{st:?}"
    );
}

#[test]
fn a_confirmed_connection_keeps_its_connmark_when_the_packet_is_dropped_later() {
    // A local packet REDIRECTed to itself is confirmed when it leaves through lo; CONNMARK
    // on its way back in changes the entry in place, and the INPUT drop does not undo it.
    let rules = "*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j CONNMARK --set-xmark 0x4000/0xffff\nCOMMIT\n*nat\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -p tcp -j REDIRECT --to-ports 80\nCOMMIT\n*filter\n:INPUT DROP [0:0]\nCOMMIT\n";
    let rs = ruleset(rules);
    let host = Host::from_yaml(HOST).unwrap();
    let sim = Simulator::new(&rs, &host);
    let (t, states) = sim
        .trace_with_state(
            &parse_packet_line("-p tcp -s 10.0.0.2 --sport 1000 -d 10.1.0.2 --dport 443").unwrap(),
            &State::default(),
        )
        .unwrap();
    assert_eq!(
        t.outcomes[0].steps[0].fate.kind,
        chainwalk_netfilter::trace::FateKind::Dropped
    );
    let ct = &states[0].conntrack;
    assert_eq!(ct.entries.len(), 1);
    assert_eq!(ct.entries[0].mark, 0x4000);
}

#[test]
fn ipv6_masquerade_to_the_loopback_address_keeps_loopback_as_source() {
    // IPv6 source selection prefers the destination itself when it is the host's own
    // address; for ::1 (a REDIRECTed local packet) MASQUERADE picks ::1.
    let rules = "*nat\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A OUTPUT -p udp -j REDIRECT --to-ports 8080\n-A POSTROUTING -j MASQUERADE\nCOMMIT\n";
    let rs = parse_save(rules, Some(chainwalk_netfilter::model::Family::Ipv6)).ruleset;
    let host = Host::from_yaml(HOST6).unwrap();
    let t = Simulator::new(&rs, &host)
        .trace(
            &parse_packet_line("-p udp -s 2001:db8::2 --sport 50000 -d 2001:db8::99 --dport 22")
                .unwrap(),
        )
        .unwrap();
    let st = &t.outcomes[0].steps[0];
    assert_eq!(
        st.fate.packet.src,
        "::1".parse::<std::net::IpAddr>().unwrap(),
        "{:?}",
        st.fate
    );
}

/// Traces `packets` one after the other, each from the state the one before left.
fn trace_each(rules: &str, packets: &[&str]) -> (Vec<Trace>, State) {
    let rs = ruleset(rules);
    let host = Host::from_yaml(HOST).unwrap();
    let sim = Simulator::new(&rs, &host);
    let mut state = State::default();
    let mut traces = Vec::new();
    for p in packets {
        let (t, states) = sim
            .trace_with_state(&parse_packet_line(p).unwrap(), &state)
            .unwrap();
        assert_eq!(t.outcomes.len(), 1, "{p}");
        state = states.into_iter().next().unwrap();
        traces.push(t);
    }
    (traces, state)
}

#[test]
fn an_icmp_error_is_related_to_the_connection_of_the_packet_it_quotes() {
    // The node's port unreachable answering a local UDP packet (looped back through lo)
    // is RELATED to the UDP connection, in its reply direction: CONNMARK on it changes the
    // connection's mark, and it does not count as a reply (seed 4242 cases 508 and 635).
    let rules = "*mangle\n:INPUT ACCEPT [0:0]\n-A INPUT -p icmp -m conntrack --ctstate RELATED --ctdir REPLY -j CONNMARK --set-xmark 0x10/0xffff\nCOMMIT\n";
    let (t, state) = trace_each(
        rules,
        &[
            "-p udp -s 10.0.0.2 --sport 40000 -d 10.1.0.2 --dport 53",
            "-p icmp -s 10.1.0.2 -d 10.0.0.2 --icmp-type port-unreachable --quote udp,10.0.0.2,40000,10.1.0.2,53",
        ],
    );
    let error = &t[1].outcomes[0].steps[0];
    assert_eq!(error.fate.kind, chainwalk_netfilter::trace::FateKind::Local);
    assert!(
        error
            .events
            .iter()
            .any(|e| e.kind == EventKind::Rule && e.target() == "CONNMARK"),
        "{:?}",
        error.events
    );
    assert_eq!(state.conntrack.entries.len(), 1);
    assert_eq!(state.conntrack.entries[0].mark, 0x10);
    assert!(!state.conntrack.entries[0].seen_reply);
    // Without a quoted header (or quoting a packet of no connection) the error is INVALID.
    let (t, state) = trace_each(
        rules,
        &[
            "-p udp -s 10.0.0.2 --sport 40000 -d 10.1.0.2 --dport 53",
            "-p icmp -s 10.1.0.2 -d 10.0.0.2 --icmp-type port-unreachable --quote udp,10.0.0.2,40001,10.1.0.2,53",
        ],
    );
    assert!(
        t[1].outcomes[0].steps[0]
            .events
            .iter()
            .all(|e| e.target() != "CONNMARK")
    );
    assert_eq!(state.conntrack.entries[0].mark, 0);
}

#[test]
fn an_icmp_error_answering_a_source_natted_packet_goes_back_to_the_original_source() {
    // A UDP packet from a client, its source NATed to a local address in INPUT: the node's
    // error goes to that local address, but conntrack un-NATs it in OUTPUT (outer
    // destination and quoted source back to the client), so it leaves through eth0 instead
    // of looping back through PREROUTING (seed 4242 case 1366).
    let rules = "*mangle\n:PREROUTING ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A PREROUTING -p icmp -j CONNMARK --set-xmark 0x20/0x20\n-A POSTROUTING -o eth0 -p icmp -j CONNMARK --set-xmark 0x4/0x4\nCOMMIT\n*nat\n:INPUT ACCEPT [0:0]\n-A INPUT -p udp -j SNAT --to-source 10.1.0.2\nCOMMIT\n";
    let (t, state) = trace_each(
        rules,
        &[
            "-p udp -s 10.0.0.9 --sport 40000 -d 10.0.0.2 --dport 53 -i eth0",
            "-p icmp -s 10.0.0.2 -d 10.1.0.2 --icmp-type port-unreachable --quote udp,10.1.0.2,40000,10.0.0.2,53",
        ],
    );
    let error = &t[1].outcomes[0].steps[0];
    assert_eq!(error.fate.kind, chainwalk_netfilter::trace::FateKind::Sent);
    assert_eq!(error.fate.iface.as_deref(), Some("eth0"));
    assert_eq!(error.fate.packet.dst.to_string(), "10.0.0.9");
    let q = error.fate.packet.quoted.unwrap();
    assert_eq!(
        (q.src.to_string(), q.sport, q.dst.to_string(), q.dport),
        ("10.0.0.9".into(), 40000, "10.0.0.2".into(), 53)
    );
    assert_eq!(state.conntrack.entries[0].mark, 0x4);
}

fn desc(line: &str) -> chainwalk_netfilter::packet::PacketDesc {
    match parse_packet_line(line).unwrap().remove(0) {
        chainwalk_netfilter::packet::PacketSpec::Desc(d) => d,
        other => panic!("{other:?}"),
    }
}

#[test]
fn rejects_reset_to_a_local_packet_loops_back_and_counts_in_prerouting() {
    // REJECT's reset to a local SYN is addressed to the node: it loops back through lo and
    // advances an nth counter in raw PREROUTING. It carries the SYN's connection (never
    // confirmed) and does not confirm it (seed 4242 cases 2344, 3261).
    use chainwalk_netfilter::conntrack::{Direction, Entry, Tuple};
    let rules = "*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -m statistic --mode nth --every 2 --packet 0 -j ACCEPT\nCOMMIT\n*filter\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -p tcp -m tcp --dport 80 -j REJECT --reject-with tcp-reset\n-A OUTPUT -m conntrack --ctstate INVALID -j DROP\nCOMMIT\n";
    let rs = ruleset(rules);
    let host = Host::from_yaml(HOST).unwrap();
    let sim = Simulator::new(&rs, &host);
    let syn = "-p tcp -s 10.0.0.2 --sport 40000 -d 10.1.0.9 --dport 80 --syn";
    let (t, states) = sim
        .trace_with_state(&parse_packet_line(syn).unwrap(), &State::default())
        .unwrap();
    assert_eq!(
        t.outcomes[0].steps[0].fate.kind,
        chainwalk_netfilter::trace::FateKind::Rejected
    );
    let state = states.into_iter().next().unwrap();
    let input = &t.outcomes[0].steps[0].input;
    let mut conn = Entry::new(input);
    conn.reply = Tuple::of(input).inverse();
    let reset =
        desc("-p tcp -s 10.1.0.9 --sport 80 -d 10.0.0.2 --dport 40000 --tcp-flags ALL RST,ACK");
    let (t, states) = sim
        .trace_attached(&reset, &Some((conn, None, Direction::Reply)), &state)
        .unwrap();
    let st = &t.outcomes[0].steps[0];
    assert_eq!(st.fate.kind, chainwalk_netfilter::trace::FateKind::Local);
    // RELATED, not INVALID: the OUTPUT drop of INVALID packets does not see it.
    assert!(
        st.events.iter().all(|e| e.target() != "DROP"),
        "{:?}",
        st.events
    );
    let state = states.into_iter().next().unwrap();
    assert!(state.conntrack.entries.is_empty());
    let udp =
        parse_packet_line("-p udp -s 10.0.0.9 --sport 1 -d 10.0.0.2 --dport 53 -i eth0").unwrap();
    let held = |t: &Trace| {
        t.outcomes[0].steps[0]
            .events
            .iter()
            .any(|e| e.table == TableName::Raw && e.kind == EventKind::Rule)
    };
    let (after_reset, _) = sim.trace_with_state(&udp, &state).unwrap();
    let (alone, _) = sim.trace_with_state(&udp, &State::default()).unwrap();
    assert_ne!(held(&after_reset), held(&alone));
}

#[test]
fn an_error_refusing_rejects_reset_confirms_the_refused_connection() {
    // A forwarded SYN refused with a reset; REJECT in OUTPUT refuses the reset with an ICMP
    // error, which carries the SYN's connection in the original direction: leaving the node
    // it confirms the connection (seed 4242 case 3794).
    use chainwalk_netfilter::conntrack::{Direction, Entry, Tuple};
    let rules = "*filter\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A FORWARD -p tcp -j REJECT --reject-with tcp-reset\n-A OUTPUT -p tcp -m tcp --tcp-flags RST RST -j REJECT\n-A OUTPUT -m conntrack --ctstate INVALID -j DROP\nCOMMIT\n";
    let rs = ruleset(rules);
    let host = Host::from_yaml(HOST).unwrap();
    let sim = Simulator::new(&rs, &host);
    let syn = "-p tcp -s 10.0.0.9 --sport 40000 -d 10.1.0.9 --dport 80 --syn -i eth0";
    let (t, states) = sim
        .trace_with_state(&parse_packet_line(syn).unwrap(), &State::default())
        .unwrap();
    let state = states.into_iter().next().unwrap();
    assert!(state.conntrack.entries.is_empty());
    let input = &t.outcomes[0].steps[0].input;
    let mut conn = Entry::new(input);
    conn.reply = Tuple::of(input).inverse();
    let reset =
        desc("-p tcp -s 10.1.0.9 --sport 80 -d 10.0.0.9 --dport 40000 --tcp-flags ALL RST,ACK");
    let (t, states) = sim
        .trace_attached(
            &reset,
            &Some((conn.clone(), None, Direction::Reply)),
            &state,
        )
        .unwrap();
    assert_eq!(
        t.outcomes[0].steps[0].fate.kind,
        chainwalk_netfilter::trace::FateKind::Rejected
    );
    let state = states.into_iter().next().unwrap();
    assert!(
        state.conntrack.entries.is_empty(),
        "the reset confirms nothing"
    );
    let error = desc(
        "-p icmp -s 10.0.0.2 -d 10.1.0.9 --icmp-type port-unreachable --quote tcp,10.1.0.9,80,10.0.0.9,40000",
    );
    let (t, states) = sim
        .trace_attached(&error, &Some((conn, None, Direction::Original)), &state)
        .unwrap();
    assert_eq!(
        t.outcomes[0].steps[0].fate.kind,
        chainwalk_netfilter::trace::FateKind::Sent
    );
    let state = states.into_iter().next().unwrap();
    assert_eq!(state.conntrack.entries.len(), 1);
    assert_eq!(state.conntrack.entries[0].orig.src.to_string(), "10.0.0.9");
}

#[test]
fn snat_random_fully_to_the_same_address_still_shows_the_snat_state() {
    // SNAT --random-fully to the packet's own source address: the kernel picks a random
    // source port, so the connection is source-NATed (`--ctstate SNAT` holds once it loops
    // back) (seed 9090 case 2499).
    let rules = "*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -j SNAT --to-source 10.0.0.2 --random-fully\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m conntrack --ctstate SNAT -j ACCEPT\nCOMMIT\n";
    let t = run(
        rules,
        "-p tcp -s 10.0.0.2 --sport 40002 -d 10.0.0.2 --dport 443 --syn",
    );
    let st = &t.outcomes[0].steps[0];
    assert!(
        st.events
            .iter()
            .any(|e| e.hook == Hook::Input && e.kind == EventKind::Rule && e.target() == "ACCEPT"),
        "{:?}",
        st.events
    );
}
