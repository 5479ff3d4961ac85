//! Kernel behaviours the comparison depends on (listed in docs/conformance.md), shown on
//! the real kernel. Needs root and the tools from `.ci/install-deps.sh`; without them these
//! tests fail (never skipped).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::SocketAddr;
use std::sync::Mutex;

use chainwalk_conformance::{Case, CasePacket, Fate, PacketTemplate, Record, run_kernel};
use chainwalk_host::kernel::{
    Family, Ingress, InterfaceKind, Lab, LabHost, LabInterface, Neighbor, PacketSpec,
    check_environment,
};
use chainwalk_netfilter::ext::Match;
use chainwalk_netfilter::syntax::parse_save;

static LOCK: Mutex<()> = Mutex::new(());

fn iface(name: &str, addr: &str, kind: InterfaceKind) -> LabInterface {
    LabInterface {
        name: name.into(),
        addresses: vec![addr.into()],
        kind,
    }
}

/// A forwarding node with `lo` and the given veth interfaces (name, address).
fn node_with(veths: &[(&str, &str)]) -> LabHost {
    let mut interfaces = vec![iface("lo", "127.0.0.1/8", InterfaceKind::Loopback)];
    interfaces.extend(
        veths
            .iter()
            .map(|(name, addr)| iface(name, addr, InterfaceKind::Veth)),
    );
    LabHost {
        forwarding_v4: true,
        forwarding_v6: true,
        interfaces,
        routes: vec![],
        bridge_nf_call_iptables: false,
    }
}

/// The packet counters of the rules in `iptables-save -c` output whose lines start with
/// one of `prefixes` (`-A FORWARD `), in the output's order.
fn rule_counts(save: &str, prefixes: &[&str]) -> Vec<u64> {
    save.lines()
        .filter_map(|l| {
            let (count, rule) = l.strip_prefix('[')?.split_once("] ")?;
            prefixes
                .iter()
                .any(|p| rule.starts_with(p))
                .then(|| count.split(':').next()?.parse().ok())?
        })
        .collect()
}

fn host() -> (LabHost, Vec<Neighbor>) {
    (
        node_with(&[("eth0", "192.0.2.2/24"), ("eth1", "198.51.100.1/24")]),
        vec![
            Neighbor::new("eth0", "192.0.2.1".parse().unwrap()),
            Neighbor::new("eth1", "198.51.100.2".parse().unwrap()),
        ],
    )
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn run(rules: &str, packets: Vec<PacketSpec>) -> Vec<Record> {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(e) = check_environment() {
        panic!(
            "kernel tests need root and the kernel tools (run .ci/install-deps.sh as root): {e}"
        );
    }
    let (host, neighbors) = host();
    let case = Case {
        name: "fact".into(),
        host,
        neighbors,
        family: Family::Ipv4,
        rules: rules.into(),
        packets: packets
            .into_iter()
            .map(|p| CasePacket {
                flush_conntrack: true,
                packet: PacketTemplate::Fixed(p),
            })
            .collect(),
    };
    run_kernel(&case).unwrap().records
}

fn forward_syn() -> PacketSpec {
    PacketSpec::tcp_syn(
        sa("192.0.2.1:40000"),
        sa("198.51.100.2:80"),
        Ingress::Interface("eth0".into()),
    )
}

#[test]
fn conntrack_only_when_the_ruleset_needs_it() {
    let filter_only = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A FORWARD -p tcp -j ACCEPT\nCOMMIT\n";
    let r = run(filter_only, vec![forward_syn()]);
    assert_eq!(r[0].fate, Fate::Forwarded);
    assert_eq!(r[0].conntrack, None, "{r:?}");
    let with_ct = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A FORWARD -m conntrack --ctstate NEW -j ACCEPT\nCOMMIT\n";
    let r = run(with_ct, vec![forward_syn()]);
    assert_eq!(r[0].fate, Fate::Forwarded);
    assert!(r[0].conntrack.is_some(), "{r:?}");
}

const NAT_NO_CONNTRACK: &str = "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp -j ACCEPT\nCOMMIT\n";

#[test]
fn nat_chains_run_only_with_conntrack() {
    // A nat table whose rules need no conntrack: its chains never run, not even their
    // policies.
    let r = run(NAT_NO_CONNTRACK, vec![forward_syn()]);
    assert_eq!(r[0].fate, Fate::Forwarded);
    assert!(r[0].steps.is_empty(), "{r:?}");
    assert_eq!(r[0].conntrack, None);
    // One rule that needs conntrack (here in filter) and the same nat rules run.
    let with_ct = format!(
        "{NAT_NO_CONNTRACK}*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -m conntrack --ctstate INVALID -j DROP\nCOMMIT\n"
    );
    let r = run(&with_ct, vec![forward_syn()]);
    let nat: Vec<_> = r[0].steps.iter().filter(|s| s.table == "nat").collect();
    assert_eq!(
        nat.len(),
        2,
        "rule 1 of PREROUTING and the POSTROUTING policy: {r:?}"
    );
    assert!(r[0].conntrack.is_some());
}

#[test]
fn unreplied_tcp_entry_dies_with_the_nodes_reset() {
    let rules = "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -o lo -j MASQUERADE\nCOMMIT\n";
    let tcp = PacketSpec::tcp_syn(
        sa("192.0.2.1:40000"),
        sa("192.0.2.2:80"),
        Ingress::Interface("eth0".into()),
    );
    let udp = PacketSpec::udp(
        sa("192.0.2.1:40000"),
        sa("192.0.2.2:53"),
        Ingress::Interface("eth0".into()),
    );
    let r = run(rules, vec![tcp, udp, forward_syn()]);
    assert_eq!(r[0].fate, Fate::Delivered);
    assert_eq!(r[0].conntrack, None, "the reset deleted the entry: {r:?}");
    assert_eq!(r[1].fate, Fate::Delivered);
    assert!(r[1].conntrack.is_some(), "UDP keeps its entry: {r:?}");
    // A forwarded SYN (nobody answers) keeps its entry.
    assert!(r[2].conntrack.is_some(), "{r:?}");
}

#[test]
fn redirect_in_output_is_delivered_through_loopback() {
    let rules = "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A OUTPUT -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 8080\nCOMMIT\n";
    let p = PacketSpec::tcp_syn(sa("192.0.2.2:40000"), sa("198.51.100.2:80"), Ingress::Local);
    let r = run(rules, vec![p]);
    assert_eq!(r[0].fate, Fate::Delivered, "{r:?}");
    assert_eq!(r[0].out_iface, None);
    let h = r[0].headers.as_ref().unwrap();
    assert_eq!(
        (h.dst.to_string(), h.dport.map(|p| p.value())),
        ("127.0.0.1".into(), Some(8080))
    );
    // On its way back in through lo the packet belongs to a known connection: nat INPUT
    // does not run again.
    assert!(r[0].steps.iter().all(|s| s.hook != "INPUT"), "{r:?}");
}

#[test]
fn drop_in_output_is_seen() {
    let rules = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -p udp -j DROP\nCOMMIT\n";
    let p = PacketSpec::udp(sa("192.0.2.2:40000"), sa("198.51.100.2:53"), Ingress::Local);
    let r = run(rules, vec![p]);
    assert_eq!(r[0].fate, Fate::Dropped, "{r:?}");
    let last = r[0].steps.last().unwrap();
    assert_eq!(
        (last.chain.as_str(), last.hook.as_str()),
        ("OUTPUT", "OUTPUT")
    );
}

#[test]
fn the_nodes_port_unreachable_is_related_to_the_udp_connection() {
    // A local UDP packet to a local port nobody listens on, looped back through lo: the
    // node's ICMP port unreachable comes back in through lo too, RELATED to the UDP
    // connection in its reply direction, so CONNMARK on it sets the connection's mark.
    let rules = "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A INPUT -p icmp -m conntrack --ctstate RELATED --ctdir REPLY -j CONNMARK --set-xmark 0x10/0xffff\nCOMMIT\n";
    let p = PacketSpec::udp(sa("192.0.2.2:40000"), sa("198.51.100.1:53"), Ingress::Local);
    let r = run(rules, vec![p]);
    assert_eq!(r[0].fate, Fate::Delivered, "{r:?}");
    assert_eq!(r[0].conntrack.as_ref().map(|c| c.mark), Some(0x10), "{r:?}");
}

#[test]
fn an_error_answering_a_source_natted_packet_is_un_natted() {
    // A client's UDP packet has its source NATed to a local address in INPUT. The node's
    // port unreachable, addressed to that local address, is un-NATted in OUTPUT (to the
    // client) and leaves through eth0: it never loops back through PREROUTING.
    let rules = "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A PREROUTING -p icmp -j CONNMARK --set-xmark 0x20/0x20\n-A POSTROUTING -o eth0 -p icmp -j CONNMARK --set-xmark 0x4/0x4\nCOMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A INPUT -p udp -j SNAT --to-source 198.51.100.1\nCOMMIT\n";
    let p = PacketSpec::udp(
        sa("192.0.2.1:40000"),
        sa("192.0.2.2:53"),
        Ingress::Interface("eth0".into()),
    );
    let r = run(rules, vec![p]);
    assert_eq!(r[0].fate, Fate::Delivered, "{r:?}");
    assert_eq!(r[0].conntrack.as_ref().map(|c| c.mark), Some(0x4), "{r:?}");
}

#[test]
fn rejects_reset_to_a_local_packet_loops_back_through_prerouting() {
    // REJECT in OUTPUT answers a local SYN with a reset addressed to the node itself: the
    // reset comes back in through lo and advances an nth counter in raw PREROUTING: the
    // next packet is the counter's second, not its first.
    let rules = "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A PREROUTING -m statistic --mode nth --every 2 --packet 0 -j ACCEPT\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -p tcp -m tcp --dport 80 -j REJECT --reject-with tcp-reset\nCOMMIT\n";
    let syn = PacketSpec::tcp_syn(sa("192.0.2.2:40000"), sa("198.51.100.2:80"), Ingress::Local);
    let udp = PacketSpec::udp(
        sa("192.0.2.1:40000"),
        sa("192.0.2.2:53"),
        Ingress::Interface("eth0".into()),
    );
    let nth_held = |r: &Record| {
        r.steps
            .iter()
            .any(|s| s.table == "raw" && s.at == chainwalk_conformance::At::Rule(1))
    };
    let r = run(rules, vec![syn, udp.clone(), udp.clone()]);
    assert_eq!(r[0].fate, Fate::Rejected, "{r:?}");
    let after_reset = (nth_held(&r[1]), nth_held(&r[2]));
    // Without the reset, the same packets are the counter's first and second.
    let r = run(rules, vec![udp.clone(), udp]);
    let alone = (nth_held(&r[0]), nth_held(&r[1]));
    assert_eq!(after_reset, (alone.1, alone.0), "{r:?}");
    assert_ne!(alone.0, alone.1);
}

#[test]
fn an_error_refusing_rejects_reset_confirms_the_refused_connection() {
    // A forwarded SYN refused with a reset: its connection is never confirmed. When REJECT
    // refuses the reset in turn, the ICMP error carries the SYN's connection in the original
    // direction, and its leaving the node confirms the connection.
    let reset = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -m conntrack --ctstate INVALID -j DROP\n-A FORWARD -p tcp -j REJECT --reject-with tcp-reset\nCOMMIT\n";
    let r = run(reset, vec![forward_syn()]);
    assert_eq!(r[0].fate, Fate::Rejected, "{r:?}");
    assert_eq!(r[0].conntrack, None, "{r:?}");
    let refused = reset.replace(
        "COMMIT",
        "-A OUTPUT -p tcp -m tcp --tcp-flags RST RST -j REJECT --reject-with icmp-port-unreachable\nCOMMIT",
    );
    let r = run(&refused, vec![forward_syn()]);
    assert_eq!(r[0].fate, Fate::Rejected, "{r:?}");
    let ct = r[0].conntrack.as_ref().expect("the SYN's connection");
    assert_eq!(ct.orig.src.to_string(), "192.0.2.1", "{r:?}");
}

#[test]
fn the_labs_timestamp_requests_are_not_answered() {
    // The lab's ICMP timestamp request has no timestamps after its header: the kernel finds
    // it too short and sends no reply. An echo request to the node's own address is answered,
    // and the reply passes PREROUTING through lo; the timestamp request gets nothing back,
    // so an nth counter in raw PREROUTING sees one packet fewer.
    let rules = "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A PREROUTING -m statistic --mode nth --every 2 --packet 0 -j ACCEPT\nCOMMIT\n";
    let local = |t: u8| {
        let mut p = PacketSpec::echo_request(
            "192.0.2.2".parse().unwrap(),
            "198.51.100.1".parse().unwrap(),
            7,
            Ingress::Local,
        );
        p.icmp_type = t;
        p
    };
    let udp = PacketSpec::udp(
        sa("192.0.2.1:40000"),
        sa("192.0.2.2:53"),
        Ingress::Interface("eth0".into()),
    );
    let nth_held = |r: &Record| {
        r.steps
            .iter()
            .any(|s| s.table == "raw" && s.at == chainwalk_conformance::At::Rule(1))
    };
    let echo = run(rules, vec![local(8), udp.clone()]);
    let timestamp = run(rules, vec![local(13), udp]);
    assert_eq!(echo[0].fate, Fate::Delivered, "{echo:?}");
    assert_eq!(timestamp[0].fate, Fate::Delivered, "{timestamp:?}");
    assert_ne!(nth_held(&echo[1]), nth_held(&timestamp[1]));
}

/// A lab of [`host`] with `rules` loaded (holding the lock while it lives).
fn lab(rules: &str) -> (std::sync::MutexGuard<'static, ()>, Lab) {
    let g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(e) = check_environment() {
        panic!(
            "kernel tests need root and the kernel tools (run .ci/install-deps.sh as root): {e}"
        );
    }
    let (host, neighbors) = host();
    let mut lab = Lab::new(&host, &neighbors).unwrap();
    lab.restore(rules, Family::Ipv4).unwrap();
    (g, lab)
}

/// The packet counters of the rules of `chain`, in order (`iptables-save -c`).
fn counters(lab: &Lab, chain: &str) -> Vec<u64> {
    rule_counts(
        &lab.save(Family::Ipv4, true).unwrap(),
        &[&format!("-A {chain} ")],
    )
}

#[test]
fn limit_is_loaded_as_the_nf_tables_limit_expression() {
    // iptables-nft turns `-m limit` into nf_tables' own `limit` expression (a token bucket
    // counted in nanoseconds), with the rate and unit chainwalk computes.
    let limits = [
        "--limit 1/sec",
        "--limit 10000/sec --limit-burst 100",
        "--limit 12/min",
        "--limit 2/sec",
        "--limit 25/sec --limit-burst 50",
        "--limit 3/min",
        "--limit 3/min --limit-burst 10",
        "--limit 60/min",
        "--limit 7/hour",
        "--limit 2/day",
        "",
    ];
    let mut rules =
        String::from("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    for l in limits {
        rules.push_str(&format!("-A INPUT -m limit {l} -j ACCEPT\n"));
    }
    rules.push_str("COMMIT\n");
    let (_g, lab) = lab(&rules);
    let debug = lab
        .node()
        .exec(
            &["nft", "--debug=netlink", "list", "table", "ip", "filter"],
            None,
        )
        .unwrap();
    let kernel: Vec<String> = debug
        .lines()
        .filter_map(|l| l.trim().strip_prefix("[ limit "))
        .map(|l| l.trim_end_matches(" ]").to_string())
        .collect();
    let parsed = parse_save(&rules, Some(chainwalk_netfilter::model::Family::Ipv4)).ruleset;
    let ours: Vec<String> = parsed
        .tables
        .iter()
        .flat_map(|t| &t.chains)
        .flat_map(|c| &c.rules)
        .flat_map(|r| &r.matches)
        .filter_map(|m| match m {
            Match::Limit(l) => {
                let (rate, unit) = l.rate_and_unit();
                let unit = match unit {
                    1 => "second",
                    60 => "minute",
                    3600 => "hour",
                    _ => "day",
                };
                Some(format!(
                    "rate {rate}/{unit} burst {} type packets flags 0x0",
                    l.burst
                ))
            }
            _ => None,
        })
        .collect();
    assert_eq!(kernel, ours, "{debug}");
}

#[test]
fn owner_sees_the_labs_socket_kernel_sockets_and_no_socket() {
    // The lab's own packets come from a socket of this process (root); the node's answers
    // (here an ICMP port unreachable) from a kernel socket, which exists but has no owner;
    // forwarded packets have no socket.
    let rules = "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n\
        -A OUTPUT -p icmp -m owner --socket-exists\n\
        -A OUTPUT -p icmp -m owner --uid-owner 0\n\
        -A OUTPUT -p icmp -m owner ! --uid-owner 0\n\
        -A OUTPUT -p icmp -m owner ! --socket-exists\n\
        -A OUTPUT -p udp -m owner --uid-owner 0 --gid-owner 0\n\
        -A OUTPUT -p udp -m owner ! --socket-exists\n\
        -A POSTROUTING -p udp -s 192.0.2.1/32 -m owner ! --socket-exists\n\
        -A POSTROUTING -p udp -s 192.0.2.1/32 -m owner --socket-exists\n\
        -A POSTROUTING -p udp -s 192.0.2.1/32 -m owner ! --uid-owner 0\nCOMMIT\n";
    let (_g, lab) = lab(rules);
    // Delivered to a port nobody listens on: the node answers with a port unreachable.
    let r = lab
        .send(&PacketSpec::udp(
            sa("192.0.2.1:40000"),
            sa("192.0.2.2:53"),
            Ingress::Interface("eth0".into()),
        ))
        .unwrap();
    assert_eq!(
        r.fate.kind,
        chainwalk_host::kernel::FateKind::DeliveredLocal
    );
    lab.send(&PacketSpec::udp(
        sa("192.0.2.2:40001"),
        sa("198.51.100.2:53"),
        Ingress::Local,
    ))
    .unwrap();
    lab.send(&PacketSpec::udp(
        sa("192.0.2.1:40002"),
        sa("198.51.100.2:53"),
        Ingress::Interface("eth0".into()),
    ))
    .unwrap();
    assert_eq!(counters(&lab, "OUTPUT"), [1, 0, 1, 0, 1, 0]);
    assert_eq!(counters(&lab, "POSTROUTING"), [1, 0, 1]);
}

#[test]
fn the_lab_has_no_ipsec() {
    // No xfrm policies or states in the node: no route carries a transform, so
    // `-m policy --dir out --pol none` holds for every packet.
    let (_g, lab) =
        lab("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n");
    for what in ["policy", "state"] {
        let out = lab
            .node()
            .exec(&["ip", "xfrm", what, "list"], None)
            .unwrap();
        assert_eq!(out.trim(), "", "ip xfrm {what}");
    }
}

#[test]
fn snat_random_fully_to_the_same_address_is_source_nat() {
    // SNAT --random-fully to the address the packet already has: the port is chosen at
    // random, and the looped-back packet shows the SNAT state.
    let rules = "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -j SNAT --to-source 192.0.2.2 --random-fully\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -m conntrack --ctstate SNAT -j ACCEPT\nCOMMIT\n";
    let p = PacketSpec::tcp_syn(sa("192.0.2.2:40002"), sa("192.0.2.2:443"), Ingress::Local);
    let r = run(rules, vec![p]);
    assert_eq!(r[0].fate, Fate::Delivered, "{r:?}");
    assert!(
        r[0].steps.iter().any(|s| s.hook == "INPUT"
            && s.table == "filter"
            && s.at == chainwalk_conformance::At::Rule(1)),
        "{r:?}"
    );
}

#[test]
fn a_packet_forwarded_back_out_of_its_interface_gets_a_rate_limited_redirect() {
    // ip6_forward sends the sender an ICMPv6 redirect (type 137) from the node's link-local
    // address before FORWARD (here FORWARD drops the packets), through OUTPUT; the
    // per-address token buckets let a burst of six through, then one a second.
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    check_environment().unwrap();
    let host = node_with(&[("eth1", "fd00:94:1::1/64")]);
    let neighbors = [
        Neighbor::new("eth1", "fd00:94:1::10".parse().unwrap()),
        Neighbor::new("eth1", "fd00:94:1::11".parse().unwrap()),
    ];
    let mut lab = Lab::new(&host, &neighbors).unwrap();
    let rules = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -s fe80::/10 -d fd00:94:1::10/128 -p ipv6-icmp -m icmp6 --icmpv6-type 137 -j ACCEPT\n-A OUTPUT -p ipv6-icmp -m icmp6 --icmpv6-type 137 -j ACCEPT\nCOMMIT\n";
    lab.restore(rules, Family::Ipv6).unwrap();
    for port in 40000..40009 {
        let p = PacketSpec::tcp_syn(
            sa(&format!("[fd00:94:1::10]:{port}")),
            sa("[fd00:94:1::11]:80"),
            Ingress::Interface("eth1".into()),
        );
        lab.send_untraced(&p).unwrap();
    }
    let save = lab.save(Family::Ipv6, true).unwrap();
    let counts = rule_counts(&save, &["-A OUTPUT "]);
    assert_eq!(counts, vec![6, 0], "{save}");
}

#[test]
fn ipv6_sources_the_node_forwards_and_drops() {
    // ip6_forward checks the source only for a packet leaving by another interface than it
    // came in on; one routed back out of its own interface gets a redirect and is
    // forwarded, link-local or unspecified source and all. A multicast or loopback source
    // arriving on an interface is dropped before PREROUTING.
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    check_environment().unwrap();
    let host = node_with(&[("eth1", "fd00:95:1::1/64"), ("eth2", "fd00:95:2::1/64")]);
    let neighbors = [
        Neighbor::new("eth1", "fd00:95:1::10".parse().unwrap()),
        Neighbor::new("eth1", "fd00:95:1::11".parse().unwrap()),
        Neighbor::new("eth2", "fd00:95:2::10".parse().unwrap()),
    ];
    let mut lab = Lab::new(&host, &neighbors).unwrap();
    let rules = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n-A FORWARD -s fe80::/10 -i eth1 -o eth1 -j ACCEPT\n-A FORWARD -s ::/128 -i eth1 -o eth1 -j ACCEPT\n-A FORWARD -s ::1/128 -j ACCEPT\n-A FORWARD -s ff00::/8 -j ACCEPT\n-A FORWARD -s fe80::/10 -j ACCEPT\n-A FORWARD -j ACCEPT\nCOMMIT\n*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A PREROUTING -s ::1/128\n-A PREROUTING -s ff00::/8\n-A PREROUTING -s ::/128\nCOMMIT\n";
    lab.restore(rules, Family::Ipv6).unwrap();
    for (src, dst) in [
        // Link-local, back out of eth1: forwarded (FORWARD rule 1).
        ("[fe80::10]:40000", "[fd00:95:1::11]:80"),
        // Link-local, out of eth2: dropped before FORWARD.
        ("[fe80::10]:40001", "[fd00:95:2::10]:80"),
        // A global source, out of eth2: forwarded (FORWARD rule 6).
        ("[fd00:95:1::10]:40002", "[fd00:95:2::10]:80"),
        // Unspecified, back out of eth1: forwarded (FORWARD rule 2).
        ("[::]:40003", "[fd00:95:1::11]:80"),
        // Loopback and multicast sources: dropped before PREROUTING.
        ("[::1]:40004", "[fd00:95:1::11]:80"),
        ("[ff02::1]:40005", "[fd00:95:1::11]:80"),
    ] {
        let p = PacketSpec::tcp_syn(sa(src), sa(dst), Ingress::Interface("eth1".into()));
        lab.send_untraced(&p).unwrap();
    }
    let save = lab.save(Family::Ipv6, true).unwrap();
    let counts = rule_counts(&save, &["-A FORWARD ", "-A PREROUTING "]);
    // raw PREROUTING (::1, ff00::/8, ::), then FORWARD's six rules.
    assert_eq!(counts, vec![0, 0, 1, 1, 1, 0, 0, 0, 1], "{save}");
}
