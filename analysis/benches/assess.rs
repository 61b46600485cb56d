//! Assessments of one measurement per second: a success-rate condition over
//! a Prometheus-shaped result, evaluated and recorded into a metric's
//! result, as a controller does for every measurement it takes.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use expr::Value;
use rollgate_analysis::condition::Conditions;

fn assess(c: &mut Criterion) {
    let conditions = Conditions::new(Some("result[0] >= 0.95"), Some("result[0] < 0.5"));
    let value = Value::Array(vec![Value::Float(0.97)]);
    let mut group = c.benchmark_group("assess");
    group.throughput(Throughput::Elements(1));
    group.bench_function("condition", |b| {
        b.iter(|| conditions.assess(std::hint::black_box(&value)))
    });
    group.finish();
}

criterion_group!(benches, assess);
criterion_main!(benches);
