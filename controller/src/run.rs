//! Running the controller: the watches, the reconcile loop and shutdown.
//!
//! Rollouts are watched in one namespace or all, filtered by Argo's
//! controller-instance label (`argo-rollouts.argoproj.io/controller-instance-id`):
//! with an instance id, only Rollouts labelled with it; without one, only
//! Rollouts without the label, so this controller and another (or Argo's)
//! can share a cluster. ReplicaSets are watched into a cache (a reflector)
//! that both feeds the reconciles and wakes the Rollout that controls a
//! ReplicaSet when it changes; Services likewise, waking the Rollout that
//! manages one, and Experiments, waking the Rollout that controls one. Every cache keeps its objects packed ([`crate::cache`]);
//! a reconcile unpacks the Rollout it is given. The loop ends, finishing the reconciles in
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
use kube::Resource;
use kube::api::ApiResource;
use kube::api::{Api, DynamicObject};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use rollgate_analysis::isolation::InProcess;
use router_kube::Packed;
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::analysis;
use crate::cache::{Cache, unpack, unpack_or_warn};
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
/// How long a stopping controller waits for its queued events to be written.
const EVENTS_FLUSH: Duration = Duration::from_secs(5);

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
    /// How many Experiments are reconciled at once (Argo's
    /// `--experiment-threads`, default
    /// [`crate::experiment::DEFAULT_EXPERIMENT_THREADS`]); at least 1.
    pub experiment_threads: u16,
    /// The namespaces besides a Rollout's own that its traffic-routing
    /// config may make the in-process routers touch (`--route-namespaces`;
    /// default: any, as Argo Rollouts).
    pub route_namespaces: router_kube::RouteNamespaces,
    /// Where metric conditions are evaluated: in children with limits
    /// (`--condition-evaluation=child`, the default), or in this process
    /// (`None`).
    pub condition_evaluator: Option<crate::measure::conditions::ChildEvaluator>,
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
            Api::<Packed<DynamicObject>>::namespaced_with(client.clone(), ns, &resource),
            Api::<Packed<ReplicaSet>>::namespaced(client.clone(), ns),
            Api::<Packed<Service>>::namespaced(client.clone(), ns),
            Api::<Packed<Deployment>>::namespaced(client.clone(), ns),
        ),
        None => (
            Api::<Packed<DynamicObject>>::all_with(client.clone(), &resource),
            Api::<Packed<ReplicaSet>>::all(client.clone()),
            Api::<Packed<Service>>::all(client.clone()),
            Api::<Packed<Deployment>>::all(client.clone()),
        ),
    };
    let (store, writer) = reflector::store();
    let replica_set_watch = watcher(replica_sets, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .touched_objects();
    // The ReplicaSets' watch feeds the Rollouts and the Experiments.
    let (rollout_rs_tx, replica_set_events) = futures::channel::mpsc::channel(SHARED_BUFFER);
    let (experiment_rs_tx, experiment_replica_sets) =
        futures::channel::mpsc::channel(SHARED_BUFFER);
    let replica_set_watch = fan_out(replica_set_watch, [rollout_rs_tx, experiment_rs_tx]);
    let (service_store, service_writer) = reflector::store();
    let service_events = watcher(services, watcher::Config::default())
        .default_backoff()
        .reflect(service_writer)
        .touched_objects();
    let (deployment_store, deployment_writer) = reflector::store();
    let deployment_events = watcher(deployments, watcher::Config::default())
        .default_backoff()
        .reflect(deployment_writer)
        .touched_objects();
    let selector = instance_selector(settings.instance_id.as_deref());
    let (analysis, analysis_events) =
        analysis_watches(&client, settings.namespace.as_deref(), &selector);
    let (experiments, experiment_events) =
        experiment_watch(&client, settings.namespace.as_deref(), &selector);
    let experiment_reader = experiments.clone();
    let recorder = reconcile::events::Recorder::new(client.clone(), FIELD_MANAGER);
    let measurer = Arc::new(measure::Measurer::new(
        client.clone(),
        recorder.clone(),
        measure::dispatch::Providers::from_env(client.clone()),
        hooks.metrics.clone(),
        match settings.condition_evaluator.clone() {
            Some(child) => Arc::new(child),
            None => Arc::new(InProcess),
        },
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
    let routers = Routers::new(
        client.clone(),
        registry,
        binaries,
        &settings.route_namespaces,
    );
    let experiment_reconciler = Arc::new(crate::experiment::Reconciler::new(
        client.clone(),
        recorder.clone(),
        store.clone(),
        service_store.clone(),
        analysis.clone(),
    ));
    let ctx = Arc::new(
        Context::new(client, store, service_store, recorder, routers, analysis)
            .with_deployments(deployment_store)
            .with_experiments(experiments),
    );
    let owner = resource.clone();
    tracing::info!(namespace = settings.namespace.as_deref().unwrap_or("(all)"), %selector, "watching Rollouts");
    let rollout_writer = reflector::store::Writer::new(resource.clone());
    let rollout_reader = rollout_writer.as_reader();
    let rollout_events = watcher(rollouts, watcher::Config::default().labels(&selector))
        .default_backoff()
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
    let rollouts = crate::triggers::configured(controller, settings.rollout_threads)
        .owns_stream(replica_set_events.map(Ok))
        .watches_stream(service_events, move |svc: Packed<Service>| {
            // The managed-by annotation is packed: a changed Service is unpacked.
            unpack_or_warn(&svc).and_then(|svc| managing_rollout(&svc.metadata, &owner))
        })
        .watches_stream(deployment_events, move |d: Packed<Deployment>| {
            rollouts_referencing_deployment(d.meta(), &deployment_referencing, &deployment_owner)
        })
        .owns_stream_with(
            analysis_events.rollout_runs.map(Ok),
            reconcile::rollout_resource(),
        )
        .owns_stream_with(
            experiment_events.rollouts.map(Ok),
            reconcile::rollout_resource(),
        )
        .watches_stream_with(
            analysis_events.templates,
            move |template: Packed<DynamicObject>| {
                rollouts_referencing_template(&template_referencing, template.meta())
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
    let experimenting = crate::experiment::run(
        experiment_events.reconciled.map(Ok),
        experiment_reader,
        crate::experiment::Triggers {
            replica_sets: experiment_replica_sets,
            runs: analysis_events.experiment_runs,
        },
        experiment_reconciler,
        settings.experiment_threads,
        hooks.shutdown.clone(),
    );
    // The shared watches feed several controllers; they end when those have.
    tokio::select! {
        () = analysis_events.runs_watch => {}
        () = experiment_events.watch => {}
        () = replica_set_watch => {}
        ((), (), ()) = futures::future::join3(rollouts, measuring, experimenting) => {}
    }
    hooks.metrics.rollouts().set(None);
    hooks.metrics.analysis_runs().set(None);
    if tokio::time::timeout(EVENTS_FLUSH, ctx.recorder.flushed())
        .await
        .is_err()
    {
        tracing::warn!("stopped before every queued event was written");
    }
    ctx.routers.shutdown().await;
    tracing::info!("stopped");
}

/// One reconcile of the Rollout unpacked from the cache, timed into
/// `rollout_reconcile` (and counted in `rollout_reconcile_error` when it
/// fails).
async fn timed(
    object: Arc<Packed<DynamicObject>>,
    ctx: Arc<Context>,
    metrics: Arc<Metrics>,
) -> Result<Action, Error> {
    let namespace = object.meta().namespace.clone().unwrap_or_default();
    let name = object.meta().name.clone().unwrap_or_default();
    let start = Instant::now();
    let result = match unpack(&object) {
        Ok(rollout) => reconcile::reconcile(Arc::new(rollout), ctx).await,
        Err(e) => Err(e),
    };
    metrics.reconciled(&namespace, &name, start.elapsed(), result.is_err());
    result
}

fn error_policy(object: Arc<Packed<DynamicObject>>, error: &Error, _: Arc<Context>) -> Action {
    let metadata = object.meta();
    tracing::warn!(
        rollout = %format!("{}/{}", metadata.namespace.as_deref().unwrap_or_default(),
            metadata.name.as_deref().unwrap_or_default()),
        %error,
        "reconcile failed; trying again"
    );
    Action::requeue(ERROR_RETRY)
}

/// The Rollouts whose `workloadRef` names a Deployment (its metadata),
/// woken when it changes. The Rollouts of its namespace are unpacked to
/// read their references.
fn rollouts_referencing_deployment(
    deployment: &kube::api::ObjectMeta,
    rollouts: &Cache<DynamicObject>,
    resource: &ApiResource,
) -> Vec<ObjectRef<Packed<DynamicObject>>> {
    let (Some(namespace), Some(name)) =
        (deployment.namespace.as_deref(), deployment.name.as_deref())
    else {
        return Vec::new();
    };
    rollouts
        .state()
        .iter()
        .filter(|r| r.meta().namespace.as_deref() == Some(namespace))
        .filter_map(|r| unpack_or_warn(r))
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
type Touched = futures::stream::BoxStream<'static, Result<Packed<DynamicObject>, watcher::Error>>;

/// The changed objects of a watch shared by several controllers.
type Shared = futures::channel::mpsc::Receiver<Packed<DynamicObject>>;

/// Sends every object the watch touched to each of `to`, waiting while one
/// has not taken its earlier ones; a receiver that is gone (its controller
/// stopped) is skipped. Ends when the watch does.
async fn fan_out<T: Clone, const N: usize>(
    watch: impl futures::Stream<Item = Result<T, watcher::Error>>,
    mut to: [futures::channel::mpsc::Sender<T>; N],
) {
    use futures::SinkExt as _;
    let mut watch = std::pin::pin!(watch);
    while let Some(event) = watch.next().await {
        let object = match event {
            Ok(object) => object,
            Err(error) => {
                // The watch's backoff retries; the caches say whether it recovered.
                tracing::debug!(%error, "shared watch");
                continue;
            }
        };
        for sender in &mut to {
            let _ = sender.send(object.clone()).await;
        }
    }
}

/// How many changes a shared watch holds for a controller that has not
/// taken them yet.
const SHARED_BUFFER: usize = 1024;

/// The watch streams of the analysis kinds, each feeding its cache.
struct AnalysisEvents {
    /// The runs' watch, which must be polled for the two streams below.
    runs_watch: futures::future::BoxFuture<'static, ()>,
    /// Changed runs, for the Rollouts that own them.
    rollout_runs: Shared,
    /// Changed runs, for the reconciler that measures them.
    measured_runs: Shared,
    /// Changed runs, for the Experiments that own them.
    experiment_runs: Shared,
    templates: Touched,
}

/// Watches AnalysisRuns (of this instance, as Argo selects them by its
/// instance-id label), AnalysisTemplates (in the namespace watched, or
/// all) and ClusterAnalysisTemplates into caches; the runs' watch is
/// shared by the Rollout controller and the measuring one; the template
/// streams are merged into one (a ClusterAnalysisTemplate is the one without a
/// namespace).
fn analysis_watches(
    client: &Client,
    namespace: Option<&str>,
    instance: &str,
) -> (analysis::Caches, AnalysisEvents) {
    let api = |resource: &ApiResource, namespaced: bool| match namespace.filter(|_| namespaced) {
        Some(ns) => Api::<Packed<DynamicObject>>::namespaced_with(client.clone(), ns, resource),
        None => Api::<Packed<DynamicObject>>::all_with(client.clone(), resource),
    };
    let watch_with = |resource: ApiResource, namespaced: bool, config: watcher::Config| {
        let writer = reflector::store::Writer::new(resource.clone());
        let store = writer.as_reader();
        let events = watcher(api(&resource, namespaced), config)
            .default_backoff()
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
    let (rollout_tx, rollout_runs) = futures::channel::mpsc::channel(SHARED_BUFFER);
    let (measured_tx, measured_runs) = futures::channel::mpsc::channel(SHARED_BUFFER);
    let (experiment_tx, experiment_runs) = futures::channel::mpsc::channel(SHARED_BUFFER);
    let runs_watch = Box::pin(fan_out(
        run_events,
        [rollout_tx, measured_tx, experiment_tx],
    ));
    let (templates, template_events) = watch(analysis::template_resource(), true);
    let (cluster_templates, cluster_events) = watch(analysis::cluster_template_resource(), false);
    let caches = analysis::Caches {
        runs,
        templates,
        cluster_templates,
    };
    let events = AnalysisEvents {
        runs_watch,
        rollout_runs,
        measured_runs,
        experiment_runs,
        templates: futures::stream::select(template_events, cluster_events).boxed(),
    };
    (caches, events)
}

/// The Experiments' shared watch and the changes it hands on.
struct ExperimentEvents {
    /// The watch, which must be polled for the two streams below.
    watch: futures::future::BoxFuture<'static, ()>,
    /// Changed Experiments, for the Rollouts that own them.
    rollouts: Shared,
    /// Changed Experiments, for the reconciler that runs them.
    reconciled: Shared,
}

/// Watches the Experiments of this instance (selected by its instance-id
/// label, as Argo selects them) into one cache, shared by the Rollouts
/// (a change wakes the Rollout that controls the Experiment) and the
/// Experiment reconciler.
fn experiment_watch(
    client: &Client,
    namespace: Option<&str>,
    instance: &str,
) -> (Cache<DynamicObject>, ExperimentEvents) {
    let resource = crate::experiment::experiment_resource();
    let api = match namespace {
        Some(ns) => Api::<Packed<DynamicObject>>::namespaced_with(client.clone(), ns, &resource),
        None => Api::<Packed<DynamicObject>>::all_with(client.clone(), &resource),
    };
    let writer = reflector::store::Writer::new(resource);
    let store = writer.as_reader();
    let events = watcher(api, watcher::Config::default().labels(instance))
        .default_backoff()
        .reflect(writer)
        .touched_objects();
    let (rollout_tx, rollouts) = futures::channel::mpsc::channel(SHARED_BUFFER);
    let (reconciled_tx, reconciled) = futures::channel::mpsc::channel(SHARED_BUFFER);
    let watch = Box::pin(fan_out(events, [rollout_tx, reconciled_tx]));
    (
        store,
        ExperimentEvents {
            watch,
            rollouts,
            reconciled,
        },
    )
}

/// The Rollouts that reference a template that changed (directly, by the
/// template's metadata: a ClusterAnalysisTemplate has no namespace),
/// looked at again: one waiting for a missing template runs once it
/// exists. The Rollouts that may reference it are unpacked to read their
/// references.
fn rollouts_referencing_template(
    rollouts: &Cache<DynamicObject>,
    template: &kube::api::ObjectMeta,
) -> Vec<ObjectRef<Packed<DynamicObject>>> {
    let cluster = template.namespace.is_none();
    let kind = if cluster {
        TemplateKind::Cluster
    } else {
        TemplateKind::Namespaced
    };
    let name = template.name.as_deref().unwrap_or_default();
    rollouts
        .state()
        .iter()
        .filter(|r| cluster || r.meta().namespace == template.namespace)
        .filter(|r| {
            unpack_or_warn(r).is_some_and(|r| {
                r.data
                    .get("spec")
                    .is_some_and(|spec| analysis::references(spec, kind, name))
            })
        })
        .map(|r| ObjectRef::from_obj_with(r.as_ref(), reconcile::rollout_resource()))
        .collect()
}

/// The Rollout that manages a Service (its managed-by annotation), woken
/// when the Service changes.
fn managing_rollout(
    service: &kube::api::ObjectMeta,
    resource: &ApiResource,
) -> Option<ObjectRef<Packed<DynamicObject>>> {
    let name = service
        .annotations
        .as_ref()?
        .get(crate::service::MANAGED_BY_ANNOTATION)?;
    let namespace = service.namespace.as_deref()?;
    Some(ObjectRef::new_with(name, resource.clone()).within(namespace))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::reflector::store::Writer;
    use serde_json::json;

    #[test]
    fn a_deployment_wakes_the_rollouts_that_reference_it() {
        let resource = reconcile::rollout_resource();
        let mut writer: Writer<Packed<DynamicObject>> = Writer::new(resource.clone());
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
            let object: Packed<DynamicObject> = serde_json::from_value(json!({
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
            rollouts_referencing_deployment(&deployment.metadata, &store, &resource)
                .into_iter()
                .map(|r| format!("{}/{}", r.namespace.unwrap_or_default(), r.name))
                .collect();
        woken.sort();
        assert_eq!(woken, ["shop/web", "shop/web-too"]);
    }
}
