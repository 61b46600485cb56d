//! Experiment steps on a real kube-apiserver (`ROLLGATE_E2E=1`; see
//! `scripts/cluster`): `rollgate-controller`, with exactly its ClusterRole,
//! creates the step's Experiment as Argo's controller does (the same
//! Rollout run under Argo's controller in a namespace of its own gives the
//! object to compare with, field by field), and the test plays the
//! Experiment's own reconciler: it writes the Experiment's status
//! (Running, then Successful) and the rollout goes on; a Failed one aborts
//! the next update, and its Experiment is cancelled when the rollout moves
//! away from it.

mod support;

use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use rollgate_testkit::Cluster;
use serde_json::{Value, json};

use support::{Controller, cluster, condition, healthy, kubectl_argo_rollouts, rollout, wait_for};

fn experiments(cluster: &Cluster) -> Api<DynamicObject> {
    cluster.api("argoproj.io", "v1alpha1", "Experiment")
}

/// The Experiment `name`, once it exists (60 s at most).
async fn experiment_named(cluster: &Cluster, name: &str) -> Value {
    let start = Instant::now();
    loop {
        if let Some(e) = experiments(cluster).get_opt(name).await.unwrap() {
            return serde_json::to_value(e).unwrap();
        }
        let existing: Vec<String> = experiments(cluster)
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|e| e.metadata.name)
            .collect();
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no Experiment {name} after 60 s; there are {existing:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Writes the Experiment's status as its reconciler would (Argo's
/// Experiment CRD has no status subresource).
async fn experiment_status(cluster: &Cluster, name: &str, status: Value) {
    experiments(cluster)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await
        .unwrap();
}

/// An AnalysisTemplate the experiment's analysis names (its endpoint
/// refuses: nothing here measures it to an end).
fn template() -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": {"name": "smoke"},
        "spec": {"args": [{"name": "hash"}, {"name": "team"}],
            "metrics": [{"name": "up", "interval": "1h", "successCondition": "result == 1",
                "provider": {"web": {"url": "http://127.0.0.1:9/up?hash={{args.hash}}", "jsonPath": "{$.up}"}}}]}
    })
}

/// The Rollout `web`: setWeight 20, the experiment, setWeight 60.
fn web(image: &str) -> Value {
    let steps = json!({"steps": [
        {"setWeight": 20},
        {"experiment": {
            "duration": "10m",
            "templates": [
                {"name": "preview", "specRef": "canary", "replicas": 1,
                 "metadata": {"labels": {"role": "preview"}, "annotations": {"note": "exp"}}},
                {"name": "baseline", "specRef": "stable", "replicas": 1}],
            "analyses": [{"name": "smoke", "templateName": "smoke", "requiredForCompletion": true,
                "args": [{"name": "hash", "valueFrom": {"podTemplateHashValue": "Latest"}},
                         {"name": "team", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['team']"}}}]}]}},
        {"setWeight": 60}
    ]});
    let mut r = rollout("web", image, steps);
    r["metadata"]["labels"] = json!({"team": "shop"});
    r["spec"]["progressDeadlineSeconds"] = json!(900);
    r
}

/// The rollout's update under way at the experiment step: its current pod
/// template hash.
async fn at_the_experiment_step(cluster: &Cluster) -> String {
    let at = support::wait_for_within(
        cluster,
        "web",
        "at the experiment step",
        Duration::from_secs(90),
        |o| {
            o["status"]["currentStepIndex"] == 1
                && o["status"]["stableRS"] != o["status"]["currentPodHash"]
        },
    )
    .await;
    at["status"]["currentPodHash"].as_str().unwrap().to_owned()
}

/// The Experiment as compared between the two controllers: what neither
/// the API server nor the clock decides, with the two pod template hashes
/// (Argo hashes templates its own way) written as `CANARY` and `STABLE`,
/// and the namespace as `NS`.
fn comparable(experiment: &Value, canary: &str, stable: &str, namespace: &str) -> Value {
    let mut e = json!({
        "metadata": {
            "name": experiment["metadata"]["name"],
            "labels": experiment["metadata"]["labels"],
            "annotations": experiment["metadata"]["annotations"],
            "ownerReferences": experiment["metadata"]["ownerReferences"],
        },
        "spec": experiment["spec"],
    });
    for owner in e["metadata"]["ownerReferences"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        owner["uid"] = json!("UID");
    }
    let text = e
        .to_string()
        .replace(canary, "CANARY")
        .replace(stable, "STABLE")
        .replace(namespace, "NS");
    serde_json::from_str(&text).unwrap()
}

/// Every path where `a` and `b` differ, for a readable failure.
fn differences(a: &Value, b: &Value, at: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys().filter(|k| !x.contains_key(*k))) {
                let null = Value::Null;
                differences(
                    x.get(k).unwrap_or(&null),
                    y.get(k).unwrap_or(&null),
                    &format!("{at}.{k}"),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                differences(p, q, &format!("{at}[{i}]"), out);
            }
        }
        _ if a != b => out.push(format!("{at}: ours {a} / Argo's {b}")),
        _ => {}
    }
}

/// Runs `web` to its experiment step under Argo's controller, in a
/// namespace of its own, and returns Argo's Experiment, comparable.
async fn argos_experiment() -> Option<Value> {
    let cluster = cluster("ctl-exp-argo").await?;
    let _argo = cluster.start_argo(&[]).await;
    cluster.create(template()).await;
    cluster.create(web("nginx:1.27")).await;
    wait_for(&cluster, "web", "Healthy under Argo's controller", healthy).await;
    let stable = support::rollout_object(&cluster, "web").await["status"]["stableRS"]
        .as_str()
        .unwrap()
        .to_owned();
    kubectl_argo_rollouts(&cluster, &["set", "image", "web", "app=nginx:1.28"]);
    let canary = at_the_experiment_step(&cluster).await;
    let experiment = experiment_named(&cluster, &format!("web-{canary}-2-1")).await;
    Some(comparable(
        &experiment,
        &canary,
        &stable,
        &cluster.namespace,
    ))
}

#[tokio::test]
async fn the_experiment_is_created_as_argo_creates_it_and_its_phase_drives_the_step() {
    let Some(cluster) = cluster("ctl-exp").await else {
        return;
    };
    let _controller = Controller::start_with_role(&cluster).await;
    cluster.create(template()).await;
    cluster.create(web("nginx:1.27")).await;
    let first = wait_for(&cluster, "web", "Healthy", healthy).await;
    let stable = first["status"]["stableRS"].as_str().unwrap().to_owned();
    let uid = first["metadata"]["uid"].as_str().unwrap().to_owned();

    // The update reaches the experiment step: the Experiment is created.
    kubectl_argo_rollouts(&cluster, &["set", "image", "web", "app=nginx:1.28"]);
    let canary = at_the_experiment_step(&cluster).await;
    let name = format!("web-{canary}-2-1");
    let created = experiment_named(&cluster, &name).await;
    let meta = &created["metadata"];
    assert_eq!(
        meta["labels"],
        json!({"team": "shop", "rollouts-pod-template-hash": canary})
    );
    assert_eq!(
        meta["annotations"],
        json!({"rollout.argoproj.io/revision": "2"})
    );
    let owner = &meta["ownerReferences"][0];
    assert_eq!(
        (
            &owner["kind"],
            &owner["name"],
            &owner["uid"],
            &owner["controller"]
        ),
        (&json!("Rollout"), &json!("web"), &json!(uid), &json!(true))
    );
    let spec = &created["spec"];
    assert_eq!(spec["duration"], "10m");
    assert_eq!(spec["progressDeadlineSeconds"], 900);
    let templates = &spec["templates"];
    assert_eq!(templates[0]["name"], "preview");
    assert_eq!(
        templates[0]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.28"
    );
    assert_eq!(
        templates[0]["template"]["metadata"]["labels"]["role"],
        "preview"
    );
    assert_eq!(templates[0]["selector"]["matchLabels"]["role"], "preview");
    assert_eq!(
        templates[0]["selector"]["matchLabels"]["rollouts-pod-template-hash"],
        canary.as_str()
    );
    assert_eq!(
        templates[1]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
    assert_eq!(
        spec["analyses"],
        json!([{"name": "smoke", "templateName": "smoke", "requiredForCompletion": true,
            "args": [{"name": "hash", "value": canary}, {"name": "team", "value": "shop"}]}])
    );
    let recorded = wait_for(&cluster, "web", "recording the Experiment", |o| {
        o["status"]["canary"]["currentExperiment"] == name.as_str()
    })
    .await;
    assert_eq!(recorded["status"]["currentStepIndex"], 1);
    let shown = support::rollout_events(&cluster).await;
    assert!(
        shown
            .iter()
            .any(|(reason, message)| reason == "ExperimentCreated"
                && *message == format!("Created Experiment '{name}'")),
        "{shown:?}"
    );

    // The same Rollout under Argo's controller creates the same Experiment.
    let ours = comparable(&created, &canary, &stable, &cluster.namespace);
    assert_eq!(ours["metadata"]["name"], "web-CANARY-2-1");
    if let Some(argos) = argos_experiment().await {
        assert_eq!(argos["metadata"]["name"], "web-CANARY-2-1");
        let mut differ = Vec::new();
        differences(&ours, &argos, "", &mut differ);
        assert!(
            differ.is_empty(),
            "our Experiment differs from Argo's:\n{}",
            differ.join("\n")
        );
    }

    // Running: the step waits.
    experiment_status(
        &cluster,
        &name,
        json!({"phase": "Running", "templateStatuses": [
            {"name": "preview", "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1,
             "availableReplicas": 1, "status": "Running"},
            {"name": "baseline", "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1,
             "availableReplicas": 1, "status": "Running"}]}),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let running = support::rollout_object(&cluster, "web").await;
    assert_eq!(running["status"]["currentStepIndex"], 1);
    assert_eq!(
        running["status"]["canary"]["currentExperiment"],
        name.as_str()
    );

    // Successful: the step completes, currentExperiment is cleared, and the
    // update goes on to its end.
    experiment_status(&cluster, &name, json!({"phase": "Successful"})).await;
    let promoted = support::wait_for_within(
        &cluster,
        "web",
        "promoted after the experiment",
        Duration::from_secs(90),
        |o| healthy(o) && o["status"]["stableRS"] == canary.as_str(),
    )
    .await;
    assert!(promoted["status"]["canary"]["currentExperiment"].is_null());

    // The next update's Experiment fails: the update aborts with its message.
    kubectl_argo_rollouts(&cluster, &["set", "image", "web", "app=nginx:1.29"]);
    let bad = loop {
        let hash = at_the_experiment_step(&cluster).await;
        if hash != canary {
            break hash;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let name = format!("web-{bad}-3-1");
    experiment_named(&cluster, &name).await;
    experiment_status(
        &cluster,
        &name,
        json!({"phase": "Failed", "message": "Metric \"up\" assessed Failed"}),
    )
    .await;
    let aborted = support::wait_for_within(
        &cluster,
        "web",
        "aborted by the failed Experiment",
        Duration::from_secs(90),
        |o| o["status"]["abort"] == true && o["status"]["phase"] == "Degraded",
    )
    .await;
    let progressing = condition(&aborted, "Progressing").unwrap();
    assert_eq!(
        progressing["message"],
        "Rollout aborted update to revision 3: Experiment analysis phase is error/failed: Metric \"up\" assessed Failed"
    );

    // A retry asks for a new Experiment (the failed one keeps its name), and
    // an abort cancels that one while it runs.
    kubectl_argo_rollouts(&cluster, &["retry", "rollout", "web"]);
    let retried = format!("{name}-1");
    experiment_named(&cluster, &retried).await;
    kubectl_argo_rollouts(&cluster, &["abort", "web"]);
    let start = Instant::now();
    loop {
        let e = experiment_named(&cluster, &retried).await;
        if e["spec"]["terminate"] == true {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "Experiment {retried} not cancelled after the abort: {e:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The failed one is finished: never cancelled.
    let failed = experiment_named(&cluster, &name).await;
    assert!(failed["spec"]["terminate"].is_null(), "{failed:#}");
}
