//! Running the controller: the watches, the reconcile loop and shutdown.
//!
//! Rollouts are watched in one namespace or all, filtered by Argo's
//! controller-instance label (`argo-rollouts.argoproj.io/controller-instance`):
//! with an instance id, only Rollouts labelled with it; without one, only
//! Rollouts without the label, so this controller and another (or Argo's)
//! can share a cluster. ReplicaSets are watched into a cache (a reflector)
//! that both feeds the reconciles and wakes the Rollout that controls a
//! ReplicaSet when it changes; Services likewise, waking the Rollout that
//! manages one. The loop ends, finishing the reconciles in
//! flight, when the shutdown token is cancelled (on SIGTERM or Ctrl-C: see
//! [`crate::operate`]); dropping its future stops it at once (leadership
//! lost). Every reconcile is timed into the metrics, and the caches say
//! when the controller is ready.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Service;
use kube::Client;
use kube::api::ApiResource;
use kube::api::{Api, DynamicObject};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::reflector::Store;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::metrics::Metrics;
use crate::reconcile::{self, Context, FIELD_MANAGER};
use crate::serve::Readiness;
use crate::traffic::{RegistrySource, Routers, registry};

/// The label that assigns a Rollout to one controller instance.
pub const INSTANCE_LABEL: &str = "argo-rollouts.argoproj.io/controller-instance";
/// How soon a Rollout is tried again after a failed reconcile.
const ERROR_RETRY: Duration = Duration::from_secs(5);

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Watch only this namespace (`None`: all).
    pub namespace: Option<String>,
    /// Argo's `--instance-id`.
    pub instance_id: Option<String>,
    /// The namespace of the `argo-rollouts-config` ConfigMap that registers
    /// traffic-router plugins (Argo's: the controller's own namespace).
    pub config_namespace: String,
    /// How many Rollouts are reconciled at once (Argo's `--rollout-threads`,
    /// default 10); at least 1.
    pub rollout_threads: u16,
}

/// The label selector for the Rollouts of an instance (Argo's `InstanceIDRequirement`).
///
/// ```
/// use rollgate_controller::run::instance_selector;
/// assert_eq!(instance_selector(Some("blue")), "argo-rollouts.argoproj.io/controller-instance=blue");
/// assert_eq!(instance_selector(None), "!argo-rollouts.argoproj.io/controller-instance");
/// ```
pub fn instance_selector(instance_id: Option<&str>) -> String {
    match instance_id.filter(|id| !id.is_empty()) {
        Some(id) => format!("{INSTANCE_LABEL}={id}"),
        None => format!("!{INSTANCE_LABEL}"),
    }
}

/// What a running controller reports to, and what stops it.
#[derive(Debug, Clone, Default)]
pub struct Hooks {
    /// Reconciles are timed here, and the Rollout cache is shown here.
    pub metrics: Arc<Metrics>,
    /// Says ready once the caches are filled.
    pub readiness: Readiness,
    /// Cancelled to stop after the reconciles in flight.
    pub shutdown: CancellationToken,
}

/// Whether a watch cache has been filled, asked without waiting (see
/// [`Context`]'s note on `Store::wait_until_ready`).
fn filled<K: kube::Resource + Clone + 'static>(store: &Store<K>) -> bool
where
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    use futures::FutureExt as _;
    matches!(store.wait_until_ready().now_or_never(), Some(Ok(())))
}

/// Runs the controller until `hooks.shutdown` is cancelled.
pub async fn run(client: Client, settings: Settings, hooks: Hooks) {
    let resource = reconcile::rollout_resource();
    let (rollouts, replica_sets, services) = match &settings.namespace {
        Some(ns) => (
            Api::<DynamicObject>::namespaced_with(client.clone(), ns, &resource),
            Api::<ReplicaSet>::namespaced(client.clone(), ns),
            Api::<Service>::namespaced(client.clone(), ns),
        ),
        None => (
            Api::<DynamicObject>::all_with(client.clone(), &resource),
            Api::<ReplicaSet>::all(client.clone()),
            Api::<Service>::all(client.clone()),
        ),
    };
    let (store, writer) = reflector::store();
    let replica_set_events = watcher(replica_sets, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .touched_objects();
    let (service_store, service_writer) = reflector::store();
    let service_events = watcher(services, watcher::Config::default())
        .default_backoff()
        .reflect(service_writer)
        .touched_objects();
    let recorder = reconcile::events::Recorder::new(client.clone(), FIELD_MANAGER);
    let caches = (store.clone(), service_store.clone());
    let registry = RegistrySource {
        namespace: settings.config_namespace.clone(),
        name: registry::CONFIG_MAP.into(),
    };
    let routers = Routers::new(client.clone(), registry);
    let ctx = Arc::new(Context::new(
        client,
        store,
        service_store,
        recorder,
        routers,
    ));
    let owner = resource.clone();
    let selector = instance_selector(settings.instance_id.as_deref());
    tracing::info!(namespace = settings.namespace.as_deref().unwrap_or("(all)"), %selector, "watching Rollouts");
    let controller = Controller::new_with(
        rollouts,
        watcher::Config::default().labels(&selector),
        resource,
    );
    let rollout_store = controller.store();
    hooks.metrics.rollouts().set(Some(rollout_store.clone()));
    hooks
        .readiness
        .running(move || filled(&rollout_store) && filled(&caches.0) && filled(&caches.1));
    let metrics = hooks.metrics.clone();
    controller
        .with_config(
            kube::runtime::controller::Config::default()
                .concurrency(settings.rollout_threads.max(1)),
        )
        .owns_stream(replica_set_events)
        .watches_stream(service_events, move |svc: Service| {
            managing_rollout(&svc, &owner)
        })
        .graceful_shutdown_on(hooks.shutdown.clone().cancelled_owned())
        .run(
            move |object, ctx| timed(object, ctx, metrics.clone()),
            error_policy,
            ctx.clone(),
        )
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "reconcile");
            }
        })
        .await;
    hooks.metrics.rollouts().set(None);
    ctx.routers.shutdown().await;
    tracing::info!("stopped");
}

/// One reconcile, timed into `rollout_reconcile` (and counted in
/// `rollout_reconcile_error` when it fails).
async fn timed(
    object: Arc<DynamicObject>,
    ctx: Arc<Context>,
    metrics: Arc<Metrics>,
) -> Result<Action, Error> {
    let namespace = object.metadata.namespace.clone().unwrap_or_default();
    let name = object.metadata.name.clone().unwrap_or_default();
    let start = Instant::now();
    let result = reconcile::reconcile(object, ctx).await;
    metrics.reconciled(&namespace, &name, start.elapsed(), result.is_err());
    result
}

fn error_policy(object: Arc<DynamicObject>, error: &Error, _: Arc<Context>) -> Action {
    tracing::warn!(
        rollout = %format!("{}/{}", object.metadata.namespace.as_deref().unwrap_or_default(),
            object.metadata.name.as_deref().unwrap_or_default()),
        %error,
        "reconcile failed; trying again"
    );
    Action::requeue(ERROR_RETRY)
}

/// The Rollout that manages a Service (its managed-by annotation), woken
/// when the Service changes.
fn managing_rollout(service: &Service, resource: &ApiResource) -> Option<ObjectRef<DynamicObject>> {
    let name = service
        .metadata
        .annotations
        .as_ref()?
        .get(crate::service::MANAGED_BY_ANNOTATION)?;
    let namespace = service.metadata.namespace.as_deref()?;
    Some(ObjectRef::new_with(name, resource.clone()).within(namespace))
}
