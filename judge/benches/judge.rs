//! The judge on 2 × 10,000 samples (log-normal latencies, the canary 10 % slower).
//!
//! Two figures: wall-clock time, and the time the benchmark's thread spent on
//! a CPU (from `/proc/thread-self/schedstat`), which a machine busy with other
//! work does not inflate.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, LogNormal};
use rollgate_judge::{JudgeConfig, Samples, judge};

/// Nanoseconds this thread has run on a CPU, when the kernel tells.
fn on_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn bench(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    let latency = LogNormal::new(0.1f64.ln(), 0.2).expect("valid parameters");
    let baseline: Vec<f64> = (0..10_000).map(|_| latency.sample(&mut rng)).collect();
    let canary: Vec<f64> = (0..10_000)
        .map(|_| 1.1 * latency.sample(&mut rng))
        .collect();
    let config = JudgeConfig::from_value(
        serde_json::json!({
            "metrics": [{"name": "latency", "direction": "increase"}],
            "scoreThresholds": {"marginal": 50, "pass": 75}
        }),
        "bench",
    )
    .expect("valid configuration");
    let samples = [Samples {
        metric: "latency",
        canary: &canary,
        baseline: &baseline,
    }];
    c.bench_function("judge 2 x 10,000 samples", |b| {
        b.iter(|| judge(&config, &samples).expect("judged"))
    });
    if on_cpu_ns().is_some() {
        c.bench_function("judge 2 x 10,000 samples, on-CPU time", |b| {
            b.iter_custom(|iterations| {
                let start = on_cpu_ns().unwrap_or(0);
                let wall = Instant::now();
                for _ in 0..iterations {
                    black_box(judge(&config, &samples).expect("judged"));
                }
                match on_cpu_ns() {
                    Some(end) => Duration::from_nanos(end.saturating_sub(start)),
                    None => wall.elapsed(),
                }
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
