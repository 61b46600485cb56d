//! Assessments of one measurement per second: a success-rate condition
//! over a Prometheus-shaped result (`result[0]`), evaluated alone, and
//! then recorded into the metric's result and the metric's phase assessed,
//! as a controller does for each measurement it takes.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use expr::Value;
use rollgate_analysis::assess::{Outcome, metric_phase, record};
use rollgate_analysis::condition::Conditions;
use rollgate_analysis::evaluate::DEFAULT_MEASUREMENT_RETENTION;
use rollgate_analysis::isolation::InProcess;
use rollgate_analysis::types::{Metric, MetricResult};
use rollout_core::Time;

fn assess(c: &mut Criterion) {
    let metric: Metric = serde_json::from_value(serde_json::json!({
        "name": "success-rate", "interval": "1m", "failureLimit": 3,
        "successCondition": "result[0] >= 0.95", "failureCondition": "result[0] < 0.5",
        "provider": {"prometheus": {"address": "http://127.0.0.1:9090", "query": "up"}}}))
    .expect("the bench's metric reads");
    let conditions = Conditions::of(&metric);
    let value = Value::Array(vec![Value::Float(0.97)]);
    let now: Time = "2026-12-01T10:00:00Z".parse().expect("a time");

    let mut group = c.benchmark_group("assess");
    group.throughput(Throughput::Elements(1));
    group.bench_function("condition", |b| {
        b.iter(|| conditions.assess(black_box(&value)))
    });
    let mut result = MetricResult {
        name: metric.name.clone(),
        ..MetricResult::default()
    };
    group.bench_function("record_and_assess", |b| {
        b.iter(|| {
            if result.measurements.len() >= DEFAULT_MEASUREMENT_RETENTION {
                result.measurements.clear();
            }
            let outcome = Outcome::Value {
                result: value.clone(),
                text: "[0.97]".to_owned(),
            };
            record(
                &mut result,
                &conditions,
                &InProcess,
                black_box(outcome),
                now,
                now,
            );
            metric_phase(&metric, &result, false)
        })
    });
    group.finish();
}

criterion_group!(benches, assess);
criterion_main!(benches);
