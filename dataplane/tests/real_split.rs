//! The measured split on the data-plane tier: a Rollout routed by the
//! Gateway API plugin (`rollgate-gatewayapi` under Argo Rollouts' own
//! controller), Traefik in front, a real backend per pod. At every
//! `setWeight` step, 2,000 requests through Traefik find the canary's share
//! within 3 points of the step's weight, and every upstream Traefik is
//! configured with is a loopback address.
//!
//! Runs on `ROLLGATE_DATAPLANE=1 scripts/cluster up`; on the tier without
//! the data plane it says so and returns (and fails when
//! `ROLLGATE_DATAPLANE=1` is set but Traefik is missing).

use std::time::{Duration, Instant};

use kube::api::Api;
use rollgate_dataplane::traefik::{upstream_ip, upstreams, weights};
use rollgate_dataplane::{DataPlane, Tally};
use rollgate_testkit::{Cluster, Plugin, kubectl_argo_rollouts, workspace_binary};
use serde_json::{Value, json};

/// How long one wait may take: the machine is shared.
const PATIENCE: Duration = Duration::from_secs(120);

/// Requests per measurement.
const REQUESTS: usize = 2_000;

/// How far the measured canary share may be from the step's weight, in
/// percentage points.
const TOLERANCE: f64 = 3.0;

/// The data-plane tier is up, or the test is skipped (`None`).
async fn cluster() -> Option<Cluster> {
    if std::env::var_os("ROLLGATE_TRAEFIK").is_none() {
        assert!(
            std::env::var("ROLLGATE_DATAPLANE").as_deref() != Ok("1"),
            "ROLLGATE_DATAPLANE=1 needs ROLLGATE_TRAEFIK (eval \"$(scripts/cluster env)\")"
        );
        eprintln!("skipped: needs the data plane (ROLLGATE_DATAPLANE=1 scripts/cluster up)");
        return None;
    }
    Cluster::new("dp-split").await
}

/// The (stable, canary) weights of the route's rule in Traefik's
/// configuration (0 for a backend it does not list).
fn route_weights(rawdata: &Value) -> (i64, i64) {
    let all = weights(rawdata);
    let of = |service: &str| {
        all.iter()
            .filter(|(name, _)| name.contains(service))
            .map(|(_, w)| *w)
            .sum::<i64>()
    };
    (of("web-stable"), of("web-canary"))
}

/// How many servers Traefik balances over for the Service `service`.
fn servers(rawdata: &Value, service: &str) -> usize {
    rawdata["services"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(name, _)| name.contains(service))
        .filter_map(|(_, s)| s["loadBalancer"]["servers"].as_array())
        .map(Vec::len)
        .sum()
}

/// Every upstream of Traefik's configuration is a loopback address, and
/// there is at least one.
fn assert_loopback_upstreams(rawdata: &Value) {
    let all = upstreams(rawdata);
    assert!(!all.is_empty(), "Traefik has no upstream: {rawdata}");
    for upstream in &all {
        assert!(
            upstream_ip(upstream).is_some_and(|ip| ip.is_loopback()),
            "upstream {upstream} is not a 127.x address (all: {all:?})"
        );
    }
}

/// The canary's (version 2's) share of `tally` is within [`TOLERANCE`] of
/// `weight`, and every request succeeded.
fn assert_split(tally: &Tally, weight: f64) {
    assert!(
        tally.answered() >= REQUESTS && tally.unsuccessful() == 0,
        "at weight {weight}: {tally:?}"
    );
    let share = tally.share("2");
    assert!(
        (share - weight).abs() <= TOLERANCE,
        "at weight {weight}: the canary served {share:.2} % of {} requests ({tally:?})",
        tally.answered()
    );
    eprintln!(
        "weight {weight}: canary share {share:.2} % of {} requests in {:?}",
        tally.answered(),
        tally.elapsed
    );
}

/// Waits until the Rollout's status satisfies `done`.
async fn wait_rollout(
    rollouts: &Api<kube::api::DynamicObject>,
    what: &str,
    done: impl Fn(&Value) -> bool,
) {
    let started = Instant::now();
    loop {
        let status = rollouts
            .get("web")
            .await
            .map(|r| r.data["status"].clone())
            .unwrap_or_default();
        if done(&status) {
            return;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the Rollout did not reach {what}: {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn measured_split_follows_each_set_weight_step() {
    let Some(cluster) = cluster().await else {
        return;
    };
    let ns = cluster.namespace.clone();
    let plane = DataPlane::start(cluster.client.clone(), &ns)
        .await
        .expect("the data plane");
    for service in ["web-stable", "web-canary"] {
        cluster
            .create(json!({
                "apiVersion": "v1", "kind": "Service", "metadata": {"name": service},
                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}
            }))
            .await;
    }
    cluster
        .create(json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "web"},
            "spec": {"parentRefs": [{"name": plane.gateway}],
                     "rules": [{"backendRefs": [
                         {"name": "web-stable", "port": 80, "weight": 100},
                         {"name": "web-canary", "port": 80, "weight": 0}]}]}
        }))
        .await;
    cluster
        .create(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 4,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                             "spec": {"containers": [{"name": "web", "image": "example.com/web:1",
                                                      "ports": [{"containerPort": 8080}]}]}},
                "strategy": {"canary": {
                    "canaryService": "web-canary", "stableService": "web-stable",
                    "steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}],
                    "trafficRouting": {"plugins": {
                        "argoproj-labs/gatewayAPI": {"httpRoute": "web", "namespace": ns}}}
                }}
            }
        }))
        .await;
    let plugin = workspace_binary("rollgate-gatewayapi", "rollgate-gatewayapi");
    let _argo = cluster
        .start_argo(&[Plugin {
            name: "argoproj-labs/gatewayAPI",
            path: plugin.to_str().expect("a UTF-8 target directory"),
            args: &[],
        }])
        .await;
    let rollouts = cluster.api("argoproj.io", "v1alpha1", "Rollout");
    wait_rollout(&rollouts, "Healthy", |s| s["phase"] == "Healthy").await;

    // All stable: four backends of version 1 behind the route.
    let rawdata = plane
        .wait_for("4 stable upstreams", PATIENCE, |r| {
            route_weights(r) == (100, 0) && upstreams(r).len() >= 4
        })
        .await
        .unwrap();
    assert_loopback_upstreams(&rawdata);
    let tally = plane.measure(REQUESTS).await.unwrap();
    assert_split(&tally, 0.0);

    kubectl_argo_rollouts(&cluster, &["set", "image", "web", "web=example.com/web:2"]);
    for (step, weight) in [(1, 20), (3, 50)] {
        wait_rollout(&rollouts, &format!("the pause at step {step}"), |s| {
            s["currentStepIndex"] == step
                && s["pauseConditions"]
                    .as_array()
                    .is_some_and(|p| !p.is_empty())
        })
        .await;
        let rawdata = plane
            .wait_for(&format!("weight {weight}"), PATIENCE, |r| {
                route_weights(r) == (100 - weight, weight)
                    && servers(r, "web-canary") > 0
                    && servers(r, "web-stable") > 0
            })
            .await
            .unwrap();
        assert_loopback_upstreams(&rawdata);
        let tally = plane.measure(REQUESTS).await.unwrap();
        // Exact as floating point: weights are whole percentages.
        #[allow(clippy::cast_precision_loss)]
        assert_split(&tally, weight as f64);
        kubectl_argo_rollouts(&cluster, &["promote", "web"]);
    }

    // Promoted: version 2 is stable and takes everything.
    wait_rollout(&rollouts, "Healthy on version 2", |s| {
        s["phase"] == "Healthy"
            && s["currentStepIndex"] == 4
            && s["stableRS"] == s["currentPodHash"]
    })
    .await;
    plane
        .wait_for("all traffic on stable", PATIENCE, |r| {
            route_weights(r) == (100, 0)
        })
        .await
        .unwrap();
    // The stable Service's selector moved to version 2's pods; Traefik
    // follows its EndpointSlice a moment later.
    let started = Instant::now();
    while plane.measure(50).await.unwrap().share("2") < 100.0 {
        assert!(started.elapsed() < PATIENCE, "version 1 still answers");
    }
    let tally = plane.measure(REQUESTS).await.unwrap();
    assert_split(&tally, 100.0);
    assert!(
        plane.runner.problems().is_empty(),
        "the pod runner: {:?}",
        plane.runner.problems()
    );
}
