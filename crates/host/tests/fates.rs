//! Fates other than forwarding (drop, local delivery, policy, IPv6) and namespace cleanup,
//! against the real kernel. Needs root and the tools from `.ci/install-deps.sh`; without
//! them these tests fail (never skipped).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;

use chainwalk_host::kernel::{
    Family, FateKind, Ingress, InterfaceKind, Lab, LabHost, LabInterface, Neighbor, Netns,
    PacketSpec, TraceKind, check_environment,
};

fn require_kernel() {
    if let Err(e) = check_environment() {
        panic!(
            "kernel tests need root and the kernel tools (run .ci/install-deps.sh as root): {e}"
        );
    }
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn small_host() -> LabHost {
    LabHost {
        forwarding_v4: true,
        forwarding_v6: true,
        interfaces: vec![
            LabInterface {
                name: "lo".into(),
                addresses: vec![],
                kind: InterfaceKind::Loopback,
            },
            LabInterface {
                name: "eth0".into(),
                addresses: vec!["192.0.2.2/24".into(), "2001:db8::2/64".into()],
                kind: InterfaceKind::Veth,
            },
            LabInterface {
                name: "eth1".into(),
                addresses: vec!["198.51.100.1/24".into(), "2001:db8:1::1/64".into()],
                kind: InterfaceKind::Veth,
            },
        ],
        routes: vec![],
        bridge_nf_call_iptables: false,
    }
}

fn small_lab() -> Lab {
    require_kernel();
    let neighbors = [
        Neighbor::new("eth0", "192.0.2.1".parse().unwrap()),
        Neighbor::new("eth0", "2001:db8::1".parse().unwrap()),
        Neighbor::new("eth1", "198.51.100.2".parse().unwrap()),
        Neighbor::new("eth1", "2001:db8:1::2".parse().unwrap()),
    ];
    Lab::new(&small_host(), &neighbors).unwrap()
}

const V4_RULES: &str = "*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:CHECK - [0:0]
-A INPUT -p tcp -j CHECK
-A INPUT -p tcp --dport 22 -j DROP
-A CHECK -p tcp --dport 23 -j RETURN
-A CHECK -p udp -j ACCEPT
-A FORWARD -p udp --dport 53 -j ACCEPT
COMMIT
";

#[test]
fn drop_rule_policy_and_local_delivery() {
    let _l = lock();
    let mut lab = small_lab();
    lab.restore(V4_RULES, Family::Ipv4).unwrap();
    let eth0 = Ingress::Interface("eth0".into());

    let obs = lab
        .send(&PacketSpec::tcp_syn(
            sa("192.0.2.1:5000"),
            sa("192.0.2.2:22"),
            eth0.clone(),
        ))
        .unwrap();
    assert_eq!(obs.fate.kind, FateKind::Dropped, "{obs:?}");
    let steps: Vec<_> = obs
        .events
        .iter()
        .filter(|e| e.table == "filter")
        .map(|e| {
            (
                e.hook.as_str(),
                e.chain.as_str(),
                e.rule_position,
                e.verdict.as_str(),
                e.kind,
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("INPUT", "INPUT", Some(1), "jump CHECK", TraceKind::Rule),
            ("INPUT", "CHECK", None, "continue", TraceKind::Return),
            ("INPUT", "INPUT", Some(2), "drop", TraceKind::Rule),
        ]
    );

    // RETURN rule in a user chain, then the INPUT policy accepts: delivered locally.
    let obs = lab
        .send(&PacketSpec::tcp_syn(
            sa("192.0.2.1:5001"),
            sa("192.0.2.2:23"),
            eth0.clone(),
        ))
        .unwrap();
    assert_eq!(obs.fate.kind, FateKind::DeliveredLocal, "{obs:?}");
    let steps: Vec<_> = obs
        .events
        .iter()
        .filter(|e| e.table == "filter")
        .map(|e| {
            (
                e.chain.as_str(),
                e.rule_position,
                e.verdict.as_str(),
                e.kind,
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("INPUT", Some(1), "jump CHECK", TraceKind::Rule),
            ("CHECK", Some(1), "return", TraceKind::Rule),
            ("INPUT", None, "accept", TraceKind::Policy),
        ]
    );

    // FORWARD policy DROP.
    let obs = lab
        .send(&PacketSpec::tcp_syn(
            sa("192.0.2.1:5002"),
            sa("198.51.100.2:80"),
            eth0.clone(),
        ))
        .unwrap();
    assert_eq!(obs.fate.kind, FateKind::Dropped, "{obs:?}");
    let last = obs.events.last().unwrap();
    assert_eq!(
        (
            last.hook.as_str(),
            last.chain.as_str(),
            last.kind,
            last.verdict.as_str()
        ),
        ("FORWARD", "FORWARD", TraceKind::Policy, "drop")
    );
    assert!(obs.fate.packet_out.is_none());

    // FORWARD rule accepts UDP/53: forwarded out of eth1, TTL decremented.
    let obs = lab
        .send(&PacketSpec::udp(
            sa("192.0.2.1:5003"),
            sa("198.51.100.2:53"),
            eth0.clone(),
        ))
        .unwrap();
    assert_eq!(obs.fate.kind, FateKind::Forwarded, "{obs:?}");
    assert_eq!(obs.fate.out_iface.as_deref(), Some("eth1"));
    let out = obs.fate.packet_out.clone().unwrap();
    assert_eq!(
        (out.src, out.dport, out.ttl),
        ("192.0.2.1".parse().unwrap(), Some(53), 63)
    );

    // No route: the kernel drops it outside netfilter, after PREROUTING.
    let obs = lab
        .send(&PacketSpec::udp(
            sa("192.0.2.1:5004"),
            sa("203.0.113.9:53"),
            eth0,
        ))
        .unwrap();
    assert_eq!(obs.fate.kind, FateKind::Unknown, "{obs:?}");
    assert!(
        obs.fate
            .note
            .as_deref()
            .unwrap_or("")
            .contains("PREROUTING"),
        "{obs:?}"
    );
}

#[test]
fn ipv6_ruleset() {
    let _l = lock();
    let mut lab = small_lab();
    let rules = "*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -d 2001:db8:1::2/128 -p tcp --dport 25 -j REJECT --reject-with tcp-reset
COMMIT
";
    lab.restore(rules, Family::Ipv6).unwrap();
    let eth0 = Ingress::Interface("eth0".into());
    let obs = lab
        .send(&PacketSpec::tcp_syn(
            sa("[2001:db8::1]:6000"),
            sa("[2001:db8:1::2]:25"),
            eth0.clone(),
        ))
        .unwrap();
    assert_eq!(obs.fate.kind, FateKind::Dropped, "{obs:?}");
    let last = obs.events.last().unwrap();
    assert_eq!(
        (
            last.chain.as_str(),
            last.rule_position,
            last.verdict.as_str()
        ),
        ("FORWARD", Some(1), "drop")
    );

    let obs = lab
        .send(&PacketSpec::tcp_syn(
            sa("[2001:db8::1]:6001"),
            sa("[2001:db8:1::2]:80"),
            eth0,
        ))
        .unwrap();
    assert_eq!(obs.fate.kind, FateKind::Forwarded, "{obs:?}");
    assert_eq!(obs.fate.out_iface.as_deref(), Some("eth1"));
    assert_eq!(obs.fate.packet_out.as_ref().map(|h| h.ttl), Some(63));
    // Kernel fact: conntrack hooks are registered in a namespace only when a ruleset needs
    // them (NAT, ct/state matches); this IPv6 ruleset has none, so nothing is tracked.
    assert!(obs.conntrack.is_empty(), "{:?}", obs.conntrack);
}

fn our_namespaces() -> Vec<String> {
    let prefix = format!("chainwalk-{}-", std::process::id());
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default()
}

/// The only test in this binary that checks the namespace list, so it runs in a process
/// of its own (cargo runs each test binary separately).
#[test]
fn namespaces_are_deleted_also_on_panic() {
    require_kernel();
    let _l = lock();
    let before = our_namespaces().len();
    {
        let ns = Netns::new("probe").unwrap();
        assert!(
            ns.exec(&["ip", "link", "show", "lo"], None)
                .unwrap()
                .contains("lo")
        );
    }
    let result = std::panic::catch_unwind(|| {
        let _lab = Lab::new(&small_host(), &[]).unwrap();
        panic!("failure inside a test");
    });
    assert!(result.is_err());
    assert_eq!(our_namespaces().len(), before, "{:?}", our_namespaces());
}

static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Serialises the tests of this binary so the namespace count is stable.
fn lock() -> std::sync::MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn lab_bridges_join_no_multicast_group() {
    // A bridge with multicast snooping joins 224.0.0.106 and ff02::6a, and the node then
    // sends IGMP/MLD reports at random times after the bridge comes up: packets of its own
    // that pass the rules under test (a nat OUTPUT DNAT even loops them back through
    // PREROUTING). The lab's bridges must stay out of every group but the all-hosts ones.
    let _l = lock();
    require_kernel();
    let mut host = small_host();
    host.interfaces.push(LabInterface {
        name: "br0".into(),
        addresses: vec!["10.244.0.1/24".into()],
        kind: InterfaceKind::Bridge { ports: vec![] },
    });
    let lab = Lab::new(
        &host,
        &[Neighbor::new("br0", "10.244.0.5".parse().unwrap())],
    )
    .unwrap();
    let groups = lab
        .node()
        .exec(&["ip", "maddr", "show", "dev", "br0"], None)
        .unwrap();
    assert!(groups.contains("224.0.0.1"), "{groups}");
    assert!(!groups.contains("224.0.0.106"), "{groups}");
    assert!(!groups.contains("ff02::6a"), "{groups}");
}
