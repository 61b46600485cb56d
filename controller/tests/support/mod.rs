//! Helpers of the real-cluster tests: this package's controller binary as
//! a child process (testkit's [`RollgateController`]), and reads of the
//! test's namespace.
#![allow(
    dead_code,
    reason = "each test binary uses its own part of the helpers"
)]

use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
pub(crate) use rollgate_testkit::kubectl_argo_rollouts;
use rollgate_testkit::{Cluster, RollgateController};
use serde_json::{Value, json};

pub(crate) mod helm;
pub(crate) mod plugins;
pub(crate) mod progress;

pub(crate) const CONTROLLER: &str = env!("CARGO_BIN_EXE_rollgate-controller");

/// `rollgate-controller` for the test's namespace: testkit's
/// [`RollgateController`] on this package's binary.
pub(crate) struct Controller;

impl Controller {
    pub(crate) fn start(cluster: &Cluster) -> RollgateController {
        RollgateController::start(Path::new(CONTROLLER), cluster)
    }

    /// As a service account holding exactly the documented ClusterRole.
    pub(crate) async fn start_with_role(cluster: &Cluster) -> RollgateController {
        RollgateController::start_with_role(Path::new(CONTROLLER), cluster).await
    }

    /// [`Controller::start_with_role`] with more arguments and environment.
    pub(crate) async fn start_with_role_and(
        cluster: &Cluster,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> RollgateController {
        RollgateController::start_with_role_and(Path::new(CONTROLLER), cluster, args, env).await
    }
}

/// The test's cluster; under CI a run without one fails instead of passing
/// vacuously.
pub(crate) async fn cluster(prefix: &str) -> Option<Cluster> {
    let cluster = Cluster::new(prefix).await;
    assert!(
        cluster.is_some() || std::env::var_os("CI").is_none(),
        "CI must run the real-cluster tests: ROLLGATE_E2E=1 and a cluster (scripts/cluster up)"
    );
    cluster
}

pub(crate) fn rollout(name: &str, image: &str, canary: Value) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": 5,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "app", "image": image,
                             "resources": {"requests": {"cpu": "100m"}}}]}},
            "strategy": {"canary": canary}
        }
    })
}

pub(crate) fn basic_canary() -> Value {
    json!({"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}, {"pause": {"duration": "1s"}}]})
}

pub(crate) async fn rollout_object(cluster: &Cluster, name: &str) -> Value {
    let object = cluster
        .api("argoproj.io", "v1alpha1", "Rollout")
        .get(name)
        .await
        .unwrap();
    serde_json::to_value(object).unwrap()
}

/// Polls the Rollout until `done` holds for it (30 s at most).
pub(crate) async fn wait_for(
    cluster: &Cluster,
    name: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    wait_for_within(cluster, name, what, Duration::from_secs(30), done).await
}

/// Polls the Rollout until `done` holds for it (`limit` at most).
pub(crate) async fn wait_for_within(
    cluster: &Cluster,
    name: &str,
    what: &str,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let object = rollout_object(cluster, name).await;
        if done(&object) {
            return object;
        }
        assert!(
            start.elapsed() < limit,
            "rollout {name}: not {what} after {limit:?}; status: {:#}",
            object["status"]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub(crate) fn healthy(o: &Value) -> bool {
    let st = &o["status"];
    st["phase"] == "Healthy"
        && st["stableRS"] == st["currentPodHash"]
        && st["observedGeneration"] == json!(o["metadata"]["generation"].to_string())
        && st["availableReplicas"] == 5
        && st["replicas"] == 5
}

/// The ReplicaSets of the test's namespace: name -> (uid, spec.replicas, resourceVersion).
pub(crate) async fn replica_sets(cluster: &Cluster) -> Vec<(String, String, i32, String)> {
    let api: Api<ReplicaSet> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let mut list: Vec<_> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|rs| {
            (
                rs.metadata.name.unwrap_or_default(),
                rs.metadata.uid.unwrap_or_default(),
                rs.spec.and_then(|s| s.replicas).unwrap_or_default(),
                rs.metadata.resource_version.unwrap_or_default(),
            )
        })
        .collect();
    list.sort();
    list
}

/// The ReplicaSets of the test's namespace: (name, spec.replicas), by name.
pub(crate) async fn replica_set_sizes(cluster: &Cluster) -> Vec<(String, i32)> {
    replica_sets(cluster)
        .await
        .into_iter()
        .map(|(name, _, replicas, _)| (name, replicas))
        .collect()
}

/// The annotation `key` of the ReplicaSet `name`.
pub(crate) async fn replica_set_annotation(
    cluster: &Cluster,
    name: &str,
    key: &str,
) -> Option<String> {
    let api: Api<ReplicaSet> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    api.get(name)
        .await
        .unwrap()
        .metadata
        .annotations?
        .remove(key)
}

/// The Events recorded on Rollouts in the test's namespace: (reason, message).
pub(crate) async fn rollout_events(cluster: &Cluster) -> Vec<(String, String)> {
    let events: Api<k8s_openapi::api::core::v1::Event> =
        Api::namespaced(cluster.client.clone(), &cluster.namespace);
    events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.involved_object.kind.as_deref() == Some("Rollout"))
        .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
        .collect()
}

/// The pod template hash a Service selects, and that the Rollout manages it.
pub(crate) async fn selected(cluster: &Cluster, service: &str) -> String {
    let api: Api<k8s_openapi::api::core::v1::Service> =
        Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let svc = api.get(service).await.unwrap();
    let annotations = svc.metadata.annotations.unwrap_or_default();
    assert_eq!(
        annotations
            .get("argo-rollouts.argoproj.io/managed-by-rollouts")
            .map(String::as_str),
        Some("web"),
        "{service} is managed by the Rollout"
    );
    svc.spec.unwrap().selector.unwrap_or_default()["rollouts-pod-template-hash"].clone()
}

pub(crate) async fn pod_names(cluster: &Cluster) -> Vec<String> {
    let api: Api<Pod> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let mut names: Vec<String> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| p.metadata.name)
        .collect();
    names.sort();
    names
}

pub(crate) fn rollout_status_patches(cluster: &Cluster, name: &str) -> usize {
    cluster
        .audited_requests("rollouts", name)
        .iter()
        .filter(|r| r.verb == "patch" && r.user_agent.starts_with("rollgate-controller"))
        .count()
}

/// The canary and stable Services `web-canary` and `web-stable`, selecting `app: web`.
pub(crate) async fn services(cluster: &Cluster) {
    for service in ["web-stable", "web-canary"] {
        cluster
            .create(
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": service},
                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
            )
            .await;
    }
}

/// Fully promoted to `hash` and Healthy. The old ReplicaSet stays up for
/// `scaleDownDelaySeconds` (30 s by default with traffic routing, as in
/// Argo), so the pods are not counted.
pub(crate) fn promoted(o: &Value, hash: &str) -> bool {
    let st = &o["status"];
    st["phase"] == "Healthy" && st["stableRS"] == hash && st["currentPodHash"] == hash
}

/// The Rollout's condition of type `kind`, if it has one.
pub(crate) fn condition(rollout: &Value, kind: &str) -> Option<Value> {
    rollout["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
        .cloned()
}

/// A rule of the user's: header `x-beta: 1` goes to stable only.
pub(crate) fn user_rule() -> Value {
    json!({"matches": [{"headers": [{"type": "Exact", "name": "x-beta", "value": "1"}]}],
           "backendRefs": [{"name": "web-stable", "port": 80, "weight": 1}]})
}

/// Creates the HTTPRoute `web` on Gateway `gw`: the user's rule
/// ([`user_rule`]) and a rule all on `web-stable`, which the rollout weights.
pub(crate) async fn create_route_with_user_rule(cluster: &Cluster) {
    cluster
        .create(
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "web"},
            "spec": {"parentRefs": [{"name": "gw"}], "rules": [
                user_rule(),
                {"backendRefs": [{"name": "web-canary", "port": 80, "weight": 0},
                                 {"name": "web-stable", "port": 80, "weight": 100}]}]}}),
        )
        .await;
}

/// The spec of the HTTPRoute `web`.
pub(crate) async fn route(cluster: &Cluster) -> Value {
    let object = cluster
        .api("gateway.networking.k8s.io", "v1", "HTTPRoute")
        .get("web")
        .await
        .unwrap();
    serde_json::to_value(object).unwrap()["spec"].clone()
}

/// The (canary, stable) weights of the rule that sends traffic to both.
pub(crate) fn weights(spec: &Value) -> (i64, i64) {
    let rule = spec["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["matches"].is_null()
                || r["matches"] == json!([{"path": {"type": "PathPrefix", "value": "/"}}])
        })
        .expect("the weighted rule");
    let weight = |name: &str| {
        rule["backendRefs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["name"] == name)
            .and_then(|b| b["weight"].as_i64())
            .unwrap_or(1)
    };
    (weight("web-canary"), weight("web-stable"))
}

/// The user's rule ([`user_rule`]) in a route's spec.
pub(crate) fn user_rule_in(spec: &Value) -> &Value {
    spec["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["matches"][0]["headers"][0]["name"] == "x-beta")
        .expect("the user's rule")
}

/// Polls the HTTPRoute until `done` holds (30 s at most).
pub(crate) async fn wait_for_route(
    cluster: &Cluster,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let spec = route(cluster).await;
        if done(&spec) {
            return spec;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "HTTPRoute web: not {what} after 30 s: {spec:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
