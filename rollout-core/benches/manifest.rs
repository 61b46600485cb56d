//! `manifest::read` is linear in its input: a Rollout of N steps for growing
//! N, a typical manifest, and hostile input refused early (nested brackets,
//! an alias bomb).
//!
//! Run: `cargo bench -p rollout-core --bench manifest`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rollout_core::manifest;

fn steps(n: usize) -> String {
    let mut text = String::from(
        "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: big}\nspec:\n  strategy:\n    canary:\n      steps:\n",
    );
    for i in 0..n {
        text += &format!("      - setWeight: {}\n", i % 100);
    }
    text
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("manifest/steps");
    g.sample_size(10);
    for n in [1_000, 10_000, 100_000, 300_000] {
        let text = steps(n);
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &text, |b, text| {
            b.iter(|| {
                let objects = manifest::read(black_box(text), "bench").unwrap();
                objects[0].rollout().unwrap()
            });
        });
    }
    g.finish();

    let seed = include_str!("../../examples/manifests/seed001-rollout-canary.yaml");
    c.bench_function("manifest/seed001", |b| {
        b.iter(|| {
            manifest::read(black_box(seed), "bench").unwrap()[0]
                .rollout()
                .unwrap()
        });
    });

    let n = 100_000;
    let nested = format!("spec: {}{}\n", "[".repeat(n), "]".repeat(n));
    c.bench_function("manifest/nested-200KB-refused", |b| {
        b.iter(|| manifest::read(black_box(&nested), "bench").unwrap_err());
    });

    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let p = format!("*a{}", i - 1);
        bomb += &format!("a{i}: &a{i} [{}]\n", vec![p; 10].join(", "));
    }
    c.bench_function("manifest/alias-bomb-refused", |b| {
        b.iter(|| manifest::read(black_box(&bomb), "bench").unwrap_err());
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
