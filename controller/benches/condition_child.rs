//! What evaluating a measurement's conditions in a child process costs
//! beside evaluating them in-process: one success-rate condition over a
//! Prometheus-shaped result, both sides in one harness, and the ratio
//! printed. Run with `cargo bench -p rollgate-controller --bench
//! condition_child` (the child is the `rollgate-controller` of the same
//! profile).

use std::hint::black_box;
use std::time::Instant;

use expr::Value;
use rollgate_analysis::condition::Conditions;
use rollgate_analysis::isolation::{Evaluator, InProcess};
use rollgate_controller::measure::conditions::ChildEvaluator;

/// Evaluations per side: the child side takes a few milliseconds each.
const ROUNDS: u32 = 200;

fn per_evaluation(evaluator: &dyn Evaluator, conditions: &Conditions, value: &Value) -> f64 {
    let start = Instant::now();
    for _ in 0..ROUNDS {
        let phase = evaluator.assess(black_box(conditions), black_box(value));
        assert!(phase.is_ok(), "{phase:?}");
    }
    start.elapsed().as_secs_f64() / f64::from(ROUNDS)
}

fn main() {
    let conditions = Conditions::new(Some("result[0] >= 0.95"), Some("result[0] < 0.5"));
    let value = Value::Array(vec![Value::Float(0.97)]);
    let child = ChildEvaluator::new(env!("CARGO_BIN_EXE_rollgate-controller"));
    // Warm both: the program's pages in the page cache, the parser's tables.
    per_evaluation(&InProcess, &conditions, &value);
    per_evaluation(&child, &conditions, &value);
    let here = per_evaluation(&InProcess, &conditions, &value);
    let there = per_evaluation(&child, &conditions, &value);
    println!("condition_child: {ROUNDS} evaluations per side");
    println!("  in-process : {:>10.1} µs per evaluation", here * 1e6);
    println!("  child      : {:>10.1} µs per evaluation", there * 1e6);
    println!("  child / in-process: {:.0}×", there / here);
}
