//! Trace throughput on KUBE-SERVICES-shaped rulesets of 100 to 50,000 services: the indexed
//! walk (`Simulator::new`) against the reference walk (`Simulator::reference`).
//!
//! `cargo bench -p chainwalk-netfilter --bench trace`; `CHAINWALK_BENCH_SIZES=100,10000` picks
//! the sizes, `CHAINWALK_BENCH_ENDPOINTS=10` the endpoints per service (default 1).
//! `CHAINWALK_BENCH_LOOP=N` skips criterion and traces N packets per size in a plain loop
//! (the reference walk fewer on large rulesets), printing `key=value` figures: packets/s by
//! the clock and per CPU-second of the thread (`/proc/thread-self/schedstat`), and
//! outcomes/s; `CHAINWALK_BENCH_ROUNDS=R` repeats the measurement of every size R times, in
//! turn, and prints medians; `bench/compare.sh` runs it. Each trace is handed back with
//! `Simulator::recycle` once counted, as `chainwalk trace --batch` does.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::time::Duration;

use chainwalk_netfilter::eval::Simulator;
use chainwalk_netfilter::host::Host;
use chainwalk_netfilter::model::Ruleset;
use chainwalk_netfilter::packet::{PacketSpec, parse_packet_line};
use chainwalk_netfilter::syntax::parse_save;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};

const HOST: &str = "forwarding: true
interfaces:
  - name: eth0
    addresses: [10.0.0.2/24]
  - name: cni0
    addresses: [10.200.0.1/14]
routes:
  - to: default
    via: 10.0.0.1
    dev: eth0
";

fn service_ip(i: usize) -> String {
    format!("10.96.{}.{}", i / 250, i % 250 + 1)
}

fn endpoint_ip(i: usize, e: usize) -> String {
    let n = i * 4 + e;
    format!("10.{}.{}.{}", 200 + n / 50_000, n / 250 % 200, n % 250 + 2)
}

/// The nat and filter tables kube-proxy writes for `services` ClusterIP services of
/// `endpoints` endpoints each (the rules that matter for the walk: one KUBE-SERVICES rule per
/// service, masquerade marking, the random choice among endpoints, DNAT).
fn kube_rules(services: usize, endpoints: usize) -> String {
    let mut s = String::from(
        "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         :POSTROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-NODEPORTS - [0:0]\n\
         :KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n",
    );
    for i in 0..services {
        writeln!(s, ":KUBE-SVC-{i} - [0:0]").unwrap();
        for e in 0..endpoints {
            writeln!(s, ":KUBE-SEP-{i}-{e} - [0:0]").unwrap();
        }
    }
    s.push_str(
        "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
         -A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
         -A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n\
         -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n\
         -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n\
         -A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0\n\
         -A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n",
    );
    for i in 0..services {
        let ip = service_ip(i);
        writeln!(
            s,
            "-A KUBE-SERVICES -d {ip}/32 -p tcp -m comment --comment \"ns{i}/svc{i}:http cluster IP\" -m tcp --dport 80 -j KUBE-SVC-{i}"
        )
        .unwrap();
        writeln!(
            s,
            "-A KUBE-SVC-{i} ! -s 10.200.0.0/14 -d {ip}/32 -p tcp -m comment --comment \"ns{i}/svc{i}:http cluster IP\" -m tcp --dport 80 -j KUBE-MARK-MASQ"
        )
        .unwrap();
        for e in 0..endpoints {
            let left = endpoints - e;
            let ep = endpoint_ip(i, e);
            if left > 1 {
                writeln!(
                    s,
                    "-A KUBE-SVC-{i} -m comment --comment \"ns{i}/svc{i}:http -> {ep}:8080\" -m statistic --mode random --probability {:.11} -j KUBE-SEP-{i}-{e}",
                    1.0 / left as f64
                )
                .unwrap();
            } else {
                writeln!(
                    s,
                    "-A KUBE-SVC-{i} -m comment --comment \"ns{i}/svc{i}:http -> {ep}:8080\" -j KUBE-SEP-{i}-{e}"
                )
                .unwrap();
            }
            writeln!(
                s,
                "-A KUBE-SEP-{i}-{e} -s {ep}/32 -m comment --comment \"ns{i}/svc{i}:http\" -j KUBE-MARK-MASQ\n\
                 -A KUBE-SEP-{i}-{e} -p tcp -m comment --comment \"ns{i}/svc{i}:http\" -m tcp -j DNAT --to-destination {ep}:8080"
            )
            .unwrap();
        }
    }
    s.push_str(
        "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\nCOMMIT\n",
    );
    s.push_str(
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:KUBE-FORWARD - [0:0]\n\
         -A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD\n\
         -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n\
         -A KUBE-FORWARD -m mark --mark 0x4000/0x4000 -j ACCEPT\nCOMMIT\n",
    );
    s
}

/// One packet to each of `n` services (one-packet sequences, kept side by side as a batch
/// read into memory would keep them).
fn packets(services: usize, n: usize) -> Vec<PacketSpec> {
    // A fixed-step walk over the services, so packets reach the whole chain.
    (0..n)
        .map(|k| {
            let i = (k * 7919 + 13) % services;
            let mut specs = parse_packet_line(&format!(
                "-p tcp -s 10.0.0.9 --sport {} -d {} --dport 80 -i eth0",
                1024 + k,
                service_ip(i)
            ))
            .unwrap();
            assert_eq!(specs.len(), 1);
            specs.remove(0)
        })
        .collect()
}

fn sizes() -> Vec<usize> {
    std::env::var("CHAINWALK_BENCH_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![100, 1_000, 10_000, 50_000])
}

fn endpoints() -> usize {
    std::env::var("CHAINWALK_BENCH_ENDPOINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

fn load(services: usize) -> Ruleset {
    let parsed = parse_save(&kube_rules(services, endpoints()), None);
    assert!(!parsed.has_errors(), "{:?}", parsed.diagnostics.first());
    parsed.ruleset
}

fn bench(c: &mut Criterion) {
    let host = Host::from_yaml(HOST).unwrap();
    let mut g = c.benchmark_group("trace");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));
    for n in sizes() {
        let rules = load(n);
        let pkts = packets(n, 1024);
        let fast = Simulator::new(&rules, &host);
        let reference = Simulator::reference(&rules, &host);
        for (name, sim) in [("indexed", &fast), ("reference", &reference)] {
            g.bench_with_input(BenchmarkId::new(name, n), &pkts, |b, pkts| {
                let mut k = 0usize;
                b.iter(|| {
                    k = (k + 1) % pkts.len();
                    let t = sim.trace(std::slice::from_ref(&pkts[k])).unwrap();
                    let n = t.outcomes.len();
                    sim.recycle(t);
                    n
                })
            });
        }
    }
    g.finish();
}

/// One walk's figures in one round.
#[derive(Clone, Copy)]
struct Round {
    packets: usize,
    outcomes: usize,
    secs: f64,
    cpu_secs: f64,
}

/// The median of some figures.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// `CHAINWALK_BENCH_LOOP=N`: trace N packets per size and walk, print packets/s, and skip
/// criterion (for profilers: `valgrind --tool=callgrind` on the bench binary).
/// `CHAINWALK_BENCH_ROUNDS=R` (default 1) measures R rounds; each round measures every size
/// once, in turn, so a busy spell of a shared machine falls on all sizes alike; the figures
/// printed are the medians over the rounds.
fn plain_loop(n: usize) {
    let host = Host::from_yaml(HOST).unwrap();
    let rounds: usize = std::env::var("CHAINWALK_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let only_indexed = std::env::var_os("CHAINWALK_BENCH_ONLY_INDEXED").is_some();
    let loaded: Vec<(usize, Ruleset, Vec<PacketSpec>)> = sizes()
        .into_iter()
        .map(|size| (size, load(size), packets(size, 1024)))
        .collect();
    let sims: Vec<(Simulator<'_>, Simulator<'_>)> = loaded
        .iter()
        .map(|(_, rules, _)| {
            (
                Simulator::new(rules, &host),
                Simulator::reference(rules, &host),
            )
        })
        .collect();
    let names: &[&str] = if only_indexed {
        &["indexed"]
    } else {
        &["indexed", "reference"]
    };
    // results[size][walk] = one Round per round
    let mut results: Vec<Vec<Vec<Round>>> = vec![vec![Vec::new(); names.len()]; loaded.len()];
    for _ in 0..rounds {
        for (si, ((size, _, pkts), (fast, reference))) in loaded.iter().zip(&sims).enumerate() {
            for (wi, name) in names.iter().enumerate() {
                let sim = if *name == "reference" {
                    reference
                } else {
                    fast
                };
                // The reference walk of a large ruleset is slow: fewer packets.
                let n = if *name == "reference" {
                    (n * 100 / size.max(&100)).max(200).min(n)
                } else {
                    n
                };
                let start = std::time::Instant::now();
                let cpu0 = thread_cpu_ns();
                let mut outcomes = 0usize;
                for k in 0..n {
                    let packet = std::slice::from_ref(&pkts[k % pkts.len()]);
                    let t = sim.trace(packet).unwrap();
                    outcomes += t.outcomes.len();
                    sim.recycle(t);
                }
                let secs = start.elapsed().as_secs_f64();
                let cpu_secs = match (cpu0, thread_cpu_ns()) {
                    (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e9,
                    _ => secs,
                };
                results[si][wi].push(Round {
                    packets: n,
                    outcomes,
                    secs,
                    cpu_secs,
                });
            }
        }
    }
    for (si, (size, _, _)) in loaded.iter().enumerate() {
        for (wi, name) in names.iter().enumerate() {
            let rs = &results[si][wi];
            let pps = median(rs.iter().map(|r| r.packets as f64 / r.secs).collect());
            let cpu = median(rs.iter().map(|r| r.packets as f64 / r.cpu_secs).collect());
            let ops = median(rs.iter().map(|r| r.outcomes as f64 / r.secs).collect());
            let r0 = rs.first().copied().unwrap();
            println!(
                "{name:>9} services={size} endpoints={} packets={} rounds={} secs={:.3} packets_per_s={pps:.0} \
                 packets_per_cpu_s={cpu:.0} outcomes={} outcomes_per_s={ops:.0}",
                endpoints(),
                r0.packets,
                rs.len(),
                r0.secs,
                r0.outcomes,
            );
        }
    }
}

/// The CPU time this thread has run, in nanoseconds (Linux: `/proc/thread-self/schedstat`),
/// so that a loaded machine's waits do not count.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

criterion_group!(benches, bench);

fn main() {
    match std::env::var("CHAINWALK_BENCH_LOOP")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        Some(n) => plain_loop(n),
        None => {
            benches();
            Criterion::default().configure_from_args().final_summary();
        }
    }
}
