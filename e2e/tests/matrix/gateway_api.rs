//! Seed 001 (Gateway API): the shared set-up of the HTTPRoute scenarios,
//! and the seed's own scenario.

use std::time::{Duration, Instant};

use kube::api::{Patch, PatchParams};
use rollgate_e2e::gateway::{self, Gateway};
use rollgate_e2e::{
    GATEWAY_API, Scene, Under, View, condition, expected, phase, replicas, scenario, status,
};
use rollgate_testkit::faults::Proxy;
use serde_json::{Value, json};

/// The Rollout of the HTTPRoute scenarios.
pub(crate) const ROLLOUT: &str = "rollout-canary";

/// A rule of the user's in the HTTPRoute, which no rollout owns: header
/// `x-internal: 1` goes to the stable Service only.
pub(crate) fn users_rule() -> Value {
    json!({"name": "users",
           "matches": [{"headers": [{"type": "Exact", "name": "x-internal", "value": "1"}]}],
           "backendRefs": [{"name": "web-stable", "port": 80, "weight": 1}]})
}

/// The pod template of seed 001, on `image`, with the port the Services
/// target (an experiment's Service takes its ports from the template's
/// containers).
fn template(image: &str) -> Value {
    json!({"metadata": {"labels": {"app": "web"}},
           "spec": {"containers": [{"name": "web", "image": image,
                                      "ports": [{"containerPort": 8080}]}]}})
}

/// Seed 001's set-up in a fresh namespace under `under`: Services
/// `web-stable`/`web-canary`, Gateway `gw`, HTTPRoute `web` (rule `web`
/// all on stable, and the user's rule `users`), and Rollout
/// `rollout-canary` (2 replicas, maxSurge 25 %, maxUnavailable 0) with
/// `steps` and `managed` routes, its template its own or, with
/// `workload_ref`, Deployment `web`'s as in the seed. `minReadySeconds` is
/// 0 rather than the seed's 30 so that the test does not wait on it. The
/// controller is started, and a [`Gateway`] accepts the route's
/// generations.
pub(crate) async fn scene(
    name: &str,
    under: Under,
    steps: Value,
    managed: &[&str],
    workload_ref: bool,
    plugin_args: &[&str],
) -> Option<(Scene, Gateway)> {
    scene_through(name, under, steps, managed, workload_ref, plugin_args, None).await
}

/// [`scene`] with the controller talking to the API server through `proxy`
/// when given.
pub(crate) async fn scene_through(
    name: &str,
    under: Under,
    steps: Value,
    managed: &[&str],
    workload_ref: bool,
    plugin_args: &[&str],
    proxy: Option<&Proxy>,
) -> Option<(Scene, Gateway)> {
    let mut s = set_up(name, under, steps, managed, workload_ref).await?;
    match proxy {
        Some(proxy) => s.start_through(GATEWAY_API, plugin_args, proxy).await,
        None => s.start(GATEWAY_API, plugin_args).await,
    }
    let gateway = gateway_for(&s);
    Some((s, gateway))
}

/// [`scene`]'s objects, the controller not started yet.
pub(crate) async fn set_up(
    name: &str,
    under: Under,
    steps: Value,
    managed: &[&str],
    workload_ref: bool,
) -> Option<Scene> {
    let mut s = Scene::new(name, under, ROLLOUT).await?;
    let ns = s.cluster.namespace.clone();
    for service in ["web-stable", "web-canary"] {
        s.cluster
            .create(json!({
                "apiVersion": "v1", "kind": "Service", "metadata": {"name": service},
                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}
            }))
            .await;
    }
    s.cluster
        .create(json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "gw"},
            "spec": {"gatewayClassName": "example", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}
        }))
        .await;
    s.cluster
        .create(json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "web"},
            "spec": {
                "parentRefs": [{"name": "gw"}],
                "rules": [users_rule(), {"name": "web", "backendRefs": [
                    {"name": "web-stable", "port": 80, "weight": 100},
                    {"name": "web-canary", "port": 80, "weight": 0}]}]
            }
        }))
        .await;
    let managed: Vec<Value> = managed.iter().map(|n| json!({"name": n})).collect();
    let mut rollout = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": ROLLOUT},
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
            }}
        }
    });
    if workload_ref {
        s.cluster
            .create(json!({
                "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                         "template": template("example.com/web:1")}
            }))
            .await;
        rollout["spec"]["workloadRef"] = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                                                "name": "web", "scaleDown": "onsuccess"});
    } else {
        rollout["spec"]["template"] = template("example.com/web:1");
    }
    s.cluster.create(rollout).await;
    s.watch("route", "gateway.networking.k8s.io/v1", "HTTPRoute", "web");
    Some(s)
}

/// The [`Gateway`] accepting the generations of `s`'s HTTPRoute `web`.
pub(crate) fn gateway_for(s: &Scene) -> Gateway {
    Gateway::serve(
        s.cluster
            .api("gateway.networking.k8s.io", "v1", "HTTPRoute"),
        "web",
    )
}

/// The route's rules in `view`.
pub(crate) fn rules(view: &View) -> &Value {
    &view["route"]["spec"]["rules"]
}

/// The (stable, canary) weights of rule `web` in `view`.
pub(crate) fn web(view: &View) -> (i64, i64) {
    gateway::named(rules(view), "web").map_or((-1, -1), gateway::weights)
}

/// Changes the image as a user would: `kubectl argo rollouts set image`,
/// or, for a Rollout that takes its template from Deployment `web`, an
/// update of the Deployment.
pub(crate) async fn set_image(s: &Scene, image: &str) {
    let rollout = s.rollouts().get(&s.rollout).await.expect("the Rollout");
    if rollout.data["spec"]["workloadRef"].is_null() {
        s.kubectl(&["set", "image", &s.rollout, &format!("web={image}")]);
    } else {
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}}});
        s.cluster
            .api("apps", "v1", "Deployment")
            .patch("web", &PatchParams::default(), &Patch::Strategic(&patch))
            .await
            .expect("update Deployment web");
    }
}

/// The user's rule stayed byte-identical in every generation of the route
/// the gateway accepted, and is still there.
pub(crate) async fn assert_users_rule_untouched(gateway: &Gateway) {
    let seen = gateway.seen().await;
    let first = gateway::named(&seen[0], "users")
        .expect("the user's rule")
        .clone();
    for (i, rules) in seen.iter().enumerate() {
        assert_eq!(
            gateway::named(rules, "users"),
            Some(&first),
            "the user's rule at accepted generation {i}: {rules:#}"
        );
    }
}

/// Whether `sequence` appears in `seen` in order (not necessarily adjacent).
pub(crate) fn in_order(seen: &[(i64, i64)], sequence: &[(i64, i64)]) -> bool {
    let mut rest = seen.iter();
    sequence.iter().all(|w| rest.any(|s| s == w))
}

scenario!(seed_001_gateway_api);

/// Seed 001: an image change, the HTTPRoute at 50/50 at the pause,
/// `kubectl argo rollouts promote`, 100 % to the canary, then Healthy on
/// the new revision with all traffic on it as the stable.
async fn seed_001_gateway_api(under: Under) {
    let Some((s, gateway)) = scene("seed-001", under, seed_001_steps(), &[], true, &[]).await
    else {
        return;
    };
    seed_001(&s, &gateway).await;
}

/// Seed 001's steps: 50 %, a pause, 100 %.
pub(crate) fn seed_001_steps() -> Value {
    json!([{"setWeight": 50}, {"pause": {}}, {"setWeight": 100}])
}

/// Seed 001's run and assertions on a started [`scene`] of its steps.
pub(crate) async fn seed_001(s: &Scene, gateway: &Gateway) {
    let first = s
        .until("first revision Healthy, all on stable, Completed", |v| {
            phase(v) == "Healthy"
                && web(v) == (100, 0)
                && condition(v, "Completed")
                    == expected("True", "RolloutCompleted", "RolloutCompleted")
        })
        .await;
    let stable = status(&first)["stableRS"].clone();
    // As Argo: no Paused condition before the first pause.
    assert_eq!(condition(&first, "Paused"), None, "{first:#}");

    set_image(s, "example.com/web:2").await;
    let paused = s
        .until("50/50 and paused", |v| {
            phase(v) == "Paused" && web(v) == (50, 50)
        })
        .await;
    let canary = status(&paused)["currentPodHash"].clone();
    assert_ne!(canary, stable);
    assert_eq!(status(&paused)["canary"]["weights"]["canary"]["weight"], 50);
    assert_eq!(status(&paused)["canary"]["weights"]["stable"]["weight"], 50);
    assert_eq!(replicas(&paused, &canary), 1, "{paused:#}");
    assert_eq!(replicas(&paused, &stable), 2, "{paused:#}");
    assert_eq!(s.shown_status(), "Paused");
    assert_eq!(status(&paused)["message"], "CanaryPauseStep");
    assert_eq!(
        status(&paused)["pauseConditions"][0]["reason"],
        "CanaryPauseStep"
    );
    // Argo's conditions at a pause (its controller may write them in the
    // reconcile after the phase).
    s.until("the pause's conditions", |v| {
        condition(v, "Paused") == expected("True", "RolloutPaused", "Rollout is paused")
            && condition(v, "Progressing")
                == expected("Unknown", "RolloutPaused", "Rollout is paused")
            && condition(v, "Completed")
                == expected("False", "RolloutCompleted", "RolloutCompleted")
    })
    .await;

    let promoted_at = Instant::now();
    s.kubectl(&["promote", ROLLOUT]);
    let done = s
        .until("promoted and Healthy on the new revision", |v| {
            phase(v) == "Healthy" && status(v)["stableRS"] == canary && web(v) == (100, 0)
        })
        .await;
    assert_eq!(replicas(&done, &canary), 2, "{done:#}");
    assert_eq!(s.shown_status(), "Healthy");
    s.until("the conditions once promoted", |v| {
        condition(v, "Paused") == expected("False", "RolloutPaused", "Rollout is paused")
            && condition(v, "Completed") == expected("True", "RolloutCompleted", "RolloutCompleted")
    })
    .await;
    // The old ReplicaSet stays up for scaleDownDelaySeconds (30 s by
    // default with traffic routing), so that the routes have moved off it.
    s.until("the old ReplicaSet scaled down", |v| {
        replicas(v, &stable) == 0
    })
    .await;
    assert!(
        promoted_at.elapsed() >= Duration::from_secs(25),
        "the old ReplicaSet is scaled down after scaleDownDelaySeconds (30 s), not {:?}",
        promoted_at.elapsed()
    );
    let seen = gateway.weights_seen("web").await;
    assert!(
        in_order(&seen, &[(100, 0), (50, 50), (0, 100), (100, 0)]),
        "the gateway saw 50/50, then 0/100, then all on the new stable: {seen:?}"
    );
    super::assert_route_writer(s, GATEWAY_API, "httproutes", "web", &["patch"]).await;
    assert_users_rule_untouched(gateway).await;
}
