//! The judge on 2 × 10,000 samples (log-normal latencies, the canary 10 % slower).

use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, LogNormal};
use rollgate_judge::{JudgeConfig, Samples, judge};

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
}

criterion_group!(benches, bench);
criterion_main!(benches);
