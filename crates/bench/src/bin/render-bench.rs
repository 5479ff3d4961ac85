//! Times kube-proxy full syncs of synthetic clusters and prints `key=value` pairs:
//!
//! `render-bench SERVICES [ENDPOINTS] [RUNS]` (defaults 10 endpoints, 5 runs). Each
//! run renders the cluster with a fresh proxier on the synthetic node's settings and
//! drops it, inside the timed region. Also times a partial sync after one
//! EndpointSlice changed.

use chainwalk_bench::median;
use chainwalk_kubeproxy::{Proxier, synthetic_cluster, synthetic_node_config};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut num = |d: usize| args.next().and_then(|a| a.parse().ok()).unwrap_or(d);
    let services = num(10_000);
    let endpoints = num(10);
    let runs = num(5).max(1);
    let cluster = synthetic_cluster(services, endpoints, 42);
    let mut full = Vec::new();
    let mut bytes = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let mut p = Proxier::new(synthetic_node_config());
        bytes = p.sync(&cluster).restore.len();
        drop(p);
        full.push(t.elapsed());
    }
    let mut changed = cluster.clone();
    if let Some(s) = changed.endpoint_slices.values_mut().next()
        && let Some(e) = s.endpoints.first_mut()
    {
        e.addresses = vec!["10.250.0.1".into()];
    }
    let mut partial = Vec::new();
    let mut partial_bytes = 0;
    for _ in 0..runs {
        let mut p = Proxier::new(synthetic_node_config());
        p.sync(&cluster);
        let t = Instant::now();
        partial_bytes = p.sync(&changed).restore.len();
        partial.push(t.elapsed());
    }
    let min = full.iter().min().copied().unwrap_or_default();
    println!(
        "services={services} endpoints={endpoints} runs={runs} bytes={bytes} full_ms={:.1} full_min_ms={:.1} \
         partial_ms={:.1} partial_bytes={partial_bytes}",
        median(&full).as_secs_f64() * 1e3,
        min.as_secs_f64() * 1e3,
        median(&partial).as_secs_f64() * 1e3,
    );
}
