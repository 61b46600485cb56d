//! Seed 003: a canary measured by a Prometheus success rate, as the seed's
//! users write it (background analysis from the second step,
//! `successCondition: result[0] > 0.90`, `failureLimit: 3`). A good
//! version is promoted; a bad one fails its analysis and is rolled back
//! without anyone typing a command.
//!
//! The seed's Prometheus reads NGINX's request counters per Ingress; here
//! a real Prometheus on 127.0.0.1 scrapes testkit's exporter, which counts
//! requests per pod-template-hash with the error ratio the scenario sets for
//! each new ReplicaSet, and the template's query takes the canary's hash as
//! an argument (`podTemplateHashValue: Latest`). Deliberate differences
//! from the seed, to keep it fast: no traffic router (a basic canary, so
//! the weights follow the pods), 5 s pauses instead of 2 minutes (20 s at
//! the step where the analysis first runs), and a 2 s measurement interval
//! instead of 10 s.

use std::time::Duration;

use rollgate_e2e::{Scene, Under, View, condition, phase, replicas, scenario, status};
use rollgate_testkit::exporter::{Exporter, success_rate};
use rollgate_testkit::prometheus::Prometheus;
use serde_json::{Value, json};

/// The seed's Rollout.
const ROLLOUT: &str = "canary-demo";

/// The seed's AnalysisTemplate and its one metric.
const METRIC: &str = "success-rate";

/// The Rollout's replicas: each step's weight is a whole number of pods.
const REPLICAS: i64 = 5;

/// How long Prometheus may take to start and scrape on a loaded machine.
const PROMETHEUS_PATIENCE: Duration = Duration::from_secs(120);

/// The seed's AnalysisTemplate: the success rate of the canary's
/// pod-template-hash, measured every 2 s, failing the run at the fourth
/// value of 0.90 or less.
fn template(prometheus: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": {"name": METRIC},
        "spec": {
            "args": [{"name": "canary-hash"}],
            "metrics": [{
                "name": METRIC, "interval": "2s", "failureLimit": 3,
                "successCondition": "result[0] > 0.90",
                "provider": {"prometheus": {
                    "address": prometheus,
                    "query": success_rate("{{args.canary-hash}}", "30s")
                }}
            }]
        }
    })
}

/// The seed's Rollout: background analysis from step 2 (`setWeight: 40`),
/// weights 20, 40, 60 and 80 each followed by a timed pause.
fn rollout() -> Value {
    let pause = |seconds: u32| json!({"pause": {"duration": format!("{seconds}s")}});
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": ROLLOUT},
        "spec": {
            "replicas": REPLICAS,
            "selector": {"matchLabels": {"app": ROLLOUT}},
            "strategy": {"canary": {
                "analysis": {
                    "templates": [{"templateName": METRIC}],
                    "startingStep": 2,
                    "args": [{"name": "canary-hash",
                              "valueFrom": {"podTemplateHashValue": "Latest"}}]
                },
                "canaryService": "canary-demo-canary", "stableService": "canary-demo",
                "steps": [
                    {"setWeight": 20}, pause(5), {"setWeight": 40}, pause(20),
                    {"setWeight": 60}, pause(5), {"setWeight": 80}, pause(5)
                ]
            }},
            "template": {
                "metadata": {"labels": {"app": ROLLOUT}},
                "spec": {"containers": [{
                    "name": ROLLOUT, "image": "argoproj/rollouts-demo:blue",
                    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
                }]}
            }
        }
    })
}

/// The background AnalysisRun of revision `revision`, whose ReplicaSet has
/// pod-template-hash `hash`: `<rollout>-<hash>-<revision>`, as Argo names it.
fn run_name(hash: &Value, revision: u32) -> String {
    format!("{ROLLOUT}-{}-{revision}", hash.as_str().expect("a hash"))
}

/// The pod-template-hash of the ReplicaSet in `view` that is none of
/// `known`.
fn new_replica_set(view: &View, known: &[&Value]) -> Option<Value> {
    view["replicaSets"]
        .as_object()?
        .keys()
        .find(|hash| !known.iter().any(|k| k.as_str() == Some(hash.as_str())))
        .map(|hash| json!(hash))
}

/// `(phase, value)` of each measurement of the run under `key` in `view`,
/// with the run's one metric result.
fn measurements(view: &View, key: &str) -> (Vec<(String, String)>, Value) {
    let result = view[key]["status"]["metricResults"]
        .as_array()
        .and_then(|r| r.iter().find(|m| m["name"] == METRIC))
        .cloned()
        .unwrap_or(Value::Null);
    let taken = result["measurements"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let text = |f: &str| m[f].as_str().unwrap_or_default().to_owned();
            (text("phase"), text("value"))
        })
        .collect();
    (taken, result)
}

/// The one number of a measurement's value as Argo writes a vector of one
/// (`[0.8]`).
fn number(value: &str) -> f64 {
    value
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .unwrap_or_else(|_| panic!("a vector of one number, not {value:?}"))
}

/// The run under `key` in `view` has phase `wanted`.
fn run_phase(view: &View, key: &str, wanted: &str) -> bool {
    view[key]["status"]["phase"] == wanted
}

/// Changes the image as the seed's users do,
/// `kubectl argo rollouts set image`, and returns the pod-template-hash of
/// the ReplicaSet it makes, read from that ReplicaSet (and the status's
/// `currentPodHash` agreeing).
async fn set_image(s: &Scene, image: &str, known: &[&Value]) -> Value {
    s.kubectl(&["set", "image", ROLLOUT, &format!("{ROLLOUT}={image}")]);
    let view = s
        .until("the new ReplicaSet", |v| {
            new_replica_set(v, known).is_some_and(|h| status(v)["currentPodHash"] == h)
        })
        .await;
    new_replica_set(&view, known).expect("the new ReplicaSet")
}

scenario!(seed_003_prometheus_analysis);

/// Seed 003: green is promoted after its background analysis measures a
/// success rate of 1; yellow, failing 20 % of its requests, fails the
/// analysis at its fourth measurement and the Rollout is aborted: Degraded,
/// with Argo's message naming the metric and the limit, all 5 pods back on
/// green.
async fn seed_003_prometheus_analysis(under: Under) {
    let Some(mut s) = Scene::new("seed-003", under, ROLLOUT).await else {
        return;
    };
    let exporter = Exporter::start().await;
    let Some(mut prometheus) = Prometheus::start(&[exporter.target()]) else {
        return;
    };
    for service in ["canary-demo", "canary-demo-canary"] {
        s.cluster
            .create(json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": service, "labels": {"app": ROLLOUT}},
                "spec": {"selector": {"app": ROLLOUT},
                         "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}
            }))
            .await;
    }
    s.cluster.create(template(prometheus.address())).await;
    s.cluster.create(rollout()).await;
    s.start_basic().await;
    prometheus
        .until_scraped(&exporter, 1, PROMETHEUS_PATIENCE)
        .await;

    let first = s
        .until("blue Healthy", |v| {
            phase(v) == "Healthy" && status(v)["stableRS"].is_string()
        })
        .await;
    let blue = status(&first)["stableRS"].clone();
    exporter.set_error_ratio(blue.as_str().unwrap(), 0.0);

    // (a) green answers every request: measured at 1, promoted.
    let green = set_image(&s, "argoproj/rollouts-demo:green", &[&blue]).await;
    exporter.set_error_ratio(green.as_str().unwrap(), 0.0);
    s.watch(
        "green_run",
        "argoproj.io/v1alpha1",
        "AnalysisRun",
        &run_name(&green, 2),
    );
    let first_pause = s
        .until("green paused at step 1 (20 %)", |v| {
            phase(v) == "Paused" && status(v)["currentStepIndex"] == 1
        })
        .await;
    assert_eq!(replicas(&first_pause, &green), 1, "{first_pause:#}");
    assert!(
        first_pause["green_run"].is_null(),
        "no analysis before startingStep 2: {:#}",
        first_pause["green_run"]
    );
    s.until("green's analysis running at step 3 (40 %)", |v| {
        status(v)["currentStepIndex"] == 3 && run_phase(v, "green_run", "Running")
    })
    .await;
    let promoted = s
        .until("green promoted: Healthy, its analysis Successful", |v| {
            phase(v) == "Healthy"
                && status(v)["stableRS"] == green
                && replicas(v, &green) == REPLICAS
                && run_phase(v, "green_run", "Successful")
        })
        .await;
    let (taken, result) = measurements(&promoted, "green_run");
    assert_eq!(result["failed"].as_i64().unwrap_or(0), 0, "{result:#}");
    let successful: Vec<f64> = taken
        .iter()
        .filter(|(p, _)| p == "Successful")
        .map(|(_, v)| number(v))
        .collect();
    assert!(
        successful.len() >= 2 && successful.iter().all(|v| (v - 1.0).abs() < 1e-9),
        "green measured at 1, at least twice: {result:#}"
    );
    assert!(
        taken.iter().all(|(p, _)| p == "Successful" || p == "Error"),
        "{result:#}"
    );
    assert_eq!(s.shown_status(), "Healthy");

    // (b) yellow fails 20 % of its requests: its analysis fails at the
    // fourth measurement of 0.8 and the update is aborted.
    let yellow = set_image(&s, "argoproj/rollouts-demo:yellow", &[&blue, &green]).await;
    exporter.set_error_ratio(yellow.as_str().unwrap(), 0.2);
    s.watch(
        "yellow_run",
        "argoproj.io/v1alpha1",
        "AnalysisRun",
        &run_name(&yellow, 3),
    );
    let aborted = s
        .until(
            "yellow aborted: Degraded, its analysis Failed, all pods on green",
            |v| {
                phase(v) == "Degraded"
                    && status(v)["abort"] == true
                    && run_phase(v, "yellow_run", "Failed")
                    && replicas(v, &green) == REPLICAS
                    && replicas(v, &yellow) == 0
            },
        )
        .await;
    assert_eq!(status(&aborted)["stableRS"], green);
    let (taken, result) = measurements(&aborted, "yellow_run");
    let failed: Vec<&str> = taken
        .iter()
        .filter(|(p, _)| p == "Failed")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        failed.len(),
        4,
        "failureLimit 3: the fourth failure ends it: {result:#}"
    );
    assert!(
        failed.iter().all(|v| (number(v) - 0.8).abs() < 1e-6),
        "yellow measured at 0.8: {result:#}"
    );
    assert_eq!(result["failed"], 4, "{result:#}");

    let argos = format!(
        "Rollout aborted update to revision 3: Background analysis phase error/failed: \
         Metric \"{METRIC}\" assessed Failed due to failed (4) > failureLimit (3)"
    );
    let (cond_status, reason, message) =
        condition(&aborted, "Progressing").expect("a Progressing condition");
    assert_eq!(
        (cond_status.as_str(), reason.as_str()),
        ("False", "RolloutAborted")
    );
    assert_eq!(
        status(&aborted)["message"],
        format!("RolloutAborted: {message}"),
        "{:#}",
        status(&aborted)
    );
    assert_eq!(
        aborted["yellow_run"]["status"]["message"],
        message
            .strip_prefix(
                "Rollout aborted update to revision 3: Background analysis phase error/failed: "
            )
            .unwrap_or_default(),
        "the run's message is the abort's reason"
    );
    if under.explains_values() {
        let values = failed.join(", ");
        assert_eq!(
            message,
            format!("{argos} (values [{values}] against successCondition \"result[0] > 0.90\")")
        );
    } else {
        assert_eq!(message, argos);
    }

    let shown = s.kubectl(&["get", "rollout", ROLLOUT, "--no-color"]);
    assert_eq!(s.shown_status(), "Degraded");
    let shown_message = shown
        .lines()
        .find(|l| l.starts_with("Message:"))
        .unwrap_or_else(|| panic!("a Message line in kubectl argo rollouts get: {shown}"));
    assert_eq!(
        shown_message.trim_start_matches("Message:").trim(),
        format!("RolloutAborted: {message}"),
        "{shown}"
    );
    assert!(
        shown.contains(&run_name(&yellow, 3)),
        "kubectl argo rollouts get lists the failed run: {shown}"
    );
}
