//! `rollgate-controller`'s workloads on a real kube-apiserver
//! (`ROLLGATE_E2E=1`; see `scripts/cluster`), the binary running as a
//! service account with exactly its documented ClusterRole: a Rollout taking
//! its template from a Deployment (`workloadRef`, with each `scaleDown`), the
//! anti-affinity term against the stable pods, and orphaned ReplicaSets
//! adopted and released.

mod support;

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PropagationPolicy};
use rollgate_controller::workload::pod_template_hash;
use rollgate_testkit::Cluster;
use serde_json::{Value, json};

use support::{Controller, cluster, condition, kubectl_argo_rollouts, rollout, wait_for};

/// Polls `check` until it gives a value (60 s at most: the machine is shared).
async fn wait_until<T, F: Future<Output = Option<T>>>(what: &str, check: impl Fn() -> F) -> T {
    let start = Instant::now();
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "not {what} after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn deployment(name: &str, replicas: i32, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "app", "image": image}]}}
        }
    })
}

fn referencing(name: &str, deployment: &str, scale_down: &str, steps: Value) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": 3,
            "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment,
                            "scaleDown": scale_down},
            "strategy": {"canary": {"steps": steps}}
        }
    })
}

fn deployments(cluster: &Cluster) -> Api<Deployment> {
    Api::namespaced(cluster.client.clone(), &cluster.namespace)
}

fn replica_set_api(cluster: &Cluster) -> Api<ReplicaSet> {
    Api::namespaced(cluster.client.clone(), &cluster.namespace)
}

/// The Rollout's ReplicaSets (named `<rollout>-<hash>`), by name.
async fn rollout_replica_sets(cluster: &Cluster, rollout: &str) -> Vec<ReplicaSet> {
    let mut list: Vec<ReplicaSet> = replica_set_api(cluster)
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|rs| {
            rs.metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key("rollouts-pod-template-hash"))
                && rs
                    .metadata
                    .name
                    .as_deref()
                    .is_some_and(|n| n.starts_with(&format!("{rollout}-")))
        })
        .collect();
    list.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    list
}

fn healthy_with(o: &Value, replicas: i64) -> bool {
    let st = &o["status"];
    st["phase"] == "Healthy"
        && st["stableRS"] == st["currentPodHash"]
        && st["observedGeneration"] == json!(o["metadata"]["generation"].to_string())
        && st["availableReplicas"] == replicas
}

async fn deployment_replicas(cluster: &Cluster, name: &str) -> (i32, i64) {
    let d = deployments(cluster).get(name).await.unwrap();
    (
        d.spec.and_then(|s| s.replicas).unwrap_or(1),
        d.metadata.generation.unwrap_or(0),
    )
}

#[tokio::test]
async fn a_workload_ref_runs_the_deployments_template_and_scales_it_down_on_success() {
    let Some(cluster) = cluster("ctl-wl-onsuccess").await else {
        return;
    };
    let _controller = Controller::start_with_role(&cluster).await;
    cluster.create(deployment("web", 3, "nginx:1.27")).await;
    cluster
        .create(referencing(
            "web",
            "web",
            "onsuccess",
            json!([{"setWeight": 50}, {"pause": {}}]),
        ))
        .await;
    let first = wait_for(&cluster, "web", "Healthy", |o| healthy_with(o, 3)).await;

    // The ReplicaSet runs the Deployment's template, with the hash of that template.
    let live = deployments(&cluster).get("web").await.unwrap();
    let template = serde_json::to_value(live.spec.unwrap().template).unwrap();
    let hash = pod_template_hash(&template, None);
    assert_eq!(first["status"]["currentPodHash"], hash.as_str());
    let sets = rollout_replica_sets(&cluster, "web").await;
    assert_eq!(sets.len(), 1);
    assert_eq!(
        sets[0].metadata.name.as_deref(),
        Some(&*format!("web-{hash}"))
    );
    let rs_template = serde_json::to_value(&sets[0].spec.as_ref().unwrap().template).unwrap();
    assert_eq!(
        rs_template["spec"]["containers"][0]["image"], "nginx:1.27",
        "{rs_template}"
    );
    assert_eq!(first["status"]["selector"], "app=web");

    // Healthy on its first revision: the Deployment is scaled to 0, and the
    // Rollout records the Deployment's generation as Argo does.
    let scaled = wait_until("the Deployment at 0", || async {
        let (replicas, generation) = deployment_replicas(&cluster, "web").await;
        (replicas == 0).then_some(generation)
    })
    .await;
    let generation = scaled.to_string();
    let observed = wait_for(
        &cluster,
        "web",
        "the Deployment's generation observed",
        |o| o["status"]["workloadObservedGeneration"] == generation.as_str(),
    )
    .await;
    assert_eq!(
        observed["metadata"]["annotations"]["rollout.argoproj.io/workload-generation"],
        generation.as_str()
    );

    // A new image in the Deployment (kubectl argo rollouts set image edits
    // the referenced Deployment) starts an update of the Rollout; on its
    // second revision the Deployment is left alone.
    kubectl_argo_rollouts(&cluster, &["set", "image", "web", "app=nginx:1.28"]);
    let paused = wait_for(&cluster, "web", "paused at step 1", |o| {
        o["status"]["phase"] == "Paused" && o["status"]["currentStepIndex"] == 1
    })
    .await;
    let stable = first["status"]["stableRS"].as_str().unwrap();
    assert_eq!(paused["status"]["stableRS"], stable);
    assert_ne!(paused["status"]["currentPodHash"], stable);
    let (replicas, generation) = deployment_replicas(&cluster, "web").await;
    assert_eq!(replicas, 0);
    assert_eq!(
        paused["status"]["workloadObservedGeneration"],
        generation.to_string()
    );
    kubectl_argo_rollouts(&cluster, &["promote", "web"]);
    let done = wait_for(&cluster, "web", "Healthy on revision 2", |o| {
        healthy_with(o, 3) && o["status"]["stableRS"] == paused["status"]["currentPodHash"]
    })
    .await;
    assert_eq!(
        done["metadata"]["annotations"]["rollout.argoproj.io/revision"],
        "2"
    );
    assert_eq!(deployment_replicas(&cluster, "web").await.0, 0);
    assert_eq!(
        replicas_manager(&cluster, "web").await,
        "rollgate-controller"
    );
}

#[tokio::test]
async fn scale_down_progressively_hands_the_pods_over_from_the_deployment() {
    let Some(cluster) = cluster("ctl-wl-progressively").await else {
        return;
    };
    let _controller = Controller::start_with_role(&cluster).await;
    cluster.create(deployment("web", 3, "nginx:1.27")).await;
    wait_until("the Deployment available", || async {
        let d = deployments(&cluster).get("web").await.unwrap();
        (d.status.and_then(|s| s.available_replicas) == Some(3)).then_some(())
    })
    .await;
    // The Rollout's pods are ready but, with a long minReadySeconds, not
    // available: the Rollout stays Progressing, and the Deployment still
    // gives way pod for pod (spec.replicas - readyReplicas), where
    // `onsuccess` would wait for Healthy.
    let mut rollout = referencing("web", "web", "progressively", json!([]));
    rollout["spec"]["minReadySeconds"] = json!(3600);
    rollout["spec"]["progressDeadlineSeconds"] = json!(7200);
    cluster.create(rollout).await;
    wait_until("the Deployment at 0", || async {
        (deployment_replicas(&cluster, "web").await.0 == 0).then_some(())
    })
    .await;
    let progressing = support::rollout_object(&cluster, "web").await;
    let st = &progressing["status"];
    assert_eq!(st["phase"], "Progressing", "{st:#}");
    assert_eq!(st["readyReplicas"], 3, "{st:#}");
    assert_ne!(st["availableReplicas"], 3, "{st:#}");
    // The controller scaled it (the field manager of spec.replicas).
    assert_eq!(
        replicas_manager(&cluster, "web").await,
        "rollgate-controller"
    );
}

/// The field manager that last set a Deployment's `spec.replicas`.
async fn replicas_manager(cluster: &Cluster, name: &str) -> String {
    let d = deployments(cluster).get(name).await.unwrap();
    d.metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .find(|m| {
            m.fields_v1
                .as_ref()
                .is_some_and(|f| f.0.pointer("/f:spec/f:replicas").is_some())
        })
        .and_then(|m| m.manager)
        .unwrap_or_default()
}

#[tokio::test]
async fn a_missing_deployment_is_invalid_until_it_exists_and_never_leaves_it_alone() {
    let Some(cluster) = cluster("ctl-wl-missing").await else {
        return;
    };
    let _controller = Controller::start_with_role(&cluster).await;
    cluster
        .create(referencing("api", "api", "never", json!([])))
        .await;
    let invalid = wait_for(&cluster, "api", "InvalidSpec", |o| {
        condition(o, "InvalidSpec").is_some()
    })
    .await;
    let message = condition(&invalid, "InvalidSpec").unwrap()["message"].clone();
    assert_eq!(
        message,
        "The Rollout \"api\" is invalid: spec.workloadRef: Invalid value: {apiVersion: \"apps/v1\", kind: \"Deployment\", name: \"api\", scaleDown: \"never\"}: deployments.apps \"api\" not found"
    );
    assert!(rollout_replica_sets(&cluster, "api").await.is_empty());

    // The Deployment appears: the Rollout runs, and the Deployment keeps its pods.
    cluster.create(deployment("api", 2, "nginx:1.27")).await;
    wait_for(&cluster, "api", "Healthy", |o| healthy_with(o, 3)).await;
    assert_eq!(deployment_replicas(&cluster, "api").await.0, 2);
    assert_ne!(
        replicas_manager(&cluster, "api").await,
        "rollgate-controller"
    );

    // A Rollout whose own selector does not select the Deployment's pods.
    let mut other = referencing("other", "api", "never", json!([]));
    other["spec"]["selector"] = json!({"matchLabels": {"app": "other"}});
    cluster.create(other).await;
    let invalid = wait_for(&cluster, "other", "InvalidSpec", |o| {
        condition(o, "InvalidSpec").is_some()
    })
    .await;
    let message = condition(&invalid, "InvalidSpec").unwrap()["message"].clone();
    let message = message.as_str().unwrap();
    assert!(
        message.starts_with("The Rollout \"other\" is invalid: spec.template.metadata.labels: ")
            && message.contains("`selector` does not match template `labels`"),
        "{message}"
    );
    assert!(rollout_replica_sets(&cluster, "other").await.is_empty());
}

#[tokio::test]
async fn the_canary_replica_set_avoids_the_stable_pods_without_a_new_hash() {
    let Some(cluster) = cluster("ctl-wl-affinity").await else {
        return;
    };
    let _controller = Controller::start_with_role(&cluster).await;
    let canary = json!({
        "antiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": {"weight": 40}},
        "steps": [{"setWeight": 20}, {"pause": {}}]
    });
    cluster.create(rollout("web", "nginx:1.27", canary)).await;
    let first = wait_for(&cluster, "web", "Healthy", |o| healthy_with(o, 5)).await;
    let stable = first["status"]["stableRS"].as_str().unwrap().to_owned();
    // The first ReplicaSet has no stable ReplicaSet to avoid.
    let sets = rollout_replica_sets(&cluster, "web").await;
    assert_eq!(sets.len(), 1);
    let template = sets[0].spec.as_ref().unwrap().template.as_ref().unwrap();
    assert!(template.spec.as_ref().unwrap().affinity.is_none());

    kubectl_argo_rollouts(&cluster, &["set", "image", "web", "app=nginx:1.28"]);
    let paused = wait_for(&cluster, "web", "paused at step 1", |o| {
        o["status"]["phase"] == "Paused" && o["status"]["currentStepIndex"] == 1
    })
    .await;
    let current = paused["status"]["currentPodHash"].as_str().unwrap();
    let rs = replica_set_api(&cluster)
        .get(&format!("web-{current}"))
        .await
        .unwrap();
    let template = serde_json::to_value(rs.spec.unwrap().template).unwrap();
    assert_eq!(
        template["spec"]["affinity"],
        json!({"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
            "weight": 40,
            "podAffinityTerm": {
                "labelSelector": {"matchExpressions": [{"key": "rollouts-pod-template-hash",
                    "operator": "In", "values": [stable]}]},
                "namespaces": [cluster.namespace],
                "topologyKey": "kubernetes.io/hostname"}}]}})
    );
    // The hash is the Rollout's template's, as if there were no anti-affinity.
    let spec_template = rollout_object_template(&cluster).await;
    assert_eq!(current, pod_template_hash(&spec_template, None));
}

async fn rollout_object_template(cluster: &Cluster) -> Value {
    support::rollout_object(cluster, "web").await["spec"]["template"].clone()
}

#[tokio::test]
async fn orphaned_replica_sets_are_adopted_and_those_that_stop_matching_released() {
    let Some(cluster) = cluster("ctl-wl-orphans").await else {
        return;
    };
    let controller = Controller::start_with_role(&cluster).await;
    cluster
        .create(rollout("web", "nginx:1.27", json!({"steps": []})))
        .await;
    let first = wait_for(&cluster, "web", "Healthy", |o| healthy_with(o, 5)).await;
    let old_uid = first["metadata"]["uid"].as_str().unwrap().to_owned();
    let sets = rollout_replica_sets(&cluster, "web").await;
    assert_eq!(sets.len(), 1);
    let rs_name = sets[0].metadata.name.clone().unwrap();
    let rs_uid = sets[0].metadata.uid.clone().unwrap();

    // The Rollout is deleted leaving its ReplicaSet behind, an orphan.
    drop(controller);
    cluster
        .api("argoproj.io", "v1alpha1", "Rollout")
        .delete(
            "web",
            &DeleteParams {
                propagation_policy: Some(PropagationPolicy::Orphan),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    wait_until("the ReplicaSet orphaned", || async {
        let rs = replica_set_api(&cluster).get(&rs_name).await.unwrap();
        rs.metadata
            .owner_references
            .unwrap_or_default()
            .is_empty()
            .then_some(())
    })
    .await;

    // A Rollout of the same template adopts it: no new ReplicaSet.
    let _controller = Controller::start_with_role(&cluster).await;
    cluster
        .create(rollout("web", "nginx:1.27", json!({"steps": []})))
        .await;
    let again = wait_for(&cluster, "web", "Healthy", |o| healthy_with(o, 5)).await;
    let new_uid = again["metadata"]["uid"].as_str().unwrap().to_owned();
    assert_ne!(new_uid, old_uid);
    let sets = rollout_replica_sets(&cluster, "web").await;
    assert_eq!(sets.len(), 1, "no new ReplicaSet");
    assert_eq!(sets[0].metadata.uid.as_deref(), Some(rs_uid.as_str()));
    let owners = sets[0]
        .metadata
        .owner_references
        .clone()
        .unwrap_or_default();
    assert_eq!(owners.len(), 1);
    assert_eq!(
        (
            owners[0].kind.as_str(),
            owners[0].uid.as_str(),
            owners[0].controller
        ),
        ("Rollout", new_uid.as_str(), Some(true))
    );

    // Relabelled out of the Rollout's selector, it is released.
    replica_set_api(&cluster)
        .patch(
            &rs_name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"app": "elsewhere"}}})),
        )
        .await
        .unwrap();
    wait_until("the ReplicaSet released", || async {
        let rs = replica_set_api(&cluster).get(&rs_name).await.unwrap();
        (!rs.metadata
            .owner_references
            .unwrap_or_default()
            .iter()
            .any(|o| o.uid == new_uid))
        .then_some(())
    })
    .await;
}
