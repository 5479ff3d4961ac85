//! Load throughput: parse (and parse + check) of synthetic node rulesets with 100 and
//! 1k Services, reported in bytes per second. (The 10k file is left out while a load
//! costs rules x chains: see bench/RESULTS.md.)

#![allow(missing_docs)]

use chainwalk_kubeproxy::{NodeOptions, synthetic_node};
use chainwalk_netfilter::check::check;
use chainwalk_netfilter::syntax::parse_save;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn load(c: &mut Criterion) {
    let mut g = c.benchmark_group("load");
    g.sample_size(10);
    for services in [100usize, 1_000] {
        let text = match synthetic_node(&NodeOptions {
            services,
            ..NodeOptions::default()
        }) {
            Ok(text) => text,
            Err(e) => {
                eprintln!("{services} services: {e}");
                continue;
            }
        };
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("parse", format!("{services}svc")),
            &text,
            |b, text| b.iter(|| black_box(parse_save(black_box(text), None).diagnostics.len())),
        );
        g.bench_with_input(
            BenchmarkId::new("parse_check", format!("{services}svc")),
            &text,
            |b, text| {
                b.iter(|| {
                    let p = parse_save(black_box(text), None);
                    black_box(check(&p.ruleset).len() + p.diagnostics.len())
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, load);
criterion_main!(benches);
