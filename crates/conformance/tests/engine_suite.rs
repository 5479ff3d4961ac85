//! chainwalk's engine against the real kernel: random cases, flows, every corpus file the
//! kernel accepts, and the statistical checks of `-m statistic --mode random` against the
//! engine's exact probabilities. Zero disagreements are required; every disagreement
//! leaves a shrunk reproducer under the test's temporary directory. Needs root (network
//! namespaces) and the tools of `.ci/install-deps.sh`; never skipped.
//!
//! `CHAINWALK_ENGINE_CASES` (default 300) and `CHAINWALK_ENGINE_SEED` (default 2026) set
//! the random cases; `CHAINWALK_ENGINE_FLOWS` (default 40) the flow cases.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use chainwalk_conformance::compare::diff_text;
use chainwalk_conformance::corpus::corpus_case;
use chainwalk_conformance::engine::{branch_probabilities, follow_kernel};
use chainwalk_conformance::run::record_from;
use chainwalk_conformance::stats::{RuleRef, check_split, kernel_split};
use chainwalk_conformance::{
    At, Case, CasePacket, ChainwalkEngine, Engine, Fate, Outcome, PacketTemplate, Record,
    RuleIndex, compare, generate, run_all, run_kernel, write_reproducer,
};
use chainwalk_host::kernel::{
    Family, Ingress, Lab, LabHost, Neighbor, PacketSpec, check_environment,
};

static LOCK: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    let g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(e) = check_environment() {
        panic!(
            "kernel tests need root and the kernel tools (run .ci/install-deps.sh as root): {e}"
        );
    }
    g
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

fn out_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Random cases and flow cases of a fixed seed: kernel and engine agree on every packet.
#[test]
fn random_cases_and_flows_agree_with_the_kernel() {
    let _g = lock();
    let seed = env_u64("CHAINWALK_ENGINE_SEED", 2026);
    let n = env_u64("CHAINWALK_ENGINE_CASES", 300);
    let flows = env_u64("CHAINWALK_ENGINE_FLOWS", 40);
    let out = out_dir("engine-random");
    let mut cases = generate::random_cases(seed, n);
    cases.extend((0..flows).map(|i| generate::flow_case(seed, i)));
    let start = Instant::now();
    let mut done = 0;
    let summary = run_all(&cases, &ChainwalkEngine, &out, 30, |case, outcome| {
        done += 1;
        if let Outcome::Disagree(d) = outcome {
            println!("{}: disagrees\n{}", case.name, diff_text(d));
        }
    })
    .unwrap();
    println!(
        "engine vs kernel, seed {seed}: {n} random cases and {flows} flows: agree {} / disagree {} in {:?}",
        summary.agree,
        summary.disagree,
        start.elapsed()
    );
    assert_eq!(done, cases.len());
    assert_eq!(
        summary.disagree, 0,
        "reproducers: {:?}",
        summary.reproducers
    );
}

/// Every corpus file the kernel accepts, with packets aimed at its own rules; where a
/// rule branches at random the engine's outcome that the kernel took is compared, and each
/// packet passes the engine at the time the kernel's record says it was sent (`-m limit`).
/// Zero disagreements: a packet whose engine outcome is uncertain (an `ENGINE … uncertain`
/// step) never agrees.
#[test]
fn corpus_cases_agree_with_the_kernel() {
    let _g = lock();
    let dir = testdata().join("corpus/kernel-save");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rules"))
        .collect();
    files.sort();
    assert!(files.len() >= 30, "{} files", files.len());
    let out = out_dir("engine-corpus");
    let start = Instant::now();
    let (mut agree, mut packets) = (0, 0);
    let mut failures = Vec::new();
    for f in &files {
        let name = f.file_stem().unwrap().to_string_lossy().to_string();
        let rules = std::fs::read_to_string(f).unwrap();
        let case = corpus_case(&name, &rules, 12);
        let kernel = run_kernel(&case).unwrap().records;
        let ours = follow_kernel(&case, &kernel).unwrap_or_else(|e| panic!("{name}: {e}"));
        packets += kernel.len();
        match compare(&case, &kernel, &ours) {
            Outcome::Agree => agree += 1,
            Outcome::Disagree(d) => {
                println!("{name}: disagrees\n{}", diff_text(&d));
                failures.push(write_reproducer(&out, &case, &kernel, &ours, &d).unwrap());
            }
        }
    }
    println!(
        "engine vs kernel, corpus: {} files, {packets} packets: agree {agree} / disagree {} in {:?}",
        files.len(),
        failures.len(),
        start.elapsed()
    );
    assert_eq!(agree, files.len(), "reproducers: {failures:?}");
}

const SVC_CHAIN: &str = "KUBE-SVC-QV4NJDQ2TL4A6VRO";

/// The example node's Service split: 2,000 kernel packets against the engine's exact
/// probabilities of the two endpoint jumps.
#[test]
fn example_node_split_matches_the_engine_probabilities() {
    let _g = lock();
    let yaml = std::fs::read_to_string(testdata().join("example-node/host.yaml")).unwrap();
    let rules = std::fs::read_to_string(testdata().join("example-node/node.rules")).unwrap();
    let neighbors = vec![
        Neighbor::new("eth0", ip("192.168.49.1")),
        Neighbor::new("cni0", ip("10.244.0.6")),
        Neighbor::new("cni0", ip("10.244.0.7")),
    ];
    let syn = |i: u64| {
        PacketSpec::tcp_syn(
            SocketAddr::new(ip("192.168.49.1"), 10000 + i as u16),
            "10.100.29.239:80".parse().unwrap(),
            Ingress::Interface("eth0".into()),
        )
    };
    let case = Case {
        name: "example-node-split".into(),
        host: LabHost::from_yaml(&yaml).unwrap(),
        neighbors: neighbors.clone(),
        family: Family::Ipv4,
        rules: rules.clone(),
        packets: vec![CasePacket {
            flush_conntrack: true,
            packet: PacketTemplate::Fixed(syn(0)),
        }],
    };
    let mut branches = Vec::new();
    let mut pos = 0;
    for line in rules.lines() {
        if let Some(rest) = line.strip_prefix(&format!("-A {SVC_CHAIN} ")) {
            pos += 1;
            if rest.contains("-j KUBE-SEP-") {
                branches.push(RuleRef::new("nat", SVC_CHAIN, pos));
            }
        }
    }
    assert_eq!(branches.len(), 2);
    let expected = branch_probabilities(&case, &syn(0), &branches).unwrap();
    let mut lab = Lab::from_yaml(&yaml, &neighbors).unwrap();
    lab.restore(&rules, Family::Ipv4).unwrap();
    let split = kernel_split(&lab, Family::Ipv4, 2000, syn, &branches).unwrap();
    let check = check_split(&split.counts, &expected, 1e-6);
    println!(
        "example node split: engine {expected:?}, kernel {:?} in {:?}\n{check}",
        split.counts, split.elapsed
    );
    assert!(check.ok, "{check}");
}

/// A kube-proxy style three-way split (1/3, 1/2 of the rest, the rest) and generated
/// nested splits with random probabilities: kernel counts against the engine's exact
/// probabilities.
#[test]
fn random_splits_match_the_engine_probabilities() {
    let _g = lock();
    let three = chainwalk_conformance::stats::three_way_case();
    let mut cases = vec![(three.case, three.leaves, 3000)];
    for seed in 1..=3 {
        let bc = chainwalk_conformance::stats::branch_case(seed);
        cases.push((bc.case, bc.leaves, 2000));
    }
    for (case, branches, n) in &cases {
        let PacketTemplate::Fixed(spec) = &case.packets[0].packet else {
            panic!("fixed packet expected");
        };
        let expected = branch_probabilities(case, spec, branches).unwrap();
        let mut lab = Lab::new(&case.host, &case.neighbors).unwrap();
        lab.restore(&case.rules, case.family).unwrap();
        let split = kernel_split(
            &lab,
            case.family,
            *n,
            |i| {
                let mut p = spec.clone();
                p.sport = 1024 + i as u16;
                p
            },
            branches,
        )
        .unwrap();
        let check = check_split(&split.counts, &expected, 1e-6);
        println!(
            "{}: engine {expected:?}, kernel {:?} ({n} packets in {:?})\n{check}",
            case.name, split.counts, split.elapsed
        );
        assert!(check.ok, "{}\n{check}", case.rules);
    }
}

/// Generated cases that once disagreed, each behind one engine fix (see
/// `docs/conformance.md`): they agree now.
#[test]
fn former_disagreements_agree() {
    let _g = lock();
    let found = [
        (1, 30),      // IPv6 addrtype UNICAST of a local address
        (2026, 23),   // the node's reset, looped back, advances an nth counter in PREROUTING
        (2026, 53),   // MASQUERADE through lo
        (2026, 79),   // MASQUERADE through lo
        (2026, 96),   // MASQUERADE through lo
        (2026, 281),  // the node's reset dropped in raw OUTPUT leaves the connection
        (4242, 424),  // CONNMARK on a confirmed connection stays when the packet is dropped
        (4242, 508),  // the node's port unreachable, RELATED, saves its mark to the connection
        (4242, 635),  // the node's port unreachable, RELATED, gets a CONNMARK
        (4242, 733),  // the node's reset sees the connection before it is deleted
        (4242, 869),  // the node's reset to a source NATed to a local address is un-NATed
        (4242, 1366), // the node's port unreachable to a source NATed to a local address is un-NATed
        (4242, 2344), // REJECT's reset to a local packet loops back and counts in PREROUTING
        (4242, 2374), // IPv6 MASQUERADE to ::1 keeps ::1 as the source
        (4242, 2824), // REJECT's ICMPv6 error to a local packet loops back and counts in INPUT
        (4242, 2926), // the node's port unreachable, RELATED (state and NAT)
        (4242, 3261), // REJECT's answer to a local packet loops back
        (4242, 3607), // the node's port unreachable, RELATED (state and NAT)
        (4242, 3794), // an ICMP error refusing REJECT's reset confirms the refused connection
        (4242, 4690), // the node's port unreachable, RELATED (state and NAT)
        (4242, 4739), // the lab's timestamp requests are not answered
        (4242, 4795), // the node's port unreachable, RELATED (state and NAT)
        (4242, 4963), // REJECT's answer to a local packet loops back
        (9090, 2499), // SNAT --random-fully to the same address is source NAT
        (9090, 4060), // the node's ICMPv6 redirect, refused by REJECT, loops back
        (777, 100),   // the node's reset, refused by REJECT in OUTPUT: the error loops back
    ];
    let cases: Vec<Case> = found
        .iter()
        .map(|(seed, i)| generate::random_case(*seed, *i))
        .collect();
    let out = out_dir("engine-former");
    let summary = run_all(&cases, &ChainwalkEngine, &out, 0, |case, outcome| {
        if let Outcome::Disagree(d) = outcome {
            println!("{}: disagrees\n{}", case.name, diff_text(d));
        }
    })
    .unwrap();
    assert_eq!(summary.disagree, 0, "{:?}", summary.reproducers);
}

/// A node with an uplink (`eth0`, gateway 192.168.60.1) and a second network (`eth1`,
/// neighbour 10.20.0.5), forwarding on.
fn two_network_node() -> (LabHost, Vec<Neighbor>) {
    let yaml = "forwarding: true\ninterfaces:\n  - name: lo\n    addresses: [127.0.0.1/8]\n  - name: eth0\n    addresses: [192.168.60.2/24]\n  - name: eth1\n    addresses: [10.20.0.1/24]\nroutes:\n  - to: default\n    via: 192.168.60.1\n    dev: eth0\n";
    (
        LabHost::from_yaml(yaml).unwrap(),
        vec![
            Neighbor::new("eth0", ip("192.168.60.1")),
            Neighbor::new("eth1", ip("10.20.0.5")),
        ],
    )
}

fn fixed(packets: Vec<PacketSpec>) -> Vec<CasePacket> {
    packets
        .into_iter()
        .map(|p| CasePacket {
            flush_conntrack: false,
            packet: PacketTemplate::Fixed(p),
        })
        .collect()
}

/// Runs a case on the kernel, sleeping `pauses[i]` milliseconds before packet `i`, and
/// records each packet with the time it was sent (as `run_kernel` does, with pauses).
fn run_paced(case: &Case, pauses: &[u64]) -> Vec<Record> {
    let mut lab = Lab::new(&case.host, &case.neighbors).unwrap();
    lab.restore(&case.rules, case.family).unwrap();
    chainwalk_conformance::run::prepare(&lab);
    let index = RuleIndex::parse(&case.rules);
    let mut records: Vec<Record> = Vec::new();
    let mut first: Option<Instant> = None;
    for i in 0..case.packets.len() {
        std::thread::sleep(std::time::Duration::from_millis(
            pauses.get(i).copied().unwrap_or(0),
        ));
        let spec = case.resolve(i, &records).unwrap();
        let now = Instant::now();
        let sent_at = now.duration_since(*first.get_or_insert(now));
        let obs = lab.send(&spec).unwrap();
        let mut r = record_from(spec, &obs, &index);
        r.sent_at = Some(sent_at);
        records.push(r);
    }
    records
}

/// Compares the kernel's records of a case with the engine's (each packet at the time the
/// kernel sent it) and requires them to agree.
fn assert_agrees(case: &Case, kernel: &[Record]) {
    let ours = follow_kernel(case, kernel).unwrap();
    if let Outcome::Disagree(d) = compare(case, kernel, &ours) {
        let dir = write_reproducer(&out_dir(&case.name), case, kernel, &ours, &d).unwrap();
        panic!("{}: disagrees ({dir:?})\n{}", case.name, diff_text(&d));
    }
}

/// `-m limit`: the bucket starts full (burst packets pass back to back) and refills at the
/// rate as time passes. The lab sends two packets, a third (dropped: the credit is what
/// the gaps between them brought back, less than a packet's worth while a packet takes under
/// 125 ms), pauses 700 ms (the bucket is full again), and sends three more. The engine, given
/// the times the lab sent its packets, agrees with the kernel packet for packet; back to
/// back (no times) it lets only the burst through.
#[test]
fn limit_buckets_agree_with_the_kernel() {
    let _g = lock();
    let (host, neighbors) = two_network_node();
    // 4/sec: a packet costs 250 ms of credit; the bucket holds 500 ms.
    let rules = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        -A INPUT -p udp -m udp --dport 5000 -m limit --limit 4/sec --limit-burst 2 -j ACCEPT\n\
        -A INPUT -p udp -m udp --dport 5000 -j DROP\n\
        -A OUTPUT -d 192.168.60.1/32 -p udp -m limit --limit 1/hour --limit-burst 1 -j ACCEPT\n\
        -A OUTPUT -d 192.168.60.1/32 -p udp -j DROP\nCOMMIT\n";
    let pauses = [0, 0, 0, 700, 0, 0, 0, 0];
    let mut packets: Vec<PacketSpec> = (0..6)
        .map(|i| {
            PacketSpec::udp(
                SocketAddr::new(ip("10.20.0.5"), 20000 + i),
                "10.20.0.1:5000".parse().unwrap(),
                Ingress::Interface("eth1".into()),
            )
        })
        .collect();
    for i in 0..2 {
        packets.push(PacketSpec::udp(
            SocketAddr::new(ip("192.168.60.2"), 30000 + i),
            "192.168.60.1:53".parse().unwrap(),
            Ingress::Local,
        ));
    }
    let case = Case {
        name: "limit-buckets".into(),
        host,
        neighbors,
        family: Family::Ipv4,
        rules: rules.into(),
        packets: fixed(packets),
    };
    let kernel = run_paced(&case, &pauses);
    let fates: Vec<String> = kernel
        .iter()
        .map(|r| {
            format!(
                "{:?}@{:.3}",
                r.fate,
                r.sent_at.unwrap_or_default().as_secs_f64()
            )
        })
        .collect();
    println!("limit: {fates:?}");
    assert_agrees(&case, &kernel);
    let delivered = |r: &[Record]| {
        r.iter()
            .take(6)
            .map(|r| r.fate == Fate::Delivered)
            .collect::<Vec<bool>>()
    };
    let k = delivered(&kernel);
    // The burst passes, the next packet does not, and after the pause a burst passes again.
    assert_eq!(k, [true, true, false, true, true, false], "{fates:?}");
    assert_eq!(
        kernel.iter().skip(6).map(|r| r.fate).collect::<Vec<_>>(),
        [Fate::Sent, Fate::Dropped]
    );
    let back_to_back = ChainwalkEngine.run(&case).unwrap();
    assert_eq!(
        delivered(&back_to_back),
        (0..6).map(|i| i < 2).collect::<Vec<_>>()
    );
}

/// `-m owner` and `-m policy`: the lab's local packets come from a socket of this process
/// (root), forwarded packets have none, and the lab has no IPsec. The engine, told so by the
/// adapter, agrees with the kernel on every rule.
#[test]
fn owner_and_policy_agree_with_the_kernel() {
    let _g = lock();
    let (host, neighbors) = two_network_node();
    let mut rules = String::from(
        "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n",
    );
    let matches = [
        "-m owner --uid-owner 0",
        "-m owner ! --uid-owner 0",
        "-m owner --uid-owner 1-65000",
        "-m owner --gid-owner 0",
        "-m owner ! --gid-owner 0 --suppl-groups",
        "-m owner --socket-exists",
        "-m owner ! --socket-exists",
        "-m owner --socket-exists --uid-owner 0 --gid-owner 0",
        "-m policy --dir out --pol none",
        "-m policy --dir out --pol ipsec",
    ];
    for chain in ["OUTPUT", "POSTROUTING"] {
        for (i, m) in matches.iter().enumerate() {
            rules.push_str(&format!(
                "-A {chain} {m} -j MARK --set-xmark 0x{:x}/0xffffffff\n",
                i + 1
            ));
        }
    }
    for chain in ["PREROUTING", "INPUT", "FORWARD"] {
        rules.push_str(&format!(
            "-A {chain} -m policy --dir in --pol none -j MARK --set-xmark 0x20/0xffffffff\n\
             -A {chain} -m policy --dir in --pol ipsec -j MARK --set-xmark 0x21/0xffffffff\n"
        ));
    }
    rules.push_str(
        "-A FORWARD -m policy --dir out --pol none -j MARK --set-xmark 0x22/0xffffffff\n\
         -A FORWARD -m policy --dir out --pol ipsec -j MARK --set-xmark 0x23/0xffffffff\nCOMMIT\n",
    );
    let packets = vec![
        // Sent from the lab's socket.
        PacketSpec::udp(
            "192.168.60.2:30000".parse().unwrap(),
            "192.168.60.1:53".parse().unwrap(),
            Ingress::Local,
        ),
        PacketSpec::tcp_syn(
            "10.20.0.1:30001".parse().unwrap(),
            "10.20.0.5:80".parse().unwrap(),
            Ingress::Local,
        ),
        // Forwarded: no socket.
        PacketSpec::udp(
            "10.20.0.5:40000".parse().unwrap(),
            "192.168.60.1:53".parse().unwrap(),
            Ingress::Interface("eth1".into()),
        ),
        // Delivered.
        PacketSpec::udp(
            "10.20.0.5:40001".parse().unwrap(),
            "10.20.0.1:53".parse().unwrap(),
            Ingress::Interface("eth1".into()),
        ),
    ];
    let case = Case {
        name: "owner-policy".into(),
        host,
        neighbors,
        family: Family::Ipv4,
        rules,
        packets: fixed(packets),
    };
    let kernel = run_kernel(&case).unwrap().records;
    assert_agrees(&case, &kernel);
    // Each local packet passed the uid 0 rule, the forwarded one the no-socket rule.
    let passed = |r: &Record, chain: &str, pos: u32| {
        r.steps
            .iter()
            .any(|s| s.chain == chain && s.at == At::Rule(pos))
    };
    assert!(passed(&kernel[0], "OUTPUT", 1) && !passed(&kernel[0], "OUTPUT", 2));
    assert!(passed(&kernel[2], "POSTROUTING", 7) && !passed(&kernel[2], "POSTROUTING", 6));
    assert!(passed(&kernel[2], "POSTROUTING", 9) && !passed(&kernel[2], "POSTROUTING", 10));
}

/// IPv6 packets from sources the node treats specially, through a ruleset that counts them
/// in raw PREROUTING and in FORWARD: the engine follows the kernel for each (a link-local or
/// unspecified source routed back out of its own interface is forwarded, out of another
/// dropped before FORWARD; a loopback or multicast source never reaches PREROUTING).
#[test]
fn special_ipv6_sources_agree_with_the_kernel() {
    let _g = lock();
    let veth = |name: &str, addr: &str| chainwalk_host::kernel::LabInterface {
        name: name.into(),
        addresses: vec![addr.into()],
        kind: chainwalk_host::kernel::InterfaceKind::Veth,
    };
    let host = LabHost {
        forwarding_v4: true,
        forwarding_v6: true,
        interfaces: vec![
            chainwalk_host::kernel::LabInterface {
                name: "lo".into(),
                addresses: vec!["127.0.0.1/8".into()],
                kind: chainwalk_host::kernel::InterfaceKind::Loopback,
            },
            veth("eth1", "fd00:96:1::1/64"),
            veth("eth2", "fd00:96:2::1/64"),
        ],
        routes: vec![],
        bridge_nf_call_iptables: false,
    };
    let neighbors = vec![
        Neighbor::new("eth1", "fd00:96:1::10".parse().unwrap()),
        Neighbor::new("eth1", "fd00:96:1::11".parse().unwrap()),
        Neighbor::new("eth2", "fd00:96:2::10".parse().unwrap()),
    ];
    let rules = "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A PREROUTING -s ::1/128\n-A PREROUTING -s ff00::/8\n-A PREROUTING -s fe80::/10\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n-A FORWARD -s fe80::/10 -i eth1 -o eth1 -j ACCEPT\n-A FORWARD -s ::/128 -j ACCEPT\n-A FORWARD -s fd00:96:1::/64 -j ACCEPT\nCOMMIT\n";
    let sa = |s: &str| s.parse::<SocketAddr>().unwrap();
    let packets = [
        ("[fe80::10]:40000", "[fd00:96:1::11]:80"),
        ("[fe80::10]:40001", "[fd00:96:2::10]:80"),
        ("[fd00:96:1::10]:40002", "[fd00:96:2::10]:80"),
        ("[::]:40003", "[fd00:96:1::11]:80"),
        ("[::]:40004", "[fd00:96:2::10]:80"),
        ("[::1]:40005", "[fd00:96:1::11]:80"),
        ("[ff02::1]:40006", "[fd00:96:1::11]:80"),
        ("[::1]:40007", "[fd00:96:1::1]:80"),
    ]
    .into_iter()
    .map(|(s, d)| CasePacket {
        flush_conntrack: true,
        packet: PacketTemplate::Fixed(PacketSpec::tcp_syn(
            sa(s),
            sa(d),
            Ingress::Interface("eth1".into()),
        )),
    })
    .collect();
    let case = Case {
        name: "special-ipv6-sources".into(),
        host,
        neighbors,
        family: Family::Ipv6,
        rules: rules.into(),
        packets,
    };
    let kernel = run_kernel(&case).unwrap().records;
    let fates: Vec<Fate> = kernel.iter().map(|r| r.fate).collect();
    assert_eq!(
        fates,
        [
            Fate::Forwarded,
            Fate::Unknown,
            Fate::Forwarded,
            Fate::Forwarded,
            Fate::Unknown,
            Fate::Unknown,
            Fate::Unknown,
            Fate::Unknown
        ],
        "{kernel:?}"
    );
    let ours = follow_kernel(&case, &kernel).unwrap();
    if let Outcome::Disagree(d) = compare(&case, &kernel, &ours) {
        panic!("disagrees:\n{}", diff_text(&d));
    }
}
