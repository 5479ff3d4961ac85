//! The three walks of the example node (`testdata/example-node`) agree with the kernel
//! event for event: the external client's SYN and its reply, a local process's connection
//! and its reply, and the pod that reaches its own Service (hairpin) and its reply.
//!
//! The Service splits at random between two pods; each kernel run is compared with the
//! engine's outcome that took the same DNAT destination, and runs repeat until the kernel
//! has taken both. Needs root (network namespaces); never skipped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Instant;

use chainwalk_conformance::compare::diff_text;
use chainwalk_conformance::{
    Case, CasePacket, ChainwalkEngine, Fate, Outcome, PacketTemplate, Record, compare, run_kernel,
};
use chainwalk_host::kernel::{
    Family, Ingress, LabHost, Neighbor, PacketSpec, check_environment, tcp_flags,
};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The example node with its neighbours: the gateway behind eth0, the two pods behind cni0.
fn walk(name: &str, first: PacketSpec) -> Case {
    let yaml = std::fs::read_to_string(testdata().join("example-node/host.yaml")).unwrap();
    Case {
        name: name.into(),
        host: LabHost::from_yaml(&yaml).unwrap(),
        neighbors: vec![
            Neighbor::new("eth0", ip("192.168.49.1")),
            Neighbor::new("cni0", ip("10.244.0.6")),
            Neighbor::new("cni0", ip("10.244.0.7")),
        ],
        family: Family::Ipv4,
        rules: std::fs::read_to_string(testdata().join("example-node/node.rules")).unwrap(),
        packets: vec![
            CasePacket {
                flush_conntrack: true,
                packet: PacketTemplate::Fixed(first),
            },
            CasePacket {
                flush_conntrack: false,
                packet: PacketTemplate::Reply {
                    to: 0,
                    tcp_flags: tcp_flags::SYN | tcp_flags::ACK,
                },
            },
        ],
    }
}

/// Where the connection's destination NAT sent it (the reply tuple's source).
fn backend(r: &Record) -> Option<IpAddr> {
    r.conntrack.as_ref().map(|c| c.reply.src)
}

/// Runs `case` on the kernel until both pods were chosen, comparing each run with the
/// engine's outcome that chose the same pod.
fn agrees_event_for_event(case: &Case) {
    if let Err(e) = check_environment() {
        panic!("kernel tests need root and the kernel tools: {e}");
    }
    let engine = ChainwalkEngine;
    let mut seen = BTreeSet::new();
    let t = Instant::now();
    let mut runs = 0;
    while seen.len() < 2 && runs < 20 {
        runs += 1;
        let kernel = run_kernel(case).unwrap().records;
        assert_eq!(kernel.len(), 2, "{}: the reply was not sent", case.name);
        let mut choose = |i: usize, candidates: &[Record]| {
            let want = kernel.get(i).and_then(backend);
            candidates
                .iter()
                .position(|c| backend(c) == want)
                .unwrap_or(0)
        };
        let ours = engine.run_choosing(case, &mut choose, false).unwrap();
        if let Outcome::Disagree(d) = compare(case, &kernel, &ours) {
            panic!(
                "{}: engine and kernel disagree\n{}",
                case.name,
                diff_text(&d)
            );
        }
        let first = &kernel[0];
        assert!(
            matches!(first.fate, Fate::Forwarded | Fate::Sent),
            "{}: {:?}",
            case.name,
            first.fate
        );
        assert!(
            kernel[0].steps.len() > 5,
            "{}: a walk through kube-proxy's chains",
            case.name
        );
        seen.insert(backend(first).unwrap());
    }
    assert_eq!(
        seen,
        [ip("10.244.0.6"), ip("10.244.0.7")].into_iter().collect(),
        "{}: both pods within {runs} runs",
        case.name
    );
    println!("{}: {runs} kernel runs agree, {:?}", case.name, t.elapsed());
}

#[test]
fn external_syn_and_its_reply() {
    agrees_event_for_event(&walk(
        "external-syn",
        PacketSpec::tcp_syn(
            SocketAddr::new(ip("192.168.49.1"), 40000),
            "10.100.29.239:80".parse().unwrap(),
            Ingress::Interface("eth0".into()),
        ),
    ));
}

#[test]
fn local_process_connection_and_its_reply() {
    agrees_event_for_event(&walk(
        "local-process",
        PacketSpec::tcp_syn(
            SocketAddr::new(ip("192.168.49.2"), 40000),
            "10.100.29.239:80".parse().unwrap(),
            Ingress::Local,
        ),
    ));
}

#[test]
fn pod_hairpin_and_its_reply() {
    agrees_event_for_event(&walk(
        "pod-hairpin",
        PacketSpec::tcp_syn(
            SocketAddr::new(ip("10.244.0.6"), 35000),
            "10.100.29.239:80".parse().unwrap(),
            Ingress::Interface("cni0".into()),
        ),
    ));
}
