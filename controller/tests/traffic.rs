//! `rollgate-controller` routing traffic on a real kube-apiserver
//! (`ROLLGATE_E2E=1`; see `scripts/cluster`), running as a service account
//! with exactly its documented ClusterRole: seed 001's shape through the
//! in-process Gateway API router (weights at the pause, a user-owned rule
//! left byte-identical, a managed header route created and removed,
//! promoted and aborted with the real `kubectl argo rollouts`), and a
//! Rollout through an external plugin (the journal router, registered in
//! the `argo-rollouts-config` ConfigMap) whose journal shows the step's
//! weights; a router error (the HTTPRoute missing) is the `TrafficRouting`
//! condition with nothing of the decision written, until the route exists;
//! a weight the plugin answers NotVerified for holds the step; and Argo's
//! own `trafficRouting.nginx` block runs on the in-process NGINX router.
//! The Gateway API route is not served by a gateway here, so the
//! router's `verifyWeight` is off (it would wait for a gateway to accept
//! the route).

// The helpers are shared with real_cluster.rs, which uses the rest of them.
#[allow(dead_code)]
mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams};
use rollgate_testkit::Cluster;
use serde_json::{Value, json};

use support::{
    CONTROLLER, Controller, cluster, healthy, kubectl_argo_rollouts, rollout, selected, wait_for,
};

async fn services(cluster: &Cluster) {
    for service in ["web-stable", "web-canary"] {
        cluster
            .create(
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": service},
                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
            )
            .await;
    }
}

/// A rule of the user's: header `x-beta: 1` goes to stable only.
fn user_rule() -> Value {
    json!({"matches": [{"headers": [{"type": "Exact", "name": "x-beta", "value": "1"}]}],
           "backendRefs": [{"name": "web-stable", "port": 80, "weight": 1}]})
}

async fn route(cluster: &Cluster) -> Value {
    let object = cluster
        .api("gateway.networking.k8s.io", "v1", "HTTPRoute")
        .get("web")
        .await
        .unwrap();
    serde_json::to_value(object).unwrap()["spec"].clone()
}

/// The (canary, stable) weights of the rule that sends traffic to both.
fn weights(spec: &Value) -> (i64, i64) {
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

fn rule_named<'a>(spec: &'a Value, name: &str) -> Option<&'a Value> {
    spec["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"].as_str().is_some_and(|n| n.contains(name)))
}

fn user_rule_in(spec: &Value) -> &Value {
    spec["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["matches"][0]["headers"][0]["name"] == "x-beta")
        .expect("the user's rule")
}

/// Polls the HTTPRoute until `done` holds (30 s at most).
async fn wait_for_route(cluster: &Cluster, what: &str, done: impl Fn(&Value) -> bool) -> Value {
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

/// Fully promoted to `hash` and Healthy. The old ReplicaSet stays up for
/// `scaleDownDelaySeconds` (30 s by default with traffic routing, as in
/// Argo), so the pods are not counted.
fn promoted(o: &Value, hash: &str) -> bool {
    let st = &o["status"];
    st["phase"] == "Healthy" && st["stableRS"] == hash && st["currentPodHash"] == hash
}

#[tokio::test]
async fn gateway_api_weights_follow_the_steps_under_this_controller() {
    let Some(cluster) = cluster("ctl-gwapi").await else {
        return;
    };
    let controller = Controller::start_with_role(&cluster).await;
    services(&cluster).await;
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
    let user_before = user_rule_in(&route(&cluster).await).clone();
    let canary = json!({
        "canaryService": "web-canary", "stableService": "web-stable",
        "trafficRouting": {
            "managedRoutes": [{"name": "beta-testers"}],
            "plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "web", "verifyWeight": false}}},
        "steps": [{"setWeight": 20},
                  {"setHeaderRoute": {"name": "beta-testers",
                      "match": [{"headerName": "x-canary", "headerValue": {"exact": "yes"}}]}},
                  {"pause": {}}, {"setWeight": 60}, {"pause": {"duration": "1s"}}]});
    cluster.create(rollout("web", "nginx:1.27", canary)).await;
    let first = wait_for(&cluster, "web", "Healthy", healthy).await;
    let stable = first["status"]["stableRS"].as_str().unwrap().to_owned();

    // Seed 001: setWeight 20, then the pause.
    kubectl_argo_rollouts(&cluster, &["set", "image", "web", "app=nginx:1.28"]);
    let paused = wait_for(&cluster, "web", "paused at step 2", |o| {
        o["status"]["phase"] == "Paused" && o["status"]["currentStepIndex"] == 2
    })
    .await;
    let canary_hash = paused["status"]["currentPodHash"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        paused["status"]["canary"]["weights"]["canary"]["weight"],
        20
    );
    assert_eq!(
        paused["status"]["canary"]["weights"]["stable"]["weight"],
        80
    );
    let spec = route(&cluster).await;
    assert_eq!(weights(&spec), (20, 80), "{spec:#}");
    assert!(
        rule_named(&spec, "beta-testers").is_some(),
        "the header route: {spec:#}"
    );
    assert_eq!(
        user_rule_in(&spec),
        &user_before,
        "the user's rule is left alone"
    );
    // A traffic-routed canary's Services select their ReplicaSets, as in Argo.
    assert_eq!(selected(&cluster, "web-stable").await, stable);
    assert_eq!(selected(&cluster, "web-canary").await, canary_hash);

    kubectl_argo_rollouts(&cluster, &["promote", "web"]);
    let done = wait_for(&cluster, "web", "Healthy on the new ReplicaSet", |o| {
        promoted(o, &canary_hash)
    })
    .await;
    assert_eq!(done["status"]["canary"]["weights"]["canary"]["weight"], 0);
    let spec = wait_for_route(&cluster, "back at 0/100 without the header route", |s| {
        weights(s) == (0, 100) && rule_named(s, "beta-testers").is_none()
    })
    .await;
    assert_eq!(
        user_rule_in(&spec),
        &user_before,
        "the user's rule is left alone"
    );

    // Another update, aborted at the pause: the weight returns to 0.
    kubectl_argo_rollouts(&cluster, &["set", "image", "web", "app=nginx:1.29"]);
    wait_for(&cluster, "web", "paused at step 2 again", |o| {
        o["status"]["phase"] == "Paused" && o["status"]["currentStepIndex"] == 2
    })
    .await;
    wait_for_route(&cluster, "at 20/80", |s| weights(s) == (20, 80)).await;
    kubectl_argo_rollouts(&cluster, &["abort", "web"]);
    wait_for(&cluster, "web", "Degraded after the abort", |o| {
        o["status"]["phase"] == "Degraded" && o["status"]["abort"] == true
    })
    .await;
    let spec = wait_for_route(&cluster, "back at 0/100 after the abort", |s| {
        weights(s) == (0, 100) && rule_named(s, "beta-testers").is_none()
    })
    .await;
    assert_eq!(
        user_rule_in(&spec),
        &user_before,
        "the user's rule is left alone"
    );
    drop(controller);
}

/// The journal router binary, built for this test if it is not yet.
fn journal_router() -> PathBuf {
    let dir = PathBuf::from(CONTROLLER).parent().unwrap().to_path_buf();
    let binary = dir.join("rollgate-journal-router");
    if !binary.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "-p",
                "plugin-proto",
                "--bin",
                "rollgate-journal-router",
            ])
            .status()
            .expect("run cargo build");
        assert!(
            status.success(),
            "cargo build -p plugin-proto --bin rollgate-journal-router"
        );
    }
    binary
}

fn journal(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn applied_weights(entries: &[Value]) -> Vec<i64> {
    let mut weights: Vec<i64> = entries
        .iter()
        .filter(|e| e["call"] == "Apply")
        .filter_map(|e| e["target"]["canaryWeight"].as_i64())
        .collect();
    weights.dedup();
    weights
}

#[tokio::test]
async fn an_external_plugin_registered_in_the_config_map_routes_the_steps() {
    let Some(cluster) = cluster("ctl-plugin").await else {
        return;
    };
    let binary = journal_router();
    let journal_file = std::env::temp_dir().join(format!("{}.journal", cluster.namespace));
    let _ = std::fs::remove_file(&journal_file);
    let registered = format!(
        "- name: acme/journal\n  location: file://{path}\n  sha256: {}\n\
         - name: acme/tampered\n  location: file://{path}\n  sha256: {}\n",
        rollgate_controller::traffic::registry::sha256_hex(&std::fs::read(&binary).unwrap()),
        "0".repeat(64),
        path = binary.display(),
    );
    cluster
        .create(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "argo-rollouts-config"},
            "data": {"trafficRouterPlugins": registered}}))
        .await;
    let journal_path = journal_file.display().to_string();
    let controller = Controller::start_with_role_and(
        &cluster,
        &["--config-namespace", &cluster.namespace],
        &[("ROLLGATE_JOURNAL", &journal_path)],
    )
    .await;
    services(&cluster).await;

    // A plugin that is not registered: a condition naming it, and nothing written.
    let unregistered = json!({"canaryService": "web-canary", "stableService": "web-stable",
        "trafficRouting": {"plugins": {"acme/missing": {}}}, "steps": [{"setWeight": 20}]});
    let mut other = rollout("other", "nginx:1.27", unregistered);
    other["spec"]["template"]["metadata"]["labels"]["app"] = json!("web");
    other["spec"]["selector"]["matchLabels"]["app"] = json!("web");
    cluster.create(other).await;
    let refused = wait_for(&cluster, "other", "refused", |o| {
        o["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "TrafficRouting"))
    })
    .await;
    let condition = refused["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "TrafficRouting")
        .unwrap()
        .clone();
    assert_eq!(condition["reason"], "TrafficRoutingError");
    assert!(
        condition["message"]
            .as_str()
            .unwrap()
            .contains("\"acme/missing\" is not registered"),
        "{condition}"
    );
    assert_eq!(
        support::replica_sets(&cluster).await.len(),
        0,
        "nothing is written for a Rollout whose plugin cannot run"
    );
    // A registered plugin whose file does not have the registered sha256 is not started.
    cluster
        .api("argoproj.io", "v1alpha1", "Rollout")
        .patch(
            "other",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"strategy": {"canary": {"trafficRouting":
                {"plugins": {"acme/missing": null, "acme/tampered": {}}}}}}})),
        )
        .await
        .unwrap();
    let tampered = wait_for(&cluster, "other", "refused for its sha256", |o| {
        o["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter().any(|c| {
                c["type"] == "TrafficRouting"
                    && c["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("acme/tampered"))
            })
        })
    })
    .await;
    let message = tampered["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "TrafficRouting")
        .unwrap()["message"]
        .clone();
    assert!(
        message
            .as_str()
            .unwrap()
            .starts_with("traffic router plugin \"acme/tampered\" cannot be loaded: sha256 of "),
        "{message}"
    );
    assert!(support::replica_sets(&cluster).await.is_empty());
    cluster
        .api("argoproj.io", "v1alpha1", "Rollout")
        .delete("other", &Default::default())
        .await
        .unwrap();

    let canary = json!({"canaryService": "web-canary", "stableService": "web-stable",
        "trafficRouting": {"plugins": {"acme/journal": {}}}});
    let mut canary = canary;
    canary["steps"] = support::basic_canary()["steps"].clone();
    cluster.create(rollout("web", "nginx:1.27", canary)).await;
    wait_for(&cluster, "web", "Healthy", healthy).await;
    kubectl_argo_rollouts(&cluster, &["set", "image", "web", "app=nginx:1.28"]);
    let paused = wait_for(&cluster, "web", "paused at step 1", |o| {
        o["status"]["phase"] == "Paused" && o["status"]["currentStepIndex"] == 1
    })
    .await;
    let canary_hash = paused["status"]["currentPodHash"]
        .as_str()
        .unwrap()
        .to_owned();
    // The journal router answers Verified; the status records it with the weights.
    assert_eq!(
        paused["status"]["canary"]["weights"]["canary"]["weight"],
        20
    );
    assert_eq!(paused["status"]["canary"]["weights"]["verified"], true);
    let entries = journal(&journal_file);
    assert_eq!(applied_weights(&entries).last(), Some(&20), "{entries:#?}");
    assert!(
        entries
            .iter()
            .all(|e| e["plugin"].is_null() || e["plugin"] == "acme/journal"),
        "{entries:#?}"
    );
    kubectl_argo_rollouts(&cluster, &["promote", "web"]);
    wait_for(&cluster, "web", "Healthy again", |o| {
        promoted(o, &canary_hash)
    })
    .await;
    let weights = applied_weights(&journal(&journal_file));
    assert!(
        weights.windows(3).any(|w| w == [20, 60, 100]) || weights.windows(2).any(|w| w == [20, 60]),
        "the step's weights, in order: {weights:?}"
    );
    assert_eq!(weights.last(), Some(&0), "fully promoted: {weights:?}");
    let events: Api<Event> = Api::namespaced(cluster.client.clone(), &cluster.namespace);
    let warnings = events.list(&ListParams::default()).await.unwrap().items;
    assert!(
        warnings
            .iter()
            .any(|e| e.reason.as_deref() == Some("TrafficRoutingError")),
        "the unregistered plugin's Warning event"
    );
    drop(controller);
    let _ = std::fs::remove_file(&journal_file);
}

#[tokio::test]
async fn a_router_error_is_a_condition_until_the_route_exists() {
    let Some(cluster) = cluster("ctl-gwerr").await else {
        return;
    };
    let controller = Controller::start_with_role(&cluster).await;
    services(&cluster).await;
    let mut canary = support::basic_canary();
    canary["canaryService"] = json!("web-canary");
    canary["stableService"] = json!("web-stable");
    canary["trafficRouting"] = json!({"plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "web", "verifyWeight": false}}});
    cluster.create(rollout("web", "nginx:1.27", canary)).await;
    let failed = wait_for(&cluster, "web", "failing on the missing route", |o| {
        o["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "TrafficRouting"))
    })
    .await;
    let condition = failed["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "TrafficRouting")
        .unwrap()
        .clone();
    assert_eq!(condition["status"], "False");
    assert_eq!(condition["reason"], "TrafficRoutingError");
    let message = condition["message"].as_str().unwrap();
    assert!(
        message.starts_with("traffic router \"argoproj-labs/gatewayAPI\": ")
            && message.contains("web"),
        "{message}"
    );
    // Nothing of the decision past the failure: no phase, no weights recorded.
    assert!(
        failed["status"]["phase"].is_null(),
        "{:#}",
        failed["status"]
    );
    assert!(
        failed["status"]["canary"].is_null(),
        "{:#}",
        failed["status"]
    );

    cluster
        .create(
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "web"},
            "spec": {"parentRefs": [{"name": "gw"}], "rules": [
                {"backendRefs": [{"name": "web-canary", "port": 80, "weight": 0},
                                 {"name": "web-stable", "port": 80, "weight": 100}]}]}}),
        )
        .await;
    let running = wait_for(&cluster, "web", "Healthy once the route exists", healthy).await;
    assert!(
        running["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["type"] != "TrafficRouting"),
        "the condition goes: {:#}",
        running["status"]
    );
    drop(controller);
}

#[tokio::test]
async fn a_weight_the_router_has_not_verified_holds_the_step() {
    let Some(cluster) = cluster("ctl-verify").await else {
        return;
    };
    let binary = journal_router();
    let registered = format!(
        "- name: acme/journal\n  location: file://{}\n",
        binary.display()
    );
    cluster
        .create(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "argo-rollouts-config"},
            "data": {"trafficRouterPlugins": registered}}))
        .await;
    let controller =
        Controller::start_with_role_and(&cluster, &["--config-namespace", &cluster.namespace], &[])
            .await;
    services(&cluster).await;
    let mut canary = support::basic_canary();
    canary["canaryService"] = json!("web-canary");
    canary["stableService"] = json!("web-stable");
    canary["trafficRouting"] = json!({"plugins": {"acme/journal": {"verify": "NotVerified"}}});
    cluster.create(rollout("web", "nginx:1.27", canary)).await;
    wait_for(&cluster, "web", "Healthy", healthy).await;
    kubectl_argo_rollouts(&cluster, &["set", "image", "web", "app=nginx:1.28"]);
    wait_for(&cluster, "web", "at weight 20, not verified", |o| {
        let weights = &o["status"]["canary"]["weights"];
        weights["canary"]["weight"] == 20 && weights["verified"] == false
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let held = support::rollout_object(&cluster, "web").await;
    assert_eq!(
        held["status"]["currentStepIndex"], 0,
        "the step waits for the weight to be verified: {:#}",
        held["status"]
    );
    drop(controller);
}

#[tokio::test]
async fn argos_own_nginx_block_runs_on_the_in_process_nginx_router() {
    let Some(cluster) = cluster("ctl-nginx").await else {
        return;
    };
    let controller = Controller::start_with_role(&cluster).await;
    services(&cluster).await;
    cluster
        .create(
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "web", "annotations": {"kubernetes.io/ingress.class": "nginx"}},
            "spec": {"rules": [{"host": "web.example.com", "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": "web-stable", "port": {"number": 80}}}}]}}]}}),
        )
        .await;
    let mut canary = support::basic_canary();
    canary["canaryService"] = json!("web-canary");
    canary["stableService"] = json!("web-stable");
    canary["trafficRouting"] = json!({"nginx": {"stableIngress": "web"}});
    cluster.create(rollout("web", "nginx:1.27", canary)).await;
    wait_for(&cluster, "web", "Healthy", healthy).await;
    kubectl_argo_rollouts(&cluster, &["set", "image", "web", "app=nginx:1.28"]);
    wait_for(&cluster, "web", "paused at step 1", |o| {
        o["status"]["phase"] == "Paused" && o["status"]["currentStepIndex"] == 1
    })
    .await;
    let ingress = cluster
        .api("networking.k8s.io", "v1", "Ingress")
        .get("web-web-canary")
        .await
        .expect("the canary Ingress");
    let annotations = ingress.metadata.annotations.unwrap_or_default();
    assert_eq!(
        annotations
            .get("nginx.ingress.kubernetes.io/canary-weight")
            .map(String::as_str),
        Some("20"),
        "{annotations:?}"
    );
    drop(controller);
}
