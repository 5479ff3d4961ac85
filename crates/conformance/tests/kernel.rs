//! The conformance harness against the real kernel. Needs root and the tools from
//! `.ci/install-deps.sh`; without them these tests fail (never skipped). Timings are
//! printed (`cargo test -- --nocapture`) so CI time can be planned.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chainwalk_conformance::stats::{RuleRef, check_split, kernel_split};
use chainwalk_conformance::{
    At, Case, ConformanceError, Engine, Fate, KernelEngine, Outcome, Record, compare, generate,
    run_kernel, write_reproducer,
};
use chainwalk_host::kernel::{
    Family, Ingress, Lab, Neighbor, PacketSpec, check_environment, save_after_restore,
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

fn rule_count(text: &str) -> usize {
    text.lines()
        .filter(|l| l.starts_with("-A ") || l.contains("] -A "))
        .count()
}

/// Every generated ruleset loads into the kernel, and the kernel keeps every rule.
#[test]
fn generated_rulesets_load() {
    let _g = lock();
    let start = Instant::now();
    let mut cases: Vec<Case> = generate::random_cases(7, 150);
    cases.extend((0..50).map(|i| generate::flow_case(7, i)));
    for case in &cases {
        let saved = save_after_restore(&case.rules, case.family)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", case.name, case.rules));
        assert_eq!(
            rule_count(&saved),
            rule_count(&case.rules),
            "{}:\n{}\nkernel:\n{saved}",
            case.name,
            case.rules
        );
    }
    println!(
        "{} generated rulesets loaded in {:?}",
        cases.len(),
        start.elapsed()
    );
}

fn share_matching(records: &[Record]) -> (usize, usize) {
    let matching = records
        .iter()
        .filter(|r| r.steps.iter().any(|s| matches!(s.at, At::Rule(_))))
        .count();
    (matching, records.len())
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Random cases (50 of seed 11 unless `CHAINWALK_CONFORMANCE_CASES` and
/// `CHAINWALK_CONFORMANCE_SEED` say otherwise) run on the kernel without harness errors;
/// a good share of packets match rules; every fate occurs.
#[test]
fn random_cases_run_on_the_kernel() {
    let _g = lock();
    let seed = env_u64("CHAINWALK_CONFORMANCE_SEED", 11);
    let count = env_u64("CHAINWALK_CONFORMANCE_CASES", 50);
    let cases = generate::random_cases(seed, count);
    let mut fates: BTreeMap<String, usize> = BTreeMap::new();
    let (mut matching, mut packets) = (0, 0);
    let (mut setup, mut sending) = (Duration::ZERO, Duration::ZERO);
    let mut slowest = (Duration::ZERO, String::new());
    let start = Instant::now();
    for case in &cases {
        let t = Instant::now();
        let run = run_kernel(case).unwrap_or_else(|e| panic!("{}: {e}\n{}", case.name, case.rules));
        let took = t.elapsed();
        if took > slowest.0 {
            slowest = (took, case.name.clone());
        }
        setup += run.setup;
        sending += run.packets;
        assert_eq!(run.records.len(), case.packets.len(), "{}", case.name);
        for r in &run.records {
            *fates.entry(format!("{:?}", r.fate)).or_default() += 1;
            if matches!(r.fate, Fate::Forwarded | Fate::Sent | Fate::Delivered) {
                assert!(
                    r.headers.is_some(),
                    "{}: no final headers: {r:?}",
                    case.name
                );
            }
        }
        let (m, n) = share_matching(&run.records);
        matching += m;
        packets += n;
    }
    let total = start.elapsed();
    println!(
        "{count} random cases of seed {seed}, {packets} packets in {total:?}: per case {:?} (lab + restore {:?}, packets {:?}); per packet {:?}; slowest {} {:?}",
        total / count as u32,
        setup / count as u32,
        sending / count as u32,
        sending / packets as u32,
        slowest.1,
        slowest.0
    );
    println!("fates: {fates:?}; packets that matched at least one rule: {matching}/{packets}");
    for f in ["Delivered", "Forwarded", "Sent", "Dropped", "Rejected"] {
        assert!(fates.contains_key(f), "no packet was {f}: {fates:?}");
    }
    assert!(
        matching * 2 > packets,
        "only {matching} of {packets} packets matched a rule"
    );
}

/// The kernel answers every case the same way twice: the cases are deterministic and the
/// comparison (with randomised ports) does not see noise. A changed record is reported as
/// a disagreement with a reproducer folder.
#[test]
fn kernel_agrees_with_itself() {
    let _g = lock();
    let mut cases = generate::random_cases(23, 12);
    cases.extend((0..8).map(|i| generate::flow_case(23, i)));
    let out = std::env::temp_dir().join(format!("chainwalk-conformance-{}", std::process::id()));
    let mut agree = 0;
    for case in &cases {
        let first = run_kernel(case).unwrap().records;
        let again = KernelEngine.run(case).unwrap();
        match compare(case, &first, &again) {
            Outcome::Agree => agree += 1,
            Outcome::Disagree(d) => {
                let dir = write_reproducer(&out, case, &first, &again, &d).unwrap();
                panic!(
                    "{}: the kernel answered differently twice (see {}):\n{}",
                    case.name,
                    dir.display(),
                    chainwalk_conformance::compare::diff_text(&d)
                );
            }
        }
    }
    assert_eq!(agree, cases.len());

    // A record changed on purpose is a disagreement, and its reproducer is complete.
    let case = &cases[0];
    let kernel = run_kernel(case).unwrap().records;
    let mut wrong = kernel.clone();
    wrong[0].fate = if wrong[0].fate == Fate::Dropped {
        Fate::Delivered
    } else {
        Fate::Dropped
    };
    wrong[0].steps.pop();
    let Outcome::Disagree(d) = compare(case, &kernel, &wrong) else {
        panic!("a changed record agreed");
    };
    assert!(d.iter().any(|x| x.field == "fate"), "{d:?}");
    let dir = write_reproducer(&out, case, &kernel, &wrong, &d).unwrap();
    for f in [
        "rules",
        "host.yaml",
        "packets.txt",
        "kernel.txt",
        "engine.txt",
        "diff.txt",
    ] {
        let text = std::fs::read_to_string(dir.join(f)).unwrap();
        assert!(!text.is_empty(), "{f} is empty");
    }
    let host = std::fs::read_to_string(dir.join("host.yaml")).unwrap();
    assert_eq!(
        chainwalk_host::kernel::LabHost::from_yaml(&host).unwrap(),
        case.host,
        "the reproducer's host.yaml reads back"
    );
    std::fs::remove_dir_all(&out).unwrap();
}

/// Flows: the answer of a DNATed connection is un-NATed on its way back, and later
/// packets of the flow pass without the nat table.
#[test]
fn flows_are_un_natted_and_bypass_nat() {
    let _g = lock();
    let mut complete = 0;
    let start = Instant::now();
    let n = 20;
    for i in 0..n {
        let case = generate::flow_case(5, i);
        let records = run_kernel(&case)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", case.name, case.rules))
            .records;
        let first = &records[0];
        let dnat = first.steps.iter().any(|s| {
            s.table == "nat"
                && s.chain == "SVC"
                && s.verdict == chainwalk_conformance::Verdict::Accept
        });
        if records.len() < case.packets.len() || !dnat {
            continue;
        }
        complete += 1;
        let d = format!("{}:\n{}", case.name, case.packets_text());
        // The reply leaves towards the client with the service address as its source.
        let reply = &records[1];
        if let Some(h) = &reply.headers {
            assert_eq!(h.src, first.packet.dst, "reply un-DNATed: {d}");
            assert_eq!(h.dst, first.packet.src, "reply un-SNATed: {d}");
            assert_eq!(h.sport.map(|p| p.value()), Some(first.packet.dport), "{d}");
            assert_eq!(h.dport.map(|p| p.value()), Some(first.packet.sport), "{d}");
        }
        // Packets after the first never see the nat table.
        for r in &records[1..] {
            assert!(
                r.steps.iter().all(|s| s.table != "nat"),
                "nat consulted again: {d}\n{r:?}"
            );
        }
        // The second packet of the original direction gets the same translation.
        if let (Some(a), Some(b)) = (&records[0].headers, &records[2].headers) {
            assert_eq!(
                (a.dst, a.dport, a.src, a.sport),
                (b.dst, b.dport, b.src, b.sport),
                "{d}"
            );
        }
    }
    println!(
        "{complete}/{n} flows completed with DNAT in {:?}",
        start.elapsed()
    );
    assert!(
        complete * 2 >= n as usize,
        "only {complete} of {n} flows completed"
    );
}

const SVC_CHAIN: &str = "KUBE-SVC-QV4NJDQ2TL4A6VRO";

/// `-m statistic --mode random --probability 0.5` on the example node: 2,000 SYNs
/// through the kernel split between the two endpoints as 1/2, 1/2 within the Hoeffding
/// bound for a false-failure probability of 1e-6.
#[test]
fn statistic_random_split_on_the_example_node() {
    let _g = lock();
    let yaml = std::fs::read_to_string(testdata().join("example-node/host.yaml")).unwrap();
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let neighbors = [
        Neighbor::new("eth0", ip("192.168.49.1")),
        Neighbor::new("cni0", ip("10.244.0.6")),
        Neighbor::new("cni0", ip("10.244.0.7")),
    ];
    let t = Instant::now();
    let mut lab = Lab::from_yaml(&yaml, &neighbors).unwrap();
    let rules = std::fs::read_to_string(testdata().join("example-node/node.rules")).unwrap();
    lab.restore(&rules, Family::Ipv4).unwrap();
    let setup = t.elapsed();
    // The branches are the service chain's two jumps to endpoint chains, found by text.
    let mut jumps = Vec::new();
    let mut pos = 0;
    for line in rules.lines() {
        if let Some(rest) = line.strip_prefix(&format!("-A {SVC_CHAIN} ")) {
            pos += 1;
            if rest.contains("-j KUBE-SEP-") {
                jumps.push((pos, rest.contains("--probability")));
            }
        }
    }
    assert_eq!(jumps.len(), 2, "{jumps:?}");
    let branches: Vec<RuleRef> = jumps
        .iter()
        .map(|(p, _)| RuleRef::new("nat", SVC_CHAIN, *p))
        .collect();
    let n = 2000;
    let split = kernel_split(
        &lab,
        Family::Ipv4,
        n,
        |i| {
            PacketSpec::tcp_syn(
                SocketAddr::new(ip("192.168.49.1"), 10000 + i as u16),
                "10.100.29.239:80".parse().unwrap(),
                Ingress::Interface("eth0".into()),
            )
        },
        &branches,
    )
    .unwrap();
    let check = check_split(&split.counts, &[0.5, 0.5], 1e-6);
    println!(
        "statistic: lab {setup:?}, {n} packets sent and counted in {:?}; counts {:?}\n{check}",
        split.elapsed, split.counts
    );
    assert!(check.ok, "{check}");
    // A wrong expectation is caught by the same bound.
    assert!(!check_split(&split.counts, &[2.0 / 3.0, 1.0 / 3.0], 1e-6).ok);
}

/// Without root the harness reports an error instead of passing silently.
#[test]
fn errors_are_typed() {
    let e = ConformanceError::Packet {
        index: 3,
        message: "x".into(),
    };
    assert_eq!(e.to_string(), "packet 3: x");
}

/// Three endpoints the way kube-proxy writes them (1/3, then 1/2 of the rest, then the
/// rest): 3,000 packets split 1/3 each within the bound.
#[test]
fn statistic_random_three_way_split() {
    let _g = lock();
    let three = chainwalk_conformance::stats::three_way_case();
    let case = &three.case;
    let chainwalk_conformance::PacketTemplate::Fixed(spec) = &case.packets[0].packet else {
        panic!("fixed packet expected");
    };
    let mut lab = Lab::new(&case.host, &case.neighbors).unwrap();
    lab.restore(&case.rules, Family::Ipv4).unwrap();
    let n = 3000;
    let split = kernel_split(
        &lab,
        Family::Ipv4,
        n,
        |i| {
            let mut p = spec.clone();
            p.sport = 1024 + i as u16;
            p
        },
        &three.leaves,
    )
    .unwrap();
    let third = 1.0 / 3.0;
    let check = check_split(&split.counts, &[third, third, third], 1e-6);
    println!(
        "statistic 3-way: {n} packets in {:?}; {:?}\n{check}",
        split.elapsed, split.counts
    );
    assert!(check.ok, "{check}");
    assert!(!check_split(&split.counts, &[0.5, 0.25, 0.25], 1e-6).ok);
}

/// An engine that is wrong on purpose: it reports every packet that met a MARK rule as
/// dropped.
struct WrongAboutMark;

impl Engine for WrongAboutMark {
    fn name(&self) -> &str {
        "wrong-about-mark"
    }

    fn run(&self, case: &Case) -> Result<Vec<Record>, ConformanceError> {
        let index = chainwalk_conformance::RuleIndex::parse(&case.rules);
        let mut records = KernelEngine.run(case)?;
        for r in &mut records {
            let marked = r.steps.iter().any(|s| match s.at {
                At::Rule(p) => index.target(&s.table, &s.chain, p) == Some("MARK"),
                _ => false,
            });
            if marked {
                r.fate = Fate::Dropped;
            }
        }
        Ok(records)
    }
}

/// A disagreement is shrunk to the packet and the rule that cause it, and the run
/// reports it with a reproducer.
#[test]
fn disagreements_are_shrunk_to_a_minimal_reproducer() {
    let _g = lock();
    let base = generate::random_case(1, 0);
    let up = base.host.interfaces[1].name.clone();
    let gw = base
        .neighbors
        .iter()
        .find(|n| n.interface == up)
        .unwrap()
        .address;
    let node = base.host.interfaces[1].addresses[0]
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let rules = "*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n\
         -A PREROUTING -p udp -j ACCEPT\n-A PREROUTING -p tcp -m tcp --dport 22 -j MARK --set-mark 0x1\n-A INPUT -p tcp -j ACCEPT\nCOMMIT\n\
         *filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 80 -j ACCEPT\n-A INPUT -p icmp -j DROP\nCOMMIT\n";

    let to = |port: u16| SocketAddr::new(node.parse().unwrap(), port);
    let from = SocketAddr::new(gw, 40000);
    let ingress = Ingress::Interface(up.clone());
    let packets = [
        PacketSpec::tcp_syn(from, to(80), ingress.clone()),
        PacketSpec::udp(from, to(53), ingress.clone()),
        PacketSpec::tcp_syn(from, to(22), ingress.clone()),
    ];
    let case = Case {
        name: "wrong-about-mark".into(),
        rules: rules.to_string(),
        packets: packets
            .into_iter()
            .map(|p| chainwalk_conformance::CasePacket {
                flush_conntrack: true,
                packet: chainwalk_conformance::PacketTemplate::Fixed(p),
            })
            .collect(),
        ..base
    };
    let out = std::env::temp_dir().join(format!("chainwalk-shrink-{}", std::process::id()));
    let t = Instant::now();
    let summary = chainwalk_conformance::run_all(
        std::slice::from_ref(&case),
        &WrongAboutMark,
        &out,
        40,
        |_, _| {},
    )
    .unwrap();
    println!("shrinking took {:?}", t.elapsed());
    assert_eq!((summary.agree, summary.disagree), (0, 1));
    let dir = &summary.reproducers[0];
    let rules = std::fs::read_to_string(dir.join("rules")).unwrap();
    let packets = std::fs::read_to_string(dir.join("packets.txt")).unwrap();
    let kept: Vec<&str> = rules.lines().filter(|l| l.starts_with("-A ")).collect();
    assert_eq!(
        kept,
        ["-A PREROUTING -p tcp -m tcp --dport 22 -j MARK --set-mark 0x1"],
        "{rules}"
    );
    assert_eq!(packets.lines().count(), 1, "{packets}");
    assert!(packets.contains(":22 "), "{packets}");
    std::fs::remove_dir_all(&out).unwrap();
}

/// Generated rulesets with random branch probabilities (nested splits included): 2,000
/// packets each, every leaf's share within the bound of its expected probability.
#[test]
fn statistic_random_generated_branches() {
    let _g = lock();
    for seed in 1..=3 {
        let bc = chainwalk_conformance::stats::branch_case(seed);
        let mut lab = Lab::new(&bc.case.host, &bc.case.neighbors).unwrap();
        lab.restore(&bc.case.rules, Family::Ipv4).unwrap();
        let chainwalk_conformance::PacketTemplate::Fixed(spec) = &bc.case.packets[0].packet else {
            panic!("fixed packet expected");
        };
        let split = kernel_split(
            &lab,
            Family::Ipv4,
            2000,
            |i| {
                let mut p = spec.clone();
                p.sport = 1024 + i as u16;
                p
            },
            &bc.leaves,
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", bc.case.rules));
        let check = check_split(&split.counts, &bc.expected, 1e-6);
        println!(
            "branches seed {seed}: {} leaves, 2000 packets in {:?}\n{check}",
            bc.leaves.len(),
            split.elapsed
        );
        assert!(check.ok, "{}\n{check}", bc.case.rules);
    }
}
