//! The real Argo Rollouts controller driving `rollgate-istio` against a real
//! kube-apiserver with Istio's CRDs, pods made Ready by kwok
//! (`ROLLGATE_E2E=1`; see `scripts/cluster`). Seed 000's Istio case: weights
//! on a VirtualService route by DestinationRule subsets, and a mirror route
//! copying a share of GET requests to the canary, then promotion.

use std::time::{Duration, Instant};

use kube::api::{Patch, PatchParams};
use rollgate_testkit::{Cluster, Plugin};
use serde_json::{Value, json};

const PLUGIN: &str = env!("CARGO_BIN_EXE_rollgate-istio");

async fn setup(cluster: &Cluster) {
    cluster
        .create(json!({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}
        }))
        .await;
    cluster
        .create(json!({
            "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "web"},
            "spec": {"hosts": ["web"], "http": [{"name": "primary", "route": [
                {"destination": {"host": "web", "subset": "stable"}, "weight": 100},
                {"destination": {"host": "web", "subset": "canary"}, "weight": 0}]}]}
        }))
        .await;
    cluster
        .create(json!({
            "apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
            "metadata": {"name": "web"},
            "spec": {"host": "web", "subsets": [
                {"name": "canary", "labels": {"app": "web"}},
                {"name": "stable", "labels": {"app": "web"}}]}
        }))
        .await;
    cluster
        .create(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "web"},
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
}

async fn state(cluster: &Cluster) -> (Value, Value, Value) {
    let get = |group: &str, version: &str, kind: &str, name: &str| {
        let api = cluster.api(group, version, kind);
        let name = name.to_owned();
        async move { api.get(&name).await.unwrap().data }
    };
    (
        get("argoproj.io", "v1alpha1", "Rollout", "web").await["status"].clone(),
        get("networking.istio.io", "v1", "VirtualService", "web").await["spec"].clone(),
        get("networking.istio.io", "v1", "DestinationRule", "web").await["spec"].clone(),
    )
}

async fn until(cluster: &Cluster, what: &str, check: impl Fn(&Value, &Value, &Value) -> bool) {
    let started = Instant::now();
    loop {
        let (status, vs, dr) = state(cluster).await;
        if check(&status, &vs, &dr) {
            eprintln!("{what}: after {:?}", started.elapsed());
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{what}: not within 90 s\nrollout status: {status:#}\nVirtualService: {vs:#}\nDestinationRule: {dr:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn route<'a>(vs: &'a Value, name: &str) -> Option<&'a Value> {
    vs["http"].as_array()?.iter().find(|r| r["name"] == name)
}

/// (stable, canary) weights of a route.
fn weights(route: Option<&Value>) -> (i64, i64) {
    let w = |subset: &str| {
        route
            .and_then(|r| r["route"].as_array())
            .into_iter()
            .flatten()
            .find(|d| d["destination"]["subset"] == subset)
            .and_then(|d| d["weight"].as_i64())
            .unwrap_or(-1)
    };
    (w("stable"), w("canary"))
}

fn subset_hash<'a>(dr: &'a Value, subset: &str) -> Option<&'a str> {
    dr["subsets"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == subset)?["labels"]["rollouts-pod-template-hash"]
        .as_str()
}

#[tokio::test]
async fn seed_000_subsets_weights_and_mirror_route() {
    let Some(cluster) = Cluster::new("argo-istio").await else {
        return;
    };
    setup(&cluster).await;
    let _argo = cluster
        .start_argo(&[Plugin {
            name: "rollgate/istio",
            path: PLUGIN,
            args: &[],
        }])
        .await;
    until(
        &cluster,
        "Healthy, both subsets on the first revision",
        |st, _, dr| {
            st["phase"] == "Healthy"
                && subset_hash(dr, "stable").is_some()
                && subset_hash(dr, "stable") == st["stableRS"].as_str()
        },
    )
    .await;

    let image = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "example.com/web:2"}]}}}});
    cluster
        .api("argoproj.io", "v1alpha1", "Rollout")
        .patch("web", &PatchParams::default(), &Patch::Merge(&image))
        .await
        .unwrap();
    until(
        &cluster,
        "mirror route and 20 % to the canary subset, paused",
        |st, vs, dr| {
            st["phase"] == "Paused"
                && route(vs, "mirror-route").is_some()
                && weights(route(vs, "primary")) == (80, 20)
                && subset_hash(dr, "canary") == st["currentPodHash"].as_str()
        },
    )
    .await;
    let (_, vs, _) = state(&cluster).await;
    let mirror = route(&vs, "mirror-route").unwrap();
    assert_eq!(mirror["mirror"], json!({"host": "web", "subset": "canary"}));
    assert_eq!(mirror["mirrorPercentage"]["value"], 35.0);
    assert_eq!(
        mirror["match"],
        json!([{"method": {"exact": "GET"}, "uri": {"prefix": "/"}}])
    );
    assert_eq!(
        vs["http"][0]["name"], "mirror-route",
        "managed routes go first"
    );

    let api = cluster.api("argoproj.io", "v1alpha1", "Rollout");
    let object = api.get("web").await.unwrap();
    let rollout =
        rollout_core::Rollout::from_value(serde_json::to_value(&object).unwrap(), "web").unwrap();
    let patch = rollout_core::ops::promote(&rollout);
    if let Some(body) = patch.status_body() {
        api.patch_status("web", &PatchParams::default(), &Patch::Merge(&body))
            .await
            .unwrap();
    }
    until(
        &cluster,
        "promoted: mirror route gone, all traffic on stable (the new revision)",
        |st, vs, dr| {
            st["phase"] == "Healthy"
                && st["stableRS"] == st["currentPodHash"]
                && route(vs, "mirror-route").is_none()
                && weights(route(vs, "primary")) == (100, 0)
                && subset_hash(dr, "stable") == st["currentPodHash"].as_str()
        },
    )
    .await;
    // The plugin process's writes carry its user agent.
    cluster.audit_barrier().await;
    let agent = concat!("rollgate-istio/", env!("CARGO_PKG_VERSION"));
    let writes: Vec<_> = cluster
        .audited_requests("virtualservices", "web")
        .into_iter()
        .filter(|r| r.verb == "update")
        .collect();
    assert!(
        !writes.is_empty() && writes.iter().all(|r| r.user_agent == agent),
        "the VirtualService is written by {agent} only: {writes:?}"
    );
}
