//! The real Argo Rollouts controller driving `rollgate-nginx` against a real
//! kube-apiserver, with pods made Ready by kwok (`ROLLGATE_E2E=1`; see
//! `scripts/cluster`). Seed 002's NGINX set-up: Services
//! `rollouts-demo-stable`/`-canary`, the stable Ingress `rollouts-demo-stable`,
//! and the generated canary Ingress `rollouts-demo-rollouts-demo-stable-canary`,
//! here made by the plugin registered under `rollgate/nginx`.

use std::time::{Duration, Instant};

use kube::api::{Patch, PatchParams};
use rollgate_testkit::{Cluster, Plugin};
use serde_json::{Value, json};

const PLUGIN: &str = env!("CARGO_BIN_EXE_rollgate-nginx");
const CANARY_INGRESS: &str = "rollouts-demo-rollouts-demo-stable-canary";

async fn seed_002(cluster: &Cluster, steps: Value, managed_routes: &[&str]) {
    for role in ["stable", "canary"] {
        cluster
            .create(json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": format!("rollouts-demo-{role}")},
                "spec": {"selector": {"app": "rollouts-demo"}, "ports": [{"port": 80, "targetPort": 8080}]}
            }))
            .await;
    }
    cluster
        .create(json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "rollouts-demo-stable", "annotations": {"kubernetes.io/ingress.class": "nginx"}},
            "spec": {"rules": [{"host": "rollouts-demo.local", "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": "rollouts-demo-stable", "port": {"number": 80}}}}]}}]}
        }))
        .await;
    let managed: Vec<Value> = managed_routes.iter().map(|n| json!({"name": n})).collect();
    cluster
        .create(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "rollouts-demo"},
            "spec": {
                "replicas": 2, "revisionHistoryLimit": 2,
                "selector": {"matchLabels": {"app": "rollouts-demo"}},
                "template": {"metadata": {"labels": {"app": "rollouts-demo"}},
                             "spec": {"containers": [{"name": "rollouts-demo", "image": "argoproj/rollouts-demo:blue"}]}},
                "strategy": {"canary": {
                    "canaryService": "rollouts-demo-canary", "stableService": "rollouts-demo-stable",
                    "steps": steps,
                    "trafficRouting": {
                        "managedRoutes": managed,
                        "plugins": {"rollgate/nginx": {"stableIngress": "rollouts-demo-stable"}}
                    }
                }}
            }
        }))
        .await;
}

struct Watch<'a> {
    cluster: &'a Cluster,
}

impl Watch<'_> {
    async fn status(&self) -> Value {
        self.cluster
            .api("argoproj.io", "v1alpha1", "Rollout")
            .get("rollouts-demo")
            .await
            .unwrap()
            .data["status"]
            .clone()
    }

    /// The canary Ingress's annotations (null while it does not exist).
    async fn canary(&self) -> Value {
        match self
            .cluster
            .api("networking.k8s.io", "v1", "Ingress")
            .get_opt(CANARY_INGRESS)
            .await
            .unwrap()
        {
            Some(o) => serde_json::to_value(o.metadata.annotations).unwrap(),
            None => Value::Null,
        }
    }

    async fn until(&self, what: &str, check: impl Fn(&Value, &Value) -> bool) {
        let started = Instant::now();
        loop {
            let (status, canary) = (self.status().await, self.canary().await);
            if check(&status, &canary) {
                eprintln!("{what}: after {:?}", started.elapsed());
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "{what}: not within 90 s\nrollout status: {status:#}\ncanary Ingress annotations: {canary:#}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn set_image(&self, image: &str) {
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "rollouts-demo", "image": image}]}}}});
        self.cluster
            .api("argoproj.io", "v1alpha1", "Rollout")
            .patch(
                "rollouts-demo",
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .unwrap();
    }

    /// Sends what `kubectl argo rollouts promote` sends.
    async fn promote(&self) {
        let api = self.cluster.api("argoproj.io", "v1alpha1", "Rollout");
        let object = api.get("rollouts-demo").await.unwrap();
        let rollout = rollout_core::Rollout::from_value(
            serde_json::to_value(&object).unwrap(),
            "rollouts-demo",
        )
        .unwrap();
        let patch = rollout_core::ops::promote(&rollout);
        let pp = PatchParams::default();
        if let Some(body) = patch.spec_body() {
            api.patch("rollouts-demo", &pp, &Patch::Merge(&body))
                .await
                .unwrap();
        }
        if let Some(body) = patch.status_body() {
            api.patch_status("rollouts-demo", &pp, &Patch::Merge(&body))
                .await
                .unwrap();
        }
    }
}

fn phase(status: &Value) -> &str {
    status["phase"].as_str().unwrap_or_default()
}

fn weight(canary: &Value) -> Option<&str> {
    canary["nginx.ingress.kubernetes.io/canary-weight"].as_str()
}

#[tokio::test]
async fn seed_002_weights_through_the_plugin() {
    let Some(cluster) = Cluster::new("argo-nginx").await else {
        return;
    };
    let steps =
        json!([{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}, {"pause": {"duration": 2}}]);
    seed_002(&cluster, steps, &[]).await;
    let _argo = cluster
        .start_argo(&[Plugin {
            name: "rollgate/nginx",
            path: PLUGIN,
            args: &[],
        }])
        .await;
    let w = Watch { cluster: &cluster };
    w.until("Healthy; canary Ingress at 0", |st, c| {
        phase(st) == "Healthy" && weight(c) == Some("0")
    })
    .await;

    w.set_image("argoproj/rollouts-demo:yellow").await;
    w.until("canary-weight 20, paused", |st, c| {
        phase(st) == "Paused" && weight(c) == Some("20")
    })
    .await;
    let canary = w.canary().await;
    assert_eq!(canary["nginx.ingress.kubernetes.io/canary"], "true");
    assert_eq!(canary["kubernetes.io/ingress.class"], "nginx");

    w.promote().await;
    w.until("canary-weight 60 during the 2 s pause", |_, c| {
        weight(c) == Some("60")
    })
    .await;
    w.until(
        "promoted: Healthy on the new revision, canary Ingress back at 0",
        |st, c| {
            phase(st) == "Healthy"
                && st["stableRS"] == st["currentPodHash"]
                && weight(c) == Some("0")
        },
    )
    .await;
    let stable_writes: Vec<String> = cluster
        .audited("ingresses", "rollouts-demo-stable")
        .into_iter()
        .filter(|v| v != "get" && v != "create")
        .collect();
    assert!(
        stable_writes.is_empty(),
        "the stable Ingress is never written: {stable_writes:?}"
    );
    // The plugin process's requests carry its user agent.
    let agent = concat!("rollgate-nginx/", env!("CARGO_PKG_VERSION"));
    let canary = cluster.audited_requests("ingresses", CANARY_INGRESS);
    assert!(
        canary
            .iter()
            .any(|r| r.verb == "patch" && r.user_agent == agent),
        "the canary Ingress is written by {agent}: {canary:?}"
    );
}

#[tokio::test]
async fn header_route_through_the_plugin() {
    let Some(cluster) = Cluster::new("argo-nginx-header").await else {
        return;
    };
    let steps = json!([
        {"setWeight": 10},
        {"setHeaderRoute": {"name": "beta", "match": [{"headerName": "x-beta", "headerValue": {"exact": "yes"}}]}},
        {"pause": {}}
    ]);
    seed_002(&cluster, steps, &["beta"]).await;
    let _argo = cluster
        .start_argo(&[Plugin {
            name: "rollgate/nginx",
            path: PLUGIN,
            args: &["--log-format=text"],
        }])
        .await;
    let w = Watch { cluster: &cluster };
    w.until("Healthy", |st, _| phase(st) == "Healthy").await;

    w.set_image("argoproj/rollouts-demo:yellow").await;
    w.until("header route in place, paused", |st, c| {
        phase(st) == "Paused" && c["nginx.ingress.kubernetes.io/canary-by-header"] == "x-beta"
    })
    .await;
    let canary = w.canary().await;
    assert_eq!(
        canary["nginx.ingress.kubernetes.io/canary-by-header-value"],
        "yes"
    );
    assert_eq!(weight(&canary), Some("10"));

    w.promote().await;
    w.until("promoted: header route removed, weight 0", |st, c| {
        phase(st) == "Healthy"
            && c.get("nginx.ingress.kubernetes.io/canary-by-header")
                .is_none()
            && weight(c) == Some("0")
    })
    .await;
}
