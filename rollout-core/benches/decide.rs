//! `decide()` on a 20-step traffic-routed canary, mid-update and idle: on a
//! Rollout validated once (`ValidRollout::decide`, as a controller runs an
//! unchanged spec) and validated on every call (`decide(&Rollout, ..)`);
//! and a blue-green rollout paused before its switch.
//!
//! Run: `cargo bench -p rollout-core --bench decide`. On a machine shared
//! with other work, `ROLLGATE_BENCH_CLOCK=cpu` times the thread's on-CPU
//! time (Linux `/proc/thread-self/schedstat`) instead of the wall clock, so
//! waiting for a core does not count; on an idle machine the two agree.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Bencher, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use rollout_core::sim::Sim;
use rollout_core::{Rollout, Time, ValidRollout, decide};

/// A 20-step canary: ten weights with pauses between them, header and mirror routes.
fn twenty_step_rollout() -> Rollout {
    let mut steps = Vec::new();
    for i in 1..=9 {
        steps.push(serde_json::json!({"setWeight": i * 10}));
        steps.push(serde_json::json!({"pause": {"duration": "1m"}}));
    }
    steps.push(serde_json::json!({"setHeaderRoute": {"name": "beta",
        "match": [{"headerName": "x-beta", "headerValue": {"exact": "yes"}}]}}));
    steps.push(serde_json::json!({"setWeight": 100}));
    Rollout::from_value(
        serde_json::json!({
            "metadata": {"name": "web", "namespace": "default", "generation": 3},
            "spec": {"replicas": 10,
                "template": {"spec": {"containers": [{"name": "web", "image": "web:1"}]}},
                "strategy": {"canary": {
                    "canaryService": "web-canary", "stableService": "web-stable",
                    "trafficRouting": {"managedRoutes": [{"name": "beta"}],
                        "plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "web"}}},
                    "steps": steps}}}
        }),
        "bench",
    )
    .expect("a valid rollout")
}

/// A blue-green rollout of 10 replicas paused before the switch
/// (`autoPromotionEnabled: false`), its preview fully up.
fn blue_green_paused() -> Sim {
    let rollout = Rollout::from_value(
        serde_json::json!({"metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": 10,
                "template": {"spec": {"containers": [{"name": "web", "image": "web:1"}]}},
                "strategy": {"blueGreen": {"activeService": "web", "previewService": "web-preview",
                    "autoPromotionEnabled": false}}}}),
        "bench",
    )
    .expect("a valid rollout");
    let mut sim = Sim::new(rollout, Time::from_unix_seconds(1_790_000_000));
    sim.settle();
    sim.set_image("web:2");
    sim.settle();
    sim
}

/// The rollout as a controller reads it: through JSON from the API server.
fn as_read(sim: &Sim) -> Rollout {
    let json = serde_json::to_string(&sim.rollout).expect("serializable");
    Rollout::from_json(&json, "bench").expect("round-trips")
}

/// A simulated rollout driven to step `index` of a new revision.
fn at_step(index: i32) -> Sim {
    let mut sim = Sim::new(
        twenty_step_rollout(),
        Time::from_unix_seconds(1_790_000_000),
    );
    sim.settle();
    sim.set_image("web:2");
    sim.run_until(|s| s.step_index() == Some(index))
        .expect("valid");
    sim
}

/// This thread's on-CPU time so far (scheduler statistics, nanoseconds).
fn on_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// Times `routine` by the wall clock, or by on-CPU time when asked to.
fn measure<O>(b: &mut Bencher<'_>, cpu_clock: bool, mut routine: impl FnMut() -> O) {
    if !cpu_clock {
        return b.iter(routine);
    }
    b.iter_custom(|iters| {
        let start = on_cpu().unwrap_or_default();
        for _ in 0..iters {
            black_box(routine());
        }
        on_cpu().unwrap_or_default().saturating_sub(start)
    });
}

fn bench(c: &mut Criterion) {
    let cpu_clock = std::env::var("ROLLGATE_BENCH_CLOCK").is_ok_and(|v| v == "cpu");
    assert!(
        !cpu_clock || on_cpu().is_some(),
        "ROLLGATE_BENCH_CLOCK=cpu needs /proc/thread-self/schedstat (Linux)"
    );
    let mut group = c.benchmark_group("decide");
    group.throughput(Throughput::Elements(1));
    if cpu_clock {
        // The scheduler's count moves in ticks: time few, long samples.
        group.sampling_mode(SamplingMode::Flat).sample_size(20);
    }

    let mut done = at_step(7);
    done.promote();
    done.settle();
    for (case, sim) in [
        ("mid-update (pause at 40%)", at_step(7)),
        ("idle after promotion", done),
    ] {
        let (rollout, observed, now) = (as_read(&sim), sim.observe(), sim.now);
        let valid = ValidRollout::new(rollout.clone()).expect("valid");
        group.bench_function(format!("20-step canary, {case}"), |b| {
            measure(b, cpu_clock, || {
                black_box(&valid).decide(black_box(&observed), black_box(now))
            })
        });
        group.bench_function(
            format!("20-step canary, {case}, validating each call"),
            |b| {
                measure(b, cpu_clock, || {
                    decide(black_box(&rollout), black_box(&observed), black_box(now))
                })
            },
        );
    }
    let sim = blue_green_paused();
    let (rollout, observed, now) = (as_read(&sim), sim.observe(), sim.now);
    let valid = ValidRollout::new(rollout).expect("valid");
    group.bench_function("blue-green, paused before the switch", |b| {
        measure(b, cpu_clock, || {
            black_box(&valid).decide(black_box(&observed), black_box(now))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
