//! Chain-walk and packet-path semantics on small rulesets: jumps, gotos, returns, policies,
//! table order, nth counters, undecidable matches, untracked packets, routing drops, bridges.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use chainwalk_netfilter::eval::{Prob, Simulator};
use chainwalk_netfilter::host::Host;
use chainwalk_netfilter::model::{Hook, TableName};
use chainwalk_netfilter::packet::parse_packet_line;
use chainwalk_netfilter::syntax::parse_save;
use chainwalk_netfilter::trace::{EventKind, FateKind, Note, RouteDecision, Trace};
use common::{HOST, TO_LOCAL};

fn run_on(rules: &str, host: &str, packet: &str) -> Trace {
    let parsed = parse_save(rules, None);
    assert!(!parsed.has_errors(), "{:?}", parsed.diagnostics);
    let host = Host::from_yaml(host).unwrap();
    Simulator::new(&parsed.ruleset, &host)
        .trace(&parse_packet_line(packet).unwrap())
        .unwrap()
}

fn run(rules: &str, packet: &str) -> Trace {
    run_on(rules, HOST, packet)
}

const THROUGH: &str = "-p tcp -s 10.0.0.9 --sport 1000 -d 10.1.0.7 --dport 80 -i eth0";

fn steps(t: &Trace) -> Vec<(String, Option<usize>, EventKind, String)> {
    t.outcomes[0].steps[0]
        .events
        .iter()
        .map(|e| {
            (
                e.chain().to_string(),
                e.rule,
                e.kind,
                e.target().to_string(),
            )
        })
        .collect()
}

#[test]
fn goto_then_return_goes_back_to_the_caller_of_the_goto_chain() {
    let t = run(
        "*filter\n:INPUT ACCEPT [0:0]\n:A - [0:0]\n:B - [0:0]\n-A INPUT -j A\n-A INPUT -j DROP\n-A A -g B\n-A A -j ACCEPT\n-A B -j RETURN\nCOMMIT\n",
        TO_LOCAL,
    );
    assert_eq!(t.outcomes.len(), 1);
    let f = &t.outcomes[0].steps[0].fate;
    assert_eq!(f.kind, FateKind::Dropped);
    let by = f.by.as_ref().unwrap();
    assert_eq!((by.chain.as_str(), by.rule), ("INPUT", Some(2)));
    let s = steps(&t);
    assert_eq!(s[1], ("A".into(), Some(1), EventKind::Rule, "B".into()));
    assert_eq!(
        s[2],
        ("B".into(), Some(1), EventKind::Rule, "RETURN".into())
    );
}

#[test]
fn falling_off_a_goto_chain_from_the_base_chain_takes_the_policy() {
    let t = run(
        "*filter\n:INPUT DROP [0:0]\n:B - [0:0]\n-A INPUT -g B\n-A INPUT -j ACCEPT\nCOMMIT\n",
        TO_LOCAL,
    );
    let f = &t.outcomes[0].steps[0].fate;
    assert_eq!(f.kind, FateKind::Dropped);
    assert_eq!(f.by.as_ref().unwrap().rule, None, "the policy");
    let s = steps(&t);
    // As the kernel traces it: the implicit return of B, then the policy.
    assert_eq!(s[1], ("B".into(), None, EventKind::Return, "RETURN".into()));
    assert_eq!(s[2].2, EventKind::Policy);
}

#[test]
fn return_in_a_base_chain_applies_the_policy_and_falling_off_a_user_chain_returns() {
    let t = run(
        "*filter\n:INPUT DROP [0:0]\n:U - [0:0]\n-A INPUT -j U\n-A INPUT -p tcp --dport 22 -j RETURN\n-A INPUT -j ACCEPT\nCOMMIT\n",
        TO_LOCAL,
    );
    let s = steps(&t);
    assert_eq!(s[1], ("U".into(), None, EventKind::Return, "RETURN".into()));
    assert_eq!(s[2].1, Some(2));
    assert_eq!(s[3].2, EventKind::Policy);
    assert_eq!(t.outcomes[0].steps[0].fate.kind, FateKind::Dropped);
}

#[test]
fn accept_ends_only_its_table_and_tables_run_in_priority_order() {
    let rules = "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -j REJECT\nCOMMIT\n*mangle\n:FORWARD ACCEPT [0:0]\n-A FORWARD -j ACCEPT\nCOMMIT\n*raw\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n";
    let t = run(rules, THROUGH);
    let st = &t.outcomes[0].steps[0];
    let order: Vec<(Hook, TableName)> = st.events.iter().map(|e| (e.hook, e.table)).collect();
    assert_eq!(
        order,
        [
            (Hook::Prerouting, TableName::Raw),
            (Hook::Forward, TableName::Mangle),
            (Hook::Forward, TableName::Filter)
        ]
    );
    assert_eq!(st.fate.kind, FateKind::Rejected);
    assert_eq!(st.fate.reason.as_deref(), Some("icmp-port-unreachable"));
}

#[test]
fn nth_counts_packets_as_the_kernel_does() {
    // --every 2 --packet 0 matches the 1st, 3rd, … packet; --packet 1 the 2nd, 4th, ….
    for (packet, want) in [
        (0, [true, false, true, false]),
        (1, [false, true, false, true]),
    ] {
        let rules = format!(
            "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p udp -m statistic --mode nth --every 2 --packet {packet} -j DROP\nCOMMIT\n"
        );
        let one = |sport: u16| {
            format!("-p udp -s 10.0.0.9 --sport {sport} -d 10.0.0.2 --dport 53 -i eth0")
        };
        let seq = format!(
            "{} --then {} --then {} --then {}",
            one(1),
            one(2),
            one(3),
            one(4)
        );
        let t = run(&rules, &seq);
        assert_eq!(t.outcomes.len(), 1);
        let got: Vec<bool> = t.outcomes[0]
            .steps
            .iter()
            .map(|s| s.fate.kind == FateKind::Dropped)
            .collect();
        assert_eq!(got, want, "packet {packet}");
    }
}

#[test]
fn undecidable_matches_split_and_are_marked() {
    let rules = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m hashlimit --hashlimit-upto 3/min --hashlimit-name t -j DROP\nCOMMIT\n";
    let t = run(rules, TO_LOCAL);
    assert_eq!(t.outcomes.len(), 2);
    let kinds: Vec<(FateKind, Option<bool>)> = t
        .outcomes
        .iter()
        .map(|o| (o.steps[0].fate.kind, o.uncertain[0].assumed))
        .collect();
    assert_eq!(
        kinds,
        [
            (FateKind::Dropped, Some(true)),
            (FateKind::Local, Some(false))
        ]
    );
    assert!(t.outcomes[0].uncertain[0].reason.contains("hashlimit"));
    for o in &t.outcomes {
        assert!(o.probability.is_one());
    }
}

#[test]
fn random_branches_are_exact_and_sum_to_one() {
    let rules = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m statistic --mode random --probability 0.33333333349 -j DROP\n-A INPUT -m statistic --mode random --probability 0.5 -j REJECT\nCOMMIT\n";
    let t = run(rules, TO_LOCAL);
    assert_eq!(t.outcomes.len(), 3);
    let total = t
        .outcomes
        .iter()
        .fold(Prob::zero(), |a, o| a.add(&o.probability));
    assert!(total.is_one(), "{total}");
    assert_eq!(t.outcomes[0].probability, Prob::from_31bit(715_827_883));
}

#[test]
fn notrack_skips_nat() {
    let rules = "*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j NOTRACK\nCOMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j DNAT --to-destination 10.1.0.99\nCOMMIT\n";
    let t = run(rules, THROUGH);
    let st = &t.outcomes[0].steps[0];
    assert!(st.events.iter().all(|e| e.table != TableName::Nat));
    assert_eq!(st.fate.packet.dst.to_string(), "10.1.0.7");
    let with_ct = run(&rules.replace("-A PREROUTING -j NOTRACK\n", ""), THROUGH);
    assert_eq!(
        with_ct.outcomes[0].steps[0].fate.packet.dst.to_string(),
        "10.1.0.99"
    );
}

#[test]
fn routing_drops_say_why() {
    let off = HOST.replace("forwarding: true", "forwarding: false");
    let t = run_on("*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n", &off, THROUGH);
    let f = &t.outcomes[0].steps[0].fate;
    assert_eq!(f.kind, FateKind::Dropped);
    assert!(
        f.reason.as_deref().unwrap().contains("forwarding is off"),
        "{f:?}"
    );
    let no_default =
        "interfaces:\n  - name: eth0\n    addresses: [10.0.0.2/24]\nforwarding: true\n";
    let t = run_on(
        "*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n",
        no_default,
        "-p udp -s 10.0.0.9 -d 8.8.8.8 --dport 53 -i eth0",
    );
    let f = &t.outcomes[0].steps[0].fate;
    assert_eq!(f.kind, FateKind::Dropped);
    assert_eq!(f.reason.as_deref(), Some("no route to 8.8.8.8"));
}

#[test]
fn local_delivery_to_a_local_address_loops_back_and_skips_nat_the_second_time() {
    let rules = "*nat\n:OUTPUT ACCEPT [0:0]\n:PREROUTING ACCEPT [0:0]\n-A OUTPUT -p tcp --dport 80 -j REDIRECT --to-ports 8080\n-A PREROUTING -j DNAT --to-destination 10.9.9.9\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -i lo -p tcp --dport 8080 -j ACCEPT\nCOMMIT\n";
    let t = run(rules, "-p tcp -d 10.0.0.2 --dport 80");
    let st = &t.outcomes[0].steps[0];
    assert_eq!(st.fate.kind, FateKind::Local);
    assert_eq!(st.fate.packet.dst.to_string(), "127.0.0.1");
    assert_eq!(st.fate.packet.dport, Some(8080));
    assert!(st.notes.iter().any(|(_, n)| *n == Note::Loopback));
    assert!(
        !st.events
            .iter()
            .any(|e| e.table == TableName::Nat && e.hook == Hook::Prerouting)
    );
    let acc = st.events.last().unwrap();
    assert_eq!(
        (acc.hook, acc.chain(), acc.rule),
        (Hook::Input, "INPUT", Some(1))
    );
}

#[test]
fn bridged_pod_to_pod_traffic_crosses_forward_only_with_bridge_nf_call_iptables() {
    let host = |call: bool| {
        format!(
            "forwarding: true\nbridge-nf-call-iptables: {call}\ninterfaces:\n  - name: cni0\n    addresses: [10.244.0.1/24]\n    ports: [veth6, veth7]\n  - name: veth6\n    neighbors: [10.244.0.6]\n  - name: veth7\n    neighbors: [10.244.0.7]\n"
        )
    };
    let rules = "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -i cni0 -o cni0 -j ACCEPT\nCOMMIT\n";
    let pkt = "-p tcp -s 10.244.0.6 --sport 5000 -d 10.244.0.7 --dport 80 -i veth6";
    let t = run_on(rules, &host(true), pkt);
    let st = &t.outcomes[0].steps[0];
    assert_eq!(st.fate.kind, FateKind::Forwarded);
    assert_eq!(st.fate.iface.as_deref(), Some("cni0"));
    assert_eq!(st.fate.packet.physdev_in.as_deref(), Some("veth6"));
    assert_eq!(st.fate.packet.physdev_out.as_deref(), Some("veth7"));
    assert_eq!(st.events.len(), 1);
    let t = run_on(rules, &host(false), pkt);
    let st = &t.outcomes[0].steps[0];
    assert!(st.events.is_empty());
    assert!(matches!(
        st.notes[0].1,
        Note::Bridged {
            iptables: false,
            ..
        }
    ));
    assert_eq!(st.fate.kind, FateKind::Forwarded);
}

#[test]
fn local_packets_get_their_source_from_the_route_and_reroute_after_dnat() {
    let rules = "*nat\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -d 192.0.2.1 -j DNAT --to-destination 10.1.0.5\nCOMMIT\n";
    let t = run(rules, "-p udp -d 192.0.2.1 --dport 53");
    let st = &t.outcomes[0].steps[0];
    assert_eq!(st.input.src.to_string(), "10.0.0.2");
    assert_eq!(st.fate.kind, FateKind::Sent);
    assert_eq!(st.fate.iface.as_deref(), Some("eth1"));
    assert!(st.notes.iter().any(|(_, n)| matches!(n, Note::Route { reroute: true, decision: RouteDecision::Out { dev, .. } } if dev == "eth1")));
}

#[test]
fn conntrack_state_follows_the_flow() {
    let rules = "*filter\n:INPUT DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT\n-A INPUT -p tcp --dport 22 -m conntrack --ctstate NEW -j ACCEPT\nCOMMIT\n";
    let t = run(rules, &format!("{TO_LOCAL} --then reply --then again"));
    let o = &t.outcomes[0];
    assert_eq!(o.steps.len(), 3);
    assert_eq!(o.steps[0].events[0].rule, Some(2), "NEW");
    assert_eq!(
        o.steps[1].fate.kind,
        FateKind::Sent,
        "the reply is sent by the local socket"
    );
    assert_eq!(
        o.steps[2].events[0].rule,
        Some(1),
        "ESTABLISHED once a reply was seen"
    );
    // A SYN,ACK out of nowhere is INVALID: no rule accepts it.
    let t = run(
        rules,
        "-p tcp -s 10.0.0.9 --sport 1000 -d 10.0.0.2 --dport 22 -i eth0 --tcp-flags ALL SYN,ACK",
    );
    assert_eq!(t.outcomes[0].steps[0].fate.kind, FateKind::Dropped);
}

#[test]
fn a_reply_to_a_dropped_first_packet_does_not_happen() {
    let rules = "*filter\n:INPUT DROP [0:0]\nCOMMIT\n";
    let t = run(rules, &format!("{TO_LOCAL} --then reply"));
    assert_eq!(t.outcomes[0].steps.len(), 1);
    assert_eq!(t.outcomes[0].steps[0].fate.kind, FateKind::Dropped);
}

#[test]
fn extensions_known_by_name_are_evaluated() {
    let rules = "*filter
:INPUT DROP [0:0]
-A INPUT -p icmp -m icmp --icmp-type 8 -j ACCEPT
-A INPUT -m state --state ESTABLISHED -j ACCEPT
-A INPUT -m iprange --src-range 10.0.0.5-10.0.0.10 -p tcp -m tcp --dport 22 -j ACCEPT
COMMIT
";
    let fate = |p: &str| run(rules, p).outcomes[0].steps[0].fate.clone();
    assert_eq!(
        fate("-p icmp -s 10.0.0.9 -d 10.0.0.2 -i eth0").kind,
        FateKind::Local
    );
    assert_eq!(
        fate("-p icmp -s 10.0.0.9 -d 10.0.0.2 -i eth0 --icmp-type echo-reply").kind,
        FateKind::Dropped
    );
    assert_eq!(fate(TO_LOCAL).kind, FateKind::Local);
    assert_eq!(
        fate("-p tcp -s 10.0.0.11 --sport 9 -d 10.0.0.2 --dport 22 -i eth0").kind,
        FateKind::Dropped
    );
}

#[test]
fn connmark_saves_and_restores_across_packets() {
    let rules = "*mangle
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -m connmark --mark 0x7 -j ACCEPT
-A PREROUTING -j MARK --set-xmark 0x7/0xffffffff
-A PREROUTING -j CONNMARK --save-mark --nfmask 0xffffffff --ctmask 0xffffffff
-A OUTPUT -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff
COMMIT
";
    let t = run(rules, &format!("{TO_LOCAL} --then reply --then again"));
    let o = &t.outcomes[0];
    // The reply (sent by the local socket) gets the connection's mark back.
    assert_eq!(o.steps[1].fate.packet.mark, 0x7);
    // The next packet of the flow matches -m connmark.
    assert_eq!(o.steps[2].events[0].rule, Some(1));
}

#[test]
fn set_matches_read_ipset_contents() {
    use chainwalk_netfilter::ipset::IpSets;
    let rules =
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m set --match-set blocked src -j DROP\nCOMMIT\n";
    let parsed = parse_save(rules, None);
    let host = Host::from_yaml(HOST).unwrap();
    let sets =
        IpSets::parse("create blocked hash:net family inet\nadd blocked 10.0.0.8/29\n").unwrap();
    let sim = Simulator::new(&parsed.ruleset, &host).with_ipsets(&sets);
    let t = sim.trace(&parse_packet_line(TO_LOCAL).unwrap()).unwrap();
    assert_eq!(t.outcomes.len(), 1);
    assert_eq!(t.outcomes[0].steps[0].fate.kind, FateKind::Dropped);
    // Without the contents, the match is undecidable.
    let t = Simulator::new(&parsed.ruleset, &host)
        .trace(&parse_packet_line(TO_LOCAL).unwrap())
        .unwrap();
    assert_eq!(t.outcomes.len(), 2);
    assert!(t.outcomes[0].uncertain[0].reason.contains("blocked"));
}

#[test]
fn physdev_sees_bridge_ports() {
    let host = "forwarding: true\nbridge-nf-call-iptables: true\ninterfaces:\n  - name: cni0\n    addresses: [10.244.0.1/24]\n    ports: [veth6, veth7]\n  - name: veth6\n    neighbors: [10.244.0.6]\n  - name: veth7\n    neighbors: [10.244.0.7]\n";
    let rules = "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -m physdev --physdev-in veth6 --physdev-out veth+ --physdev-is-bridged -j ACCEPT\nCOMMIT\n";
    let t = run_on(
        rules,
        host,
        "-p tcp -s 10.244.0.6 --sport 5000 -d 10.244.0.7 --dport 80 -i veth6",
    );
    assert_eq!(t.outcomes[0].steps[0].fate.kind, FateKind::Forwarded);
    let t = run_on(
        rules,
        host,
        "-p tcp -s 10.244.0.7 --sport 5000 -d 10.244.0.6 --dport 80 -i veth7",
    );
    assert_eq!(t.outcomes[0].steps[0].fate.kind, FateKind::Dropped);
    // Arriving on the bridge itself, the port is unknown: undecidable.
    let t = run_on(
        rules,
        host,
        "-p tcp -s 10.244.0.7 --sport 5000 -d 10.244.0.6 --dport 80 -i cni0",
    );
    assert_eq!(t.outcomes.len(), 2);
}

#[test]
fn too_many_branches_fail_cleanly() {
    let mut rules = String::from("*filter\n:INPUT ACCEPT [0:0]\n");
    for _ in 0..20 {
        rules.push_str(
            "-A INPUT -m statistic --mode random --probability 0.5 -j MARK --set-xmark 0x1/0x0\n",
        );
    }
    rules.push_str("COMMIT\n");
    let parsed = parse_save(&rules, None);
    let host = Host::from_yaml(HOST).unwrap();
    let e = Simulator::new(&parsed.ruleset, &host)
        .trace(&parse_packet_line(TO_LOCAL).unwrap())
        .unwrap_err();
    assert!(e.to_string().contains("more than"), "{e}");
}

#[test]
fn ipv6_rulesets_trace_ipv6_packets() {
    let rules = "# Generated by ip6tables-save v1.8.9 (nf_tables)\n*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT\nCOMMIT\n";
    let host = "forwarding: {ipv4: false, ipv6: true}\ninterfaces:\n  - name: eth0\n    addresses: [2001:db8::2/64]\n  - name: eth1\n    addresses: [2001:db8:1::2/64]\nroutes:\n  - to: \"::/0\"\n    via: 2001:db8::1\n    dev: eth0\n";
    let t = run_on(
        rules,
        host,
        "-p icmpv6 -s 2001:db8::9 -d 2001:db8::2 -i eth0",
    );
    assert_eq!(t.outcomes[0].steps[0].fate.kind, FateKind::Local);
    let t = run_on(
        rules,
        host,
        "-p icmpv6 -s 2001:db8::9 -d 2001:db8::2 -i eth0 --icmp-type echo-reply",
    );
    assert_eq!(t.outcomes[0].steps[0].fate.kind, FateKind::Dropped);
    let t = run_on(
        rules,
        host,
        "-p tcp -s 2001:db8::9 -d 2001:db8:1::7 --dport 443 -i eth0",
    );
    let f = &t.outcomes[0].steps[0].fate;
    assert_eq!(
        (f.kind, f.iface.as_deref()),
        (FateKind::Forwarded, Some("eth1"))
    );
}

#[test]
fn recent_lists_are_read_and_updated_along_the_sequence() {
    use chainwalk_netfilter::recent::RecentLists;
    let rules = "*filter
:INPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 22 -m recent --rcheck --name SSH --mask 255.255.255.255 --rsource -j DROP
-A INPUT -p tcp -m tcp --dport 22 -m recent --set --name SSH --mask 255.255.255.255 --rsource
COMMIT
";
    let parsed = parse_save(rules, None);
    assert!(!parsed.has_errors(), "{:?}", parsed.diagnostics);
    let host = Host::from_yaml(HOST).unwrap();
    let lists = RecentLists::default();
    let second = "-p tcp -s 10.0.0.9 --sport 1001 -d 10.0.0.2 --dport 22 -i eth0";
    let t = Simulator::new(&parsed.ruleset, &host)
        .with_recent(&lists)
        .trace(&parse_packet_line(&format!("{TO_LOCAL} --then {second}")).unwrap())
        .unwrap();
    assert_eq!(t.outcomes.len(), 1);
    let kinds: Vec<FateKind> = t.outcomes[0].steps.iter().map(|s| s.fate.kind).collect();
    assert_eq!(kinds, [FateKind::Local, FateKind::Dropped]);
    // Without the lists, the check is undecidable.
    let t = Simulator::new(&parsed.ruleset, &host)
        .trace(&parse_packet_line(TO_LOCAL).unwrap())
        .unwrap();
    assert_eq!(t.outcomes.len(), 2);
    let listed = RecentLists::parse("[SSH]\n10.0.0.9\n").unwrap();
    let t = Simulator::new(&parsed.ruleset, &host)
        .with_recent(&listed)
        .trace(&parse_packet_line(TO_LOCAL).unwrap())
        .unwrap();
    assert_eq!(t.outcomes[0].steps[0].fate.kind, FateKind::Dropped);
}

#[test]
fn rpfilter_and_ipsec_policy_are_decided() {
    let rules = "*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -m rpfilter --invert -j DROP\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m policy --dir in --pol ipsec -j DROP\nCOMMIT\n";
    // 10.1.0.9 is reached through eth1: arriving on eth0 fails the reverse-path check.
    let t = run(
        rules,
        "-p udp -s 10.1.0.9 --sport 1 -d 10.0.0.2 --dport 53 -i eth0",
    );
    assert_eq!(t.outcomes.len(), 1);
    assert_eq!(t.outcomes[0].steps[0].fate.kind, FateKind::Dropped);
    let t = run(
        rules,
        "-p udp -s 10.1.0.9 --sport 1 -d 10.0.0.2 --dport 53 -i eth1",
    );
    assert_eq!(t.outcomes.len(), 1);
    assert_eq!(t.outcomes[0].steps[0].fate.kind, FateKind::Local);
}
