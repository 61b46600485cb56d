//! Running the controller: the watches, the reconcile loop and shutdown.
//!
//! Rollouts are watched in one namespace or all, filtered by Argo's
//! controller-instance label (`argo-rollouts.argoproj.io/controller-instance-id`):
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
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Service;
use kube::Client;
use kube::api::ApiResource;
use kube::api::{Api, DynamicObject};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::analysis;
use crate::measure;
use crate::metrics::Metrics;
use crate::reconcile::filled;
use crate::reconcile::{self, Context, FIELD_MANAGER};
use crate::serve::Readiness;
use crate::traffic::binaries::PluginBinaries;
use crate::traffic::download::Limits;
use crate::traffic::{RegistrySource, Routers, registry};
use rollgate_analysis::TemplateKind;

/// The label that assigns a Rollout to one controller instance.
pub use rollout_core::spec::INSTANCE_ID_LABEL as INSTANCE_LABEL;
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
    /// Where plugins registered with an `http(s)` location are downloaded
    /// (see [`crate::traffic::binaries`]).
    pub plugin_dir: std::path::PathBuf,
    /// How many Rollouts are reconciled at once (Argo's `--rollout-threads`,
    /// default 10); at least 1.
    pub rollout_threads: u16,
    /// How many AnalysisRuns are reconciled (measured) at once (Argo's
    /// `--analysis-threads`, default [`crate::measure::DEFAULT_ANALYSIS_THREADS`]);
    /// at least 1.
    pub analysis_threads: u16,
}

/// The label selector for the Rollouts of an instance (Argo's `InstanceIDRequirement`).
///
/// ```
/// use rollgate_controller::run::instance_selector;
/// assert_eq!(instance_selector(Some("blue")), "argo-rollouts.argoproj.io/controller-instance-id=blue");
/// assert_eq!(instance_selector(None), "!argo-rollouts.argoproj.io/controller-instance-id");
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

/// Runs the controller until `hooks.shutdown` is cancelled.
pub async fn run(client: Client, settings: Settings, hooks: Hooks) {
    let resource = reconcile::rollout_resource();
    let (rollouts, replica_sets, services, deployments) = match &settings.namespace {
        Some(ns) => (
            Api::<DynamicObject>::namespaced_with(client.clone(), ns, &resource),
            Api::<ReplicaSet>::namespaced(client.clone(), ns),
            Api::<Service>::namespaced(client.clone(), ns),
            Api::<Deployment>::namespaced(client.clone(), ns),
        ),
        None => (
            Api::<DynamicObject>::all_with(client.clone(), &resource),
            Api::<ReplicaSet>::all(client.clone()),
            Api::<Service>::all(client.clone()),
            Api::<Deployment>::all(client.clone()),
        ),
    };
    let (store, writer) = reflector::store();
    let replica_set_events = watcher(replica_sets, watcher::Config::default())
        .default_backoff()
        .modify(lean)
        .reflect(writer)
        .touched_objects();
    let (service_store, service_writer) = reflector::store();
    let service_events = watcher(services, watcher::Config::default())
        .default_backoff()
        .modify(lean)
        .reflect(service_writer)
        .touched_objects();
    let (deployment_store, deployment_writer) = reflector::store();
    let deployment_events = watcher(deployments, watcher::Config::default())
        .default_backoff()
        .modify(lean)
        .reflect(deployment_writer)
        .touched_objects();
    let selector = instance_selector(settings.instance_id.as_deref());
    let (analysis, analysis_events) =
        analysis_watches(&client, settings.namespace.as_deref(), &selector);
    let recorder = reconcile::events::Recorder::new(client.clone(), FIELD_MANAGER);
    let measurer = Arc::new(measure::Measurer::new(
        client.clone(),
        recorder.clone(),
        measure::dispatch::Providers::from_env(client.clone()),
        hooks.metrics.clone(),
    ));
    let run_store = analysis.runs.clone();
    let analysis_stores = crate::metrics::analysis_runs::Stores {
        runs: analysis.runs.clone(),
        templates: analysis.templates.clone(),
        cluster_templates: analysis.cluster_templates.clone(),
    };
    let registry = RegistrySource {
        namespace: settings.config_namespace.clone(),
        name: registry::CONFIG_MAP.into(),
    };
    let binaries = PluginBinaries::new(settings.plugin_dir.clone(), Limits::default());
    let routers = Routers::new(client.clone(), registry, binaries);
    let ctx = Arc::new(
        Context::new(client, store, service_store, recorder, routers, analysis)
            .with_deployments(deployment_store),
    );
    let owner = resource.clone();
    tracing::info!(namespace = settings.namespace.as_deref().unwrap_or("(all)"), %selector, "watching Rollouts");
    let rollout_writer = reflector::store::Writer::new(resource.clone());
    let rollout_reader = rollout_writer.as_reader();
    let rollout_events = watcher(rollouts, watcher::Config::default().labels(&selector))
        .default_backoff()
        .modify(lean)
        .reflect(rollout_writer)
        .applied_objects();
    let controller = Controller::for_stream_with(rollout_events, rollout_reader, resource);
    let rollout_store = controller.store();
    let template_referencing = rollout_store.clone();
    hooks.metrics.rollouts().set(Some(rollout_store.clone()));
    hooks.metrics.analysis_runs().set(Some(analysis_stores));
    let caches = ctx.clone();
    hooks
        .readiness
        .running(move || filled(&rollout_store) && caches.caches_ready());
    let metrics = hooks.metrics.clone();
    let deployment_referencing = controller.store();
    let deployment_owner = owner.clone();
    let rollouts = controller
        .with_config(
            kube::runtime::controller::Config::default()
                .concurrency(settings.rollout_threads.max(1)),
        )
        .owns_stream(replica_set_events)
        .watches_stream(service_events, move |svc: Service| {
            managing_rollout(&svc, &owner)
        })
        .watches_stream(deployment_events, move |d: Deployment| {
            rollouts_referencing_deployment(&d, &deployment_referencing, &deployment_owner)
        })
        .owns_stream_with(
            analysis_events.rollout_runs.map(Ok),
            reconcile::rollout_resource(),
        )
        .watches_stream_with(
            analysis_events.templates,
            move |template: DynamicObject| {
                rollouts_referencing_template(&template_referencing, &template)
            },
            analysis::template_resource(),
        )
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
        });
    let measuring = measure::run(
        analysis_events.measured_runs,
        run_store,
        measurer,
        settings.analysis_threads,
        hooks.shutdown.clone(),
    );
    // The runs' watch feeds both controllers; it ends when they both have.
    tokio::select! {
        () = analysis_events.runs_watch => {}
        ((), ()) = futures::future::join(rollouts, measuring) => {}
    }
    hooks.metrics.rollouts().set(None);
    hooks.metrics.analysis_runs().set(None);
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

/// The Rollouts whose `workloadRef` names a Deployment, woken when it changes.
fn rollouts_referencing_deployment(
    deployment: &Deployment,
    rollouts: &Store<DynamicObject>,
    resource: &ApiResource,
) -> Vec<ObjectRef<DynamicObject>> {
    let (Some(namespace), Some(name)) = (
        deployment.metadata.namespace.as_deref(),
        deployment.metadata.name.as_deref(),
    ) else {
        return Vec::new();
    };
    rollouts
        .state()
        .iter()
        .filter(|r| r.metadata.namespace.as_deref() == Some(namespace))
        .filter(|r| {
            let reference = &r.data["spec"]["workloadRef"];
            reference["kind"] == "Deployment" && reference["name"] == name
        })
        .filter_map(|r| {
            let rollout = r.metadata.name.as_deref()?;
            Some(ObjectRef::new_with(rollout, resource.clone()).within(namespace))
        })
        .collect()
}

/// A stream of changed objects from a watch.
type Touched = futures::stream::BoxStream<'static, Result<DynamicObject, watcher::Error>>;

/// The changed objects of a watch shared by several controllers.
type Shared = futures::channel::mpsc::Receiver<DynamicObject>;

/// Sends every object the watch touched to each of `to`, waiting while one
/// has not taken its earlier ones; a receiver that is gone (its controller
/// stopped) is skipped. Ends when the watch does.
async fn fan_out<const N: usize>(
    watch: impl futures::Stream<Item = Result<DynamicObject, watcher::Error>>,
    mut to: [futures::channel::mpsc::Sender<DynamicObject>; N],
) {
    use futures::SinkExt as _;
    let mut watch = std::pin::pin!(watch);
    while let Some(event) = watch.next().await {
        let object = match event {
            Ok(object) => object,
            Err(error) => {
                // The watch's backoff retries; the caches say whether it recovered.
                tracing::debug!(%error, "AnalysisRun watch");
                continue;
            }
        };
        for sender in &mut to {
            let _ = sender.send(object.clone()).await;
        }
    }
}

/// How many run changes the shared watch holds for a controller that has
/// not taken them yet.
const SHARED_RUNS_BUFFER: usize = 1024;

/// The watch streams of the analysis kinds, each feeding its cache.
struct AnalysisEvents {
    /// The runs' watch, which must be polled for the two streams below.
    runs_watch: futures::future::BoxFuture<'static, ()>,
    /// Changed runs, for the Rollouts that own them.
    rollout_runs: Shared,
    /// Changed runs, for the reconciler that measures them.
    measured_runs: Shared,
    templates: Touched,
}

/// Watches AnalysisRuns (of this instance, as Argo selects them by its
/// instance-id label), AnalysisTemplates (in the namespace watched, or
/// all) and ClusterAnalysisTemplates into caches; the runs' watch is
/// shared by the Rollout controller and the measuring one; the template
/// streams are merged into one (a ClusterAnalysisTemplate comes with its
/// `kind`).
fn analysis_watches(
    client: &Client,
    namespace: Option<&str>,
    instance: &str,
) -> (analysis::Caches, AnalysisEvents) {
    let api = |resource: &ApiResource, namespaced: bool| match namespace.filter(|_| namespaced) {
        Some(ns) => Api::<DynamicObject>::namespaced_with(client.clone(), ns, resource),
        None => Api::<DynamicObject>::all_with(client.clone(), resource),
    };
    let watch_with = |resource: ApiResource, namespaced: bool, config: watcher::Config| {
        let writer = reflector::store::Writer::new(resource.clone());
        let store = writer.as_reader();
        let events = watcher(api(&resource, namespaced), config)
            .default_backoff()
            .modify(lean)
            .reflect(writer)
            .touched_objects();
        (store, events)
    };
    let watch = |resource, namespaced| watch_with(resource, namespaced, watcher::Config::default());
    let (runs, run_events) = watch_with(
        analysis::run_resource(),
        true,
        watcher::Config::default().labels(instance),
    );
    let (rollout_tx, rollout_runs) = futures::channel::mpsc::channel(SHARED_RUNS_BUFFER);
    let (measured_tx, measured_runs) = futures::channel::mpsc::channel(SHARED_RUNS_BUFFER);
    let runs_watch = Box::pin(fan_out(run_events, [rollout_tx, measured_tx]));
    let (templates, template_events) = watch(analysis::template_resource(), true);
    let (cluster_templates, cluster_events) = watch(analysis::cluster_template_resource(), false);
    let cluster_events = cluster_events.map(|event| {
        event.map(|mut t: DynamicObject| {
            t.types = Some(kube::api::TypeMeta {
                api_version: "argoproj.io/v1alpha1".into(),
                kind: "ClusterAnalysisTemplate".into(),
            });
            t
        })
    });
    let caches = analysis::Caches {
        runs,
        templates,
        cluster_templates,
    };
    let events = AnalysisEvents {
        runs_watch,
        rollout_runs,
        measured_runs,
        templates: futures::stream::select(template_events, cluster_events).boxed(),
    };
    (caches, events)
}

/// The Rollouts that reference a template that changed (directly), looked
/// at again: one waiting for a missing template runs once it exists.
fn rollouts_referencing_template(
    rollouts: &Store<DynamicObject>,
    template: &DynamicObject,
) -> Vec<ObjectRef<DynamicObject>> {
    let cluster = template.types.as_ref().map(|t| t.kind.as_str())
        == Some("ClusterAnalysisTemplate")
        || template.metadata.namespace.is_none();
    let kind = if cluster {
        TemplateKind::Cluster
    } else {
        TemplateKind::Namespaced
    };
    let name = template.metadata.name.as_deref().unwrap_or_default();
    rollouts
        .state()
        .iter()
        .filter(|r| cluster || r.metadata.namespace == template.metadata.namespace)
        .filter(|r| {
            r.data
                .get("spec")
                .is_some_and(|spec| analysis::references(spec, kind, name))
        })
        .map(|r| ObjectRef::from_obj_with(r.as_ref(), reconcile::rollout_resource()))
        .collect()
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

/// What the watch caches keep of an object: all of it but its managed
/// fields and `kubectl apply`'s last applied configuration, which nothing
/// here reads and which can be most of a small object's size.
fn lean<K: kube::Resource>(object: &mut K) {
    let metadata = object.meta_mut();
    metadata.managed_fields = None;
    if let Some(annotations) = metadata.annotations.as_mut() {
        annotations.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::reflector::store::Writer;
    use serde_json::json;

    #[test]
    fn the_caches_keep_all_but_managed_fields_and_the_last_applied_configuration() {
        let mut rs: ReplicaSet = serde_json::from_value(json!({
            "metadata": {"name": "web-abc",
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}",
                                "rollout.argoproj.io/revision": "2"},
                "managedFields": [{"manager": "kubectl", "operation": "Apply"}]},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}}
        }))
        .unwrap();
        lean(&mut rs);
        assert_eq!(rs.metadata.managed_fields, None);
        assert_eq!(
            serde_json::to_value(&rs.metadata.annotations).unwrap(),
            json!({"rollout.argoproj.io/revision": "2"})
        );
        assert_eq!(rs.spec.unwrap().replicas, Some(3));
    }

    #[test]
    fn a_deployment_wakes_the_rollouts_that_reference_it() {
        let resource = reconcile::rollout_resource();
        let mut writer: Writer<DynamicObject> = Writer::new(resource.clone());
        for (namespace, name, reference) in [
            (
                "shop",
                "web",
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}),
            ),
            (
                "shop",
                "web-too",
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}),
            ),
            (
                "shop",
                "api",
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}),
            ),
            ("shop", "own", json!(null)),
            (
                "other",
                "web",
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}),
            ),
        ] {
            let object: DynamicObject = serde_json::from_value(json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"workloadRef": reference}
            }))
            .unwrap();
            writer.apply_watcher_event(&watcher::Event::Apply(object));
        }
        let store = writer.as_reader();
        let deployment: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "shop"}
        }))
        .unwrap();
        let mut woken: Vec<String> =
            rollouts_referencing_deployment(&deployment, &store, &resource)
                .into_iter()
                .map(|r| format!("{}/{}", r.namespace.unwrap_or_default(), r.name))
                .collect();
        woken.sort();
        assert_eq!(woken, ["shop/web", "shop/web-too"]);
    }
}
