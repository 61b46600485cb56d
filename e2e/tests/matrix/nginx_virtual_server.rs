//! F5 NGINX VirtualServer: seed 002's steps on a VirtualServer whose route
//! `/` passes to the stable Service's upstream, split by the NGINX router
//! (`virtualServer` in its config). The VirtualServer CRD is the
//! repository's own (`router-nginx/tests/crds/`): F5's ships with its Go
//! module, which the Go module proxy does not serve.

use std::path::Path;

use rollgate_e2e::{NGINX, Scene, Under, View, phase, scenario, status};
use serde_json::{Value, json};

use crate::nginx::{create_seed_002, create_seed_002_services};

const ROLLOUT: &str = "rollouts-demo";
const VS: &str = "rollouts-demo";

/// The route `/` of the VirtualServer.
fn route(v: &View) -> &Value {
    &v["vs"]["spec"]["routes"][0]
}

/// The canary split's weight of route `/` (0 when it is not split).
fn canary_weight(v: &View) -> i64 {
    route(v)["splits"][1]["weight"].as_i64().unwrap_or(0)
}

scenario!(seed_002_nginx_virtual_server);

/// Weight 20 and the header route (a match) at the pause, `kubectl argo
/// rollouts promote`, 60 during the 2 s timed pause, then the promotion:
/// the VirtualServer's spec as the user wrote it, no annotation left.
async fn seed_002_nginx_virtual_server(under: Under) {
    let Some(mut s) = Scene::new("seed-002-vs", under, ROLLOUT).await else {
        return;
    };
    let crds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../router-nginx/tests/crds");
    s.cluster
        .install_crds(&[
            crds.join("virtualservers.yaml"),
            crds.join("virtualserverroutes.yaml"),
        ])
        .await;
    create_seed_002_services(&s).await;
    let users = s
        .cluster
        .create(json!({
            "apiVersion": "k8s.nginx.org/v1", "kind": "VirtualServer",
            "metadata": {"name": VS},
            "spec": {"host": "rollouts-demo.local",
                "upstreams": [{"name": "demo", "service": "rollouts-demo-stable", "port": 80},
                              {"name": "cdn", "service": "cdn", "port": 80}],
                "routes": [{"path": "/", "action": {"pass": "demo"}},
                           {"path": "/static", "action": {"pass": "cdn"}}]}
        }))
        .await;
    let users_spec = users.data["spec"].clone();
    create_seed_002(&s, json!({"virtualServer": {"name": VS, "routes": ["/"]}})).await;
    s.watch("vs", "k8s.nginx.org/v1", "VirtualServer", VS);
    s.start(NGINX, &[]).await;

    s.until("Healthy; the route not split", |v| {
        phase(v) == "Healthy" && route(v)["action"]["pass"] == "demo"
    })
    .await;
    s.kubectl(&[
        "set",
        "image",
        ROLLOUT,
        "rollouts-demo=argoproj/rollouts-demo:yellow",
    ]);
    let paused = s
        .until("split 80/20 and the header match, paused", |v| {
            phase(v) == "Paused"
                && canary_weight(v) == 20
                && route(v)["matches"][0]["conditions"][0]["header"] == "x-beta"
        })
        .await;
    assert_eq!(
        route(&paused)["splits"][1]["action"]["pass"],
        "demo-rollgate-canary"
    );
    assert_eq!(
        route(&paused)["matches"][0]["action"]["pass"],
        "demo-rollgate-canary"
    );
    assert_eq!(paused["vs"]["spec"]["routes"][1], users_spec["routes"][1]);
    assert_eq!(s.shown_status(), "Paused");

    s.kubectl(&["promote", ROLLOUT]);
    s.until("split 60 during the 2 s pause", |v| canary_weight(v) == 60)
        .await;
    let done = s
        .until(
            "promoted: Healthy on the new revision, the user's VirtualServer again",
            |v| {
                phase(v) == "Healthy"
                    && status(v)["stableRS"] == status(v)["currentPodHash"]
                    && v["vs"]["spec"] == users_spec
            },
        )
        .await;
    assert!(
        done["vs"]["metadata"]["annotations"].is_null(),
        "no record left: {}",
        done["vs"]["metadata"]
    );
    crate::assert_route_writer(&s, NGINX, "virtualservers", VS, &["patch"]).await;
}
