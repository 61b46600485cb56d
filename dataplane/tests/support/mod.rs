//! The data-plane scenarios' one driver: a namespace with Traefik in front
//! of an HTTPRoute `web` (Services `web-stable` and `web-canary`), a
//! backend per pod, and a Rollout `web` of four pods of `example.com/web:1`
//! routed by the Gateway API router, under the controller the scenario runs
//! under ([`Under::Argo`]: Argo's controller loading `rollgate-gatewayapi`;
//! [`Under::Rollgate`]: `rollgate-controller` with its in-process router).
//! Every scenario makes its assertions through it, the same under both.
#![allow(dead_code)] // each test file uses a part

pub(crate) mod demo;

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::{Api, DynamicObject};
use rollgate_dataplane::measure::{loopback_upstreams, servers, split, split_error};
use rollgate_dataplane::{DataPlane, Tally};
use rollgate_e2e::{GATEWAY_API, Running, Under};
use rollgate_testkit::{Cluster, kubectl_argo_rollouts};
use serde_json::{Value, json};

/// How long one wait may take: the machine is shared.
pub(crate) const PATIENCE: Duration = Duration::from_secs(120);

/// Requests per measurement of the split.
pub(crate) const REQUESTS: usize = 2_000;

/// How far a measured canary share may be from the step's weight, in
/// percentage points.
pub(crate) const TOLERANCE: f64 = 3.0;

/// One scenario's namespace, data plane and controller; all stopped when
/// dropped.
pub(crate) struct Stage {
    /// The namespace.
    pub(crate) cluster: Cluster,
    /// Traefik, the backends and their behaviours.
    pub(crate) plane: DataPlane,
    /// The controller the scenario runs under.
    pub(crate) under: Under,
    rollouts: Api<DynamicObject>,
    controller: Option<Running>,
}

impl Stage {
    /// The data-plane tier is up and the stage set: Traefik in front of the
    /// route `web`, the Services and the pod runner; no Rollout and no
    /// controller yet ([`Stage::roll_out`]). `None`, after saying why,
    /// without the data plane (a failure when `ROLLGATE_DATAPLANE=1` is set
    /// but Traefik is missing).
    pub(crate) async fn start(under: Under, prefix: &str) -> Option<Self> {
        if std::env::var_os("ROLLGATE_TRAEFIK").is_none() {
            assert!(
                std::env::var("ROLLGATE_DATAPLANE").as_deref() != Ok("1"),
                "ROLLGATE_DATAPLANE=1 needs ROLLGATE_TRAEFIK (eval \"$(scripts/cluster env)\")"
            );
            eprintln!("skipped: needs the data plane (ROLLGATE_DATAPLANE=1 scripts/cluster up)");
            return None;
        }
        let suffix = match under {
            Under::Argo => "argo",
            Under::Rollgate => "rg",
        };
        let cluster = Cluster::new(&format!("{prefix}-{suffix}")).await?;
        let plane = DataPlane::start(cluster.client.clone(), &cluster.namespace)
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
        let rollouts = cluster.api("argoproj.io", "v1alpha1", "Rollout");
        Some(Self {
            cluster,
            plane,
            under,
            rollouts,
            controller: None,
        })
    }

    /// [`Stage::start`], then [`Stage::roll_out`] with `canary`.
    pub(crate) async fn with_rollout(under: Under, prefix: &str, canary: Value) -> Option<Self> {
        let mut stage = Self::start(under, prefix).await?;
        stage.roll_out(canary).await;
        Some(stage)
    }

    /// Creates the Rollout `web` with `canary` as its canary strategy (the
    /// Services and the route added), starts the controller, and waits
    /// until it is Healthy on version 1 with Traefik balancing over its
    /// four pods.
    pub(crate) async fn roll_out(&mut self, canary: Value) {
        let mut canary = canary;
        canary["canaryService"] = json!("web-canary");
        canary["stableService"] = json!("web-stable");
        canary["trafficRouting"]["plugins"] =
            json!({GATEWAY_API.plugin: {"httpRoute": "web", "namespace": self.cluster.namespace}});
        self.cluster
            .create(json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                "metadata": {"name": "web"},
                "spec": {
                    "replicas": 4,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"containers": [{"name": "web", "image": "example.com/web:1",
                                                          "ports": [{"containerPort": 8080}]}]}},
                    "strategy": {"canary": canary}
                }
            }))
            .await;
        self.controller = Some(self.under.start(&self.cluster, GATEWAY_API, &[]).await);
        self.wait_rollout("Healthy", |s| s["phase"] == "Healthy")
            .await;
        self.plane
            .wait_for("4 stable upstreams", PATIENCE, |r| {
                split(r, "web-stable", "web-canary") == (100, 0) && servers(r, "web-stable") >= 4
            })
            .await
            .unwrap();
    }

    /// The Rollout's status once it satisfies `done`.
    pub(crate) async fn wait_rollout(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let status = self
                .rollouts
                .get("web")
                .await
                .map(|r| r.data["status"].clone())
                .unwrap_or_default();
            if done(&status) {
                return status;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "{:?}: the Rollout did not reach {what}: {status}",
                self.under
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits for the pause at step `step`.
    pub(crate) async fn wait_pause(&self, step: usize) -> Value {
        self.wait_rollout(&format!("the pause at step {step}"), |s| {
            s["currentStepIndex"] == step
                && s["pauseConditions"]
                    .as_array()
                    .is_some_and(|p| !p.is_empty())
        })
        .await
    }

    /// Waits until the Rollout is Healthy on a stable ReplicaSet other
    /// than `from` (the stable one before the update, as
    /// [`Stage::update_to`] returns it), the one it updated to.
    pub(crate) async fn wait_promoted(&self, from: &str) -> Value {
        self.wait_rollout("Healthy on the new version", |s| {
            s["phase"] == "Healthy" && s["stableRS"] == s["currentPodHash"] && s["stableRS"] != from
        })
        .await
    }

    /// `kubectl argo rollouts set image web web=example.com/web:<version>`;
    /// returns the stable ReplicaSet's hash before the update.
    pub(crate) async fn update_to(&self, version: &str) -> String {
        let before = self
            .wait_rollout("a stable ReplicaSet", |s| s["stableRS"].is_string())
            .await;
        let image = format!("web=example.com/web:{version}");
        kubectl_argo_rollouts(&self.cluster, &["set", "image", "web", &image]);
        before["stableRS"].as_str().unwrap_or_default().to_owned()
    }

    /// `kubectl argo rollouts promote web`.
    pub(crate) fn promote(&self) {
        kubectl_argo_rollouts(&self.cluster, &["promote", "web"]);
    }

    /// `kubectl argo rollouts abort web`.
    pub(crate) fn abort(&self) {
        kubectl_argo_rollouts(&self.cluster, &["abort", "web"]);
    }

    /// Waits until one of Traefik's routers has a rule mentioning `text`
    /// (`present`), or none has (`!present`).
    pub(crate) async fn wait_rule(&self, text: &str, present: bool) -> Value {
        let what = format!(
            "a rule with {text} {}",
            if present { "present" } else { "gone" }
        );
        self.plane
            .wait_for(&what, PATIENCE, |r| {
                let found = r["routers"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .any(|(_, router)| {
                        router["rule"]
                            .as_str()
                            .is_some_and(|rule| rule.contains(text))
                    });
                found == present
            })
            .await
            .unwrap()
    }

    /// Waits until the ReplicaSets other than the stable one have no pods
    /// left (a previous stable goes `scaleDownDelaySeconds`, 30 s by
    /// default, after promotion).
    pub(crate) async fn wait_old_scaled_down(&self) {
        let sets: Api<ReplicaSet> =
            Api::namespaced(self.cluster.client.clone(), &self.cluster.namespace);
        let started = Instant::now();
        loop {
            let stable = self
                .wait_rollout("a stable ReplicaSet", |s| s["stableRS"].is_string())
                .await;
            let hash = stable["stableRS"].as_str().unwrap_or_default().to_owned();
            let others: Vec<i32> = sets
                .list(&Default::default())
                .await
                .expect("the ReplicaSets")
                .items
                .iter()
                .filter(|rs| {
                    rs.metadata
                        .name
                        .as_deref()
                        .is_some_and(|n| !n.ends_with(&hash))
                })
                .map(|rs| rs.status.as_ref().map_or(0, |s| s.replicas))
                .collect();
            if others.iter().all(|n| *n == 0) {
                return;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "{:?}: the old ReplicaSets keep {others:?} pods",
                self.under
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Waits until Traefik routes `weight` % to the canary (with servers
    /// behind both sides while the weight is between 0 and 100) and checks
    /// that every upstream it has is a 127.x address.
    pub(crate) async fn wait_weight(&self, weight: u8) -> Value {
        let weight = i64::from(weight);
        let rawdata = self
            .plane
            .wait_for(&format!("weight {weight}"), PATIENCE, |r| {
                split(r, "web-stable", "web-canary") == (100 - weight, weight)
                    && (weight == 0 || servers(r, "web-canary") > 0)
                    && (weight == 100 || servers(r, "web-stable") > 0)
            })
            .await
            .unwrap();
        let upstreams = loopback_upstreams(&rawdata).unwrap();
        assert!(upstreams > 0);
        rawdata
    }

    /// Waits until `version` serves every request (Traefik follows the
    /// stable Service's EndpointSlice a moment after its selector moved).
    pub(crate) async fn wait_all_on(&self, version: &str) {
        let started = Instant::now();
        while self.plane.measure(50).await.unwrap().share(version) < 100.0 {
            assert!(
                started.elapsed() < PATIENCE,
                "{:?}: version {version} does not serve everything yet",
                self.under
            );
        }
    }

    /// [`REQUESTS`] requests through Traefik: version 2's share is within
    /// [`TOLERANCE`] of `weight`, and every request succeeded.
    pub(crate) async fn assert_split(&self, weight: u8) -> Tally {
        let tally = self.plane.measure(REQUESTS).await.unwrap();
        assert_split(self.under, &tally, weight);
        tally
    }

    /// Nothing went wrong in the pod runner.
    pub(crate) fn assert_runner_clean(&self) {
        let problems = self.plane.runner.problems();
        assert!(problems.is_empty(), "the pod runner: {problems:?}");
    }
}

/// Version 2's share of `tally` is within [`TOLERANCE`] of `weight`, over
/// at least [`REQUESTS`] requests that all succeeded; prints the figure.
pub(crate) fn assert_split(under: Under, tally: &Tally, weight: u8) {
    assert!(
        tally.answered() >= REQUESTS && tally.unsuccessful() == 0,
        "{under:?} at weight {weight}: {tally:?}"
    );
    let error = split_error(tally, "2", weight);
    assert!(
        error <= TOLERANCE,
        "{under:?} at weight {weight}: the canary served {:.2} % of {} requests ({tally:?})",
        tally.share("2"),
        tally.answered()
    );
    eprintln!(
        "{under:?}: weight {weight}: canary share {:.2} % of {} requests (error {error:.2} points) in {:?}",
        tally.share("2"),
        tally.answered(),
        tally.elapsed
    );
}

/// The canary's success rate over the last 10 s, from the backends'
/// counters.
const SUCCESS_RATE: &str = r#"sum(rate(rollgate_backend_requests_total{pod_template_hash="{{args.canary-hash}}",code!~"5.."}[10s])) / sum(rate(rollgate_backend_requests_total{pod_template_hash="{{args.canary-hash}}"}[10s]))"#;

/// The AnalysisTemplate `success-rate` (argument `canary-hash`): every 5 s
/// after 5 s, three times, the canary's success rate from the backends'
/// counters through the Prometheus at `prometheus` must be at least 0.95;
/// the first failure fails it.
pub(crate) fn success_rate_template(prometheus: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": {"name": "success-rate"},
        "spec": {"args": [{"name": "canary-hash"}],
                 "metrics": [{"name": "success-rate", "interval": "5s", "count": 3,
                              "initialDelay": "5s", "failureLimit": 0,
                              "successCondition": "result[0] >= 0.95",
                              "provider": {"prometheus": {"address": prometheus, "query": SUCCESS_RATE}}}]}
    })
}

/// An analysis step running [`success_rate_template`] on the latest
/// ReplicaSet's pods.
pub(crate) fn success_rate_step() -> Value {
    json!({"analysis": {"templates": [{"templateName": "success-rate"}],
                        "args": [{"name": "canary-hash",
                                  "valueFrom": {"podTemplateHashValue": "Latest"}}]}})
}
