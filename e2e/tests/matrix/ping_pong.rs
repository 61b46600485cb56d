//! `canary.pingPong` with Argo's own `istio` block: two Services take
//! turns, the VirtualService splits between them by host, the Service in
//! the canary's role selects each new ReplicaSet, and the roles swap at
//! each promotion (`status.canary.stablePingPong`).

use rollgate_e2e::{ISTIO, Scene, Under, View, phase, scenario, status};
use serde_json::{Value, json};

const ROLLOUT: &str = "web";

/// (ping, pong) weights of the VirtualService's `primary` route (-1 for a
/// missing destination).
fn weights(v: &View) -> (i64, i64) {
    let routes = v["vs"]["spec"]["http"]
        .as_array()
        .and_then(|http| http.iter().find(|r| r["name"] == "primary"))
        .and_then(|r| r["route"].as_array())
        .cloned()
        .unwrap_or_default();
    let w = |host: &str| {
        routes
            .iter()
            .find(|d| d["destination"]["host"] == host)
            .and_then(|d| d["weight"].as_i64())
            .unwrap_or(-1)
    };
    (w("web-ping"), w("web-pong"))
}

fn selected<'a>(v: &'a View, key: &str) -> Option<&'a str> {
    v[key]["spec"]["selector"]["rollouts-pod-template-hash"].as_str()
}

fn stable_side(v: &View) -> &str {
    status(v)["canary"]["stablePingPong"]
        .as_str()
        .unwrap_or_default()
}

fn service(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
           "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}})
}

scenario!(ping_pong_istio);

async fn ping_pong_istio(under: Under) {
    let Some(mut s) = Scene::new("ping-pong", under, ROLLOUT).await else {
        return;
    };
    s.cluster.create(service("web-ping")).await;
    s.cluster.create(service("web-pong")).await;
    s.cluster
        .create(json!({
            "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "web"},
            "spec": {"hosts": ["web"], "http": [{"name": "primary", "route": [
                {"destination": {"host": "web-ping"}, "weight": 100},
                {"destination": {"host": "web-pong"}, "weight": 0}]}]}
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
                    "pingPong": {"pingService": "web-ping", "pongService": "web-pong"},
                    "steps": [{"setWeight": 20}, {"pause": {}}],
                    "trafficRouting": {"istio": {"virtualService": {"name": "web", "routes": ["primary"]}}}
                }}
            }
        }))
        .await;
    s.watch("vs", "networking.istio.io/v1", "VirtualService", "web");
    s.watch("ping", "v1", "Service", "web-ping");
    s.watch("pong", "v1", "Service", "web-pong");
    s.start(ISTIO, &[]).await;

    let first = s
        .until(
            "Healthy on the first revision, ping in the stable role",
            |v| phase(v) == "Healthy" && stable_side(v) == "ping" && weights(v).0 == 100,
        )
        .await;
    assert_eq!(weights(&first), (100, 0));

    s.kubectl(&["set", "image", ROLLOUT, "web=example.com/web:2"]);
    let paused = s
        .until(
            "20 % to pong, which selects the new ReplicaSet, paused",
            |v| {
                phase(v) == "Paused"
                    && weights(v) == (80, 20)
                    && selected(v, "pong") == status(v)["currentPodHash"].as_str()
            },
        )
        .await;
    assert_eq!(stable_side(&paused), "ping");
    let second = status(&paused)["currentPodHash"].clone();

    s.kubectl(&["promote", ROLLOUT]);
    let promoted = s
        .until(
            "promoted: pong in the stable role with all the traffic",
            |v| {
                phase(v) == "Healthy"
                    && status(v)["stableRS"] == second
                    && stable_side(v) == "pong"
                    && weights(v) == (0, 100)
            },
        )
        .await;
    assert_eq!(
        selected(&promoted, "pong"),
        second.as_str(),
        "no selector moves at the end of an update"
    );

    s.kubectl(&["set", "image", ROLLOUT, "web=example.com/web:3"]);
    let again = s
        .until("the next update goes to ping", |v| {
            phase(v) == "Paused"
                && weights(v) == (20, 80)
                && selected(v, "ping") == status(v)["currentPodHash"].as_str()
        })
        .await;
    assert_eq!(stable_side(&again), "pong");
    assert_eq!(selected(&again, "pong"), second.as_str());
}
