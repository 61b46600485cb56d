//! AnalysisRuns on a real kube-apiserver (`ROLLGATE_E2E=1`; see
//! `scripts/cluster`): the controller creates the runs an analysis step and
//! background analysis ask for, the test decides their outcome (it writes
//! the runs' status; the controller's own measurements of the templates'
//! endpoint, which refuses, are errors that keep a run Running meanwhile:
//! `analysis_measure.rs` tests the measuring), and the rollout goes on,
//! aborts or terminates the runs as Argo's would. Argo's AnalysisRun CRD has
//! no status subresource, so the status is written with a merge patch of the
//! object.

mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams};
use kube::api::{Patch, PatchParams, PostParams};
use rollgate_testkit::Cluster;
use serde_json::{Value, json};

use support::{
    Controller, cluster, condition, healthy, kubectl_argo_rollouts, rollout, rollout_object,
    wait_for,
};

fn runs(cluster: &Cluster) -> Api<DynamicObject> {
    cluster.api("argoproj.io", "v1alpha1", "AnalysisRun")
}

/// The AnalysisRun `name`, once it exists (30 s at most).
async fn run_named(cluster: &Cluster, name: &str) -> Value {
    let start = Instant::now();
    loop {
        if let Some(run) = runs(cluster).get_opt(name).await.unwrap() {
            return serde_json::to_value(run).unwrap();
        }
        let existing: Vec<String> = runs(cluster)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|r| r.metadata.name)
            .collect();
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no AnalysisRun {name} after 30 s; there are {existing:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls the AnalysisRun `name` until `done` holds for it (30 s at most).
async fn wait_for_run(cluster: &Cluster, name: &str, what: &str, done: impl Fn(&Value) -> bool) {
    let start = Instant::now();
    loop {
        let run = serde_json::to_value(runs(cluster).get(name).await.unwrap()).unwrap();
        if done(&run) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "AnalysisRun {name}: not {what} after 30 s: {run:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Writes the run's status as a controller that measures would.
async fn measured(cluster: &Cluster, name: &str, status: Value) {
    runs(cluster)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await
        .unwrap();
}

/// An AnalysisTemplate with a web metric taking the service name and the
/// canary's hash.
fn template(name: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": {"name": name},
        "spec": {
            "args": [{"name": "service-name"}, {"name": "canary-hash"},
                     {"name": "threshold", "value": "0.95"}],
            "metrics": [{
                "name": "success-rate",
                "successCondition": "result.rate >= {{args.threshold}}",
                "failureLimit": 0,
                "provider": {"web": {
                    "url": "http://127.0.0.1:9/rate?service={{args.service-name}}&hash={{args.canary-hash}}",
                    "jsonPath": "{$}"}}
            }]
        }
    })
}

fn step_analysis(template: &str) -> Value {
    json!({"analysis": {
        "templates": [{"templateName": template}],
        "args": [
            {"name": "service-name", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}}
        ]
    }})
}

async fn rollout_uid(cluster: &Cluster, name: &str) -> String {
    rollout_object(cluster, name).await["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn replicas_of(cluster: &Cluster, name: &str) -> i32 {
    let api: Api<ReplicaSet> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    api.get(name)
        .await
        .unwrap()
        .spec
        .and_then(|s| s.replicas)
        .unwrap_or_default()
}

async fn events(cluster: &Cluster, reason: &str) -> Vec<String> {
    let api: Api<Event> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    api.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .filter_map(|e| e.message)
        .collect()
}

#[tokio::test]
async fn an_analysis_step_passes_then_a_failed_run_aborts_the_next_update() {
    let Some(cluster) = cluster("ctl-analysis-step").await else {
        return;
    };
    let _controller = Controller::start_with_role(&cluster).await;
    cluster.create(template("success-rate")).await;
    let steps =
        json!({"steps": [{"setWeight": 20}, step_analysis("success-rate"), {"setWeight": 60}]});
    let mut web = rollout("web", "nginx:1.27", steps);
    // No successful run is kept once it is no longer current.
    web["spec"]["analysis"] = json!({"successfulRunHistoryLimit": 0});
    cluster.create(web).await;
    let first = wait_for(&cluster, "web", "Healthy", healthy).await;
    let stable = first["status"]["stableRS"].as_str().unwrap().to_owned();
    let uid = rollout_uid(&cluster, "web").await;

    // The update reaches the analysis step: its run is created.
    kubectl_argo_rollouts(&cluster, &["set", "image", "web", "app=nginx:1.28"]);
    let waiting = wait_for(&cluster, "web", "at the analysis step", |o| {
        o["status"]["currentStepIndex"] == 1
            && o["status"]["canary"]["currentStepAnalysisRunStatus"]["name"].is_string()
    })
    .await;
    let canary = waiting["status"]["currentPodHash"]
        .as_str()
        .unwrap()
        .to_owned();
    let name = format!("web-{canary}-2-1");
    assert_eq!(
        waiting["status"]["canary"]["currentStepAnalysisRunStatus"]["name"],
        name.as_str()
    );
    let run = run_named(&cluster, &name).await;
    let labels = &run["metadata"]["labels"];
    assert_eq!(labels["rollouts-pod-template-hash"], canary.as_str());
    assert_eq!(labels["rollout-type"], "Step");
    assert_eq!(labels["step-index"], "1");
    assert_eq!(labels["app"], "web");
    assert_eq!(
        run["metadata"]["annotations"]["rollout.argoproj.io/revision"],
        "2"
    );
    let owner = &run["metadata"]["ownerReferences"][0];
    assert_eq!(
        (
            &owner["kind"],
            &owner["name"],
            &owner["uid"],
            &owner["controller"]
        ),
        (&json!("Rollout"), &json!("web"), &json!(uid), &json!(true))
    );
    assert_eq!(
        run["spec"]["args"],
        json!([{"name": "service-name", "value": "web"},
               {"name": "canary-hash", "value": canary},
               {"name": "threshold", "value": "0.95"}])
    );
    assert_eq!(run["spec"]["metrics"][0]["name"], "success-rate");
    assert_eq!(
        run["spec"]["metrics"][0]["successCondition"],
        "result.rate >= {{args.threshold}}"
    );
    // Its measurements so far are errors (the endpoint refuses): the rollout
    // waits at the step.
    assert_eq!(waiting["status"]["currentStepIndex"], 1);

    // `kubectl argo rollouts get rollout` shows the run in the tree.
    let shown = kubectl_argo_rollouts(&cluster, &["get", "rollout", "web", "--no-color"]);
    let text = String::from_utf8_lossy(&shown.stdout);
    let line = text
        .lines()
        .find(|l| l.contains(&name))
        .unwrap_or_else(|| panic!("the run {name} is not in:\n{text}"));
    assert!(line.contains("AnalysisRun"), "{line}");

    // The run succeeds: the step completes and the update is promoted.
    measured(
        &cluster,
        &name,
        json!({"phase": "Successful", "metricResults": [
            {"name": "success-rate", "phase": "Successful", "count": 1, "successful": 1}]}),
    )
    .await;
    let promoted = wait_for(&cluster, "web", "promoted", |o| {
        healthy(o) && o["status"]["stableRS"] == canary.as_str()
    })
    .await;
    assert_ne!(promoted["status"]["stableRS"], stable.as_str());
    let start = Instant::now();
    while runs(&cluster).get_opt(&name).await.unwrap().is_some() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the successful run {name} is kept beyond successfulRunHistoryLimit 0"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let succeeded = events(&cluster, "AnalysisRunSuccessful").await;
    assert!(
        succeeded.iter().any(|m| m.starts_with(&format!(
            "Step Analysis Run '{name}' Status New: 'Successful'"
        ))),
        "{succeeded:?}"
    );

    // The next update's run fails: the update aborts with the run's message.
    kubectl_argo_rollouts(&cluster, &["set", "image", "web", "app=nginx:1.29"]);
    let waiting = wait_for(&cluster, "web", "at the analysis step again", |o| {
        o["status"]["currentStepIndex"] == 1
            && o["status"]["currentPodHash"] != canary.as_str()
            && o["status"]["canary"]["currentStepAnalysisRunStatus"]["name"].is_string()
    })
    .await;
    let bad = waiting["status"]["currentPodHash"]
        .as_str()
        .unwrap()
        .to_owned();
    let name = format!("web-{bad}-3-1");
    run_named(&cluster, &name).await;
    let reason = "Metric \"success-rate\" assessed Failed due to failed (1) > failureLimit (0)";
    measured(
        &cluster,
        &name,
        json!({"phase": "Failed", "message": reason, "metricResults": [
            {"name": "success-rate", "phase": "Failed", "count": 1, "failed": 1, "message": reason}]}),
    )
    .await;
    let aborted = wait_for(&cluster, "web", "aborted", |o| {
        o["status"]["abort"] == true && o["status"]["phase"] == "Degraded"
    })
    .await;
    let st = &aborted["status"];
    let expected = format!(
        "Rollout aborted update to revision 3: Step-based analysis phase error/failed: {reason}"
    );
    assert_eq!(st["message"], format!("RolloutAborted: {expected}"));
    assert_eq!(
        condition(&aborted, "Progressing").unwrap()["message"],
        expected.as_str()
    );
    assert_eq!(st["stableRS"], canary.as_str());
    // Stable back: the aborted canary's pods go.
    let start = Instant::now();
    while replicas_of(&cluster, &format!("web-{bad}")).await != 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the aborted canary web-{bad} still has replicas"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(replicas_of(&cluster, &format!("web-{canary}")).await, 5);
    let failed = events(&cluster, "AnalysisRunFailed").await;
    // Previous: 'Running' once the controller has written its first
    // measurement, 'Pending' if the test's status came first.
    assert!(
        failed
            .iter()
            .any(|m| ["Running", "Pending"].iter().any(|previous| m
                == &format!(
                    "Step Analysis Run '{name}' Status New: 'Failed' Previous: '{previous}'"
                ))),
        "{failed:?}"
    );
}

fn cluster_api(cluster: &Cluster, group: &str, kind: &str) -> Api<DynamicObject> {
    let version = if group == "argoproj.io" {
        "v1alpha1"
    } else {
        "v1"
    };
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
    Api::all_with(cluster.client.clone(), &resource)
}

fn cluster_templates(cluster: &Cluster) -> Api<DynamicObject> {
    cluster_api(cluster, "argoproj.io", "ClusterAnalysisTemplate")
}

#[tokio::test]
async fn background_analysis_starts_at_its_step_and_is_terminated_at_promotion() {
    let Some(cluster) = cluster("ctl-analysis-bg").await else {
        return;
    };
    // The controller reads ClusterAnalysisTemplates cluster-wide: its role
    // (bound in the namespace by the test kit) is bound cluster-wide too, as
    // examples/rbac binds it.
    let grant = format!("rollgate-controller-{}", cluster.namespace);
    let bindings = cluster_api(&cluster, "rbac.authorization.k8s.io", "ClusterRoleBinding");
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": grant},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": grant},
        "subjects": [{"kind": "ServiceAccount", "name": "router", "namespace": cluster.namespace}]
    });
    bindings
        .create(
            &PostParams::default(),
            &serde_json::from_value(binding).unwrap(),
        )
        .await
        .unwrap();
    // A ClusterAnalysisTemplate named after the test's namespace, removed at the end.
    let shared = format!("{}-latency", cluster.namespace);
    let mut body = template(&shared);
    body["kind"] = json!("ClusterAnalysisTemplate");
    body["spec"]["metrics"][0]["interval"] = json!("30s");
    cluster_templates(&cluster)
        .create(
            &PostParams::default(),
            &serde_json::from_value(body).unwrap(),
        )
        .await
        .unwrap();
    let _controller = Controller::start_with_role(&cluster).await;
    let canary = json!({
        "analysis": {
            "templates": [{"templateName": shared, "clusterScope": true}],
            "startingStep": 2,
            "args": [
                {"name": "service-name", "value": "web"},
                {"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}}
            ]
        },
        "steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}, {"pause": {}}]
    });
    cluster.create(rollout("web", "nginx:1.27", canary)).await;
    wait_for(&cluster, "web", "Healthy", healthy).await;

    kubectl_argo_rollouts(&cluster, &["set", "image", "web", "app=nginx:1.28"]);
    let paused = wait_for(&cluster, "web", "paused at step 1", |o| {
        o["status"]["phase"] == "Paused" && o["status"]["currentStepIndex"] == 1
    })
    .await;
    // Before startingStep: no background run.
    assert!(
        paused["status"]["canary"]["currentBackgroundAnalysisRunStatus"].is_null(),
        "{:#}",
        paused["status"]
    );
    assert!(
        runs(&cluster)
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let hash = paused["status"]["currentPodHash"]
        .as_str()
        .unwrap()
        .to_owned();

    kubectl_argo_rollouts(&cluster, &["promote", "web"]);
    let running = wait_for(&cluster, "web", "paused at step 3", |o| {
        o["status"]["phase"] == "Paused" && o["status"]["currentStepIndex"] == 3
    })
    .await;
    let name = format!("web-{hash}-2");
    assert_eq!(
        running["status"]["canary"]["currentBackgroundAnalysisRunStatus"]["name"],
        name.as_str()
    );
    let run = run_named(&cluster, &name).await;
    assert_eq!(run["metadata"]["labels"]["rollout-type"], "Background");
    assert!(run["metadata"]["labels"]["step-index"].is_null());
    assert_eq!(run["spec"]["args"][1]["value"], hash.as_str());
    assert_eq!(run["spec"]["metrics"][0]["interval"], "30s");
    assert!(run["spec"]["terminate"].is_null());
    measured(&cluster, &name, json!({"phase": "Running"})).await;

    // Promotion ends the update: the background run is terminated.
    kubectl_argo_rollouts(&cluster, &["promote", "web"]);
    wait_for(&cluster, "web", "promoted", |o| {
        healthy(o) && o["status"]["stableRS"] == hash.as_str()
    })
    .await;
    wait_for_run(&cluster, &name, "terminated", |r| {
        r["spec"]["terminate"] == true
    })
    .await;
    let running = events(&cluster, "AnalysisRunRunning").await;
    assert!(
        running.iter().any(|m| m.starts_with(&format!(
            "Background Analysis Run '{name}' Status New: 'Running'"
        ))),
        "{running:?}"
    );
    cluster_templates(&cluster)
        .delete(&shared, &DeleteParams::default())
        .await
        .unwrap();
    bindings
        .delete(&grant, &DeleteParams::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_missing_template_makes_the_rollout_invalid_until_it_exists() {
    let Some(cluster) = cluster("ctl-analysis-missing").await else {
        return;
    };
    let _controller = Controller::start_with_role(&cluster).await;
    let steps = json!({"steps": [{"setWeight": 20}, step_analysis("absent")]});
    cluster.create(rollout("web", "nginx:1.27", steps)).await;
    let invalid = wait_for(&cluster, "web", "InvalidSpec", |o| {
        condition(o, "InvalidSpec").is_some()
    })
    .await;
    assert_eq!(
        condition(&invalid, "InvalidSpec").unwrap()["message"],
        "The Rollout \"web\" is invalid: spec.strategy.canary.steps[1].analysis.templates: Invalid value: \"absent\": AnalysisTemplate 'absent' not found"
    );
    // Nothing else was written: no ReplicaSet, no run.
    let replica_sets: Api<ReplicaSet> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    assert!(
        replica_sets
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // The template's arrival wakes the Rollout.
    cluster.create(template("absent")).await;
    let ready = wait_for(&cluster, "web", "Healthy", healthy).await;
    assert!(condition(&ready, "InvalidSpec").is_none());
}
