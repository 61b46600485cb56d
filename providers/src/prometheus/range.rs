//! `provider.prometheus.rangeQuery`: the window of a range query
//! (`/api/v1/query_range`), as Argo's Prometheus provider reads it.
//!
//! `start` and `end` are expressions in Argo's expression language that
//! yield a time, evaluated when the metric is measured: `now()`,
//! `now() - duration("5m")`, `date("2023-08-14 00:00:00", "2006-01-02
//! 15:04:05", "UTC") - duration("1h")` (the language's date functions,
//! as Argo's `EvalTime` offers them). `step` is a Go duration such as
//! `30s` or `1m`.
//!
//! Where Rollgate differs: the expressions are compiled and `step` parsed
//! when the metric is checked, so a typo is a configuration error naming
//! the field rather than an error at every measurement; a `step` of 0 or
//! less and a `start` after `end` are refused before sending (Argo sends
//! them and Prometheus refuses them); and `now()` is the measurement's time
//! as the caller gives it, so a measurement reads one clock throughout.
//! The expressions are held to a condition's limits
//! ([`rollgate_analysis::condition::within_limits`]), may not hold a `{`
//! (no predicates or maps: nothing that builds a value per element), and
//! run with `repeat()` bounded ([`rollgate_analysis::condition::bounded_environment`]),
//! so that what one builds is bounded although it runs in the controller's
//! own process.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use expr::{Context, Program, Value};
use rollgate_analysis::types::PrometheusRangeQuery;
use rollout_core::intstr::go_duration_nanos;

use crate::error::Failure;

/// A checked `rangeQuery`.
#[derive(Debug, Clone)]
pub(super) struct Range {
    start: TimeExpression,
    end: TimeExpression,
    step: Duration,
}

/// The window of one measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Window {
    pub(super) start: SystemTime,
    pub(super) end: SystemTime,
    pub(super) step: Duration,
}

#[derive(Debug, Clone)]
struct TimeExpression {
    field: &'static str,
    text: String,
    program: Program,
}

impl Range {
    /// Compiles `start` and `end` and parses `step`; each is required (Argo
    /// fails every measurement without them).
    pub(super) fn new(spec: &PrometheusRangeQuery) -> Result<Self, Failure> {
        let start = TimeExpression::new("start", spec.start.as_deref())?;
        let end = TimeExpression::new("end", spec.end.as_deref())?;
        let field = "provider.prometheus.rangeQuery.step";
        let text = spec.step.as_deref().unwrap_or_default();
        crate::config::substituted(text, field)?;
        let step = go_duration_nanos(text)
            .filter(|n| *n > 0)
            .map(|n| Duration::from_nanos(n.unsigned_abs()))
            .ok_or_else(|| Failure::Config {
                field: field.to_owned(),
                problem: format!("expected a duration above 0 such as 30s or 1m, found {text:?}"),
            })?;
        Ok(Self { start, end, step })
    }

    /// The window at `now`: both expressions evaluated, `start` not after
    /// `end`.
    pub(super) fn window(&self, now: SystemTime) -> Result<Window, Failure> {
        let start = self.start.at(now)?;
        let end = self.end.at(now)?;
        if start > end {
            return Err(Failure::Config {
                field: "provider.prometheus.rangeQuery".to_owned(),
                problem: format!(
                    "start ({}) is after end ({})",
                    unix_seconds(start),
                    unix_seconds(end)
                ),
            });
        }
        Ok(Window {
            start,
            end,
            step: self.step,
        })
    }
}

impl TimeExpression {
    fn new(name: &'static str, text: Option<&str>) -> Result<Self, Failure> {
        let field = match name {
            "start" => "provider.prometheus.rangeQuery.start",
            _ => "provider.prometheus.rangeQuery.end",
        };
        let text = text.unwrap_or_default().trim();
        let wrong = |problem: String| Failure::Config {
            field: field.to_owned(),
            problem,
        };
        if text.is_empty() {
            return Err(wrong(
                "expected a time expression such as now() - duration(\"5m\")".to_owned(),
            ));
        }
        crate::config::substituted(text, field)?;
        // Within a condition's limits, and without `{`: a predicate over
        // an array literal could build a string of 1 MiB per element.
        rollgate_analysis::condition::within_limits(text)
            .map_err(|problem| wrong(format!("{text:?} {problem}")))?;
        if text.contains('{') {
            return Err(wrong(format!(
                "{text:?} holds a '{{': a time expression has no predicates or maps"
            )));
        }
        let program = rollgate_analysis::condition::compile(text).map_err(|e| {
            wrong(format!(
                "{text:?} is not an expression such as now() - duration(\"5m\"): {}",
                one_line(&e)
            ))
        })?;
        let expression = Self {
            field,
            text: text.to_owned(),
            program,
        };
        // Evaluated once at the epoch, so that a duration that does not
        // parse or a value that is not a time is refused now.
        expression.at(UNIX_EPOCH + Duration::from_secs(86_400 * 365 * 30))?;
        Ok(expression)
    }

    /// The time the expression yields when `now()` is `now`.
    fn at(&self, now: SystemTime) -> Result<SystemTime, Failure> {
        let wrong = |problem: String| Failure::Config {
            field: self.field.to_owned(),
            problem: format!("{:?}: {problem}", self.text),
        };
        let now = instant(now).map_err(&wrong)?;
        let mut environment = rollgate_analysis::condition::bounded_environment();
        environment.add_function("now", move |call| {
            if call.args.is_empty() {
                Ok(now.clone())
            } else {
                Err(expr::Error::ExprError("now() takes no arguments".into()))
            }
        });
        let value = environment
            .run(&self.program, &Context::default())
            .map_err(|e| wrong(one_line(&e.to_string())))?;
        match value {
            Value::DateTime(t) => {
                let seconds = u64::try_from(t.timestamp())
                    .map_err(|_| wrong("the time is before 1970".to_owned()))?;
                Ok(UNIX_EPOCH
                    + Duration::from_secs(seconds)
                    + Duration::from_nanos(u64::from(t.timestamp_subsec_nanos())))
            }
            other => Err(wrong(format!(
                "expected a time such as now() - duration(\"5m\"), found {}",
                kind(&other)
            ))),
        }
    }
}

/// `now` as the expression language's time value.
fn instant(now: SystemTime) -> Result<Value, String> {
    let nanos = now
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_nanos()).ok())
        .ok_or_else(|| "the measurement's time is out of range".to_owned())?;
    let mut context = Context::default();
    context.insert("since", Value::Duration(nanos));
    expr::eval(r#"date("1970-01-01T00:00:00Z") + since"#, &context).map_err(|e| e.to_string())
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Integer(_) | Value::Float(_) => "a number",
        Value::Duration(_) => "a duration",
        Value::String(_) => "a string",
        Value::Bool(_) => "a boolean",
        Value::Nil => "nil",
        _ => "a value of another kind",
    }
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A time as Prometheus' Go client sends it: Unix seconds, as few decimals
/// as it takes.
pub(super) fn unix_seconds(at: SystemTime) -> String {
    let seconds = at
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    format!("{seconds}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(start: &str, end: &str, step: &str) -> Result<Range, Failure> {
        Range::new(&PrometheusRangeQuery {
            start: Some(start.into()),
            end: Some(end.into()),
            step: Some(step.into()),
        })
    }

    #[test]
    fn now_minus_a_duration_reads_the_measurements_clock() {
        let now = UNIX_EPOCH + Duration::from_millis(1_700_000_000_500);
        let w = range(r#"now() - duration("1h30m")"#, "now()", "1m")
            .unwrap()
            .window(now)
            .unwrap();
        assert_eq!(w.end, now);
        assert_eq!(w.start, now - Duration::from_secs(5400));
        assert_eq!(w.step, Duration::from_secs(60));
        assert_eq!(unix_seconds(w.end), "1700000000.5");
    }

    #[test]
    fn a_fixed_date_reads_as_argo_reads_it() {
        let w = range(
            r#"date("2023-08-14 00:00:00", "2006-01-02 15:04:05", "UTC") - duration("1h")"#,
            r#"date("2023-08-14 00:00:00", "2006-01-02 15:04:05", "UTC")"#,
            "1m",
        )
        .unwrap()
        .window(SystemTime::now())
        .unwrap();
        assert_eq!(unix_seconds(w.start), "1691967600");
        assert_eq!(unix_seconds(w.end), "1691971200");
    }

    #[test]
    fn what_a_time_expression_may_build_is_bounded() {
        let problem = |r: Result<Range, Failure>| r.unwrap_err().to_string();
        // A predicate over an array literal could build 1 MiB per element.
        assert_eq!(
            problem(range(
                r#"map([1, 2], {repeat("x", 1000000)})"#,
                "now()",
                "1m"
            )),
            r#"provider.prometheus.rangeQuery.start: "map([1, 2], {repeat(\"x\", 1000000)})" holds a '{': a time expression has no predicates or maps"#
        );
        assert_eq!(
            problem(range(
                "now()",
                "now() - duration(string(len(1..99999999999)) + 's')",
                "1m"
            )),
            "provider.prometheus.rangeQuery.end: \"now() - duration(string(len(1..99999999999)) + 's')\" \
             has a range (`..`), which conditions do not evaluate: a range builds every value in it \
             at once (`0..9999999999` ran out of memory)"
        );
        assert!(
            problem(range(
                r#"now() - duration(string(len(repeat("ab", 1000000))) + "s")"#,
                "now()",
                "1m"
            ))
            .ends_with("repeat() would build more than 1048576 bytes"),
        );
    }

    #[test]
    fn bad_fields_are_named_with_what_was_expected() {
        let problem = |r: Result<Range, Failure>| r.unwrap_err().to_string();
        assert_eq!(
            problem(range(r#"now() - duration("??")"#, "now()", "1m")),
            r#"provider.prometheus.rangeQuery.start: "now() - duration(\"??\")": invalid duration ??"#
        );
        assert_eq!(
            problem(range("now()", "now( -", "1m")),
            r#"provider.prometheus.rangeQuery.end: "now( -" has a '(' that is not closed"#
        );
        assert!(
            problem(range("now()", "now() -", "1m")).starts_with(
                "provider.prometheus.rangeQuery.end: \"now() -\" is not an expression"
            ),
        );
        assert_eq!(
            problem(range("now()", "42", "1m")),
            r#"provider.prometheus.rangeQuery.end: "42": expected a time such as now() - duration("5m"), found a number"#
        );
        assert_eq!(
            problem(range("now()", "now()", "??")),
            r#"provider.prometheus.rangeQuery.step: expected a duration above 0 such as 30s or 1m, found "??""#
        );
        assert_eq!(
            problem(range("now()", "now()", "0s")),
            r#"provider.prometheus.rangeQuery.step: expected a duration above 0 such as 30s or 1m, found "0s""#
        );
        assert_eq!(
            problem(range("", "now()", "1m")),
            r#"provider.prometheus.rangeQuery.start: expected a time expression such as now() - duration("5m")"#
        );
        assert!(
            problem(range(
                r#"now() - duration("{{args.lookback}}")"#,
                "now()",
                "1m"
            ))
            .contains("{{args.lookback}} was not substituted")
        );
    }

    #[test]
    fn a_start_after_the_end_is_refused_when_measured() {
        let r = range("now()", r#"now() - duration("1m")"#, "1m").unwrap();
        let e = r.window(SystemTime::now()).unwrap_err().to_string();
        assert!(
            e.starts_with("provider.prometheus.rangeQuery: start ("),
            "{e}"
        );
    }
}
