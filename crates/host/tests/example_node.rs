//! The example node (testdata/example-node) in a real kernel lab. Needs root and the
//! tools from `.ci/install-deps.sh`; without them these tests fail (never skipped).

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use chainwalk_host::kernel::{
    Family, FateKind, Ingress, KernelObservation, Lab, Neighbor, PacketSpec, TraceKind,
    check_environment,
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
        panic!("kernel tests need root and the kernel tools (run .ci/install-deps.sh as root): {e}");
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

fn dump(obs: &KernelObservation) -> String {
    let mut s = String::new();
    for e in &obs.events {
        s.push_str(&format!(
            "{:<11} {:<7} {:<28} {:>4} {:<8} {:<30} mark={:#x}\n",
            e.hook,
            e.table,
            e.chain,
            e.rule_position.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            format!("{:?}", e.kind),
            e.verdict,
            e.mark
        ));
    }
    s.push_str(&format!("fate: {:?}\nconntrack: {:?}\n", obs.fate, obs.conntrack));
    s
}

#[test]
fn debug_print() {
    let lab = example_lab();
    let spec = PacketSpec::tcp_syn(sa("192.168.49.1:40000"), sa(SERVICE), Ingress::Interface("eth0".into()));
    let obs = lab.send(&spec).unwrap();
    println!("{}", dump(&obs));
    lab.flush_conntrack().unwrap();
    let obs = lab.connect_local(sa(SERVICE), 0).unwrap();
    println!("{}", dump(&obs));
    lab.flush_conntrack().unwrap();
    let spec = PacketSpec::tcp_syn(sa("10.244.0.6:35000"), sa(SERVICE), Ingress::Interface("cni0".into()));
    let obs = lab.send(&spec).unwrap();
    println!("{}", dump(&obs));
}
