//! Times full syncs of a synthetic cluster: `profile_sync [SERVICES] [RUNS]`
//! (defaults 10000 and 5; 10 endpoints per Service). Prints every run, then the
//! minimum and median; the proxier is dropped inside the timed region, as a
//! one-shot render would.
fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let cluster = chainwalk_kubeproxy::synthetic_cluster(n, 10, 42);
    let cfg = chainwalk_kubeproxy::ProxyConfig {
        node_name: "node-0".into(),
        ..Default::default()
    };
    let mut times = Vec::new();
    for _ in 0..runs.max(1) {
        let t = std::time::Instant::now();
        let mut p = chainwalk_kubeproxy::Proxier::new(cfg.clone());
        let len = p.sync(&cluster).restore.len();
        drop(p);
        let d = t.elapsed();
        println!("{n}x10: {d:?} ({len} bytes)");
        times.push(d);
    }
    times.sort();
    let min = times.first().copied().unwrap_or_default();
    let median = times.get(times.len() / 2).copied().unwrap_or_default();
    println!("min {min:?} median {median:?}");
}
