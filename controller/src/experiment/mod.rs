//! The Experiment reconciler: it runs every `argoproj.io/v1alpha1`
//! Experiment this controller watches (of its `--namespace` and
//! `--instance-id`), whether a Rollout's experiment step or a person
//! created it, as Argo's experiment controller (`experiments/`) runs it.
//!
//! One look at an Experiment ([`reconcile`]), in Argo's order:
//!
//! 1. the spec checked ([`phase::verify_spec`]): an invalid one only gets
//!    the `InvalidSpec` condition;
//! 2. each template ([`template`]): its ReplicaSet `<experiment>-<template>`
//!    created empty ([`objects::replica_set`]), then scaled to `replicas`
//!    (default 1) and, once the Experiment ends, annotated with a
//!    `scale-down-deadline` (`scaleDownDelaySeconds`, default 30) and scaled
//!    to 0 when it passes; its Service (`service`) created while it wants
//!    pods and deleted once none is available; its status (counts, state,
//!    progress deadline) and Events;
//! 3. each analysis ([`analyses`]): the template checked until the
//!    templates are available, then its AnalysisRun `<experiment>-<analysis>`
//!    created from the AnalysisTemplates in the watch caches (measured by
//!    [`crate::measure`]), followed, and terminated when the Experiment
//!    ends;
//! 4. the phase, message, `availableAt` and conditions ([`phase::calculate`]),
//!    written as a merge patch of the object when they changed, and the
//!    Experiment's phase Event;
//! 5. a look again when the duration ends, a template's progress deadline
//!    or a scale-down deadline comes ([`phase::requeue_after`]).
//!
//! Where Rollgate differs from Argo: a spec field that does not read, or a
//! `duration` that is not one, is `InvalidSpec` naming the field (Argo
//! cannot read the former and ignores the latter); a ReplicaSet name
//! taken by another object errors the template (Argo retries forever);
//! an Experiment's `duration` and deadlines are whole seconds, as its status
//! records them; the status is written over the version read.

pub mod analyses;
pub mod objects;
pub mod phase;
mod reconcile_analysis;
mod reconcile_template;
pub mod spec;
pub mod template;
mod writes;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Service;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::controller::{Action, Controller};
use kube::{Client, Resource as _, ResourceExt};
use rollout_core::{AnalysisPhase, Time};
use router_kube::Packed;
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::analysis::Caches;
use crate::cache::{Cache, select, unpack};
use crate::reconcile::events::Recorder;
use objects::Owner;
use phase::Event;
use spec::{ExperimentSpec, ExperimentStatus};

/// Argo's `--experiment-threads` default: Experiments reconciled at once.
pub const DEFAULT_EXPERIMENT_THREADS: u16 = 10;
/// How soon an Experiment is looked at again after a failed reconcile.
const ERROR_RETRY: Duration = Duration::from_secs(5);
/// How soon an Experiment whose cached copy is older than our last status
/// write is looked at again.
const OWN_WRITE_WAIT: Duration = Duration::from_millis(500);
/// How often an ending Experiment with pods or Services left is looked at.
const ENDING_POLL: Duration = Duration::from_secs(2);
/// How many names after `<experiment>-<analysis>` are tried (`.1`, `.2`, ...).
const RUN_NAME_ATTEMPTS: usize = 10;

/// The `Experiment` resource.
pub fn experiment_resource() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        "argoproj.io",
        "v1alpha1",
        "Experiment",
    ))
}

/// What every look at an Experiment shares.
pub struct Reconciler {
    /// The API client.
    pub client: Client,
    /// Records Events (shared with the other reconcilers: one spam filter).
    pub recorder: Recorder,
    /// The ReplicaSets, from the watch cache.
    pub replica_sets: Cache<ReplicaSet>,
    /// The Services, from the watch cache.
    pub services: Cache<Service>,
    /// AnalysisRuns and templates, from the watch caches.
    pub analysis: Caches,
    /// The resourceVersion of our last status write to each Experiment.
    written: Mutex<HashMap<(String, String), u64>>,
}

impl Reconciler {
    /// A reconciler writing through `client`, reading the caches given.
    pub fn new(
        client: Client,
        recorder: Recorder,
        replica_sets: Cache<ReplicaSet>,
        services: Cache<Service>,
        analysis: Caches,
    ) -> Self {
        Self {
            client,
            recorder,
            replica_sets,
            services,
            analysis,
            written: Mutex::default(),
        }
    }

    fn written(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), u64>> {
        self.written.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The streams that wake Experiments besides their own watch.
pub struct Triggers<R, A> {
    /// Changed ReplicaSets (an Experiment's wakes it).
    pub replica_sets: R,
    /// Changed AnalysisRuns (an Experiment's wakes it).
    pub runs: A,
}

/// Runs the reconciler over the Experiments of `experiments` (a watch that
/// fills `reader`), woken by their ReplicaSets and runs too, `threads` at
/// once, until `shutdown` is cancelled.
pub async fn run<E, R, A>(
    experiments: E,
    reader: Cache<DynamicObject>,
    triggers: Triggers<R, A>,
    reconciler: Arc<Reconciler>,
    threads: u16,
    shutdown: CancellationToken,
) where
    E: futures::Stream<Item = Result<Packed<DynamicObject>, kube::runtime::watcher::Error>>
        + Send
        + 'static,
    R: futures::Stream<Item = Packed<ReplicaSet>> + Send + 'static,
    A: futures::Stream<Item = Packed<DynamicObject>> + Send + 'static,
{
    let controller = Controller::for_stream_with(experiments, reader, experiment_resource());
    crate::triggers::configured(controller, threads)
        .owns_stream(triggers.replica_sets.map(Ok))
        .owns_stream_with(triggers.runs.map(Ok), crate::analysis::run_resource())
        .graceful_shutdown_on(shutdown.cancelled_owned())
        .run(
            |packed, r| async move {
                match unpack(&packed) {
                    Ok(object) => reconcile(&object, &r).await,
                    Err(e) => Err(e),
                }
            },
            error_policy,
            reconciler,
        )
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "experiment reconcile");
            }
        })
        .await;
}

fn error_policy(object: Arc<Packed<DynamicObject>>, error: &Error, _: Arc<Reconciler>) -> Action {
    let meta = object.meta();
    tracing::warn!(
        experiment = %format!("{}/{}", meta.namespace.as_deref().unwrap_or_default(), meta.name.as_deref().unwrap_or_default()),
        %error,
        "reconcile failed; trying again"
    );
    Action::requeue(ERROR_RETRY)
}

fn now() -> Time {
    Time::from_system_time(SystemTime::now())
}

/// The state of one look, shared by its steps.
struct Look<'a> {
    r: &'a Reconciler,
    owner: Owner<'a>,
    spec: &'a ExperimentSpec,
    old: &'a ExperimentStatus,
    terminating: bool,
    now: Time,
    /// The soonest time to look again, from the scale-down deadlines.
    requeue: Option<Duration>,
    /// Whom Events are about.
    events_on: k8s_openapi::api::core::v1::ObjectReference,
    /// The Rollout that owns the Experiment, if one does.
    rollout: Option<k8s_openapi::api::core::v1::ObjectReference>,
    /// The Experiment's labels (its controller-instance id goes to its runs).
    labels: &'a BTreeMap<String, String>,
}

impl Look<'_> {
    async fn record(&self, event: Event) {
        self.r
            .recorder
            .record(&self.events_on, event.warning, &event.reason, event.message);
    }

    fn wake_in(&mut self, after: Duration) {
        self.requeue = Some(self.requeue.map_or(after, |r| r.min(after)));
    }
}

/// One look at an Experiment (see the module documentation).
///
/// # Errors
///
/// A cache that does not read back, several ReplicaSets or Services
/// claiming one template (as Argo), or a status write that failed; the
/// Experiment is looked at again after a while.
pub async fn reconcile(object: &DynamicObject, r: &Reconciler) -> Result<Action, Error> {
    if object.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let namespace = object.namespace().unwrap_or_default();
    let name = object.name_any();
    let key = (namespace.clone(), name.clone());
    let version = object.resource_version();
    {
        let mut written = r.written();
        let seen = version.as_deref().and_then(|v| v.parse::<u64>().ok());
        if let (Some(seen), Some(&ours)) = (seen, written.get(&key)) {
            if seen < ours {
                // Our own status write is on its way through the watch.
                // Looked at again shortly even if nothing else wakes it:
                // what woke it now would otherwise be lost.
                tracing::debug!(experiment = %format!("{}/{}", key.0, key.1), seen, ours, "waiting for our own status write");
                return Ok(Action::requeue(OWN_WRITE_WAIT));
            }
            written.remove(&key);
        }
    }
    let uid = object.metadata.uid.clone().unwrap_or_default();
    let now = now();
    let old = spec::read_status(object.data.get("status"));
    let spec = match spec::read_spec(object.data.get("spec").unwrap_or(&serde_json::Value::Null)) {
        Ok(spec) => spec,
        Err(e) => {
            let condition = invalid(&old, e.to_string(), now);
            return persist(r, &namespace, &name, version.as_deref(), &old, condition).await;
        }
    };
    if let Some(condition) =
        phase::verify_spec(&name, &spec, old.condition(phase::INVALID_SPEC), now)
    {
        let mut new = old.clone();
        if old
            .condition(phase::INVALID_SPEC)
            .is_some_and(|c| c.message != condition.message)
        {
            new.conditions.retain(|c| c.kind != phase::INVALID_SPEC);
        }
        phase::set_condition(&mut new, condition);
        tracing::warn!(experiment = %format!("{namespace}/{name}"), "the spec is invalid");
        return persist(r, &namespace, &name, version.as_deref(), &old, new).await;
    }
    let owner = Owner {
        name: &name,
        namespace: &namespace,
        uid: &uid,
    };
    let rollout = object
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.kind == "Rollout")
        .map(|o| writes::reference("Rollout", &namespace, &o.name, &o.uid));
    let labels = object.metadata.labels.clone().unwrap_or_default();
    let mut look = Look {
        r,
        owner,
        spec: &spec,
        old: &old,
        terminating: phase::is_terminating(&spec, &old),
        now,
        requeue: None,
        events_on: writes::reference("Experiment", &namespace, &name, &uid),
        rollout,
        labels: &labels,
    };
    if !spec.analyses.is_empty()
        && !r.analysis.ready(
            spec.analyses
                .iter()
                .any(spec::ExperimentAnalysis::is_cluster_scope),
        )
    {
        // Its templates would read as missing: looked at again once filled.
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    let mut replica_sets = owned(&r.replica_sets, &look.owner, &spec, "ReplicaSets")?;
    let services = owned(&r.services, &look.owner, &spec, "Services")?;
    let mut new = old.clone();
    for template in &spec.templates {
        let rs = replica_sets.remove(&template.name);
        let service = services
            .get(&template.name)
            .and_then(|s| s.metadata.name.clone());
        let (status, rs) =
            reconcile_template::reconcile_template(&mut look, template, rs, service).await;
        if let Some(rs) = rs {
            replica_sets.insert(template.name.clone(), rs);
        }
        new.set_template(status);
    }
    let names: Vec<(String, String, String)> = replica_sets
        .iter()
        .map(|(t, rs)| {
            let rs = writes::observe(rs);
            (t.clone(), rs.name, rs.pod_template_hash)
        })
        .collect();
    for analysis in &spec.analyses {
        let status = reconcile_analysis::reconcile_analysis(&look, analysis, &names).await;
        new.set_analysis(status);
    }
    let new = phase::calculate(&name, &spec, &old, new, now);
    if let Some(after) = phase::requeue_after(&spec, &new, now) {
        look.wake_in(after);
    }
    if phase::is_terminating(&spec, &new)
        && new
            .template_statuses
            .iter()
            .any(|t| t.replicas != 0 || !t.service_name.is_empty())
    {
        // Ending with pods or a Service left: looked at again until they
        // are gone, even if a change of theirs does not wake it.
        look.wake_in(ENDING_POLL);
    }
    let requeue = look.requeue;
    let event = phase::phase_event(&old, &new);
    let action = persist(r, &namespace, &name, version.as_deref(), &old, new).await?;
    if let Some(event) = event {
        look.record(event).await;
    }
    Ok(match requeue {
        // A second late: the status counts whole seconds, and "passed" is
        // strictly after.
        Some(after) => Action::requeue(after + Duration::from_secs(1)),
        None => action,
    })
}

/// An InvalidSpec condition for a spec that does not read.
fn invalid(old: &ExperimentStatus, message: String, now: Time) -> ExperimentStatus {
    let mut new = old.clone();
    let previous = old
        .condition(phase::INVALID_SPEC)
        .filter(|c| c.message == message);
    let condition = spec::Condition {
        kind: phase::INVALID_SPEC.into(),
        status: "True".into(),
        last_update_time: Some(now),
        last_transition_time: previous.and_then(|p| p.last_transition_time).or(Some(now)),
        reason: phase::INVALID_SPEC.into(),
        message,
    };
    new.conditions.retain(|c| c.kind != phase::INVALID_SPEC);
    new.conditions.push(condition);
    new
}

/// Writes the status when it changed, remembering the version written.
async fn persist(
    r: &Reconciler,
    namespace: &str,
    name: &str,
    version: Option<&str>,
    old: &ExperimentStatus,
    new: ExperimentStatus,
) -> Result<Action, Error> {
    if let Some(patch) = writes::status_patch(old, &new, version) {
        let written = writes::write_status(r, namespace, name, &patch).await?;
        if let Some(v) = written.and_then(|v| v.parse::<u64>().ok()) {
            r.written()
                .insert((namespace.to_owned(), name.to_owned()), v);
        }
        tracing::info!(experiment = %format!("{namespace}/{name}"), phase = new.phase.map_or("", AnalysisPhase::as_str), "status written");
    } else {
        tracing::debug!(experiment = %format!("{namespace}/{name}"), "looked: nothing to write");
    }
    Ok(Action::await_change())
}

/// The objects of `cache` in the Experiment's namespace that are its
/// templates', by template (Argo's `getReplicaSetsForExperiment` and
/// `getServicesForExperiment`): an error when two claim one template.
fn owned<K>(
    cache: &Cache<K>,
    owner: &Owner<'_>,
    spec: &ExperimentSpec,
    what: &str,
) -> Result<BTreeMap<String, K>, Error>
where
    K: kube::Resource + serde::Serialize + serde::de::DeserializeOwned + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    // The cache keeps annotations packed: select by the controller's uid,
    // then read the template's name from the unpacked object.
    let objects = select(cache, |meta| {
        meta.namespace.as_deref() == Some(owner.namespace) && writes::controlled_by(meta, owner)
    })?;
    let mut by_template = BTreeMap::new();
    for object in objects {
        let Some(template) = writes::template_of(object.meta(), owner) else {
            continue;
        };
        if !spec.templates.iter().any(|t| t.name == template) {
            continue;
        }
        if by_template.contains_key(&template) {
            return Err(Error::Shape {
                object: format!("experiment {}/{}", owner.namespace, owner.name),
                message: format!("multiple {what} match single experiment template: {template}"),
            });
        }
        by_template.insert(template, object);
    }
    Ok(by_template)
}
