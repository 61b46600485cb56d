//! The embedded judge on real metrics: a version answering 15 % slower than
//! the stable one (23 ms against 20 ms, the same error rate) passes a fixed
//! threshold (the p99 latency under 100 ms, from the backends' histograms
//! in a real Prometheus) but fails the canary judge
//! (`plugin: {rollgate/judge: ...}`), which compares the canary's mean
//! latency with the stable version's over the same seconds; the run fails
//! on the judge alone and the rollout aborts back to the stable version.
//!
//! Under `rollgate-controller` only: the judge is its embedded provider.
//! Argo's controller has no such provider (a `plugin` metric names a metric
//! plugin process registered in `argo-rollouts-config`), so the scenario
//! does not apply to it. Skips without Prometheus, saying why.

mod support;

use std::time::Duration;

use rollgate_dataplane::{Behaviour, Load};
use rollgate_e2e::Under;
use rollgate_testkit::prometheus::Prometheus;
use serde_json::{Value, json};
use support::Stage;

/// Latency of the backends of `version`; no errors.
fn slow(milliseconds: u64) -> Behaviour {
    Behaviour {
        error_rate: 0.0,
        latency: Duration::from_millis(milliseconds),
    }
}

fn template(prometheus: &str) -> Value {
    let p99 = r#"histogram_quantile(0.99, sum by (le) (rate(rollgate_backend_request_duration_seconds_bucket{pod_template_hash="{{args.canary-hash}}"}[10s])))"#;
    let mean = r#"sum(rate(rollgate_backend_request_duration_seconds_sum{pod_template_hash="${scope}"}[5s])) / sum(rate(rollgate_backend_request_duration_seconds_count{pod_template_hash="${scope}"}[5s]))"#;
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": {"name": "latency"},
        "spec": {"args": [{"name": "canary-hash"}, {"name": "stable-hash"}],
                 "metrics": [
                     {"name": "p99-under-100ms", "interval": "5s", "count": 3, "initialDelay": "10s",
                      "successCondition": "result[0] < 0.1",
                      "provider": {"prometheus": {"address": prometheus, "query": p99}}},
                     {"name": "judge", "count": 1, "initialDelay": "25s",
                      "provider": {"plugin": {"rollgate/judge": {
                          "prometheus": {"address": prometheus},
                          "lookback": "20s", "step": "1s",
                          "canaryScope": "{{args.canary-hash}}",
                          "baselineScope": "{{args.stable-hash}}",
                          "metrics": [{"name": "mean-latency", "query": mean,
                                       "direction": "increase", "critical": true,
                                       "effectSize": {"allowedIncrease": 1.05}}],
                          "scoreThresholds": {"marginal": 50, "pass": 75}}}}}]}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_judge_catches_a_latency_regression_a_fixed_threshold_lets_through() {
    let under = Under::Rollgate;
    let Some(mut stage) = Stage::start(under, "dp-judge").await else {
        return;
    };
    let Some(prometheus) = Prometheus::start(&[stage.plane.runner.metrics_address()]) else {
        return;
    };
    stage.cluster.create(template(prometheus.address())).await;
    stage.plane.behaviours.set("1", slow(20)).unwrap();
    stage.plane.behaviours.set("2", slow(23)).unwrap();
    let hash = |name: &str| {
        json!({"name": name, "valueFrom": {"podTemplateHashValue":
        if name == "canary-hash" { "Latest" } else { "Stable" }}})
    };
    stage
        .roll_out(json!({"steps": [
            {"setWeight": 50},
            {"analysis": {"templates": [{"templateName": "latency"}],
                          "args": [hash("canary-hash"), hash("stable-hash")]}},
            {"pause": {}}]}))
        .await;

    let load = Load::steady(stage.plane.traefik.web, 100, Duration::from_secs(150))
        .start()
        .unwrap();
    stage.update_to("2").await;
    let status = stage.wait_rollout("aborted", |s| s["abort"] == true).await;
    let runs = stage.cluster.api("argoproj.io", "v1alpha1", "AnalysisRun");
    let run = runs
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|r| r.data["status"]["phase"] == "Failed")
        .expect("a Failed AnalysisRun");
    let phase_of = |metric: &str| {
        run.data["status"]["metricResults"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["name"] == metric)
            .map(|m| m["phase"].clone())
    };
    assert_eq!(
        phase_of("p99-under-100ms"),
        Some(json!("Successful")),
        "the fixed threshold lets the slower version through: {:#}",
        run.data["status"]
    );
    assert_eq!(
        phase_of("judge"),
        Some(json!("Failed")),
        "the judge fails it: {:#}",
        run.data["status"]
    );
    eprintln!("{under:?}: aborted: {}", status["message"]);
    stage.wait_weight(0).await;
    stage.wait_all_on("1").await;
    let tally = load.stop().await.tally();
    assert_eq!(tally.unsuccessful(), 0, "{tally:?}");
    stage.assert_runner_clean();
}
