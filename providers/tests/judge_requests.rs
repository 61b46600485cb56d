//! The `rollgate/judge` provider against a local server on 127.0.0.1: the
//! exact `query_range` requests, for the canary and the baseline, and how
//! their answers are judged.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Recorded, Reply, Server, matrix};
use rollgate_judge::{Classification, RunResult};
use rollgate_providers::judge::CanaryJudge;
use rollgate_providers::{Client, Failure};
use serde_json::json;

fn at() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_700_000_000_500)
}

fn form(request: &Recorded) -> Vec<(String, String)> {
    form_urlencoded::parse(&request.body).into_owned().collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A judge block reading the test server, with `latency` (increase is bad)
/// and `errors` (critical).
fn block(address: &str) -> serde_json::Value {
    json!({
        "prometheus": {"address": address, "timeout": 5,
                       "headers": [{"key": "X-Scope-OrgID", "value": "shop"}]},
        "lookback": "10m",
        "step": "15s",
        "canaryScope": "canary7",
        "baselineScope": "stable3",
        "metrics": [
            {"name": "latency", "direction": "increase", "groups": ["latency"],
             "query": "avg(latency_seconds{rollouts_pod_template_hash=\"${scope}\"})"},
            {"name": "errors", "direction": "increase", "critical": true, "groups": ["errors"],
             "query": "sum(rate(errors_total{rollouts_pod_template_hash=\"${scope}\"}[1m]))"}
        ],
        "groupWeights": {"latency": 70, "errors": 30},
        "scoreThresholds": {"marginal": 50, "pass": 75}
    })
}

/// 41 samples (10 minutes at 15 s) around 0.1 s; the canary's latency is
/// `factor` times the stable one's.
fn latency(factor: f64) -> Vec<f64> {
    (0..41)
        .map(|i| (0.1 + f64::from(i % 7) * 0.002) * factor)
        .collect()
}

fn answer(request: &Recorded, canary_factor: f64) -> Reply {
    let query = form(request)
        .into_iter()
        .find(|(k, _)| k == "query")
        .map(|(_, v)| v)
        .unwrap_or_default();
    let canary = query.contains("\"canary7\"");
    let body = if query.starts_with("avg(latency_seconds") {
        matrix(&[latency(if canary { canary_factor } else { 1.0 })])
    } else {
        matrix(&[vec![0.0; 41]])
    };
    Reply::json(200, &body)
}

#[tokio::test]
async fn each_judge_metric_is_queried_for_the_canary_then_the_baseline() {
    let server = Server::start(|request| answer(request, 1.2)).await;
    let judge = CanaryJudge::new("judge", &block(&server.url("")), None, None).unwrap();
    let judgement = judge.measure(&Client::new(), at()).await.unwrap();

    let requests = server.requests();
    let expected = [
        r#"avg(latency_seconds{rollouts_pod_template_hash="canary7"})"#,
        r#"avg(latency_seconds{rollouts_pod_template_hash="stable3"})"#,
        r#"sum(rate(errors_total{rollouts_pod_template_hash="canary7"}[1m]))"#,
        r#"sum(rate(errors_total{rollouts_pod_template_hash="stable3"}[1m]))"#,
    ];
    assert_eq!(requests.len(), expected.len());
    for (request, query) in requests.iter().zip(expected) {
        assert_eq!(request.method, "POST");
        assert_eq!(request.target, "/api/v1/query_range");
        assert_eq!(request.header("x-scope-orgid"), Some("shop"));
        assert_eq!(
            form(request),
            pairs(&[
                ("end", "1700000000.5"),
                ("query", query),
                ("start", "1699999400.5"),
                ("step", "15"),
            ])
        );
    }

    // The canary is 20 % slower: latency is High, the errors pass, and the
    // latency group's 70 % is lost.
    let v = &judgement.verdict;
    assert_eq!(v.result, RunResult::Fail);
    assert_eq!(v.score, 30.0);
    assert_eq!(v.metrics[0].classification, Classification::High);
    assert_eq!(v.metrics[0].canary.count, 41);
    assert_eq!(v.metrics[1].classification, Classification::Pass);
    assert_eq!(judgement.value, r#"{"result":"Fail","score":30.0}"#);
    assert_eq!(
        judgement.result["metrics"]["latency"]["classification"],
        "High"
    );
    assert!(
        judgement
            .message
            .starts_with("Fail, score 30 (pass 75, marginal 50)\n")
    );
}

#[tokio::test]
async fn an_identical_canary_passes() {
    let server = Server::start(|request| answer(request, 1.0)).await;
    let judge = CanaryJudge::new("judge", &block(&server.url("")), None, None).unwrap();
    let judgement = judge.measure(&Client::new(), at()).await.unwrap();
    assert_eq!(judgement.verdict.result, RunResult::Pass);
    assert_eq!(judgement.verdict.score, 100.0);
}

#[tokio::test]
async fn a_failing_query_names_the_metric_the_judge_metric_its_field_and_the_side() {
    let server = Server::start(|request| {
        let query = form(request);
        if query
            .iter()
            .any(|(k, v)| k == "query" && v.contains("errors_total") && v.contains("stable3"))
        {
            Reply::json(
                422,
                r#"{"status":"error","errorType":"execution","error":"query timed out"}"#,
            )
        } else {
            answer(request, 1.0)
        }
    })
    .await;
    let judge = CanaryJudge::new("judge", &block(&server.url("")), None, None).unwrap();
    let error = judge.measure(&Client::new(), at()).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            r#"metric "judge" ({}): provider.plugin["rollgate/judge"].metrics[1].query (judge metric "errors", the baseline's query): execution: query timed out"#,
            server.url("/api/v1/query_range")
        )
    );
    assert!(matches!(
        error.failure,
        Failure::JudgeQuery {
            side: "baseline",
            ..
        }
    ));
}

#[tokio::test]
async fn no_data_for_any_judge_metric_is_an_error_naming_each() {
    let server = Server::start(|_| Reply::json(200, &matrix(&[]))).await;
    let judge = CanaryJudge::new("judge", &block(&server.url("")), None, None).unwrap();
    let error = judge.measure(&Client::new(), at()).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            r#"metric "judge" ({}): no data to judge: judge metric "latency" (provider.plugin["rollgate/judge"].metrics[0].query): neither the canary nor the baseline has samples; judge metric "errors" (provider.plugin["rollgate/judge"].metrics[1].query): neither the canary nor the baseline has samples"#,
            server.url("/api/v1/query_range")
        )
    );
    // A metric that nanStrategy replace passes without samples is no data
    // either.
    let mut replacing = block(&server.url(""));
    replacing["metrics"][1]["nanStrategy"] = json!("replace");
    let judge = CanaryJudge::new("judge", &replacing, None, None).unwrap();
    let error = judge.measure(&Client::new(), at()).await.unwrap_err();
    assert!(matches!(error.failure, Failure::NoData(_)), "{error}");
}

#[tokio::test]
async fn data_for_some_metrics_only_is_judged_by_kayentas_rules() {
    // The canary has no error series yet: errors is NoData, and as a
    // critical metric it fails the run.
    let server = Server::start(|request| {
        let query = form(request);
        if query
            .iter()
            .any(|(k, v)| k == "query" && v.contains("errors_total") && v.contains("canary7"))
        {
            Reply::json(200, &matrix(&[]))
        } else {
            answer(request, 1.0)
        }
    })
    .await;
    let judge = CanaryJudge::new("judge", &block(&server.url("")), None, None).unwrap();
    let judgement = judge.measure(&Client::new(), at()).await.unwrap();
    assert_eq!(judgement.verdict.result, RunResult::Fail);
    assert_eq!(
        judgement.verdict.metrics[1].classification,
        Classification::NoData
    );
    assert_eq!(
        judgement.verdict.reason.as_deref(),
        Some("critical metric errors is NoData: the canary has no samples")
    );
}

#[tokio::test]
async fn prometheus_warnings_are_kept_with_their_judge_metric_and_side() {
    let server = Server::start(|request| {
        let reply = answer(request, 1.0);
        let mut body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        body["warnings"] = json!(["results may be partial"]);
        Reply::json(200, &body.to_string())
    })
    .await;
    let judge = CanaryJudge::new("judge", &block(&server.url("")), None, None).unwrap();
    let judgement = judge.measure(&Client::new(), at()).await.unwrap();
    assert_eq!(
        judgement.warnings,
        [
            "latency (canary): results may be partial",
            "latency (baseline): results may be partial",
            "errors (canary): results may be partial",
            "errors (baseline): results may be partial",
        ]
    );
}
