//! Seed 002 (NGINX): Services `rollouts-demo-stable`/`-canary`, the stable
//! Ingress `rollouts-demo-stable`, and the canary Ingress the router
//! generates beside it, `rollouts-demo-rollouts-demo-stable-canary`.

use rollgate_e2e::{NGINX, Scene, Under, View, phase, scenario, status};
use serde_json::{Value, json};

const ROLLOUT: &str = "rollouts-demo";
const CANARY_INGRESS: &str = "rollouts-demo-rollouts-demo-stable-canary";
const ANNOTATION: &str = "nginx.ingress.kubernetes.io/";

/// Annotation `nginx.ingress.kubernetes.io/<name>` of the canary Ingress.
fn canary(v: &View, name: &str) -> Value {
    v["canary"]["metadata"]["annotations"][format!("{ANNOTATION}{name}")].clone()
}

scenario!(seed_002_nginx);

/// Seed 002's steps with a header route: canary-weight 20 and the header
/// route at the pause, `kubectl argo rollouts promote`, 60 during the 2 s
/// timed pause, then the promotion: weight 0 on the new revision, the
/// header route removed, the stable Ingress never written.
async fn seed_002_nginx(under: Under) {
    let Some(mut s) = Scene::new("seed-002", under, ROLLOUT).await else {
        return;
    };
    create_seed_002_services(&s).await;
    s.cluster
        .create(json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "rollouts-demo-stable", "annotations": {"kubernetes.io/ingress.class": "nginx"}},
            "spec": {"rules": [{"host": "rollouts-demo.local", "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": "rollouts-demo-stable", "port": {"number": 80}}}}]}}]}
        }))
        .await;
    create_seed_002(&s, json!({"stableIngress": "rollouts-demo-stable"})).await;
    s.watch("canary", "networking.k8s.io/v1", "Ingress", CANARY_INGRESS);
    s.start(NGINX, &[]).await;

    s.until("Healthy; canary Ingress at 0", |v| {
        phase(v) == "Healthy" && canary(v, "canary-weight") == "0"
    })
    .await;
    s.kubectl(&[
        "set",
        "image",
        ROLLOUT,
        "rollouts-demo=argoproj/rollouts-demo:yellow",
    ]);
    let paused = s
        .until("canary-weight 20 and the header route, paused", |v| {
            phase(v) == "Paused"
                && canary(v, "canary-weight") == "20"
                && canary(v, "canary-by-header") == "x-beta"
        })
        .await;
    assert_eq!(canary(&paused, "canary"), "true");
    assert_eq!(canary(&paused, "canary-by-header-value"), "yes");
    assert_eq!(
        paused["canary"]["metadata"]["annotations"]["kubernetes.io/ingress.class"],
        "nginx"
    );
    assert_eq!(s.shown_status(), "Paused");

    s.kubectl(&["promote", ROLLOUT]);
    s.until("canary-weight 60 during the 2 s pause", |v| {
        canary(v, "canary-weight") == "60"
    })
    .await;
    s.until(
        "promoted: Healthy on the new revision, weight 0, header route gone",
        |v| {
            phase(v) == "Healthy"
                && status(v)["stableRS"] == status(v)["currentPodHash"]
                && canary(v, "canary-weight") == "0"
                && canary(v, "canary-by-header").is_null()
        },
    )
    .await;
    let stable_writes: Vec<String> = s
        .cluster
        .audited("ingresses", "rollouts-demo-stable")
        .into_iter()
        .filter(|v| v != "get" && v != "create")
        .collect();
    assert!(
        stable_writes.is_empty(),
        "the stable Ingress is never written: {stable_writes:?}"
    );
    crate::assert_route_writer(&s, NGINX, "ingresses", CANARY_INGRESS, &["patch"]).await;
}

/// Seed 002's Services `rollouts-demo-stable` and `-canary`.
pub(crate) async fn create_seed_002_services(s: &Scene) {
    for role in ["stable", "canary"] {
        s.cluster
            .create(json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": format!("rollouts-demo-{role}")},
                "spec": {"selector": {"app": "rollouts-demo"}, "ports": [{"port": 80, "targetPort": 8080}]}
            }))
            .await;
    }
}

/// Seed 002's Rollout with a header route, routed by `rollgate/nginx` with
/// `config`: weight 20, the header route `beta`, an indefinite pause, 60, a
/// 2 s pause.
pub(crate) async fn create_seed_002(s: &Scene, config: Value) {
    s.cluster
        .create(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": ROLLOUT},
            "spec": {
                "replicas": 2, "revisionHistoryLimit": 2,
                "selector": {"matchLabels": {"app": "rollouts-demo"}},
                "template": {"metadata": {"labels": {"app": "rollouts-demo"}},
                             "spec": {"containers": [{"name": "rollouts-demo", "image": "argoproj/rollouts-demo:blue"}]}},
                "strategy": {"canary": {
                    "canaryService": "rollouts-demo-canary", "stableService": "rollouts-demo-stable",
                    "steps": [
                        {"setWeight": 20},
                        {"setHeaderRoute": {"name": "beta", "match": [{"headerName": "x-beta", "headerValue": {"exact": "yes"}}]}},
                        {"pause": {}},
                        {"setWeight": 60},
                        {"pause": {"duration": 2}}
                    ],
                    "trafficRouting": {
                        "managedRoutes": [{"name": "beta"}],
                        "plugins": {"rollgate/nginx": config}
                    }
                }}
            }
        }))
        .await;
}
