//! Seed 000 (Istio): weights on a VirtualService route by DestinationRule
//! subsets, a mirror route copying 35 % of GET requests to the canary, then
//! the promotion.

use rollgate_e2e::{ISTIO, Scene, Under, View, phase, scenario, status};
use serde_json::{Value, json};

const ROLLOUT: &str = "web";

fn route<'a>(v: &'a View, name: &str) -> Option<&'a Value> {
    v["vs"]["spec"]["http"]
        .as_array()?
        .iter()
        .find(|r| r["name"] == name)
}

/// (stable, canary) weights of route `name` (-1 for a missing destination).
fn weights(v: &View, name: &str) -> (i64, i64) {
    let w = |subset: &str| {
        route(v, name)
            .and_then(|r| r["route"].as_array())
            .into_iter()
            .flatten()
            .find(|d| d["destination"]["subset"] == subset)
            .and_then(|d| d["weight"].as_i64())
            .unwrap_or(-1)
    };
    (w("stable"), w("canary"))
}

fn subset_hash<'a>(v: &'a View, subset: &str) -> Option<&'a str> {
    v["dr"]["spec"]["subsets"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == subset)?["labels"]["rollouts-pod-template-hash"]
        .as_str()
}

scenario!(seed_000_istio);

async fn seed_000_istio(under: Under) {
    let Some(mut s) = Scene::new("seed-000", under, ROLLOUT).await else {
        return;
    };
    s.cluster
        .create(json!({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}
        }))
        .await;
    s.cluster
        .create(json!({
            "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "web"},
            "spec": {"hosts": ["web"], "http": [{"name": "primary", "route": [
                {"destination": {"host": "web", "subset": "stable"}, "weight": 100},
                {"destination": {"host": "web", "subset": "canary"}, "weight": 0}]}]}
        }))
        .await;
    s.cluster
        .create(json!({
            "apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
            "metadata": {"name": "web"},
            "spec": {"host": "web", "subsets": [
                {"name": "canary", "labels": {"app": "web"}},
                {"name": "stable", "labels": {"app": "web"}}]}
        }))
        .await;
    s.cluster
        .create(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": ROLLOUT},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                             "spec": {"containers": [{"name": "web", "image": "example.com/web:1"}]}},
                "strategy": {"canary": {
                    "steps": [
                        {"setCanaryScale": {"weight": 25}},
                        {"setMirrorRoute": {"name": "mirror-route", "percentage": 35,
                                            "match": [{"method": {"exact": "GET"}, "path": {"prefix": "/"}}]}},
                        {"setWeight": 20},
                        {"pause": {}}
                    ],
                    "trafficRouting": {
                        "managedRoutes": [{"name": "mirror-route"}],
                        "plugins": {"rollgate/istio": {
                            "virtualService": {"name": "web", "routes": ["primary"]},
                            "destinationRule": {"name": "web", "canarySubsetName": "canary", "stableSubsetName": "stable"}
                        }}
                    }
                }}
            }
        }))
        .await;
    s.watch("vs", "networking.istio.io/v1", "VirtualService", "web");
    s.watch("dr", "networking.istio.io/v1", "DestinationRule", "web");
    s.start(ISTIO, &[]).await;

    s.until("Healthy, both subsets on the first revision", |v| {
        phase(v) == "Healthy"
            && subset_hash(v, "stable").is_some()
            && subset_hash(v, "stable") == status(v)["stableRS"].as_str()
    })
    .await;
    s.kubectl(&["set", "image", ROLLOUT, "web=example.com/web:2"]);
    let paused = s
        .until("mirror route and 20 % to the canary subset, paused", |v| {
            phase(v) == "Paused"
                && route(v, "mirror-route").is_some()
                && weights(v, "primary") == (80, 20)
                && subset_hash(v, "canary") == status(v)["currentPodHash"].as_str()
        })
        .await;
    let mirror = route(&paused, "mirror-route").unwrap();
    assert_eq!(mirror["mirror"], json!({"host": "web", "subset": "canary"}));
    assert_eq!(mirror["mirrorPercentage"]["value"], 35.0);
    assert_eq!(
        mirror["match"],
        json!([{"method": {"exact": "GET"}, "uri": {"prefix": "/"}}])
    );
    assert_eq!(
        paused["vs"]["spec"]["http"][0]["name"], "mirror-route",
        "managed routes go first"
    );
    assert_eq!(s.shown_status(), "Paused");

    s.kubectl(&["promote", ROLLOUT]);
    s.until(
        "promoted: mirror route gone, all traffic on stable (the new revision)",
        |v| {
            phase(v) == "Healthy"
                && status(v)["stableRS"] == status(v)["currentPodHash"]
                && route(v, "mirror-route").is_none()
                && weights(v, "primary") == (100, 0)
                && subset_hash(v, "stable") == status(v)["currentPodHash"].as_str()
        },
    )
    .await;
    crate::assert_route_writer(&s, ISTIO, "virtualservices", "web", &["update"]).await;
}
