//! One scenario's world: its namespace, its controller, the Rollout it
//! drives, and the objects it watches, read together as a [`View`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use rollgate_testkit::faults::Proxy;
use rollgate_testkit::{Cluster, kubectl_argo_rollouts};
use serde_json::{Value, json};

use crate::{Router, Running, Under};

/// How long one wait for a condition may take: generous, as the machine is
/// shared and Argo's controller requeues on its own clock.
const PATIENCE: Duration = Duration::from_secs(120);

/// A scenario in a namespace of its own, under one controller.
pub struct Scene {
    // Field order is drop order: the controller stops before the namespace goes.
    controller: Option<Running>,
    /// The test's namespace.
    pub cluster: Cluster,
    /// The controller under test.
    pub under: Under,
    /// The Rollout the scenario drives.
    pub rollout: String,
    watched: Vec<(&'static str, ApiResource, String)>,
}

/// What a scenario sees at one moment: `rollout` (the whole object),
/// `replicaSets` (pod template hash to `spec.replicas`) and each watched
/// object under its key (the whole object, or null while it does not
/// exist).
pub type View = Value;

impl Scene {
    /// A fresh namespace for scenario `name` under `under`, driving Rollout
    /// `rollout`; `None` without the real-cluster tier (and under CI, a run
    /// without it fails rather than passing vacuously).
    ///
    /// # Panics
    ///
    /// Under CI without `ROLLGATE_E2E=1`.
    pub async fn new(name: &str, under: Under, rollout: &str) -> Option<Self> {
        let prefix = match under {
            Under::Argo => format!("{name}-argo"),
            Under::Rollgate => format!("{name}-rg"),
        };
        let cluster = Cluster::new(&prefix.replace('_', "-")).await;
        assert!(
            cluster.is_some() || std::env::var_os("CI").is_none(),
            "CI must run the real-cluster tests: ROLLGATE_E2E=1 and a cluster (scripts/cluster up)"
        );
        Some(Self {
            controller: None,
            cluster: cluster?,
            under,
            rollout: rollout.to_owned(),
            watched: Vec::new(),
        })
    }

    /// Starts the controller under test with `router` (see [`Under::start`]).
    pub async fn start(&mut self, router: Router, plugin_args: &[&str]) {
        self.controller = Some(self.under.start(&self.cluster, router, plugin_args).await);
    }

    /// [`Scene::start`] with the controller talking to the API server
    /// through `proxy` (see [`Under::start_through`]).
    pub async fn start_through(&mut self, router: Router, plugin_args: &[&str], proxy: &Proxy) {
        self.controller = Some(
            self.under
                .start_through(&self.cluster, router, plugin_args, Some(proxy))
                .await,
        );
    }

    /// Starts Argo's controller with `argo-rollouts-config`'s
    /// `trafficRouterPlugins` as given (a user's registrations: see
    /// `Cluster::start_argo_registered`).
    ///
    /// # Panics
    ///
    /// Under `rollgate-controller`, which reads no such ConfigMap.
    pub async fn start_argo_registered(&mut self, registrations: &str) {
        assert_eq!(self.under, Under::Argo, "registrations are Argo's");
        let argo = self
            .cluster
            .start_argo_registered(registrations, None)
            .await;
        self.controller = Some(Running::Argo(argo));
    }

    /// Starts Argo's controller as an installation's Deployment runs it
    /// (see `Cluster::start_argo_installed`): its container's `args`, its
    /// service account's `kubeconfig`, the installation's ConfigMap.
    ///
    /// # Panics
    ///
    /// Under `rollgate-controller`.
    pub fn start_argo_installed(&mut self, args: &[String], kubeconfig: &std::path::Path) {
        assert_eq!(self.under, Under::Argo, "the installation is Argo's");
        let argo = self.cluster.start_argo_installed(args, kubeconfig);
        self.controller = Some(Running::Argo(argo));
    }

    /// The running controller's process id, once started.
    pub fn controller_pid(&self) -> Option<u32> {
        self.controller.as_ref().map(Running::pid)
    }

    /// Starts the controller under test with no traffic router (see
    /// [`Under::start_basic`]).
    pub async fn start_basic(&mut self) {
        self.controller = Some(self.under.start_basic(&self.cluster).await);
    }

    /// Adds object `name` of `apiVersion`/`kind` to every [`View`], under `key`.
    pub fn watch(&mut self, key: &'static str, api_version: &str, kind: &str, name: &str) {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
        self.watched.push((key, resource, name.to_owned()));
    }

    /// The API of the scenario's Rollouts.
    pub fn rollouts(&self) -> Api<DynamicObject> {
        self.cluster.api("argoproj.io", "v1alpha1", "Rollout")
    }

    /// The current [`View`].
    ///
    /// # Panics
    ///
    /// When the API server cannot be read.
    pub async fn view(&self) -> View {
        let rollout = self
            .rollouts()
            .get(&self.rollout)
            .await
            .expect("read the Rollout");
        let mut view = json!({
            "rollout": serde_json::to_value(rollout).expect("a Rollout as JSON"),
            "replicaSets": self.replica_sets().await,
        });
        for (key, resource, name) in &self.watched {
            let api: Api<DynamicObject> = Api::namespaced_with(
                self.cluster.client.clone(),
                &self.cluster.namespace,
                resource,
            );
            let object = api.get_opt(name).await.expect("read a watched object");
            view[*key] = object.map_or(Value::Null, |o| serde_json::to_value(o).expect("JSON"));
        }
        view
    }

    /// The pod template hash of each ReplicaSet, to its `spec.replicas`.
    async fn replica_sets(&self) -> BTreeMap<String, i32> {
        let api: Api<ReplicaSet> =
            Api::namespaced(self.cluster.client.clone(), &self.cluster.namespace);
        api.list(&ListParams::default())
            .await
            .expect("list the ReplicaSets")
            .items
            .into_iter()
            .filter_map(|rs| {
                let hash = rs
                    .metadata
                    .labels?
                    .get("rollouts-pod-template-hash")?
                    .clone();
                Some((hash, rs.spec?.replicas.unwrap_or(1)))
            })
            .collect()
    }

    /// Waits (two minutes at most) until `check` holds for the [`View`],
    /// and returns that view.
    ///
    /// # Panics
    ///
    /// When it does not hold in time: the message shows the last view.
    pub async fn until(&self, what: &str, check: impl Fn(&View) -> bool) -> View {
        let started = Instant::now();
        loop {
            let view = self.view().await;
            if check(&view) {
                eprintln!("{:?}: {what}: after {:?}", self.under, started.elapsed());
                return view;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "{:?}: {what}: not within {PATIENCE:?}\n{view:#}",
                self.under
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Runs `kubectl argo rollouts ARGS` in the namespace, as a user types
    /// it, and returns what it printed.
    ///
    /// # Panics
    ///
    /// When the command fails.
    pub fn kubectl(&self, args: &[&str]) -> String {
        let output = kubectl_argo_rollouts(&self.cluster, args);
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The `Status:` line of `kubectl argo rollouts get rollout`, where a
    /// user looks (`Status:         ॥ Paused`), without its icon.
    pub fn shown_status(&self) -> String {
        let shown = self.kubectl(&["get", "rollout", &self.rollout, "--no-color"]);
        let line = shown
            .lines()
            .find(|l| l.starts_with("Status:"))
            .unwrap_or_else(|| panic!("a Status line in kubectl argo rollouts get: {shown}"));
        line.trim_start_matches("Status:")
            .trim()
            .trim_start_matches(|c: char| !c.is_ascii_alphabetic())
            .to_owned()
    }
}

/// `view.rollout.status`.
pub fn status(view: &View) -> &Value {
    &view["rollout"]["status"]
}

/// The phase in `view`'s Rollout status.
pub fn phase(view: &View) -> &str {
    status(view)["phase"].as_str().unwrap_or_default()
}

/// The `spec.replicas` of the ReplicaSet with pod template hash `hash`
/// (-1 if there is none).
pub fn replicas(view: &View, hash: &Value) -> i64 {
    hash.as_str()
        .and_then(|h| view["replicaSets"][h].as_i64())
        .unwrap_or(-1)
}

/// `(status, reason, message)` of the Rollout's condition of type `kind` in
/// `view`, if it has one.
pub fn condition(view: &View, kind: &str) -> Option<(String, String, String)> {
    let c = status(view)["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)?;
    let text = |f: &str| c[f].as_str().unwrap_or_default().to_owned();
    Some((text("status"), text("reason"), text("message")))
}

/// [`condition`]'s answer for `(status, reason, message)`, to compare with.
pub fn expected(status: &str, reason: &str, message: &str) -> Option<(String, String, String)> {
    Some((status.to_owned(), reason.to_owned(), message.to_owned()))
}
