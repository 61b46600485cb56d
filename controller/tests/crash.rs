//! `rollgate-controller` killed with SIGKILL in the middle of a Gateway API
//! rollout, on a real kube-apiserver (`ROLLGATE_E2E=1`; see
//! `scripts/cluster`): paused with a header route and a mirror route in
//! effect, the process is killed; while it is down the managed rules are
//! removed from the HTTPRoute (as a broken apply would leave it). Started
//! again, it resumes at the same step (nothing skipped or repeated), puts
//! the header and mirror rules back exactly as they were, leaves the user's
//! rule byte-identical, and the canary weight on the route, sampled
//! throughout, never moves backwards until the promotion hands the traffic
//! to the new stable. Leader failover is in `operations.rs`.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::api::{Patch, PatchParams};
use rollgate_testkit::Cluster;
use serde_json::{Value, json};

use support::{
    Controller, cluster, kubectl_argo_rollouts, promoted, replica_sets, rollout, rollout_object,
    route, services, user_rule_in, wait_for, wait_for_route, weights,
};

/// The rules the rollout manages: those with a name (the user's rule and
/// the weighted rule have none).
fn managed_rules(spec: &Value) -> Vec<Value> {
    spec["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["name"].is_string())
        .cloned()
        .collect()
}

/// Samples the canary weight on the route every 100 ms until dropped.
struct WeightSamples {
    seen: Arc<Mutex<Vec<i64>>>,
    task: tokio::task::JoinHandle<()>,
}

impl WeightSamples {
    fn start(cluster: &Cluster) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let into = seen.clone();
        let api = cluster.api("gateway.networking.k8s.io", "v1", "HTTPRoute");
        let task = tokio::spawn(async move {
            loop {
                if let Ok(object) = api.get("web").await {
                    let spec = serde_json::to_value(object).unwrap()["spec"].clone();
                    let mut seen = into.lock().unwrap();
                    let weight = weights(&spec).0;
                    if seen.last() != Some(&weight) {
                        seen.push(weight);
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Self { seen, task }
    }

    fn seen(&self) -> Vec<i64> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for WeightSamples {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn a_controller_killed_mid_rollout_resumes_at_the_same_step() {
    let Some(cluster) = cluster("ctl-kill").await else {
        return;
    };
    let leaderless = ["--leader-elect=false"];
    let mut controller = Controller::start_with_role_and(&cluster, &leaderless, &[]).await;
    services(&cluster).await;
    support::create_route_with_user_rule(&cluster).await;
    let user_before = user_rule_in(&route(&cluster).await).clone();
    let canary = json!({
        "canaryService": "web-canary", "stableService": "web-stable",
        "trafficRouting": {
            "managedRoutes": [{"name": "testers"}, {"name": "shadow"}],
            "plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "web", "verifyWeight": false}}},
        "steps": [{"setWeight": 20},
                  {"setHeaderRoute": {"name": "testers",
                      "match": [{"headerName": "x-canary", "headerValue": {"exact": "yes"}}]}},
                  {"setMirrorRoute": {"name": "shadow", "percentage": 50,
                      "match": [{"method": {"exact": "GET"}, "path": {"prefix": "/api"}}]}},
                  {"pause": {}}, {"setWeight": 60}, {"pause": {"duration": "1s"}}]});
    cluster.create(rollout("web", "nginx:1.27", canary)).await;
    let first = wait_for(&cluster, "web", "Healthy", |o| {
        o["status"]["phase"] == "Healthy" && o["status"]["availableReplicas"] == 5
    })
    .await;
    let stable = first["status"]["stableRS"].as_str().unwrap().to_owned();

    kubectl_argo_rollouts(&cluster, &["set", "image", "web", "app=nginx:1.28"]);
    let paused = wait_for(&cluster, "web", "paused at step 3", |o| {
        o["status"]["phase"] == "Paused" && o["status"]["currentStepIndex"] == 3
    })
    .await;
    let canary_hash = paused["status"]["currentPodHash"]
        .as_str()
        .unwrap()
        .to_owned();
    let spec = wait_for_route(&cluster, "at 20 with both managed rules", |s| {
        weights(s) == (20, 80) && managed_rules(s).len() >= 2
    })
    .await;
    let managed = managed_rules(&spec);
    let names: Vec<&str> = managed.iter().filter_map(|r| r["name"].as_str()).collect();
    assert!(
        names.contains(&"testers") && names.contains(&"shadow"),
        "{names:?}"
    );
    let samples = WeightSamples::start(&cluster);
    let sets = replica_sets(&cluster).await;

    controller.kill();
    // While it is down, the managed rules go (a broken apply).
    let stripped: Vec<Value> = spec["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["name"].is_string())
        .cloned()
        .collect();
    cluster
        .api("gateway.networking.k8s.io", "v1", "HTTPRoute")
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"rules": stripped}})),
        )
        .await
        .unwrap();
    assert!(managed_rules(&route(&cluster).await).is_empty());

    let _controller = Controller::start_with_role_and(&cluster, &leaderless, &[]).await;
    let spec = wait_for_route(&cluster, "with the managed rules again", |s| {
        managed_rules(s) == managed
    })
    .await;
    assert_eq!(user_rule_in(&spec), &user_before, "the user's rule");
    assert_eq!(weights(&spec), (20, 80));
    // The same step: its index, its pause (started when it was), the same ReplicaSets.
    let resumed = rollout_object(&cluster, "web").await;
    assert_eq!(resumed["status"]["currentStepIndex"], 3);
    assert_eq!(resumed["status"]["phase"], "Paused");
    assert_eq!(
        resumed["status"]["pauseConditions"], paused["status"]["pauseConditions"],
        "the pause is the one before the kill"
    );
    let uids = |list: &[(String, String, i32, String)]| -> Vec<(String, String, i32)> {
        list.iter()
            .map(|(n, u, r, _)| (n.clone(), u.clone(), *r))
            .collect()
    };
    assert_eq!(uids(&replica_sets(&cluster).await), uids(&sets));

    kubectl_argo_rollouts(&cluster, &["promote", "web"]);
    wait_for(&cluster, "web", "Healthy on the new ReplicaSet", |o| {
        promoted(o, &canary_hash)
    })
    .await;
    let spec = wait_for_route(&cluster, "back at 0/100 without managed rules", |s| {
        weights(s) == (0, 100) && managed_rules(s).is_empty()
    })
    .await;
    assert_eq!(user_rule_in(&spec), &user_before, "the user's rule");
    // Never backwards: up through the steps, then 0 once the new stable has it all.
    let seen = samples.seen();
    let rising: Vec<i64> = seen.iter().copied().take_while(|w| *w != 0).collect();
    assert!(
        rising.windows(2).all(|w| w[0] <= w[1]) && rising.first() == Some(&20),
        "canary weights sampled: {seen:?}"
    );
    assert!(
        seen[rising.len()..].iter().all(|w| *w == 0),
        "canary weights sampled: {seen:?}"
    );
    assert_ne!(stable, canary_hash);
}
