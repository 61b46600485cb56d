use serde_json::{Value, json};

use super::*;

fn block() -> Value {
    json!({
        "prometheus": {"address": "http://127.0.0.1:9090", "timeout": 10},
        "lookback": "10m",
        "step": "15s",
        "canaryScope": "canary1",
        "baselineScope": "stable1",
        "metrics": [
            {"name": "latency", "direction": "increase", "groups": ["latency"],
             "query": "avg(latency{pod_template_hash=\"${scope}\"})"},
            {"name": "errors", "critical": true,
             "query": "sum(errors{pod_template_hash=\"${scope}\"})"}
        ],
        "scoreThresholds": {"marginal": 50, "pass": 75}
    })
}

/// The block with the value at `path` set (added when missing).
fn with(path: &str, value: Value) -> Value {
    let mut b = block();
    let (parent, key) = path.rsplit_once('/').unwrap();
    match b.pointer_mut(parent).unwrap_or_else(|| panic!("{path}")) {
        Value::Object(map) => {
            map.insert(key.to_owned(), value);
        }
        Value::Array(items) => items[key.parse::<usize>().unwrap()] = value,
        other => panic!("{path}: {other}"),
    }
    b
}

fn without(key: &str) -> Value {
    let mut b = block();
    b.as_object_mut().unwrap().remove(key);
    b
}

fn error(block: Value) -> String {
    Block::read(&block).unwrap_err().to_string()
}

#[test]
fn a_block_splits_into_the_source_and_the_judges_configuration() {
    let b = Block::read(&block()).unwrap();
    assert_eq!(b.scopes, ["canary1".to_owned(), "stable1".to_owned()]);
    assert_eq!(b.queries.len(), 2);
    assert_eq!(b.judge.metrics[1].name, "errors");
    assert!(b.judge.metrics[1].critical);
    assert_eq!(b.prometheus.timeout, Some(10));
    let range = b.prometheus.range_query.unwrap();
    assert_eq!(
        range.start.as_deref(),
        Some(r#"now() - duration("600000000000ns")"#)
    );
    assert_eq!(range.end.as_deref(), Some("now()"));
    assert_eq!(range.step.as_deref(), Some("15000000000ns"));
}

#[test]
fn bad_input_names_the_field_and_what_was_expected() {
    let at = r#"provider.plugin["rollgate/judge"]"#;
    let cases = [
        (
            json!("judge"),
            format!("{at}: expected a mapping, found a string"),
        ),
        (
            without("lookback"),
            format!("{at}.lookback: expected a duration such as 10m"),
        ),
        (
            with("/lookback", json!("ten minutes")),
            format!(
                "{at}.lookback: expected a duration above 0 such as 10m, found \"ten minutes\""
            ),
        ),
        (
            with("/step", json!("0s")),
            format!("{at}.step: expected a duration above 0 such as 30s, found \"0s\""),
        ),
        (
            with("/step", json!("50ms")),
            format!(
                "{at}.step: a lookback of 10m at a step of 50ms is 12001 points per series; Prometheus returns at most 11000: make step longer"
            ),
        ),
        (
            with("/step", json!(15)),
            format!("{at}.step: expected a string, found 15"),
        ),
        (
            without("canaryScope"),
            format!(
                "{at}.canaryScope: expected the pod-template-hash to read, such as \"{{{{args.canary-hash}}}}\""
            ),
        ),
        (
            with("/baselineScope", json!("{{args.stable-hash}}")),
            format!(
                "{at}.baselineScope: {{{{args.stable-hash}}}} was not substituted: the caller resolves arguments before measuring"
            ),
        ),
        (
            with("/baselineScope", json!("canary1")),
            format!(
                "{at}.baselineScope: \"canary1\" is also the canaryScope: the canary would be judged against itself"
            ),
        ),
        (
            with("/canaryScope", json!("a\"} or vector(1) #")),
            format!(
                "{at}.canaryScope: \"a\\\"}} or vector(1) #\" holds '\"', which would end the query's label value"
            ),
        ),
        (
            with("/metrics/1/query", json!("sum(errors)")),
            format!(
                "{at}.metrics[1].query: judge metric \"errors\": the query has no ${{scope}}; write it where the pod-template-hash goes"
            ),
        ),
        (
            with("/metrics/0/query", json!(3)),
            format!("{at}.metrics[0].query: expected a PromQL query, found a number"),
        ),
        (
            with("/metrics/0/direction", json!("up")),
            format!(
                "{at}.metrics[0].direction: \"up\" is not one of \"increase\", \"decrease\", \"either\""
            ),
        ),
        (
            with("/metrics/1", json!({"name": "errors"})),
            format!(
                "{at}.metrics[1].query: expected a PromQL query with ${{scope}} where the pod-template-hash goes"
            ),
        ),
        (
            with("/metrics/0/name", json!("errors")),
            format!("{at}.metrics[1].name: \"errors\" is also the name of metrics[0]"),
        ),
        (
            with("/scoreThresholds/pass", json!(120)),
            format!("{at}.scoreThresholds.pass: expected a score from 0 to 100, found 120"),
        ),
        (
            with("/prometheus/query", json!("up")),
            format!("{at}.prometheus.query: each judge metric has its own query"),
        ),
        (
            with("/prometheus/rangeQuery", json!({"step": "1m"})),
            format!("{at}.prometheus.rangeQuery: the window is the judge's lookback and step"),
        ),
        (
            with("/prometheus/adress", json!("http://x")),
            format!(
                "{at}.prometheus.adress: unknown field \"adress\" (known fields: address, query,"
            ),
        ),
        (
            with("/prometheus/timeout", json!("30s")),
            format!("{at}.prometheus.timeout: expected an integer"),
        ),
    ];
    let wrong: Vec<String> = cases
        .into_iter()
        .map(|(block, expected)| (error(block), expected))
        .filter(|(got, expected)| !got.starts_with(expected))
        .map(|(got, expected)| format!("got:      {got}\nexpected: {expected}"))
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn an_unknown_key_is_the_judges_to_refuse() {
    let mut b = block();
    b.as_object_mut()
        .unwrap()
        .insert("lookBack".into(), json!("5m"));
    let got = error(b);
    assert!(
        got.starts_with(r#"provider.plugin["rollgate/judge"]: unknown field "lookBack" (known fields: prometheus, lookback, step, canaryScope, baselineScope, metrics, groupWeights, scoreThresholds)"#),
        "{got}"
    );
}
