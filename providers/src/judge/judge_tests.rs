use rollgate_analysis::assess::record;
use rollgate_analysis::condition::Conditions;
use rollgate_analysis::isolation::InProcess;
use rollgate_analysis::types::{Metric, MetricProvider, MetricResult as RunMetricResult};
use rollgate_judge::{RunResult, Samples, judge};
use serde_json::json;

use super::*;

fn config() -> JudgeConfig {
    JudgeConfig::from_value(
        json!({
            "metrics": [
                {"name": "latency", "direction": "increase", "groups": ["latency"]},
                {"name": "p-99", "direction": "increase", "groups": ["latency"]}
            ],
            "scoreThresholds": {"marginal": 40, "pass": 75}
        }),
        "test",
    )
    .unwrap()
}

fn judged(canary_factor: f64, p99_factor: f64) -> Judgement {
    let baseline: Vec<f64> = (0..60).map(|i| 100.0 + f64::from(i % 12)).collect();
    let canary: Vec<f64> = baseline.iter().map(|v| v * canary_factor).collect();
    let p99: Vec<f64> = baseline.iter().map(|v| v * p99_factor).collect();
    let verdict = judge(
        &config(),
        &[
            Samples {
                metric: "latency",
                canary: &canary,
                baseline: &baseline,
            },
            Samples {
                metric: "p-99",
                canary: &p99,
                baseline: &baseline,
            },
        ],
    )
    .unwrap();
    Judgement::new(verdict, Vec::new())
}

fn judge_metric(success: Option<&str>) -> Metric {
    Metric {
        name: "judge".into(),
        success_condition: success.map(str::to_owned),
        provider: MetricProvider {
            plugin: Some([(JUDGE_PLUGIN.to_owned(), json!({}))].into()),
            ..MetricProvider::default()
        },
        ..Metric::default()
    }
}

fn phase(metric: &Metric, judgement: Judgement) -> (String, String, String) {
    let mut result = RunMetricResult {
        name: metric.name.clone(),
        ..RunMetricResult::default()
    };
    let now = "2026-12-01T10:00:00Z".parse().unwrap();
    record(
        &mut result,
        &Conditions::of(metric),
        &InProcess,
        judgement.outcome(),
        now,
        now,
    );
    let m = result.measurements.pop().unwrap();
    (m.phase, m.value, m.message)
}

#[test]
fn the_result_keys_metrics_and_groups_by_name() {
    let j = judged(1.3, 1.0);
    assert_eq!(j.verdict.result, RunResult::Marginal);
    assert_eq!(j.result["result"], "Marginal");
    assert_eq!(j.result["score"], 50.0);
    assert_eq!(j.result["reason"], "");
    assert_eq!(j.result["groups"]["latency"], 50.0);
    assert_eq!(j.result["metrics"]["latency"]["classification"], "High");
    assert_eq!(j.result["metrics"]["p-99"]["classification"], "Pass");
    assert_eq!(j.result["metrics"]["latency"]["canary"]["count"], 60);
    assert!(
        j.result["metrics"]["latency"]["comparison"]["test"]["pValue"]
            .as_f64()
            .unwrap()
            < 0.01
    );
    assert_eq!(j.value, r#"{"result":"Marginal","score":50.0}"#);
    assert!(
        j.message
            .starts_with("Marginal, score 50 (pass 75, marginal 40)\nMETRIC")
    );
    assert!(j.message.contains("\nlatency  High"), "{}", j.message);
}

#[test]
fn without_conditions_pass_succeeds_marginal_is_inconclusive_and_fail_fails() {
    let metric = judge_metric(None);
    let (p, value, message) = phase(&metric, judged(1.0, 1.0));
    assert_eq!(p, "Successful");
    assert_eq!(value, r#"{"result":"Pass","score":100.0}"#);
    assert!(message.starts_with("Pass, score 100"), "{message}");
    assert_eq!(phase(&metric, judged(1.3, 1.0)).0, "Inconclusive");
    assert_eq!(phase(&metric, judged(1.3, 1.3)).0, "Failed");
}

#[test]
fn the_metrics_own_conditions_read_the_result() {
    let metric = judge_metric(Some(
        r#"result.score >= 50 && result.metrics["p-99"].classification == "Pass""#,
    ));
    assert_eq!(phase(&metric, judged(1.3, 1.0)).0, "Successful");
    assert_eq!(phase(&metric, judged(1.0, 1.3)).0, "Failed");
    let broken = judge_metric(Some("result.score >"));
    let (p, _, message) = phase(&broken, judged(1.0, 1.0));
    assert_eq!(p, "Error");
    assert!(
        message.starts_with("could not evaluate successCondition"),
        "{message}"
    );
    assert!(message.contains("\nPass, score 100"), "{message}");
}

#[test]
fn a_configuration_error_of_a_query_is_named_in_the_judges_block() {
    let block = json!({
        "prometheus": {"address": "prometheus:9090"},
        "lookback": "10m", "step": "15s",
        "canaryScope": "c", "baselineScope": "s",
        "metrics": [{"name": "latency", "query": "avg(x{h=\"${scope}\"})"}],
        "scoreThresholds": {"marginal": 50, "pass": 75}
    });
    let e = CanaryJudge::new("judge", &block, None, None).unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"metric "judge" (prometheus:9090): provider.plugin["rollgate/judge"].prometheus.address: "prometheus:9090" is not a URL such as http://prometheus.monitoring:9090"#
    );
    let mut no_address = block.clone();
    no_address["prometheus"] = json!({});
    let e = CanaryJudge::new("judge", &no_address, None, None).unwrap_err();
    assert!(
        e.to_string().starts_with(
            r#"metric "judge" (no address): provider.plugin["rollgate/judge"].prometheus.address: prometheus address is not configured"#
        ),
        "{e}"
    );
    let judge =
        CanaryJudge::new("judge", &no_address, None, Some("http://127.0.0.1:9090")).unwrap();
    assert_eq!(
        judge.queries()[0][1].endpoint().to_string(),
        "http://127.0.0.1:9090/api/v1/query_range"
    );
}

#[test]
fn the_documented_template_reads_and_judges_without_conditions() {
    let docs: String = include_str!("mod.rs")
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let template: serde_json::Value =
        serde_yaml_ng::from_str(yaml_block(&docs, "```yaml")).unwrap();
    let metric = documented(&template["spec"]["metrics"][0]);
    let judge = CanaryJudge::of(&metric, None, None).unwrap();
    assert_eq!(judge.config().metrics.len(), 2);
    assert_eq!(
        judge.queries()[1][1].endpoint().to_string(),
        "http://prometheus.monitoring:9090/api/v1/query_range"
    );
    assert_eq!(
        Conditions::of(&metric).describe(),
        r#"successCondition "result.result == "Pass"" and failureCondition "result.result == "Fail"""#
    );
}

#[test]
fn the_readmes_example_reads() {
    let readme = include_str!("../../../README.md");
    let at = readme.find("rollgate/judge:").unwrap();
    let start = readme[..at].rfind("```yaml").unwrap();
    let metrics: serde_json::Value =
        serde_yaml_ng::from_str(yaml_block(&readme[start..], "```yaml")).unwrap();
    let judge = CanaryJudge::of(&documented(&metrics["metrics"][0]), None, None).unwrap();
    assert_eq!(judge.config().metrics[0].name, "latency-p99");
}

/// The text of the first block opened by `fence` in `text`.
fn yaml_block<'t>(text: &'t str, fence: &str) -> &'t str {
    let start = text.find(fence).unwrap() + fence.len() + 1;
    &text[start..start + text[start..].find("```").unwrap()]
}

/// A documented metric, its arguments substituted as a run's would be.
fn documented(metric: &serde_json::Value) -> Metric {
    let text = metric
        .to_string()
        .replace("{{args.canary-hash}}", "6f9c7d")
        .replace("{{args.stable-hash}}", "5b8d4c");
    serde_json::from_str(&text).unwrap()
}
