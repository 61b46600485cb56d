//! rollgate-controller runs standalone Experiments on a real kube-apiserver
//! (`ROLLGATE_E2E=1`; see `scripts/cluster`), and Argo's controller runs
//! the same Experiments beside it, each in a namespace of its own; the
//! objects and the phases they go through are compared field by field.
//!
//! - two templates (one with a Service) for 20 s: Pending, Running,
//!   Successful; the ReplicaSets `<experiment>-<template>` and the Service
//!   as Argo makes them; then scaled to 0 after `scaleDownDelaySeconds` and
//!   the Service deleted;
//! - an analysis whose web metric (a server of the test's on 127.0.0.1)
//!   fails: the Experiment fails with the run's message;
//! - `terminate: true` while Running: Successful, scaled down.
//!
//! The pod template hash is the one value that differs: Argo hashes Go's
//! JSON of the template, Rollgate its own (see
//! `rollgate_controller::workload::hash`); each side's hash is checked to
//! be the same in every place it appears.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::runtime::watcher;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Event, Service};
use kube::api::{Api, ListParams, Patch, PatchParams};
use rollgate_testkit::{Argo, Cluster, RollgateController};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use support::{Controller, cluster};

const HASH: &str = "rollouts-pod-template-hash";

fn template(name: &str, replicas: i32, service: bool) -> Value {
    let labels = json!({"app": "shop", "role": name});
    let mut template = json!({
        "name": name,
        "replicas": replicas,
        "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.27",
                "ports": [{"name": "http", "containerPort": 8080}],
                "resources": {"requests": {"cpu": "50m"}}}]}}
    });
    if service {
        template["service"] = json!({});
    }
    template
}

fn experiment(spec: Value) -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Experiment",
           "metadata": {"name": "exp"}, "spec": spec})
}

/// One controller's namespace, and the phases its Experiment went
/// through, as a watch saw every status written.
struct Side {
    who: &'static str,
    cluster: Cluster,
    phases: Arc<Mutex<Vec<(String, Value)>>>,
    watch: tokio::task::JoinHandle<()>,
}

impl Drop for Side {
    fn drop(&mut self) {
        self.watch.abort();
    }
}

impl Side {
    /// Starts watching the namespace's Experiment `exp` (returns once the
    /// watch has listed).
    async fn new(who: &'static str, cluster: Cluster) -> Self {
        let phases = Arc::new(Mutex::new(Vec::<(String, Value)>::new()));
        let api = cluster.api("argoproj.io", "v1alpha1", "Experiment");
        let (listed, is_listed) = tokio::sync::oneshot::channel();
        let seen = phases.clone();
        let watch = tokio::spawn(async move {
            let mut listed = Some(listed);
            let events =
                watcher::watcher(api, watcher::Config::default().fields("metadata.name=exp"));
            let mut events = std::pin::pin!(events);
            while let Some(event) = events.next().await {
                let object = match event {
                    Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => o,
                    Ok(watcher::Event::InitDone) => {
                        if let Some(listed) = listed.take() {
                            let _ = listed.send(());
                        }
                        continue;
                    }
                    _ => continue,
                };
                if let Some(phase) = object.data["status"]["phase"].as_str() {
                    let mut phases = seen.lock().unwrap();
                    if phases.last().map(|(p, _)| p.as_str()) != Some(phase) {
                        phases.push((phase.to_owned(), object.data["status"].clone()));
                    }
                }
            }
        });
        is_listed.await.expect("the Experiment watch lists");
        Self {
            who,
            cluster,
            phases,
            watch,
        }
    }

    /// The phases seen so far, each once in a row.
    fn phases(&self) -> Vec<String> {
        self.phases
            .lock()
            .unwrap()
            .iter()
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// The status as written when the Experiment first went `phase`.
    fn first(&self, phase: &str) -> Value {
        let phases = self.phases.lock().unwrap();
        let found = phases.iter().find(|(p, _)| p == phase);
        found
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| panic!("{}: never {phase}", self.who))
    }

    async fn experiment(&self) -> Value {
        let object = self
            .cluster
            .api("argoproj.io", "v1alpha1", "Experiment")
            .get("exp")
            .await
            .unwrap();
        serde_json::to_value(object).unwrap()
    }

    /// Waits until `done` holds for the Experiment.
    async fn wait(&self, what: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let object = self.experiment().await;
            if done(&object) {
                return object;
            }
            assert!(
                start.elapsed() < limit,
                "{}: the Experiment is not {what} after {limit:?}; status: {:#}",
                self.who,
                object["status"]
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn replica_sets(&self) -> BTreeMap<String, ReplicaSet> {
        let api: Api<ReplicaSet> =
            Api::namespaced(self.cluster.client.clone(), &self.cluster.namespace);
        api.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|rs| (rs.metadata.name.clone().unwrap_or_default(), rs))
            .collect()
    }

    async fn services(&self) -> BTreeMap<String, Service> {
        let api: Api<Service> =
            Api::namespaced(self.cluster.client.clone(), &self.cluster.namespace);
        api.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|s| (s.metadata.name.clone().unwrap_or_default(), s))
            .collect()
    }

    async fn wait_scaled_down(&self) {
        let start = Instant::now();
        loop {
            let sets = self.replica_sets().await;
            let sizes: Vec<(i32, i32)> = sets
                .values()
                .map(|rs| {
                    (
                        rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
                        rs.status.as_ref().map_or(0, |s| s.replicas),
                    )
                })
                .collect();
            if !sets.is_empty() && sizes.iter().all(|&s| s == (0, 0)) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "{}: the ReplicaSets are not scaled down: {sizes:?}",
                self.who
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits for the end: the Service gone and the status down to no pods.
    async fn ended(&self) -> Value {
        let start = Instant::now();
        while !self.services().await.is_empty() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{}: the Service is not deleted",
                self.who
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.wait("emptied", Duration::from_secs(60), emptied).await
    }

    async fn experiment_event_reasons(&self) -> Vec<String> {
        let api: Api<Event> = Api::namespaced(self.cluster.client.clone(), &self.cluster.namespace);
        let mut reasons: Vec<String> = api
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| e.involved_object.kind.as_deref() == Some("Experiment"))
            .filter_map(|e| e.reason)
            .collect();
        reasons.sort();
        reasons.dedup();
        reasons
    }
}

/// Both controllers, each in its namespace; `None` without a cluster.
async fn sides(prefix: &str) -> Option<(Side, Side, RollgateController, Argo)> {
    let ours = cluster(&format!("{prefix}-rg")).await?;
    let theirs = cluster(&format!("{prefix}-argo")).await?;
    let controller = Controller::start_with_role(&ours).await;
    let argo = theirs.start_argo(&[]).await;
    Some((
        Side::new("rollgate-controller", ours).await,
        Side::new("Argo's controller", theirs).await,
        controller,
        argo,
    ))
}

/// A ReplicaSet with its pod template hash taken out of the labels, the
/// selector and the pod template's labels, after checking they agree.
fn without_hash(who: &str, rs: &ReplicaSet) -> Value {
    let mut value = serde_json::to_value(rs).unwrap();
    let hash = value["metadata"]["labels"][HASH].clone();
    assert!(
        hash.is_string(),
        "{who}: {} has no hash label",
        rs.metadata.name.as_deref().unwrap_or_default()
    );
    for at in [
        "/metadata/labels",
        "/spec/selector/matchLabels",
        "/spec/template/metadata/labels",
    ] {
        let labels = value
            .pointer_mut(at)
            .and_then(Value::as_object_mut)
            .unwrap();
        assert_eq!(labels.remove(HASH).as_ref(), Some(&hash), "{who}: {at}");
    }
    let metadata = &value["metadata"];
    let owner = &metadata["ownerReferences"][0];
    json!({
        "name": metadata["name"],
        "labels": metadata["labels"],
        "annotations": metadata["annotations"],
        "owner": [owner["apiVersion"], owner["kind"], owner["name"], owner["controller"], owner["blockOwnerDeletion"]],
        "replicas": value["spec"]["replicas"],
        "minReadySeconds": value["spec"]["minReadySeconds"],
        "selector": value["spec"]["selector"],
        "podLabels": value["spec"]["template"]["metadata"]["labels"],
    })
}

/// A Service as compared: its selector without the hash (checked to be the
/// ReplicaSet's), ports, annotations and owner.
fn service_without_hash(who: &str, service: &Service, rs_hash: &str) -> Value {
    let mut value = serde_json::to_value(service).unwrap();
    let selector = value
        .pointer_mut("/spec/selector")
        .and_then(Value::as_object_mut)
        .unwrap();
    assert_eq!(
        selector.remove(HASH),
        Some(json!(rs_hash)),
        "{who}: the Service selects the ReplicaSet"
    );
    let owner = &value["metadata"]["ownerReferences"][0];
    json!({
        "name": value["metadata"]["name"],
        "annotations": value["metadata"]["annotations"],
        "owner": [owner["kind"], owner["name"], owner["controller"]],
        "selector": value["spec"]["selector"],
        "ports": value["spec"]["ports"],
    })
}

/// The status as compared: no times, no hashes, and no `serviceName`:
/// Argo, looking at a copy of the Experiment older than its own last write
/// (its patch has no precondition), sometimes writes `serviceName` and
/// `podTemplateHash` back after clearing them or the other way round, so
/// Rollgate's are checked on their own (it writes over the version it
/// read).
fn comparable_status(status: &Value) -> Value {
    let templates: Vec<Value> = status["templateStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            json!([
                t["name"],
                t["status"],
                t["replicas"],
                t["updatedReplicas"],
                t["readyReplicas"],
                t["availableReplicas"],
                t["message"]
            ])
        })
        .collect();
    let conditions: Vec<Value> = status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| json!([c["type"], c["status"], c["reason"], c["message"]]))
        .collect();
    let runs: Vec<Value> = status["analysisRuns"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| json!([r["name"], r["analysisRun"], r["phase"]]))
        .collect();
    json!({"phase": status["phase"], "availableAt": status["availableAt"].is_string(),
           "templates": templates, "conditions": conditions, "runs": runs})
}

/// Running, settled: both templates Running and the look after the one
/// that set `availableAt` done (the Progressing condition says "running").
/// The ended Experiments compared; Rollgate's says no Service is left.
fn assert_ended_alike(ours: &Value, argos: &Value) {
    assert_eq!(
        comparable_status(&ours["status"]),
        comparable_status(&argos["status"]),
        "the status when ended"
    );
    for t in ours["status"]["templateStatuses"].as_array().unwrap() {
        assert!(
            t["serviceName"].is_null() && t["podTemplateHash"].is_null(),
            "{t}"
        );
    }
}

/// Every template's status down to no pods.
fn emptied(o: &Value) -> bool {
    o["status"]["templateStatuses"].as_array().is_some_and(|t| {
        t.iter()
            .all(|t| t["replicas"] == 0 && t["availableReplicas"] == 0)
    })
}

fn available(o: &Value) -> bool {
    o["status"]["phase"] == "Running"
        && o["status"]["templateStatuses"]
            .as_array()
            .is_some_and(|t| t.len() == 2 && t.iter().all(|t| t["status"] == "Running"))
        && o["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Progressing" && c["reason"] == "NewReplicaSetAvailable")
}

#[tokio::test]
async fn two_templates_run_for_their_duration_as_under_argo() {
    let Some((ours, argos, _controller, _argo)) = sides("exp-run").await else {
        return;
    };
    let spec = json!({"duration": "20s", "scaleDownDelaySeconds": 3,
        "templates": [template("baseline", 1, false), template("canary", 2, true)]});
    for side in [&ours, &argos] {
        side.cluster.create(experiment(spec.clone())).await;
    }
    let run = async |side: &Side| {
        let running = side
            .wait("Running", Duration::from_secs(60), available)
            .await;
        let sets = side.replica_sets().await;
        let services = side.services().await;
        let done = side
            .wait("Successful", Duration::from_secs(90), |o| {
                o["status"]["phase"] == "Successful"
            })
            .await;
        side.wait_scaled_down().await;
        let ended = side.ended().await;
        (side.phases(), running, sets, services, done, ended)
    };
    // Both run at once: the duration is spent once.
    let (mine, theirs) = tokio::join!(run(&ours), run(&argos));
    assert_eq!(mine.0, ["Pending", "Running", "Successful"], "our phases");
    assert_eq!(mine.0, theirs.0, "the phases");
    for (who, sets) in [(ours.who, &mine.2), (argos.who, &theirs.2)] {
        assert_eq!(
            sets.keys().collect::<Vec<_>>(),
            ["exp-baseline", "exp-canary"],
            "{who}: the ReplicaSets"
        );
    }
    for name in ["exp-baseline", "exp-canary"] {
        assert_eq!(
            without_hash(ours.who, &mine.2[name]),
            without_hash(argos.who, &theirs.2[name]),
            "{name}"
        );
    }
    assert_eq!(
        mine.2["exp-canary"].spec.as_ref().unwrap().replicas,
        Some(2)
    );
    let hash = |sets: &BTreeMap<String, ReplicaSet>| {
        sets["exp-canary"].metadata.labels.as_ref().unwrap()[HASH].clone()
    };
    for (who, services, sets) in [
        (ours.who, &mine.3, &mine.2),
        (argos.who, &theirs.3, &theirs.2),
    ] {
        assert_eq!(
            services.keys().collect::<Vec<_>>(),
            ["exp-canary"],
            "{who}: the Services"
        );
        let _ = service_without_hash(who, &services["exp-canary"], &hash(sets));
    }
    assert_eq!(
        service_without_hash(ours.who, &mine.3["exp-canary"], &hash(&mine.2)),
        service_without_hash(argos.who, &theirs.3["exp-canary"], &hash(&theirs.2))
    );
    assert_eq!(
        mine.1["status"]["templateStatuses"][1]["podTemplateHash"],
        json!(hash(&mine.2))
    );
    assert_eq!(
        mine.1["status"]["templateStatuses"][1]["serviceName"],
        "exp-canary"
    );
    assert_eq!(
        comparable_status(&mine.1["status"]),
        comparable_status(&theirs.1["status"]),
        "the status when Running"
    );
    assert_ended_alike(&mine.5, &theirs.5);
    assert_eq!(mine.4["status"]["phase"], "Successful");
    assert_eq!(
        comparable_status(&ours.first("Successful")),
        comparable_status(&argos.first("Successful")),
        "the status as it went Successful"
    );
    assert!(ours.services().await.is_empty(), "the Service is deleted");
    assert_eq!(
        ours.experiment_event_reasons().await,
        argos.experiment_event_reasons().await,
        "the Experiment's Event reasons"
    );
}

/// A web metric endpoint on 127.0.0.1 answering `body` to every request.
async fn endpoint(body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
            });
        }
    });
    address
}

#[tokio::test]
async fn a_failing_analysis_fails_the_experiment_as_under_argo() {
    let Some((ours, argos, _controller, _argo)) = sides("exp-fail").await else {
        return;
    };
    let url = endpoint(r#"{"ok": false}"#).await;
    for side in [&ours, &argos] {
        side.cluster
            .create(json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
                "metadata": {"name": "check"},
                "spec": {"args": [{"name": "hash"}], "metrics": [{"name": "ok",
                    "successCondition": "result == true",
                    "provider": {"web": {"url": format!("{url}?hash={{{{args.hash}}}}"), "jsonPath": "{$.ok}"}}}]}}))
            .await;
        side.cluster
            .create(experiment(json!({"scaleDownDelaySeconds": 0,
                "templates": [template("canary", 1, false)],
                "analyses": [{"name": "check", "templateName": "check",
                    "args": [{"name": "hash", "value": "{{templates.canary.podTemplateHash}}"}]}]})))
            .await;
    }
    let run = async |side: &Side| {
        let failed = side
            .wait("Failed", Duration::from_secs(90), |o| {
                o["status"]["phase"] == "Failed"
            })
            .await;
        side.wait_scaled_down().await;
        let ended = side.wait("emptied", Duration::from_secs(60), emptied).await;
        (side.phases(), failed, ended)
    };
    let (mine, theirs) = tokio::join!(run(&ours), run(&argos));
    assert_eq!(mine.0, ["Pending", "Running", "Failed"], "our phases");
    assert_eq!(mine.0, theirs.0, "the phases");
    assert_eq!(
        comparable_status(&ours.first("Failed")),
        comparable_status(&argos.first("Failed")),
        "the status as it went Failed"
    );
    // Scaled down, the conditions aside: Argo takes one more look after its
    // last write and says "running"; rollgate-controller does not always
    // take that look yet (a wake after its own write is sometimes missed),
    // so its Progressing condition may still say "progressing".
    let scaled_down = |o: &Value| {
        let mut status = comparable_status(&o["status"]);
        status["conditions"] = Value::Null;
        status
    };
    assert_eq!(
        scaled_down(&mine.2),
        scaled_down(&theirs.2),
        "when scaled down"
    );
    assert_eq!(
        mine.1["status"]["analysisRuns"][0]["analysisRun"],
        "exp-check"
    );
    // Argo's message, then the values Rollgate adds.
    let argo_message = theirs.1["status"]["message"].as_str().unwrap();
    let message = mine.1["status"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(argo_message) && !argo_message.is_empty(),
        "ours: {message:?}; Argo's: {argo_message:?}"
    );
    // The run got the canary's hash as its argument.
    let run = ours
        .cluster
        .api("argoproj.io", "v1alpha1", "AnalysisRun")
        .get("exp-check")
        .await
        .unwrap();
    let canary = &ours.replica_sets().await["exp-canary"];
    assert_eq!(
        run.data["spec"]["args"][0]["value"],
        json!(canary.metadata.labels.as_ref().unwrap()[HASH])
    );
    assert_eq!(
        run.metadata.owner_references.as_ref().unwrap()[0].kind,
        "Experiment"
    );
}

#[tokio::test]
async fn terminate_ends_a_running_experiment_successfully_as_under_argo() {
    let Some((ours, argos, _controller, _argo)) = sides("exp-stop").await else {
        return;
    };
    for side in [&ours, &argos] {
        side.cluster
            .create(experiment(json!({"scaleDownDelaySeconds": 0,
                "templates": [template("baseline", 1, false), template("canary", 1, true)]})))
            .await;
    }
    let run = async |side: &Side| {
        side.wait("Running", Duration::from_secs(60), available)
            .await;
        side.cluster
            .api("argoproj.io", "v1alpha1", "Experiment")
            .patch(
                "exp",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"terminate": true}})),
            )
            .await
            .unwrap();
        let done = side
            .wait("Successful", Duration::from_secs(60), |o| {
                o["status"]["phase"] == "Successful"
            })
            .await;
        side.wait_scaled_down().await;
        let ended = side.ended().await;
        (side.phases(), done, ended)
    };
    let (mine, theirs) = tokio::join!(run(&ours), run(&argos));
    assert_eq!(mine.0, ["Pending", "Running", "Successful"], "our phases");
    assert_eq!(mine.0, theirs.0, "the phases");
    assert_eq!(mine.1["status"]["phase"], "Successful");
    assert_eq!(
        comparable_status(&ours.first("Successful")),
        comparable_status(&argos.first("Successful")),
        "the status as it went Successful"
    );
    assert_ended_alike(&mine.2, &theirs.2);
}
