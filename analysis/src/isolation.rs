//! Where a metric's conditions are evaluated, and the request and answer
//! that carry an evaluation to another process.
//!
//! expr-lang keeps no memory budget (Argo's expression language stops at
//! one): a condition that passes every limit of [`crate::condition`] can
//! still build values without bound from a large measured value, such as
//! `map(result, {map(result, {...})})`. A controller that evaluates conditions
//! from templates it does not own runs them elsewhere, in a process with a
//! memory and time limit that dies alone: the [`Evaluator`] it passes to
//! [`record_measurement`](crate::evaluate::record_measurement) writes a
//! [`request`], the child answers it with [`answer`], and the parent reads
//! the phase with [`read_answer`]. Nothing here does I/O; the controller
//! does the process.
//!
//! The request is JSON that keeps what plain JSON would lose of a value:
//! integers stay integers, floats (NaN and infinities among them) are sent
//! as their bits, and maps keep their order.
//!
//! ```
//! use expr::Value;
//! use rollgate_analysis::condition::Conditions;
//! use rollgate_analysis::isolation::{answer, read_answer, request};
//! use rollout_core::AnalysisPhase;
//! let conditions = Conditions::new(Some("isNaN(result[0])"), None);
//! let sent = request(&conditions, &Value::Array(vec![Value::Float(f64::NAN)]));
//! // ... in the child:
//! let answered = answer(&sent);
//! // ... back in the parent:
//! assert_eq!(read_answer(&answered), Ok(AnalysisPhase::Successful));
//! ```

use expr::Value;
use rollout_core::AnalysisPhase;
use serde_json::{Map, json};

use crate::condition::{ConditionKind, Conditions};

/// Evaluates a metric's conditions for one measured value.
pub trait Evaluator: Send + Sync {
    /// The phase of `result` against `conditions`, as
    /// [`Conditions::assess`] gives it; `Err` holds the measurement's
    /// message.
    fn assess(&self, conditions: &Conditions, result: &Value) -> Result<AnalysisPhase, String>;
}

/// Evaluates in this process and thread ([`Conditions::assess`]): for
/// conditions the caller trusts, tests and tools.
#[derive(Debug, Clone, Copy, Default)]
pub struct InProcess;

impl Evaluator for InProcess {
    fn assess(&self, conditions: &Conditions, result: &Value) -> Result<AnalysisPhase, String> {
        conditions.assess(result)
    }
}

/// The request for an evaluation elsewhere: the conditions as written and
/// the value.
pub fn request(conditions: &Conditions, result: &Value) -> Vec<u8> {
    json!({
        "success": conditions.text(ConditionKind::Success),
        "failure": conditions.text(ConditionKind::Failure),
        "result": encode(result),
    })
    .to_string()
    .into_bytes()
}

/// The child's side: the answer to a [`request`], the phase or the
/// measurement's message. A request that cannot be read is answered with
/// an error naming what was wrong.
pub fn answer(request: &[u8]) -> Vec<u8> {
    let outcome = serde_json::from_slice::<serde_json::Value>(request)
        .map_err(|e| format!("the evaluation request is not JSON: {e}"))
        .and_then(|r| {
            let text = |field: &str| r[field].as_str().map(str::to_owned);
            let result = decode(&r["result"])?;
            Conditions::new(text("success").as_deref(), text("failure").as_deref()).assess(&result)
        });
    match outcome {
        Ok(phase) => json!({"phase": phase.as_str()}),
        Err(message) => json!({"error": message}),
    }
    .to_string()
    .into_bytes()
}

/// The parent's side: the phase or message of an [`answer`].
///
/// # Errors
///
/// The measurement's message: the conditions' own, or that the answer
/// could not be read.
pub fn read_answer(answer: &[u8]) -> Result<AnalysisPhase, String> {
    let unreadable = || "the condition evaluator gave an answer that cannot be read".to_owned();
    let answer: serde_json::Value = serde_json::from_slice(answer).map_err(|_| unreadable())?;
    if let Some(message) = answer["error"].as_str() {
        return Err(message.to_owned());
    }
    answer["phase"]
        .as_str()
        .and_then(crate::types::parse_phase)
        .ok_or_else(unreadable)
}

/// A value as JSON: every JSON object is one tagged value: a float as
/// `{"f": bits}`, a map as `{"m": [[key, value], ...]}`, a map with keys of
/// any kind as `{"k": [[key, value], ...]}`, bytes as `{"b": [...]}`.
fn encode(value: &Value) -> serde_json::Value {
    match value {
        Value::Nil => serde_json::Value::Null,
        Value::Bool(b) => json!(b),
        Value::Integer(i) => json!(i),
        Value::Float(f) => json!({"f": f.to_bits()}),
        Value::String(s) => json!(s),
        Value::Bytes(bytes) => json!({"b": bytes}),
        Value::Array(items) => items.iter().map(encode).collect(),
        Value::Map(map) => {
            json!({"m": map.iter().map(|(k, v)| json!([k, encode(v)])).collect::<Vec<_>>()})
        }
        Value::KeyedMap(map) => {
            json!({"k": map.iter().map(|(k, v)| json!([encode(k), encode(v)])).collect::<Vec<_>>()})
        }
        // Times and durations (expr-lang's `temporal` feature) come from no
        // measured value: they cross as their text.
        #[allow(unreachable_patterns)]
        other => json!(other.to_string()),
    }
}

/// The value of [`encode`]'s JSON.
fn decode(json: &serde_json::Value) -> Result<Value, String> {
    let bad = || "the evaluation request holds a value that cannot be read".to_owned();
    Ok(match json {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => Value::Integer(n.as_i64().ok_or_else(bad)?),
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(items) => {
            Value::Array(items.iter().map(decode).collect::<Result<_, _>>()?)
        }
        serde_json::Value::Object(object) => decode_tagged(object).ok_or_else(bad)?,
    })
}

/// A tagged value of [`encode`]; `None` when the object is not one.
fn decode_tagged(object: &Map<String, serde_json::Value>) -> Option<Value> {
    let [(tag, inner)] = object.iter().collect::<Vec<_>>()[..] else {
        return None;
    };
    let pairs = || {
        inner
            .as_array()?
            .iter()
            .map(|pair| match pair.as_array()?.as_slice() {
                [k, v] => Some((k, decode(v).ok()?)),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
    };
    Some(match tag.as_str() {
        "f" => Value::Float(f64::from_bits(inner.as_u64()?)),
        "b" => Value::Bytes(serde_json::from_value(inner.clone()).ok()?),
        "m" => Value::Map(
            pairs()?
                .into_iter()
                .map(|(k, v)| Some((k.as_str()?.to_owned(), v)))
                .collect::<Option<_>>()?,
        ),
        "k" => Value::KeyedMap(
            pairs()?
                .into_iter()
                .map(|(k, v)| Some((decode(k).ok()?, v)))
                .collect::<Option<_>>()?,
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(value: Value) -> Value {
        let sent = request(&Conditions::new(None, None), &value);
        let json: serde_json::Value = serde_json::from_slice(&sent).unwrap();
        decode(&json["result"]).unwrap()
    }

    #[test]
    fn values_cross_unchanged() {
        let map = [
            ("z".to_owned(), Value::Integer(i64::MIN)),
            ("a".to_owned(), Value::Float(-0.0)),
        ]
        .into_iter()
        .collect();
        let value = Value::Array(vec![
            Value::Nil,
            Value::Bool(true),
            Value::Integer(7),
            Value::Float(0.25),
            Value::Float(f64::INFINITY),
            Value::String("f".into()),
            Value::Map(map),
            Value::KeyedMap(vec![(Value::Integer(1), Value::Bytes(vec![0, 255]))]),
        ]);
        assert_eq!(round_trip(value.clone()), value);
        let Value::Float(nan) = round_trip(Value::Float(f64::NAN)) else {
            panic!("not a float");
        };
        assert!(nan.is_nan());
    }

    #[test]
    fn the_answer_is_the_in_process_one_for_phases_and_messages() {
        let cases = [
            (Some("result > 1"), None, Value::Integer(2)),
            (Some("result > 1"), Some("result < 0"), Value::Integer(0)),
            (None, Some("result < 0"), Value::Integer(-1)),
            (Some("result +"), None, Value::Integer(1)),
            (Some("result"), None, Value::Integer(1)),
            (Some("len(result) > 0"), None, Value::Nil),
        ];
        for (success, failure, value) in cases {
            let conditions = Conditions::new(success, failure);
            let here = InProcess.assess(&conditions, &value);
            let there = read_answer(&answer(&request(&conditions, &value)));
            assert_eq!(there, here, "{success:?} {failure:?} {value:?}");
        }
    }

    #[test]
    fn an_unreadable_request_or_answer_is_an_error_in_words() {
        let answered = read_answer(&answer(b"{\"result\": {\"x\": 1}}"));
        assert_eq!(
            answered,
            Err("the evaluation request holds a value that cannot be read".into())
        );
        assert!(
            read_answer(&answer(b"not json"))
                .unwrap_err()
                .starts_with("the evaluation request is not JSON")
        );
        assert_eq!(
            read_answer(b""),
            Err("the condition evaluator gave an answer that cannot be read".into())
        );
        assert_eq!(
            read_answer(br#"{"phase": "Sideways"}"#),
            Err("the condition evaluator gave an answer that cannot be read".into())
        );
    }
}
