//! rollgate-controller measures AnalysisRuns on a real kube-apiserver
//! (`ROLLGATE_E2E=1`; see `scripts/cluster`): web metrics against a server
//! of the test's on 127.0.0.1 whose answer the test sets. A good value
//! makes the run Successful and the rollout promotes past its analysis
//! step; a bad one fails the run and the rollout aborts with a message
//! naming the metric and its values. An AnalysisRun written by hand, with
//! no Rollout, is measured to completion, its Secret argument sent and
//! kept out of its status, with Argo's Events and metrics. A condition that
//! builds past the memory limit of its child evaluator errs its measurement
//! alone, and the controller measures on.

mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, DynamicObject, ListParams};
use rollgate_testkit::Cluster;
use rollgate_testkit::web::Endpoint;
use serde_json::{Value, json};

use rollgate_testkit::scrape::http_get;
use support::{Controller, cluster, condition, healthy, kubectl_argo_rollouts, rollout, wait_for};

fn runs(cluster: &Cluster) -> Api<DynamicObject> {
    cluster.api("argoproj.io", "v1alpha1", "AnalysisRun")
}

/// Polls the AnalysisRun `name` until `done` holds for it (60 s at most).
async fn wait_for_run(
    cluster: &Cluster,
    name: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let run = runs(cluster)
            .get_opt(name)
            .await
            .unwrap()
            .map(|r| serde_json::to_value(r).unwrap());
        if let Some(run) = run.filter(|r| done(r)) {
            return run;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "AnalysisRun {name}: not {what} after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The messages of the Events with `reason` about `kind` `name`.
async fn events(cluster: &Cluster, kind: &str, name: &str, reason: &str) -> Vec<String> {
    let api: Api<Event> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    api.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .filter(|e| {
            e.involved_object.kind.as_deref() == Some(kind)
                && e.involved_object.name.as_deref() == Some(name)
        })
        .filter_map(|e| e.message)
        .collect()
}

/// A template whose web metric reads `{"rate": N}` from the endpoint.
fn template(address: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": {"name": "success-rate"},
        "spec": {
            "args": [{"name": "canary-hash"}],
            "metrics": [{
                "name": "success-rate",
                "successCondition": "result >= 0.95",
                "failureLimit": 0,
                "provider": {"web": {
                    "url": format!("{address}/rate?hash={{{{args.canary-hash}}}}"),
                    "jsonPath": "{$.rate}"}}
            }]
        }
    })
}

#[tokio::test]
async fn a_measured_run_promotes_a_good_update_and_aborts_a_bad_one() {
    let Some(cluster) = cluster("ctl-measure-step").await else {
        return;
    };
    let endpoint = Endpoint::start(r#"{"rate": 0.99}"#).await;
    let _controller = Controller::start_with_role(&cluster).await;
    cluster.create(template(&endpoint.address)).await;
    let steps = json!({"steps": [{"setWeight": 20}, {"analysis": {
        "templates": [{"templateName": "success-rate"}],
        "args": [{"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}}]}},
        {"setWeight": 60}]});
    cluster.create(rollout("web", "nginx:1.27", steps)).await;
    let first = wait_for(&cluster, "web", "Healthy", healthy).await;
    let stable = first["status"]["stableRS"].as_str().unwrap().to_owned();

    // A good value: the run succeeds and the update is promoted.
    kubectl_argo_rollouts(&cluster, &["set", "image", "web", "app=nginx:1.28"]);
    let promoted =
        support::wait_for_within(&cluster, "web", "promoted", Duration::from_secs(60), |o| {
            healthy(o) && o["status"]["stableRS"] != stable.as_str()
        })
        .await;
    let canary = promoted["status"]["stableRS"].as_str().unwrap().to_owned();
    let name = format!("web-{canary}-2-1");
    let run = wait_for_run(&cluster, &name, "Successful", |r| {
        r["status"]["phase"] == "Successful"
    })
    .await;
    let result = &run["status"]["metricResults"][0];
    assert_eq!(
        (&result["name"], &result["phase"], &result["successful"]),
        (&json!("success-rate"), &json!("Successful"), &json!(1))
    );
    assert_eq!(result["measurements"][0]["value"], "0.99");
    assert!(run["status"]["completedAt"].is_string());
    assert!(
        endpoint
            .requests()
            .iter()
            .any(|h| h.starts_with(&format!("GET /rate?hash={canary} HTTP/1.1"))),
        "{:?}",
        endpoint.requests()
    );
    let shown = kubectl_argo_rollouts(&cluster, &["get", "rollout", "web", "--no-color"]);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        text.lines()
            .any(|l| l.contains(&name) && l.contains("AnalysisRun")),
        "{text}"
    );

    // A bad value: the run fails and the update aborts, naming the metric
    // and the value against the condition.
    endpoint.answer(r#"{"rate": 0.42}"#);
    kubectl_argo_rollouts(&cluster, &["set", "image", "web", "app=nginx:1.29"]);
    let aborted =
        support::wait_for_within(&cluster, "web", "aborted", Duration::from_secs(60), |o| {
            o["status"]["abort"] == true && o["status"]["phase"] == "Degraded"
        })
        .await;
    let bad = aborted["status"]["currentPodHash"]
        .as_str()
        .unwrap()
        .to_owned();
    let name = format!("web-{bad}-3-1");
    let run = wait_for_run(&cluster, &name, "Failed", |r| {
        r["status"]["phase"] == "Failed"
    })
    .await;
    let reason = "Metric \"success-rate\" assessed Failed due to failed (1) > failureLimit (0) (values [0.42] against successCondition \"result >= 0.95\")";
    assert_eq!(run["status"]["message"], reason);
    let expected = format!(
        "Rollout aborted update to revision 3: Step-based analysis phase error/failed: {reason}"
    );
    assert_eq!(
        aborted["status"]["message"],
        format!("RolloutAborted: {expected}")
    );
    assert_eq!(
        condition(&aborted, "Progressing").unwrap()["message"],
        expected.as_str()
    );
    assert_eq!(aborted["status"]["stableRS"], canary.as_str());
    let failed = events(&cluster, "AnalysisRun", &name, "MetricFailed").await;
    assert_eq!(failed, ["Metric 'success-rate' Completed. Result: Failed"]);
    let failed = events(&cluster, "AnalysisRun", &name, "AnalysisRunFailed").await;
    assert_eq!(failed, ["Analysis Completed. Result: Failed"]);
}

#[tokio::test]
async fn a_run_written_by_hand_is_measured_to_completion() {
    let Some(cluster) = cluster("ctl-measure-run").await else {
        return;
    };
    let endpoint = Endpoint::start(r#"{"ok": true, "latency": 120}"#).await;
    let controller = Controller::start_with_role(&cluster).await;
    cluster
        .create(json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "checks"}, "stringData": {"token": "t0psecret-value"}}))
        .await;
    cluster
        .create(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
            "metadata": {"name": "smoke"},
            "spec": {
                "args": [{"name": "token", "valueFrom": {"secretKeyRef": {"name": "checks", "key": "token"}}}],
                "metrics": [
                    {"name": "healthy", "count": 2, "interval": "1s",
                     "successCondition": "result.ok == true && result.latency < 200",
                     "provider": {"web": {"url": format!("{}/health", endpoint.address),
                         "headers": [{"key": "Authorization", "value": "Bearer {{args.token}}"}]}}},
                    {"name": "datadog-rate", "successCondition": "result > 1", "consecutiveErrorLimit": 0,
                     "provider": {"datadog": {"query": "sum:requests"}}}],
                "dryRun": [{"metricName": "datadog-.*"}]
            }
        }))
        .await;
    let run = wait_for_run(&cluster, "smoke", "Successful", |r| {
        r["status"]["phase"] == "Successful"
    })
    .await;
    let status = &run["status"];
    let healthy = &status["metricResults"][0];
    assert_eq!(
        (
            &healthy["name"],
            &healthy["phase"],
            &healthy["count"],
            &healthy["successful"]
        ),
        (
            &json!("healthy"),
            &json!("Successful"),
            &json!(2),
            &json!(2)
        )
    );
    assert_eq!(healthy["measurements"].as_array().unwrap().len(), 2);
    // The dry-run metric's provider is not implemented here: its errors do
    // not count against the run.
    let dry = &status["metricResults"][1];
    assert_eq!(
        (&dry["name"], &dry["dryRun"]),
        (&json!("datadog-rate"), &json!(true))
    );
    assert!(
        dry["measurements"][0]["message"]
            .as_str()
            .unwrap()
            .contains("provider Datadog is not implemented by rollgate-controller"),
        "{dry:#}"
    );
    assert_eq!(status["runSummary"]["successful"], 1);
    let heads = endpoint.requests();
    assert_eq!(heads.len(), 2, "{heads:?}");
    assert!(
        heads.iter().all(|h| h.starts_with("GET /health HTTP/1.1")
            && h.to_ascii_lowercase()
                .contains("authorization: bearer t0psecret-value")),
        "{heads:?}"
    );
    assert!(!run.to_string().contains("t0psecret-value"));
    assert_eq!(
        events(&cluster, "AnalysisRun", "smoke", "MetricSuccessful").await,
        ["Metric 'healthy' Completed. Result: Successful"]
    );
    assert_eq!(
        events(&cluster, "AnalysisRun", "smoke", "AnalysisRunSuccessful").await,
        ["Analysis Completed. Result: Successful"]
    );
    // One status write per look that measured, none once it is complete.
    let writes = || {
        cluster
            .audited_requests("analysisruns", "smoke")
            .into_iter()
            .filter(|r| r.verb == "patch" && r.user_agent.starts_with("rollgate-controller/"))
            .count()
    };
    cluster.audit_barrier().await;
    assert_eq!(
        writes(),
        2,
        "{:?}",
        cluster.audited_requests("analysisruns", "smoke")
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    cluster.audit_barrier().await;
    assert_eq!(writes(), 2, "writes to a completed run");
    let (code, metrics) = http_get(controller.metrics_port, "/metrics").await.unwrap();
    assert_eq!(code, 200);
    let ns = &cluster.namespace;
    for series in [
        format!("analysis_run_info{{namespace=\"{ns}\",name=\"smoke\",phase=\"Successful\"}} 1"),
        format!(
            "analysis_run_metric_type{{namespace=\"{ns}\",name=\"smoke\",metric=\"healthy\",type=\"Web\"}} 1"
        ),
        format!(
            "analysis_run_metric_phase{{namespace=\"{ns}\",name=\"smoke\",metric=\"datadog-rate\",type=\"Datadog\",dry_run=\"true\",phase=\"Error\"}} 1"
        ),
        format!("analysis_run_reconcile_count{{namespace=\"{ns}\",name=\"smoke\"}}"),
    ] {
        assert!(metrics.contains(&series), "no {series} in:\n{metrics}");
    }

    // A run with a ttlStrategy is deleted once it has passed.
    cluster
        .create(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
            "metadata": {"name": "short-lived"},
            "spec": {
                "ttlStrategy": {"secondsAfterSuccess": 1},
                "metrics": [{"name": "healthy", "successCondition": "result.ok == true",
                    "provider": {"web": {"url": format!("{}/health", endpoint.address)}}}]
            }
        }))
        .await;
    let start = Instant::now();
    let mut seen_successful = false;
    loop {
        match runs(&cluster).get_opt("short-lived").await.unwrap() {
            Some(run) => seen_successful |= run.data["status"]["phase"] == "Successful",
            None if seen_successful => break,
            None => panic!("short-lived was deleted before it was seen Successful"),
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "short-lived not deleted after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_condition_past_its_memory_limit_errs_its_measurement_and_the_controller_goes_on() {
    let Some(cluster) = cluster("ctl-measure-bomb").await else {
        return;
    };
    // A thousand numbers: a condition mapping them twice into 1,000-byte
    // strings builds a gigabyte, past the child's 256 MiB.
    let numbers: Vec<u32> = (0..1000).collect();
    let endpoint = Endpoint::start(&serde_json::to_string(&numbers).unwrap()).await;
    let _controller = Controller::start_with_role(&cluster).await;
    let web = json!({"web": {"url": format!("{}/values", endpoint.address)}});
    let sane = json!({"name": "sane", "provider": web, "successCondition": "len(result) == 1000"});
    let run = |name: &str, metrics: Value| {
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
               "metadata": {"name": name}, "spec": {"metrics": metrics}})
    };
    cluster
        .create(run(
            "bomb",
            json!([{"name": "bomb", "consecutiveErrorLimit": 0, "provider": web,
                    "successCondition": r#"len(map(result, {map(result, {repeat("x", 1000)})})) > 0"#},
                   sane]),
        ))
        .await;
    let bombed = wait_for_run(&cluster, "bomb", "Error", |r| {
        r["status"]["phase"] == "Error"
    })
    .await;
    let results = &bombed["status"]["metricResults"];
    let message = results[0]["measurements"][0]["message"]
        .as_str()
        .unwrap_or("");
    assert!(
        message.starts_with("could not evaluate successCondition")
            && message.ends_with("the evaluation needed more than its memory limit of 256 MiB"),
        "{results:#}"
    );
    // The other metric, measured at the same time, was assessed.
    assert_eq!(results[1]["phase"], "Successful", "{results:#}");
    // And the controller measures on.
    cluster.create(run("after", json!([sane]))).await;
    wait_for_run(&cluster, "after", "Successful", |r| {
        r["status"]["phase"] == "Successful"
    })
    .await;
}
