//! Rendering benchmark: a full sync of synthetic clusters (1k, 10k and 50k Services
//! with 10 endpoints each), from parsed objects to restore text; plus a partial sync
//! after one EndpointSlice changed in the 10k cluster.

#![allow(missing_docs, clippy::expect_used)]

use chainwalk_kubeproxy::{Proxier, ProxyConfig, synthetic_cluster};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn config() -> ProxyConfig {
    ProxyConfig {
        node_name: "node-0".into(),
        node_ip: "192.168.0.10".parse().ok(),
        local_detector: chainwalk_kubeproxy::LocalDetector::Cidr(
            "10.0.0.0/8".parse().expect("cidr"),
        ),
        ..ProxyConfig::default()
    }
}

fn full_sync(c: &mut Criterion) {
    let mut g = c.benchmark_group("full_sync");
    g.sample_size(10);
    for n in [1_000usize, 10_000, 50_000] {
        let cluster = synthetic_cluster(n, 10, 42);
        g.bench_with_input(
            BenchmarkId::from_parameter(format!("{n}x10")),
            &cluster,
            |b, cluster| {
                b.iter(|| {
                    let mut p = Proxier::new(config());
                    black_box(p.sync(black_box(cluster)).restore.len())
                })
            },
        );
    }
    g.finish();
}

fn partial_sync(c: &mut Criterion) {
    let mut g = c.benchmark_group("partial_sync");
    g.sample_size(10);
    let cluster = synthetic_cluster(10_000, 10, 42);
    let mut changed = cluster.clone();
    if let Some(s) = changed.endpoint_slices.values_mut().next()
        && let Some(e) = s.endpoints.first_mut()
    {
        e.addresses = vec!["10.250.0.1".into()];
    }
    g.bench_function("10000x10_one_slice_changed", |b| {
        b.iter_batched(
            || {
                let mut p = Proxier::new(config());
                p.sync(&cluster);
                p
            },
            |mut p| black_box(p.sync(black_box(&changed)).restore.len()),
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, full_sync, partial_sync);
criterion_main!(benches);
