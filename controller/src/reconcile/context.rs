//! What every reconcile shares: the client, the watch caches (of packed
//! objects, [`crate::cache`]), the
//! event recorder, the defaulted templates already asked for, and the
//! resourceVersion of this controller's last write to each object (so that a
//! reconcile on a cache that has not seen that write yet waits instead of
//! writing the same thing again).

use std::collections::HashMap;
use std::sync::Mutex;

use super::events::Recorder;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ObjectReference, Service};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::reflector::Store;
use kube::{Client, ResourceExt};
use rollout_core::{Rollout, RolloutStatus};
use router_kube::CompressedJson;
use serde_json::{Value, json};

use super::written::Written;
use super::{rollout_resource, status};
use crate::Error;
use crate::cache::Cache;

/// Templates whose defaulted form is remembered, at most.
const DEFAULTED_CAPACITY: usize = 4096;

/// What every reconcile shares.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// The ReplicaSets, from the watch cache.
    pub replica_sets: Cache<ReplicaSet>,
    /// The Services, from the watch cache.
    pub services: Cache<Service>,
    /// The Deployments Rollouts may reference (`workloadRef`), from the
    /// watch cache; see [`Context::with_deployments`].
    pub deployments: Cache<Deployment>,
    /// Records Events.
    pub recorder: Recorder,
    /// The traffic routers, in-process and external.
    pub routers: crate::traffic::Routers,
    /// AnalysisRuns and templates, from the watch caches.
    pub analysis: crate::analysis::Caches,
    /// The Experiments, from the watch cache; see [`Context::with_experiments`].
    pub experiments: super::experiment::Experiments,
    /// Traffic failures in a row, by (namespace, name), for the backoff.
    traffic_failures: Mutex<HashMap<(String, String), u32>>,
    /// Defaulted, comparable templates by (namespace, hash), compressed
    /// (one per Rollout being updated; parsed, each would cost several KiB).
    defaulted: Mutex<HashMap<(String, String), CompressedJson>>,
    /// Our last writes the caches have not caught up with yet.
    written: Written,
}

impl Context {
    /// A context over `client`, the ReplicaSet, Service and analysis caches
    /// and the traffic routers.
    pub fn new(
        client: Client,
        replica_sets: Cache<ReplicaSet>,
        services: Cache<Service>,
        recorder: Recorder,
        routers: crate::traffic::Routers,
        analysis: crate::analysis::Caches,
    ) -> Self {
        Self {
            client,
            replica_sets,
            services,
            // Replaced by the watch cache's in `with_deployments`.
            deployments: kube::runtime::reflector::store().0,
            recorder,
            routers,
            analysis,
            // Replaced by the watch cache's in `with_experiments`.
            experiments: super::experiment::Experiments {
                cache: kube::runtime::reflector::store::Writer::new(
                    super::experiment::experiment_resource(),
                )
                .as_reader(),
            },
            traffic_failures: Mutex::default(),
            defaulted: Mutex::default(),
            written: Written::default(),
        }
    }

    /// The context reading Deployments from `deployments` (a watch cache
    /// that must be filled before the context reports its caches ready).
    pub fn with_deployments(mut self, deployments: Cache<Deployment>) -> Self {
        self.deployments = deployments;
        self
    }

    /// The context reading Experiments from `experiments` (a watch cache;
    /// a Rollout with an experiment step waits until it is filled).
    pub fn with_experiments(mut self, experiments: Cache<DynamicObject>) -> Self {
        self.experiments = super::experiment::Experiments { cache: experiments };
        self
    }

    /// Whether the ReplicaSet, Service and Deployment caches have been
    /// filled (see [`filled`]). A reconcile that finds them empty is
    /// requeued.
    pub(crate) fn caches_ready(&self) -> bool {
        filled(&self.replica_sets) && filled(&self.services) && filled(&self.deployments)
    }

    /// Counts one more traffic failure of a Rollout in a row; returns the count.
    pub(super) fn traffic_failed(&self, namespace: &str, name: &str) -> u32 {
        let Ok(mut failures) = self.traffic_failures.lock() else {
            return 1;
        };
        let count = failures
            .entry((namespace.to_owned(), name.to_owned()))
            .or_insert(0);
        *count = count.saturating_add(1);
        *count
    }

    /// Forgets a Rollout's traffic failures once its traffic is applied.
    pub(super) fn traffic_succeeded(&self, namespace: &str, name: &str) {
        if let Ok(mut failures) = self.traffic_failures.lock() {
            failures.remove(&(namespace.to_owned(), name.to_owned()));
        }
    }

    pub(super) fn rollouts(&self, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), namespace, &rollout_resource())
    }

    /// The defaulted template remembered for (namespace, hash); `None`
    /// when there is none (or it does not read back: it is asked for again).
    pub(super) fn defaulted_lookup(&self, key: &(String, String)) -> Option<Value> {
        let text = self.defaulted.lock().ok()?.get(key)?.clone();
        text.decode("a defaulted pod template").ok()
    }

    pub(super) fn defaulted_remember(&self, key: (String, String), template: &Value) {
        if let Ok(mut cache) = self.defaulted.lock() {
            if cache.len() >= DEFAULTED_CAPACITY {
                cache.clear();
            }
            cache.insert(key, CompressedJson::from_value(template));
        }
    }

    /// Remembers our write of `kind` `namespace/name`, answered with `version`.
    pub(super) fn wrote(
        &self,
        kind: &'static str,
        namespace: &str,
        name: &str,
        version: Option<&str>,
    ) {
        self.written.record(kind, namespace, name, version);
    }

    /// Whether the cached `version` of an object is older than our last
    /// write to it ([`Written::stale`]).
    pub(super) fn stale(
        &self,
        kind: &'static str,
        namespace: &str,
        name: &str,
        version: Option<&str>,
    ) -> bool {
        self.written.stale(kind, namespace, name, version)
    }
}

/// Whether a watch cache has been filled.
///
/// Asked without waiting: kube-runtime's `Store::wait_until_ready` wakes
/// only the last of several tasks waiting on it, so reconciles started
/// together before the caches are filled would wait forever (seen on a real
/// cluster: of three new Rollouts only one was ever reconciled).
pub(crate) fn filled<K>(store: &Store<K>) -> bool
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    use futures::FutureExt as _;
    matches!(store.wait_until_ready().now_or_never(), Some(Ok(())))
}

/// The Rollout as the object Events are about.
pub(super) fn reference(rollout: &Rollout) -> ObjectReference {
    ObjectReference {
        api_version: Some("argoproj.io/v1alpha1".into()),
        kind: Some("Rollout".into()),
        name: Some(rollout.metadata.name.clone()),
        namespace: rollout.metadata.namespace.clone(),
        uid: rollout.metadata.uid.clone(),
        ..Default::default()
    }
}

/// Writes `new` as the Rollout's status if it differs from `live`.
pub(super) async fn write_status(
    ctx: &Context,
    namespace: &str,
    name: &str,
    live: &Value,
    new: &RolloutStatus,
    extra: &serde_json::Map<String, Value>,
) -> Result<(), Error> {
    let Some(patch) = status::status_patch_with(live, new, extra) else {
        return Ok(());
    };
    tracing::info!(rollout = %format!("{namespace}/{name}"), patch = %patch, "writing the status");
    let patched = ctx
        .rollouts(namespace)
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": patch})),
        )
        .await
        .map_err(Error::api(format!(
            "write the status of rollout {namespace}/{name}"
        )))?;
    ctx.wrote(
        "Rollout",
        namespace,
        name,
        patched.resource_version().as_deref(),
    );
    Ok(())
}
