//! The real Argo Rollouts controller (built from the Go module proxy by
//! `scripts/cluster build`) driving this plugin binary against a real
//! kube-apiserver, with pods made Ready by kwok. Runs when `ROLLGATE_E2E=1`
//! (`eval "$(scripts/cluster env)"`).
//!
//! Each test runs its own controller in namespaced mode (`--namespaced`,
//! `POD_NAMESPACE`), so its `argo-rollouts-config` lists the plugin as
//! `file://` under `argoproj-labs/gatewayAPI` exactly as a user would, and
//! tests do not see each other's rollouts. Plugin `args` from the ConfigMap
//! reach the binary (the header-route test passes some). A small task plays
//! the gateway controller: it accepts each new generation of the HTTPRoute
//! (so that the plugin's weight verification passes) and records the weights
//! it saw.
//!
//! The scenario is seed 001's: Deployment `web` referenced by `workloadRef`,
//! Services `web-stable`/`web-canary`, Gateway `gw`, HTTPRoute `web`; steps
//! setWeight 50, pause, setWeight 100. Promotion and abort send the patches
//! `kubectl argo rollouts promote|abort` send (`rollout_core::ops`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use rollgate_testkit::{Argo, Cluster, Plugin};
use serde_json::{Value, json};

const PLUGIN: &str = env!("CARGO_BIN_EXE_rollgate-gatewayapi");

/// A namespace with an Argo Rollouts controller of its own.
struct Scenario {
    // Field order is drop order: the controller stops before the namespace goes.
    _argo: Argo,
    cluster: Cluster,
    gateway: tokio::task::JoinHandle<()>,
    /// (stable, canary) weights of HTTPRoute `web`, per accepted generation.
    seen: Arc<Mutex<Vec<(i64, i64)>>>,
}

impl Drop for Scenario {
    fn drop(&mut self) {
        self.gateway.abort();
    }
}

/// Seed 001's rollout in `ns`, with `steps`. `minReadySeconds` is 0 rather
/// than the seed's 30 so that the test does not wait on it.
fn rollout(ns: &str, steps: Value, managed_routes: &[&str]) -> Value {
    let managed: Vec<Value> = managed_routes.iter().map(|n| json!({"name": n})).collect();
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "rollout-canary"},
        "spec": {
            "replicas": 2, "revisionHistoryLimit": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"canary": {
                "canaryService": "web-canary", "stableService": "web-stable",
                "maxSurge": "25%", "maxUnavailable": 0,
                "steps": steps,
                "trafficRouting": {
                    "managedRoutes": managed,
                    "plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "web", "namespace": ns}}
                }
            }},
            "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "scaleDown": "onsuccess"}
        }
    })
}

async fn scenario(
    test: &str,
    rollout_steps: Value,
    managed_routes: &[&str],
    plugin_args: &[&str],
) -> Option<Scenario> {
    let cluster = Cluster::new(&format!("argo-{test}")).await?;
    let ns = cluster.namespace.clone();
    for name in ["web-stable", "web-canary"] {
        cluster
            .create(json!({
                "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}
            }))
            .await;
    }
    cluster
        .create(json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "example.com/web:1"}]}
                }
            }
        }))
        .await;
    cluster
        .create(json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "gw"},
            "spec": {"gatewayClassName": "example", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}
        }))
        .await;
    cluster
        .create(json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "web"},
            "spec": {
                "parentRefs": [{"name": "gw"}],
                "rules": [{"name": "web", "backendRefs": [
                    {"name": "web-stable", "port": 80, "weight": 100},
                    {"name": "web-canary", "port": 80, "weight": 0}]}]
            }
        }))
        .await;
    cluster
        .create(rollout(&ns, rollout_steps, managed_routes))
        .await;
    let argo = cluster
        .start_argo(&[Plugin {
            name: "argoproj-labs/gatewayAPI",
            path: PLUGIN,
            args: plugin_args,
        }])
        .await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let gateway = tokio::spawn(gateway_controller(
        cluster.api("gateway.networking.k8s.io", "v1", "HTTPRoute"),
        Arc::clone(&seen),
    ));
    Some(Scenario {
        _argo: argo,
        cluster,
        gateway,
        seen,
    })
}

/// Accepts every new generation of HTTPRoute `web` as a gateway would.
async fn gateway_controller(api: Api<DynamicObject>, seen: Arc<Mutex<Vec<(i64, i64)>>>) {
    let mut accepted = 0;
    loop {
        if let Ok(route) = api.get("web").await {
            let generation = route.metadata.generation.unwrap_or_default();
            if generation != accepted {
                let condition = |kind: &str| {
                    json!({"type": kind, "status": "True", "reason": kind, "message": "",
                           "observedGeneration": generation,
                           "lastTransitionTime": "2026-11-22T00:00:00Z"})
                };
                let status = json!({"status": {"parents": [{
                    "parentRef": {"name": "gw"}, "controllerName": "example.com/gateway",
                    "conditions": [condition("Accepted"), condition("ResolvedRefs")]
                }]}});
                if api
                    .patch_status("web", &PatchParams::default(), &Patch::Merge(&status))
                    .await
                    .is_ok()
                {
                    accepted = generation;
                    seen.lock()
                        .unwrap()
                        .push(weights(&route.data["spec"]["rules"][0]));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// (stable, canary) weights of a rule.
fn weights(rule: &Value) -> (i64, i64) {
    let weight = |service: &str| {
        rule["backendRefs"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|b| b["name"] == service)
            .and_then(|b| b["weight"].as_i64())
            .unwrap_or(1)
    };
    (weight("web-stable"), weight("web-canary"))
}

impl Scenario {
    fn rollouts(&self) -> Api<DynamicObject> {
        self.cluster.api("argoproj.io", "v1alpha1", "Rollout")
    }

    async fn rollout(&self) -> DynamicObject {
        self.rollouts().get("rollout-canary").await.unwrap()
    }

    async fn route(&self) -> Value {
        self.cluster
            .api("gateway.networking.k8s.io", "v1", "HTTPRoute")
            .get("web")
            .await
            .unwrap()
            .data["spec"]
            .clone()
    }

    /// Waits up to 90 s for `check` on the rollout and route to hold.
    async fn until(&self, what: &str, check: impl Fn(&Value, &Value) -> bool) {
        let started = Instant::now();
        loop {
            let rollout = self.rollout().await;
            let route = self.route().await;
            if check(&rollout.data["status"], &route) {
                eprintln!("{what}: after {:?}", started.elapsed());
                return;
            }
            if started.elapsed() > Duration::from_secs(90) {
                panic!(
                    "{what}: not within 90 s\nrollout status: {:#}\nroute: {:#}",
                    rollout.data["status"], route
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn set_image(&self, image: &str) {
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}}});
        self.cluster
            .api("apps", "v1", "Deployment")
            .patch("web", &PatchParams::default(), &Patch::Strategic(&patch))
            .await
            .unwrap();
    }

    /// Sends what `kubectl argo rollouts <op>` sends.
    async fn operate(&self, op: fn(&rollout_core::Rollout) -> rollout_core::ops::Patch) {
        let object = self.rollout().await;
        let value = serde_json::to_value(&object).unwrap();
        let rollout = rollout_core::Rollout::from_value(value, "rollout-canary").unwrap();
        let patch = op(&rollout);
        let api = self.rollouts();
        let pp = PatchParams::default();
        if let Some(body) = patch.spec_body() {
            api.patch("rollout-canary", &pp, &Patch::Merge(&body))
                .await
                .unwrap();
        }
        if let Some(body) = patch.status_body() {
            api.patch_status("rollout-canary", &pp, &Patch::Merge(&body))
                .await
                .unwrap();
        }
    }

    fn seen(&self) -> Vec<(i64, i64)> {
        self.seen.lock().unwrap().clone()
    }
}

fn phase(status: &Value) -> &str {
    status["phase"].as_str().unwrap_or_default()
}

fn first_rule(route: &Value) -> (i64, i64) {
    weights(&route["rules"][0])
}

fn rule_names(route: &Value) -> Vec<String> {
    route["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn seed_001_steps() -> Value {
    json!([{"setWeight": 50}, {"pause": {}}, {"setWeight": 100}])
}

#[tokio::test]
async fn image_change_weights_promote_and_abort() {
    let Some(s) = scenario("promote", seed_001_steps(), &[], &[]).await else {
        return;
    };
    s.until("first revision Healthy", |st, route| {
        phase(st) == "Healthy" && first_rule(route) == (100, 0)
    })
    .await;

    s.set_image("example.com/web:2").await;
    s.until("50/50 and paused", |st, route| {
        phase(st) == "Paused" && first_rule(route) == (50, 50)
    })
    .await;
    s.operate(rollout_core::ops::promote).await;
    s.until("promoted and Healthy on the new revision", |st, route| {
        phase(st) == "Healthy"
            && st["stableRS"] == st["currentPodHash"]
            && first_rule(route) == (100, 0)
    })
    .await;
    let seen = s.seen();
    let canary_100 = seen.iter().position(|w| *w == (0, 100));
    let canary_50 = seen.iter().position(|w| *w == (50, 50));
    assert!(
        matches!((canary_50, canary_100), (Some(a), Some(b)) if a < b),
        "the gateway saw 50/50, then 0/100: {seen:?}"
    );
    // The plugin process's own requests carry its user agent.
    s.cluster.audit_barrier().await;
    let agent = concat!("rollgate-gatewayapi/", env!("CARGO_PKG_VERSION"));
    let patches: Vec<_> = s
        .cluster
        .audited_requests("httproutes", "web")
        .into_iter()
        .filter(|r| r.verb == "patch" && r.user_agent.starts_with("rollgate-"))
        .collect();
    assert!(
        !patches.is_empty() && patches.iter().all(|r| r.user_agent == agent),
        "the plugin's route writes are audited as {agent}: {patches:?}"
    );

    s.set_image("example.com/web:3").await;
    s.until("50/50 and paused again", |st, route| {
        phase(st) == "Paused" && first_rule(route) == (50, 50)
    })
    .await;
    s.operate(rollout_core::ops::abort).await;
    s.until("aborted: all traffic on stable, Degraded", |st, route| {
        phase(st) == "Degraded" && st["abort"] == true && first_rule(route) == (100, 0)
    })
    .await;
}

#[tokio::test]
async fn header_and_mirror_routes_through_argo() {
    let steps = json!([
        {"setWeight": 20},
        {"setHeaderRoute": {"name": "beta", "match": [{"headerName": "x-beta", "headerValue": {"exact": "yes"}}]}},
        {"setMirrorRoute": {"name": "mirror", "percentage": 30, "match": [{"method": {"exact": "GET"}, "path": {"prefix": "/api"}}]}},
        {"pause": {}},
        {"setWeight": 100}
    ]);
    let Some(s) = scenario(
        "routes",
        steps,
        &["beta", "mirror"],
        &["--log-format=text", "--qps=20"],
    )
    .await
    else {
        return;
    };
    s.until("first revision Healthy", |st, _| phase(st) == "Healthy")
        .await;

    s.set_image("example.com/web:2").await;
    s.until("header and mirror routes in place, paused", |st, route| {
        // beta precedes mirror in managedRoutes: its companion rule takes
        // the requests both match.
        phase(st) == "Paused" && rule_names(route) == ["web", "beta", "beta--mirror", "mirror"]
    })
    .await;
    let route = s.route().await;
    assert_eq!(first_rule(&route), (80, 20));
    let beta = &route["rules"][1];
    assert_eq!(
        beta["matches"][0]["headers"][0],
        json!({"type": "Exact", "name": "x-beta", "value": "yes"})
    );
    let companion = &route["rules"][2];
    assert_eq!(companion["matches"][0]["method"], "GET");
    assert_eq!(companion["backendRefs"], beta["backendRefs"]);
    let mirror = &route["rules"][3];
    let filter = mirror["filters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["type"] == "RequestMirror")
        .expect("a RequestMirror filter on the mirror route");
    assert_eq!(filter["requestMirror"]["percent"], 30);
    assert_eq!(filter["requestMirror"]["backendRef"]["name"], "web-canary");

    s.operate(rollout_core::ops::promote).await;
    s.until(
        "promoted: managed routes gone, all on stable",
        |st, route| {
            phase(st) == "Healthy" && rule_names(route) == ["web"] && first_rule(route) == (100, 0)
        },
    )
    .await;
}
