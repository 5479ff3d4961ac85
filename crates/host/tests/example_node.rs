//! The example node (testdata/example-node) in a real kernel lab. Needs root and the
//! tools from `.ci/install-deps.sh`; without them these tests fail (never skipped).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use chainwalk_host::kernel::{
    Family, FateKind, Ingress, KernelObservation, Lab, Neighbor, PacketSpec, TraceKind,
    check_environment, tcp_flags,
};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const SERVICE: &str = "10.100.29.239:80";
const SVC_CHAIN: &str = "KUBE-SVC-QV4NJDQ2TL4A6VRO";
const POD6: &str = "10.244.0.6";
const POD7: &str = "10.244.0.7";

/// The example node with the client behind eth0 and the two nginx pods behind cni0.
fn example_lab() -> Lab {
    if let Err(e) = check_environment() {
        panic!(
            "kernel tests need root and the kernel tools (run .ci/install-deps.sh as root): {e}"
        );
    }
    let yaml = std::fs::read_to_string(testdata().join("example-node/host.yaml")).unwrap();
    let neighbors = [
        Neighbor::new("eth0", ip("192.168.49.1")),
        Neighbor::new("cni0", ip(POD6)),
        Neighbor::new("cni0", ip(POD7)),
    ];
    let mut lab = Lab::from_yaml(&yaml, &neighbors).unwrap();
    let rules = std::fs::read_to_string(testdata().join("example-node/node.rules")).unwrap();
    lab.restore(&rules, Family::Ipv4).unwrap();
    lab
}

#[allow(dead_code)]
fn dump(obs: &KernelObservation) -> String {
    let mut s = String::new();
    for e in &obs.events {
        s.push_str(&format!(
            "{:<11} {:<7} {:<28} {:>4} {:<8} {:<30} mark={:#x}\n",
            e.hook,
            e.table,
            e.chain,
            e.rule_position
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into()),
            format!("{:?}", e.kind),
            e.verdict,
            e.mark
        ));
    }
    s.push_str(&format!(
        "fate: {:?}\nconntrack: {:?}\n",
        obs.fate, obs.conntrack
    ));
    s
}

fn events_in<'a>(
    obs: &'a KernelObservation,
    table: &str,
) -> Vec<&'a chainwalk_host::kernel::TraceEvent> {
    obs.events.iter().filter(|e| e.table == table).collect()
}

/// Endpoint chain for each pod of the hello-nginx service.
fn sep_chain(pod: &str) -> &'static str {
    match pod {
        POD6 => "KUBE-SEP-BF7GKAYFIIMLRAW5",
        POD7 => "KUBE-SEP-5GV5FJNBRYEOQ7QB",
        other => panic!("not an endpoint: {other}"),
    }
}

#[test]
fn client_syn_is_dnated_forwarded_and_masqueraded() {
    let lab = example_lab();
    let spec = PacketSpec::tcp_syn(
        sa("192.168.49.1:40000"),
        sa(SERVICE),
        Ingress::Interface("eth0".into()),
    );
    let mut seen = BTreeSet::new();
    let mut ports = std::collections::BTreeMap::new();
    for _ in 0..30 {
        lab.flush_conntrack().unwrap();
        let obs = lab.send(&spec).unwrap();
        let d = dump(&obs);
        assert_eq!(obs.fate.kind, FateKind::Forwarded, "{d}");
        assert_eq!(obs.fate.out_iface.as_deref(), Some("cni0"), "{d}");
        let out = obs
            .fate
            .packet_out
            .clone()
            .unwrap_or_else(|| panic!("not captured: {d}"));
        let pod = out.dst.to_string();
        assert!(pod == POD6 || pod == POD7, "{d}");
        assert_eq!(
            out.src,
            ip("10.244.0.1"),
            "masqueraded to cni0's address: {d}"
        );
        assert_eq!(out.dport, Some(80), "{d}");
        assert_eq!(out.tcp_flags, Some(tcp_flags::SYN), "{d}");
        assert_eq!(out.ttl, 63, "forwarding decrements the TTL: {d}");
        // Each pod sits on its own bridge port.
        let port = obs.fate.out_port.clone().unwrap();
        assert_eq!(
            ports.entry(pod.clone()).or_insert_with(|| port.clone()),
            &port,
            "{d}"
        );

        let path = obs.chain_path();
        let expected_start = [
            "mangle/PREROUTING".to_string(),
            "nat/PREROUTING".into(),
            "nat/KUBE-SERVICES".into(),
            format!("nat/{SVC_CHAIN}"),
            "nat/KUBE-MARK-MASQ".into(),
            format!("nat/{SVC_CHAIN}"),
            format!("nat/{}", sep_chain(&pod)),
        ];
        assert_eq!(path[..expected_start.len()], expected_start, "{d}");
        // Every event of nat PREROUTING happens in PREROUTING; the DNAT rule (2nd of the
        // endpoint chain) shows as accept.
        let nat = events_in(&obs, "nat");
        let dnat = nat.iter().find(|e| e.chain == sep_chain(&pod)).unwrap();
        assert_eq!(
            (
                dnat.hook.as_str(),
                dnat.rule_position,
                dnat.verdict.as_str()
            ),
            ("PREROUTING", Some(2), "accept"),
            "{d}"
        );
        // KUBE-MARK-MASQ sets 0x4000 and falls off its end back to the service chain.
        let masq: Vec<_> = nat.iter().filter(|e| e.chain == "KUBE-MARK-MASQ").collect();
        assert_eq!(masq.len(), 2, "{d}");
        assert_eq!(
            (
                masq[0].rule_position,
                masq[0].verdict.as_str(),
                masq[0].mark
            ),
            (Some(1), "continue", 0x4000)
        );
        assert_eq!(
            (masq[1].kind, masq[1].rule_position),
            (TraceKind::Return, None)
        );
        // filter FORWARD: KUBE-FORWARD rule 2 accepts because of the mark.
        let fwd = events_in(&obs, "filter");
        assert!(fwd.iter().all(|e| e.hook == "FORWARD"), "{d}");
        let accept = fwd.last().unwrap();
        assert_eq!(
            (
                accept.chain.as_str(),
                accept.rule_position,
                accept.verdict.as_str()
            ),
            ("KUBE-FORWARD", Some(2), "accept"),
            "{d}"
        );
        // nat POSTROUTING: mark flipped off by rule 2, MASQUERADE (rule 3) accepts.
        let post: Vec<_> = nat.iter().filter(|e| e.hook == "POSTROUTING").collect();
        let steps: Vec<_> = post
            .iter()
            .map(|e| {
                (
                    e.chain.as_str(),
                    e.rule_position,
                    e.verdict.as_str(),
                    e.mark,
                )
            })
            .collect();
        assert_eq!(
            steps,
            [
                ("POSTROUTING", Some(1), "jump KUBE-POSTROUTING", 0x4000),
                ("KUBE-POSTROUTING", Some(2), "continue", 0),
                ("KUBE-POSTROUTING", Some(3), "accept", 0),
            ],
            "{d}"
        );
        // conntrack holds the translation both ways.
        let ct = obs
            .conntrack
            .iter()
            .find(|l| l.contains("src=192.168.49.1 dst=10.100.29.239 sport=40000 dport=80"))
            .unwrap_or_else(|| panic!("no conntrack entry for the flow: {d}"));
        let sport = out.sport.unwrap();
        assert!(
            ct.contains(&format!("src={pod} dst=10.244.0.1 sport=80 dport={sport}")),
            "{ct}"
        );
        seen.insert(pod);
        if seen.len() == 2 {
            break;
        }
    }
    assert_eq!(
        seen.len(),
        2,
        "both endpoints are chosen over 30 tries: {seen:?}"
    );
}

#[test]
fn packets_of_one_flow_skip_the_nat_table() {
    let lab = example_lab();
    lab.flush_conntrack().unwrap();
    let spec = PacketSpec::tcp_syn(
        sa("192.168.49.1:40001"),
        sa(SERVICE),
        Ingress::Interface("eth0".into()),
    );
    let first = lab.send(&spec).unwrap();
    assert!(!events_in(&first, "nat").is_empty(), "{}", dump(&first));
    // A retransmitted SYN belongs to the same conntrack entry: no nat rules, same
    // translation.
    let again = lab.send(&spec).unwrap();
    let d = dump(&again);
    assert!(events_in(&again, "nat").is_empty(), "{d}");
    assert_eq!(again.fate.kind, FateKind::Forwarded, "{d}");
    assert_eq!(again.fate.packet_out, first.fate.packet_out, "{d}");
    assert_eq!(again.conntrack.len(), 1, "{d}");
}

#[test]
fn local_connect_goes_through_nat_output() {
    let lab = example_lab();
    let mut seen = BTreeSet::new();
    for _ in 0..30 {
        lab.flush_conntrack().unwrap();
        let obs = lab.connect_local(sa(SERVICE), 0).unwrap();
        let d = dump(&obs);
        assert_eq!(obs.fate.kind, FateKind::Sent, "{d}");
        assert_eq!(
            obs.fate.out_iface.as_deref(),
            Some("cni0"),
            "re-routed after DNAT: {d}"
        );
        let out = obs
            .fate
            .packet_out
            .clone()
            .unwrap_or_else(|| panic!("not captured: {d}"));
        assert_eq!(out.src, ip("10.244.0.1"), "{d}");
        let pod = out.dst.to_string();
        let path = obs.chain_path();
        assert_eq!(
            path[..5],
            [
                "mangle/OUTPUT".to_string(),
                "nat/OUTPUT".into(),
                "nat/KUBE-SERVICES".into(),
                format!("nat/{SVC_CHAIN}"),
                "nat/KUBE-MARK-MASQ".into()
            ],
            "{d}"
        );
        assert!(
            obs.events
                .iter()
                .all(|e| e.hook == "OUTPUT" || e.hook == "POSTROUTING"),
            "{d}"
        );
        assert!(path.contains(&format!("nat/{}", sep_chain(&pod))), "{d}");
        // The first route lookup picked eth0's address as the source.
        assert!(
            obs.conntrack[0].contains("src=192.168.49.2 dst=10.100.29.239"),
            "{:?}",
            obs.conntrack
        );
        seen.insert(pod);
        if seen.len() == 2 {
            break;
        }
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
}

#[test]
fn local_raw_packet_with_exact_headers() {
    let lab = example_lab();
    lab.flush_conntrack().unwrap();
    let spec = PacketSpec::tcp_syn(sa("192.168.49.2:41000"), sa(SERVICE), Ingress::Local);
    let obs = lab.send(&spec).unwrap();
    let d = dump(&obs);
    assert_eq!(obs.fate.kind, FateKind::Sent, "{d}");
    assert_eq!(
        obs.events.first().map(|e| e.hook.as_str()),
        Some("OUTPUT"),
        "{d}"
    );
    assert!(
        obs.conntrack[0].contains("src=192.168.49.2 dst=10.100.29.239 sport=41000 dport=80"),
        "{d}"
    );
}

#[test]
fn pod_hairpin_to_itself_is_masqueraded() {
    let lab = example_lab();
    let spec = PacketSpec::tcp_syn(
        sa("10.244.0.6:35000"),
        sa(SERVICE),
        Ingress::Interface("cni0".into()),
    );
    let mut seen = BTreeSet::new();
    for _ in 0..30 {
        lab.flush_conntrack().unwrap();
        let obs = lab.send(&spec).unwrap();
        let d = dump(&obs);
        assert_eq!(obs.fate.kind, FateKind::Forwarded, "{d}");
        assert_eq!(obs.fate.out_iface.as_deref(), Some("cni0"), "{d}");
        let out = obs
            .fate
            .packet_out
            .clone()
            .unwrap_or_else(|| panic!("not captured: {d}"));
        let pod = out.dst.to_string();
        let nat = events_in(&obs, "nat");
        // The source is inside 10.244.0.0/16: the service chain's first rule does not mark.
        assert!(
            !nat.iter()
                .any(|e| e.chain == SVC_CHAIN && e.rule_position == Some(1)),
            "{d}"
        );
        if pod == POD6 {
            // Hairpin: the endpoint chain's first rule (-s 10.244.0.6/32) marks, the packet
            // is masqueraded to cni0's address.
            let hair = nat
                .iter()
                .find(|e| e.chain == sep_chain(POD6) && e.rule_position == Some(1))
                .unwrap_or_else(|| panic!("{d}"));
            assert_eq!(hair.verdict, "jump KUBE-MARK-MASQ");
            assert_eq!(out.src, ip("10.244.0.1"), "{d}");
        } else {
            // To the other pod: no mark, KUBE-POSTROUTING returns, the source stays.
            assert_eq!(pod, POD7, "{d}");
            let ret = nat.iter().find(|e| e.chain == "KUBE-POSTROUTING").unwrap();
            assert_eq!(
                (ret.rule_position, ret.verdict.as_str()),
                (Some(1), "return"),
                "{d}"
            );
            assert_eq!(out.src, ip(POD6), "{d}");
            assert_eq!(out.sport, Some(35000), "{d}");
        }
        seen.insert(pod);
        if seen.len() == 2 {
            break;
        }
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
}
