//! What the side-by-side benchmarks on the real-cluster tier share
//! (feature `bench`): the run's settings from the environment, the
//! objects of a benchmark namespace (Services, HTTPRoutes and Rollouts with
//! seed 002's steps), the waits for weights and phases, the image change
//! and promotion of every rollout, request counts from the API server's
//! audit log, and resident set and CPU time of processes from `/proc`.
//!
//! Both harnesses (`rollgate-gatewayapi`'s plugin-level one and
//! `rollgate-controller`'s controller-level one) start their own processes;
//! this module measures them.
//!
//! ```
//! use rollgate_testkit::bench::{WEIGHTS, canary_rollout, canary_weight};
//! use serde_json::json;
//! let rollout = canary_rollout(7, Some(("argoproj-labs/gatewayAPI", json!({"httpRoute": "demo-7"}))));
//! assert_eq!(rollout["spec"]["strategy"]["canary"]["steps"][0]["setWeight"], WEIGHTS[0]);
//! let route = json!({"spec": {"rules": [{"backendRefs": [
//!     {"name": "demo-7-stable", "weight": 60}, {"name": "demo-7-canary", "weight": 40}]}]}});
//! assert_eq!(canary_weight(&route), Some(40));
//! ```

mod audit;
mod process;
mod view;

pub use audit::{Requests, audit_offset, audit_path, audited_requests, settle, user_agent_is};
pub use process::{ProcessFigures, Sampler, Snapshot, cpu_seconds, processes, snapshot};

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::Client;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};

/// Seed 002's steps; the weights the routes pass through, in order.
pub const WEIGHTS: [i64; 4] = [20, 40, 60, 80];

/// The weight changes of one rollout's update: the four steps' weights,
/// then `maxTrafficWeight` (Argo Rollouts sends the whole traffic to the
/// canary once the last step is done, before it becomes the stable), then
/// 0 on the new stable. The last two come within milliseconds of each other,
/// too fast for a poll to see, so they are counted by rule.
pub const WEIGHT_CHANGES: usize = WEIGHTS.len() + 2;

/// How many objects a harness creates or patches at once.
const PARALLEL: usize = 16;

/// A comma-separated list from the environment variable `name`, trimmed,
/// or `default` when it is unset.
///
/// ```
/// use rollgate_testkit::bench::env_list;
/// assert_eq!(env_list("ROLLGATE_BENCH_DOC_UNSET", "1, 100"), ["1", "100"]);
/// ```
pub fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The sizes in `ROLLGATE_BENCH_SIZES` (numbers of rollouts), or `default`.
///
/// # Panics
///
/// When an entry is not a whole number, naming it.
pub fn sizes(default: &str) -> Vec<usize> {
    env_list("ROLLGATE_BENCH_SIZES", default)
        .iter()
        .map(|s| {
            s.parse().unwrap_or_else(|_| {
                panic!("ROLLGATE_BENCH_SIZES: expected whole numbers, found \"{s}\"")
            })
        })
        .collect()
}

/// Whether the real cluster is there (`ROLLGATE_E2E=1`); says how to run
/// the benchmark on stderr when it is not.
pub fn enabled(how: &str) -> bool {
    if std::env::var("ROLLGATE_E2E").as_deref() == Ok("1") {
        return true;
    }
    eprintln!(
        "this benchmark needs the real cluster: scripts/cluster up && eval \"$(scripts/cluster env)\"; {how}"
    );
    false
}

/// The API resource of `group/version` `kind`.
pub fn resource(group: &str, version: &str, kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind))
}

/// A benchmark's namespace and the APIs of the objects in it.
pub struct BenchNamespace {
    /// A client from `KUBECONFIG`, without a request limit.
    pub client: Client,
    /// `bench-<slug>-<n>-<random>`.
    pub name: String,
    /// Rollouts in the namespace.
    pub rollouts: Api<DynamicObject>,
    /// HTTPRoutes in the namespace.
    pub routes: Api<DynamicObject>,
    /// The Rollouts' phases and the routes' weights, from a watch of each.
    view: Arc<view::View>,
    /// The watches feeding `view`, ended when the namespace is dropped.
    watches: Vec<tokio::task::AbortHandle>,
}

impl Drop for BenchNamespace {
    fn drop(&mut self) {
        for watch in &self.watches {
            watch.abort();
        }
    }
}

impl BenchNamespace {
    /// Creates `bench-<slug of side>-<n>-<random>`.
    ///
    /// # Panics
    ///
    /// When the API server refuses the namespace.
    pub async fn create(client: &Client, side: &str, n: usize) -> Self {
        let suffix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let slug = side
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { ' ' })
            .collect::<String>()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join("-")
            .to_ascii_lowercase();
        let name = format!("bench-{slug}-{n}-{suffix:x}");
        Api::<Namespace>::all(client.clone())
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap(),
            )
            .await
            .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
        let rollouts = Api::namespaced_with(
            client.clone(),
            &name,
            &resource("argoproj.io", "v1alpha1", "Rollout"),
        );
        let routes = Api::namespaced_with(
            client.clone(),
            &name,
            &resource("gateway.networking.k8s.io", "v1", "HTTPRoute"),
        );
        let (view, watches) = view::View::watch(rollouts.clone(), routes.clone());
        Self {
            client: client.clone(),
            rollouts,
            routes,
            name,
            view,
            watches,
        }
    }

    /// Creates, for rollouts `0..n`, the Services `demo-<i>-stable` and
    /// `demo-<i>-canary` and the HTTPRoute `demo-<i>` sending everything to
    /// the stable one, [`PARALLEL`] rollouts at a time.
    ///
    /// # Panics
    ///
    /// When the API server refuses one.
    pub async fn create_routes(&self, n: usize) {
        let services: Api<Service> = Api::namespaced(self.client.clone(), &self.name);
        futures::stream::iter(0..n)
            .map(|i| {
                let services = services.clone();
                async move {
                    for role in ["stable", "canary"] {
                        let service = json!({
                            "metadata": {"name": format!("demo-{i}-{role}")},
                            "spec": {"selector": {"app": format!("demo-{i}")}, "ports": [{"port": 80}]}
                        });
                        services
                            .create(&PostParams::default(), &serde_json::from_value(service).unwrap())
                            .await
                            .unwrap_or_else(|e| panic!("create Service demo-{i}-{role}: {e}"));
                    }
                    let route = json!({
                        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                        "metadata": {"name": format!("demo-{i}")},
                        "spec": {"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": [
                            {"name": format!("demo-{i}-stable"), "port": 80, "weight": 100},
                            {"name": format!("demo-{i}-canary"), "port": 80, "weight": 0}]}]}
                    });
                    self.routes
                        .create(&PostParams::default(), &serde_json::from_value(route).unwrap())
                        .await
                        .unwrap_or_else(|e| panic!("create HTTPRoute demo-{i}: {e}"));
                }
            })
            .buffer_unordered(PARALLEL)
            .collect::<()>()
            .await;
    }

    /// Creates rollouts `0..n`, `rollout(i)` each, [`PARALLEL`] at a time.
    ///
    /// # Panics
    ///
    /// When the API server refuses one.
    pub async fn create_rollouts(&self, n: usize, rollout: impl Fn(usize) -> Value) {
        let rollout = &rollout;
        futures::stream::iter(0..n)
            .map(|i| async move {
                self.rollouts
                    .create(
                        &PostParams::default(),
                        &serde_json::from_value(rollout(i)).unwrap(),
                    )
                    .await
                    .unwrap_or_else(|e| panic!("create Rollout demo-{i}: {e}"));
            })
            .buffer_unordered(PARALLEL)
            .collect::<()>()
            .await;
    }

    /// Changes the image of rollouts `0..n` (the update to step through).
    ///
    /// # Panics
    ///
    /// When a patch is refused.
    pub async fn change_images(&self, n: usize) {
        let image = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "demo", "image": "example.com/demo:2"}]}}}});
        self.patch_all(n, |_| async { vec![(false, image.clone())] })
            .await;
    }

    /// Promotes rollouts `0..n` past their pause with the patches
    /// `kubectl argo rollouts promote` sends ([`promote_patches`] of the
    /// rollout as read now).
    ///
    /// # Panics
    ///
    /// When a read or patch is refused.
    pub async fn promote_all(&self, n: usize) {
        self.patch_all(n, |i| async move {
            let object = self
                .rollouts
                .get(&format!("demo-{i}"))
                .await
                .unwrap_or_else(|e| panic!("read Rollout demo-{i}: {e}"));
            promote_patches(object)
        })
        .await;
    }

    /// Sends, for each rollout `i` in `0..n`, the merge patches `patches(i)`
    /// gives (`true`: to the status subresource).
    async fn patch_all<F, Fut>(&self, n: usize, patches: F)
    where
        F: Fn(usize) -> Fut,
        Fut: Future<Output = Vec<(bool, Value)>>,
    {
        let patches = &patches;
        futures::stream::iter(0..n)
            .map(|i| async move {
                let name = format!("demo-{i}");
                for (status, body) in patches(i).await {
                    let params = PatchParams::default();
                    let patch = Patch::Merge(&body);
                    let result = if status {
                        self.rollouts.patch_status(&name, &params, &patch).await
                    } else {
                        self.rollouts.patch(&name, &params, &patch).await
                    };
                    result.unwrap_or_else(|e| panic!("patch Rollout {name}: {e}"));
                }
            })
            .buffer_unordered(PARALLEL)
            .collect::<()>()
            .await;
    }

    /// Touches an annotation of rollouts `0..n`: one reconcile each with
    /// nothing to change.
    ///
    /// # Panics
    ///
    /// When a patch is refused.
    pub async fn touch_all(&self, n: usize) {
        let touch = json!({"metadata": {"annotations": {"bench/touch": "1"}}});
        self.patch_all(n, |_| async { vec![(false, touch.clone())] })
            .await;
    }

    /// Waits until `n` rollouts are in `phase` and, with a `weight`, every
    /// route's canary weight is it.
    ///
    /// # Panics
    ///
    /// After `limit`, saying how many were there.
    pub async fn wait_all(&self, n: usize, weight: Option<i64>, phase: &str, limit: Duration) {
        let started = Instant::now();
        loop {
            let listed = self.view.listed();
            let at = weight.map_or(n, |weight| self.view.at_weight(weight));
            let in_phase = self.view.in_phase(phase);
            if listed && at == n && in_phase == n {
                return;
            }
            assert!(
                started.elapsed() < limit,
                "after {limit:?}: {at} of {n} routes at canary weight {weight:?}, {in_phase} of {n} rollouts {phase}"
            );
            tokio::time::sleep(WAIT_TICK).await;
        }
    }

    /// From now on, each route's highest canary weight is counted from its
    /// weight now (for [`BenchNamespace::wait_reached`]): called before
    /// the promotion, as a Rollout promoted first may be through all its
    /// steps before the last is promoted.
    pub fn count_weights_from_now(&self) {
        self.view.reset_highest();
    }

    /// Waits until every one of `n` routes has carried a canary weight of
    /// at least `weight`, as the watch saw them, since
    /// [`BenchNamespace::count_weights_from_now`].
    ///
    /// # Panics
    ///
    /// After `limit`, saying how many had.
    pub async fn wait_reached(&self, n: usize, weight: i64, limit: Duration) {
        let started = Instant::now();
        loop {
            let at = self.view.reached(weight);
            if at == n {
                return;
            }
            assert!(
                started.elapsed() < limit,
                "{at} of {n} routes reached canary weight {weight} after {limit:?}"
            );
            tokio::time::sleep(WAIT_TICK).await;
        }
    }

    /// Deletes the namespace (and everything in it), not waiting for it to go.
    pub async fn delete(self) {
        let _ = Api::<Namespace>::all(self.client.clone())
            .delete(&self.name, &Default::default())
            .await;
    }
}

/// How often a wait looks at the view: it costs no request.
const WAIT_TICK: Duration = Duration::from_millis(50);

/// Rollout `demo-<i>`: one replica of `example.com/demo:1`, seed 002's
/// steps (setWeight 20, pause, 40, pause 10 s, 60, pause 10 s, 80, pause
/// 10 s), the Services `demo-<i>-canary` and `demo-<i>-stable`, and with a
/// `router` (plugin name and configuration) traffic routed through it.
pub fn canary_rollout(i: usize, router: Option<(&str, Value)>) -> Value {
    let mut canary = json!({
        "steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 40}, {"pause": {"duration": 10}},
                  {"setWeight": 60}, {"pause": {"duration": 10}}, {"setWeight": 80}, {"pause": {"duration": 10}}]
    });
    if let Some((name, config)) = router {
        canary["canaryService"] = json!(format!("demo-{i}-canary"));
        canary["stableService"] = json!(format!("demo-{i}-stable"));
        canary["trafficRouting"] = json!({"plugins": {name: config}});
    }
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": format!("demo-{i}")},
        "spec": {
            "replicas": 1, "revisionHistoryLimit": 2,
            "selector": {"matchLabels": {"app": format!("demo-{i}")}},
            "template": {"metadata": {"labels": {"app": format!("demo-{i}")}},
                         "spec": {"containers": [{"name": "demo", "image": "example.com/demo:1"}]}},
            "strategy": {"canary": canary}
        }
    })
}

/// The weight of a route's backend whose name ends in `-canary` (1 when it
/// has none, as the Gateway API defaults it).
pub fn canary_weight(route: &Value) -> Option<i64> {
    route["spec"]["rules"][0]["backendRefs"]
        .as_array()?
        .iter()
        .find(|b| b["name"].as_str().is_some_and(|n| n.ends_with("-canary")))
        .map(|b| b["weight"].as_i64().unwrap_or(1))
}

/// `ours / theirs` to two decimals, or `-` when theirs is 0.
///
/// ```
/// use rollgate_testkit::bench::ratio;
/// assert_eq!(ratio(1.0, 4.0), "0.25");
/// assert_eq!(ratio(1.0, 0.0), "-");
/// ```
pub fn ratio(ours: f64, theirs: f64) -> String {
    if theirs > 0.0 {
        format!("{:.2}", ours / theirs)
    } else {
        "-".into()
    }
}

/// The machine's load averages (`/proc/loadavg`'s first three fields), to
/// print beside the times they affect.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The merge patches `kubectl argo rollouts promote` sends for `object`
/// as read now (`rollout_core::ops::promote`), each with `true` when it
/// goes to the status subresource.
///
/// # Panics
///
/// When `object` is not a valid Rollout (the benchmarks create them).
pub fn promote_patches(object: DynamicObject) -> Vec<(bool, Value)> {
    let value = serde_json::to_value(&object).expect("a Rollout as JSON");
    let rollout = rollout_core::Rollout::from_value(value, "the benchmark's rollout")
        .expect("a valid rollout");
    let patch = rollout_core::ops::promote(&rollout);
    let mut patches = Vec::new();
    if let Some(body) = patch.status_body() {
        patches.push((true, body));
    }
    if let Some(body) = patch.spec_body() {
        patches.push((false, body));
    }
    patches
}
