//! `rollgate-controller` routing traffic through its in-process routers on
//! a real kube-apiserver (`ROLLGATE_E2E=1`; see `scripts/cluster`), running
//! as a service account with exactly its documented ClusterRole: seed 001's
//! shape through the Gateway API router (weights at the pause, a user-owned
//! rule left byte-identical, a managed header route created and removed,
//! promoted and aborted with the real `kubectl argo rollouts`); a router
//! error (the HTTPRoute missing) is the `TrafficRouting` condition with
//! nothing of the decision written, until the route exists; and Argo's own
//! `trafficRouting.nginx` block runs on the NGINX router. The HTTPRoute is
//! not served by a gateway here, so the router's `verifyWeight` is off (it
//! would wait for a gateway to accept the route).

mod support;

use serde_json::{Value, json};

use support::{
    Controller, cluster, condition, healthy, kubectl_argo_rollouts, promoted, rollout, route,
    selected, services, user_rule_in, wait_for, wait_for_route, weights,
};

fn rule_named<'a>(spec: &'a Value, name: &str) -> Option<&'a Value> {
    spec["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"].as_str().is_some_and(|n| n.contains(name)))
}

#[tokio::test]
async fn gateway_api_weights_follow_the_steps_under_this_controller() {
    let Some(cluster) = cluster("ctl-gwapi").await else {
        return;
    };
    let controller = Controller::start_with_role(&cluster).await;
    services(&cluster).await;
    support::create_route_with_user_rule(&cluster).await;
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
        condition(o, "TrafficRouting").is_some()
    })
    .await;
    let failure = condition(&failed, "TrafficRouting").unwrap();
    assert_eq!(failure["status"], "False");
    assert_eq!(failure["reason"], "TrafficRoutingError");
    let message = failure["message"].as_str().unwrap();
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
        condition(&running, "TrafficRouting").is_none(),
        "the condition goes: {:#}",
        running["status"]
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
