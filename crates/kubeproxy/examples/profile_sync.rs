//! Times one full sync of a synthetic cluster (size from the first argument).
fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let cluster = chainwalk_kubeproxy::synthetic_cluster(n, 10, 42);
    let cfg = chainwalk_kubeproxy::ProxyConfig {
        node_name: "node-0".into(),
        ..Default::default()
    };
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let mut p = chainwalk_kubeproxy::Proxier::new(cfg.clone());
        let out = p.sync(&cluster);
        println!("{n}x10: {:?} ({} bytes)", t.elapsed(), out.restore.len());
    }
}
