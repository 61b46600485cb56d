//! `rollgate-controller` measuring the embedded canary judge
//! (`plugin: {rollgate/judge: ...}`) on a real kube-apiserver
//! (`ROLLGATE_E2E=1`) against a real Prometheus (testkit's: Debian's
//! package) scraping an exporter of the test's on 127.0.0.1 whose success
//! rate per pod-template-hash the test sets: a canary answering 20 % of its
//! requests with errors is judged `Fail` against its baseline and fails
//! the run with the verdict's table as the measurement's message; a canary
//! like its baseline passes. Skips without Prometheus, saying why; fails
//! instead under `CI`.

mod support;

use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject};
use rollgate_testkit::Cluster;
use rollgate_testkit::exporter::{Exporter, success_rate};
use rollgate_testkit::prometheus::Prometheus;
use serde_json::{Value, json};

use support::{Controller, cluster};

/// The run `name` once it has completed, within three minutes.
async fn completed(cluster: &Cluster, name: &str) -> Value {
    let runs: Api<DynamicObject> = cluster.api("argoproj.io", "v1alpha1", "AnalysisRun");
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let run = serde_json::to_value(runs.get(name).await.unwrap()).unwrap();
        if ["Successful", "Failed", "Error", "Inconclusive"]
            .contains(&run["status"]["phase"].as_str().unwrap_or_default())
        {
            return run;
        }
        assert!(
            Instant::now() < deadline,
            "AnalysisRun {name}: not completed within 180 s: {:#}",
            run["status"]
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A run judging `canary` against the baseline `stable1`.
fn judged_run(name: &str, prometheus: &str, canary: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
        "metadata": {"name": name},
        "spec": {
            "args": [{"name": "canary-hash", "value": canary}, {"name": "stable-hash", "value": "stable1"}],
            "metrics": [{"name": "judge", "provider": {"plugin": {"rollgate/judge": {
                "prometheus": {"address": prometheus},
                "lookback": "20s",
                "step": "1s",
                "canaryScope": "{{args.canary-hash}}",
                "baselineScope": "{{args.stable-hash}}",
                "metrics": [{"name": "success-rate", "query": success_rate("${scope}", "5s"),
                             "direction": "decrease", "critical": true}],
                "scoreThresholds": {"marginal": 50, "pass": 75}
            }}}}]
        }
    })
}

#[tokio::test]
async fn the_embedded_judge_fails_a_worse_canary_and_passes_a_like_one() {
    let Some(cluster) = cluster("ctl-judge").await else {
        return;
    };
    let exporter = Exporter::start().await;
    let Some(mut prometheus) = Prometheus::start(&[exporter.target()]) else {
        return;
    };
    exporter.set_error_ratio("stable1", 0.0);
    exporter.set_error_ratio("same1", 0.0);
    exporter.set_error_ratio("canary1", 0.2);
    // Twenty seconds of scrapes, so that both sides have their samples.
    prometheus
        .until_scraped(&exporter, 25, Duration::from_secs(180))
        .await;
    let controller = Controller::start_with_role(&cluster).await;
    let address = prometheus.address().to_owned();

    cluster
        .create(judged_run("worse", &address, "canary1"))
        .await;
    cluster.create(judged_run("alike", &address, "same1")).await;

    let worse = completed(&cluster, "worse").await;
    assert_eq!(worse["status"]["phase"], "Failed", "{:#}", worse["status"]);
    let measurement = &worse["status"]["metricResults"][0]["measurements"][0];
    assert_eq!(measurement["phase"], "Failed", "{measurement:#}");
    let value: Value = serde_json::from_str(measurement["value"].as_str().unwrap()).unwrap();
    assert_eq!(value["result"], "Fail", "{measurement:#}");
    let table = measurement["message"].as_str().unwrap_or_default();
    assert!(
        table.contains("success-rate"),
        "the verdict's table: {table}"
    );

    let alike = completed(&cluster, "alike").await;
    assert_eq!(
        alike["status"]["phase"], "Successful",
        "{:#}",
        alike["status"]
    );
    let measurement = &alike["status"]["metricResults"][0]["measurements"][0];
    let value: Value = serde_json::from_str(measurement["value"].as_str().unwrap()).unwrap();
    assert_eq!(value["result"], "Pass", "{measurement:#}");
    drop(controller);
}
