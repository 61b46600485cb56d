//! Metric conditions evaluated in a child `rollgate-controller` (the
//! default, `--condition-evaluation=child`): the same phases and messages as
//! in-process, and a condition that builds without bound or loops ends its
//! child alone, as an error naming the limit it reached, while the next
//! evaluation goes on.

use std::time::Duration;

use expr::Value;
use rollgate_analysis::condition::Conditions;
use rollgate_analysis::isolation::{Evaluator, InProcess};
use rollgate_controller::measure::conditions::ChildEvaluator;
use rollout_core::AnalysisPhase;

/// Children with 64 MiB and `seconds` (a loaded machine starts a debug
/// build slowly: the tests that are not about time give it plenty).
fn child(seconds: u64) -> ChildEvaluator {
    ChildEvaluator::new(env!("CARGO_BIN_EXE_rollgate-controller"))
        .with_limits(64 << 20, Duration::from_secs(seconds))
}

/// A thousand numbers: what a range query gives.
fn thousand() -> Value {
    Value::Array((0..1000).map(Value::Integer).collect())
}

#[test]
fn a_child_answers_as_the_controller_itself_would() {
    let child = child(60);
    let vector = Value::Array(vec![Value::Float(0.97), Value::Float(f64::NAN)]);
    let cases = [
        (Some("result[0] >= 0.95"), None, vector.clone()),
        (
            Some("result[0] >= 0.99"),
            Some("result[0] < 0.9"),
            vector.clone(),
        ),
        (Some("isNaN(result[1])"), None, vector.clone()),
        (None, Some("result[0] < 0.5"), vector),
        (Some("result > "), None, Value::Integer(1)),
        (Some("result"), None, Value::Integer(1)),
        (Some("len(result) > 0"), None, Value::Nil),
        (None, None, Value::Nil),
    ];
    for (success, failure, value) in cases {
        let conditions = Conditions::new(success, failure);
        assert_eq!(
            child.assess(&conditions, &value),
            InProcess.assess(&conditions, &value),
            "{success:?} {failure:?} {value:?}"
        );
    }
}

#[test]
fn a_condition_past_the_memory_limit_ends_its_child_only() {
    let child = child(60);
    // A million strings of 1,000 bytes: a gigabyte.
    let bomb = Conditions::new(
        Some(r#"len(map(result, {map(result, {repeat("x", 1000)})})) > 0"#),
        None,
    );
    assert_eq!(
        child.assess(&bomb, &thousand()),
        Err(format!(
            "could not evaluate {}: the evaluation needed more than its memory limit of 64 MiB",
            bomb.describe()
        ))
    );
    let fine = Conditions::new(Some("len(result) == 1000"), None);
    assert_eq!(
        child.assess(&fine, &thousand()),
        Ok(AnalysisPhase::Successful)
    );
}

#[test]
fn a_condition_past_the_time_limit_ends_its_child_only() {
    let two_seconds = child(2);
    // A billion comparisons, no memory.
    let endless = Conditions::new(
        Some("all(result, {all(result, {all(result, {# >= 0})})})"),
        None,
    );
    assert_eq!(
        two_seconds.assess(&endless, &thousand()),
        Err(format!(
            "could not evaluate {}: the evaluation took longer than its limit of 2s",
            endless.describe()
        ))
    );
    assert_eq!(
        child(60).assess(&Conditions::new(Some("result[0] == 0"), None), &thousand()),
        Ok(AnalysisPhase::Successful)
    );
}

#[test]
fn a_program_that_cannot_start_is_an_error_of_the_measurement() {
    let missing = ChildEvaluator::new("/nonexistent/rollgate-controller");
    let conditions = Conditions::new(Some("result > 1"), None);
    let error = missing.assess(&conditions, &Value::Integer(2)).unwrap_err();
    assert!(
        error.starts_with(
            "could not evaluate successCondition \"result > 1\": the condition evaluator could not be started: "
        ),
        "{error}"
    );
}
