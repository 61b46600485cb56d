//! The AnalysisRun reconciler: it measures every AnalysisRun this
//! controller watches, whether a Rollout created it or someone wrote it by
//! hand, as Argo's analysis controller (`analysis/controller.go`,
//! `analysis/analysis.go`) does.
//!
//! One reconcile of a run:
//!
//! 1. [`rollgate_analysis::evaluate::decide`] on its spec and status: the
//!    measurements due now;
//! 2. for those, the arguments put in ([`secrets`]: `valueFrom.secretKeyRef`
//!    read from the run's namespace) and each measurement taken with the
//!    metric's provider ([`dispatch`]), all at once;
//! 3. each recorded ([`rollgate_analysis::evaluate::record_measurement`])
//!    and the run decided again, so the phases and messages reflect them;
//! 4. the status written as a merge patch when it changed ([`status`]),
//!    over the resourceVersion read (a run changed meanwhile is looked at
//!    again rather than overwritten), and the Events of the metrics and the
//!    run that completed;
//! 5. a requeue at the next measurement's time.
//!
//! A completed run is not measured again, and is deleted when its
//! `ttlStrategy` says ([`ttl`]); `spec.terminate` ends a run as Argo does
//! (the evaluator's rules). A spec that does not read ends the run in
//! `Error` naming the field. Where Rollgate differs from Argo: Secrets are
//! read only when a measurement is due (Argo reads them at every
//! reconcile), a failure to reach the API server while reading one is
//! retried rather than ending the run, and the status is written over the
//! version read (Argo's patch has no precondition).

pub mod conditions;
pub mod dispatch;
pub mod secrets;
pub mod status;
pub mod ttl;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::{Client, ResourceExt};
use rollgate_analysis::AnalysisRun;
use rollgate_analysis::assess::Outcome;
use rollgate_analysis::evaluate::{self, Decision};
use rollgate_analysis::in_flight::{self, Progress, Verdict};
use rollgate_analysis::isolation::Evaluator;
use rollgate_analysis::retention;
use rollgate_analysis::types::{AnalysisRunSpec, AnalysisRunStatus};
use rollout_core::{AnalysisPhase, Time};
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::analysis::run_resource;
use crate::cache::{Cache, unpack};
use crate::metrics::Metrics;
use crate::reconcile::FIELD_MANAGER;
use crate::reconcile::events::Recorder;
use dispatch::{Answer, Providers};
use kube::Resource as _;
use rollgate_providers::job::RunRef;
use router_kube::Packed;
use secrets::{SecretError, Secrets};

/// Argo's `--analysis-threads` default: runs reconciled at once.
pub const DEFAULT_ANALYSIS_THREADS: u16 = 30;

/// How soon a run is tried again after a failed reconcile.
const ERROR_RETRY: Duration = Duration::from_secs(5);

/// What every reconcile of a run shares.
pub struct Measurer {
    /// The API client.
    pub client: Client,
    /// Records Events (shared with the Rollout side: one spam filter).
    pub recorder: Recorder,
    /// The metric providers.
    pub providers: Providers,
    /// `analysis_run_reconcile` and `analysis_run_reconcile_error`.
    pub metrics: Arc<Metrics>,
    /// Where metric conditions are evaluated ([`conditions`]).
    pub evaluator: Arc<dyn Evaluator>,
    /// The resourceVersion of this controller's last write to each run, by
    /// (namespace, name): a cache that has not seen it yet is not acted on.
    written: Mutex<HashMap<(String, String), u64>>,
}

impl Measurer {
    /// A measurer writing through `client` and evaluating metric conditions
    /// with `evaluator`.
    pub fn new(
        client: Client,
        recorder: Recorder,
        providers: Providers,
        metrics: Arc<Metrics>,
        evaluator: Arc<dyn Evaluator>,
    ) -> Self {
        Self {
            client,
            recorder,
            providers,
            metrics,
            evaluator,
            written: Mutex::default(),
        }
    }

    fn written(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), u64>> {
        self.written.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Runs `work`, which may block (a condition evaluated in a child), without
/// holding up the other tasks of a multi-threaded runtime.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// Runs the reconciler over the runs of `trigger` (changes from a watch
/// shared with the Rollout side) and `reader` (its cache), `threads` at
/// once, until `shutdown` is cancelled.
pub async fn run(
    trigger: impl futures::Stream<Item = Packed<DynamicObject>> + Send + 'static,
    reader: Cache<DynamicObject>,
    measurer: Arc<Measurer>,
    threads: u16,
    shutdown: CancellationToken,
) {
    let controller = Controller::for_stream_with(trigger.map(Ok), reader, run_resource());
    crate::triggers::configured(controller, threads)
        .graceful_shutdown_on(shutdown.cancelled_owned())
        .run(timed, error_policy, measurer)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "analysis run reconcile");
            }
        })
        .await;
}

/// One reconcile of the run as the cache holds it (packed), timed into
/// `analysis_run_reconcile`.
async fn timed(
    packed: Arc<Packed<DynamicObject>>,
    measurer: Arc<Measurer>,
) -> Result<Action, Error> {
    let namespace = packed.meta().namespace.clone().unwrap_or_default();
    let name = packed.meta().name.clone().unwrap_or_default();
    let start = Instant::now();
    let result = match unpack(&packed) {
        Ok(object) => reconcile(Arc::new(object), &measurer).await,
        Err(e) => Err(e),
    };
    measurer
        .metrics
        .analysis_run_reconciled(&namespace, &name, start.elapsed(), result.is_err());
    result
}

fn error_policy(object: Arc<Packed<DynamicObject>>, error: &Error, _: Arc<Measurer>) -> Action {
    let meta = object.meta();
    tracing::warn!(
        analysisrun = %format!("{}/{}", meta.namespace.as_deref().unwrap_or_default(), meta.name.as_deref().unwrap_or_default()),
        %error,
        "reconcile failed; trying again"
    );
    Action::requeue(ERROR_RETRY)
}

/// One reconcile of a run (see the module documentation).
pub async fn reconcile(object: Arc<DynamicObject>, measurer: &Measurer) -> Result<Action, Error> {
    if object.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let namespace = object.namespace().unwrap_or_default();
    let name = object.name_any();
    let key = (namespace.clone(), name.clone());
    let version = object
        .resource_version()
        .and_then(|v| v.parse::<u64>().ok());
    {
        let mut written = measurer.written();
        if let (Some(seen), Some(&ours)) = (version, written.get(&key)) {
            if seen < ours {
                // Our own write is on its way through the watch.
                return Ok(Action::await_change());
            }
            written.remove(&key);
        }
    }
    let value = serde_json::to_value(&*object).unwrap_or_default();
    let (old, new, next) = match AnalysisRun::from_value(value) {
        Ok(run) => {
            let old = run.status.clone();
            if let Some(old) = old.as_ref().filter(|s| s.phase().is_completed()) {
                return collect(&run.spec, old, &namespace, &name, measurer).await;
            }
            let run_ref = RunRef::of(&run);
            let (new, next) = step(
                &run.spec,
                old.as_ref(),
                run_ref.as_ref(),
                &namespace,
                &name,
                measurer,
            )
            .await?;
            (old, new, next)
        }
        Err(e) => {
            let old = object
                .data
                .get("status")
                .and_then(|s| serde_json::from_value::<AnalysisRunStatus>(s.clone()).ok());
            if old.as_ref().is_some_and(|s| s.phase().is_completed()) {
                return Ok(Action::await_change());
            }
            let mut new = old.clone().unwrap_or_default();
            new.phase = AnalysisPhase::Error.as_str().to_owned();
            new.message = format!("Analysis spec invalid: {e}");
            (old, new, None)
        }
    };
    write(&object, old.as_ref(), &new, measurer).await?;
    Ok(match next {
        Some(due) => Action::requeue(due.saturating_since(now())),
        None => Action::await_change(),
    })
}

/// A completed run: deleted once its `ttlStrategy` says so ([`ttl`]),
/// looked at again then, or left alone.
async fn collect(
    spec: &AnalysisRunSpec,
    status: &AnalysisRunStatus,
    namespace: &str,
    name: &str,
    measurer: &Measurer,
) -> Result<Action, Error> {
    let Some(expires) = ttl::expires_at(spec, status) else {
        return Ok(Action::await_change());
    };
    let now = now();
    if expires > now {
        return Ok(Action::requeue(expires.saturating_since(now)));
    }
    let api: Api<DynamicObject> =
        Api::namespaced_with(measurer.client.clone(), namespace, &run_resource());
    match api.delete(name, &Default::default()).await {
        Ok(_) => {
            tracing::info!(analysisrun = %format!("{namespace}/{name}"), "deleted: its ttlStrategy expired");
            Ok(Action::await_change())
        }
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Action::await_change()),
        Err(e) => Err(Error::api(format!(
            "deleting AnalysisRun {namespace}/{name} past its ttlStrategy"
        ))(e)),
    }
}

fn now() -> Time {
    Time::from_system_time(SystemTime::now())
}

/// Decides, measures what is due, records it and decides again: the new
/// status and when to look again.
async fn step(
    spec: &AnalysisRunSpec,
    old: Option<&AnalysisRunStatus>,
    run: Option<&RunRef>,
    namespace: &str,
    name: &str,
    measurer: &Measurer,
) -> Result<(AnalysisRunStatus, Option<Time>), Error> {
    let first = evaluate::decide(spec, old, now());
    collect_measurements(spec, old, &first.status, run, measurer).await;
    if first.measure.is_empty() {
        return Ok((first.status, first.next_reconcile));
    }
    let Decision {
        measure,
        mut status,
        ..
    } = first;
    let secrets = match Secrets::read(&measurer.client, namespace, &spec.args).await {
        Ok(secrets) => secrets,
        Err(SecretError::Missing(problem)) => return Ok((unresolved(status, &problem), None)),
        Err(SecretError::Api {
            namespace,
            name: secret,
            source,
        }) => {
            return Err(Error::Api {
                action: format!("reading Secret {namespace}/{secret} for AnalysisRun {name}"),
                source,
            });
        }
    };
    let mut metrics = Vec::with_capacity(measure.len());
    for task in &measure {
        let Some(metric) = spec.metrics.iter().find(|m| m.name == task.metric) else {
            continue;
        };
        match evaluate::resolve_metric(metric, &spec.args, secrets.values()) {
            Ok(resolved) => metrics.push((resolved, task.action)),
            Err(problem) => return Ok((unresolved(status, &secrets.redact(&problem)), None)),
        }
    }
    tracing::info!(analysisrun = %format!("{namespace}/{name}"), measurements = metrics.len(), "taking measurements");
    let secrets = &secrets;
    let so_far = &status;
    let answers = futures::future::join_all(metrics.iter().map(|(metric, action)| async move {
        let started = now();
        let answer = measurer
            .providers
            .take(run, metric, *action, so_far, started)
            .await;
        (metric, *action, answer, started, now())
    }))
    .await;
    for (resolved, action, answer, started, finished) in answers {
        let metric = resolved.name.as_str();
        let first = !status.metric_results.iter().any(|r| r.name == metric);
        let (recorded, taken) = match answer {
            Answer::Finished(taken) => {
                let outcome = redact(taken.outcome, secrets);
                if let Outcome::Error(message) = &outcome {
                    tracing::warn!(analysisrun = %format!("{namespace}/{name}"), metric, error = %message, "measurement had an error");
                }
                let recorded = blocking(|| {
                    evaluate::record_measurement(
                        spec,
                        &mut status,
                        metric,
                        outcome,
                        started,
                        finished,
                        &*measurer.evaluator,
                    )
                });
                (recorded, taken.metadata)
            }
            Answer::Progress(progress) => {
                let progress = redact_progress(progress, secrets);
                if let Progress::Finished {
                    verdict: Verdict::Error,
                    message,
                } = &progress
                {
                    tracing::warn!(analysisrun = %format!("{namespace}/{name}"), metric, error = %message, "measurement had an error");
                }
                let recorded = in_flight::record_progress(
                    spec,
                    &mut status,
                    metric,
                    action,
                    progress,
                    finished,
                );
                (recorded, BTreeMap::new())
            }
        };
        if let Err(e) = recorded {
            tracing::warn!(analysisrun = %format!("{namespace}/{name}"), metric, error = %e, "measurement not recorded");
        }
        if !taken.is_empty()
            && let Some(last) = status
                .metric_results
                .iter_mut()
                .find(|r| r.name == metric)
                .and_then(|r| r.measurements.last_mut())
        {
            last.metadata = taken
                .into_iter()
                .map(|(k, v)| (k, secrets.redact(&v)))
                .collect();
        }
        if first && let Some(result) = status.metric_results.iter_mut().find(|r| r.name == metric) {
            // Argo's provider metadata, on the result it creates.
            result.metadata = dispatch::metadata(resolved)
                .into_iter()
                .map(|(k, v)| (k, secrets.redact(&v)))
                .collect();
        }
    }
    let second = evaluate::decide(spec, Some(&status), now());
    collect_measurements(spec, Some(&status), &second.status, run, measurer).await;
    Ok((second.status, second.next_reconcile))
}

/// Has the providers collect what they keep per measurement (a Job
/// metric's Jobs) for every metric `decide` trimmed from `before` to
/// `after`, down to the same number.
async fn collect_measurements(
    spec: &AnalysisRunSpec,
    before: Option<&AnalysisRunStatus>,
    after: &AnalysisRunStatus,
    run: Option<&RunRef>,
    measurer: &Measurer,
) {
    for trimmed in retention::trimmed(before, after) {
        if let Some(metric) = spec.metrics.iter().find(|m| m.name == trimmed.metric) {
            measurer.providers.collect(run, metric, trimmed.limit).await;
        }
    }
}

/// Argo's end of a run whose arguments do not resolve: `Error`, with the
/// reason, and no `completedAt`.
fn unresolved(mut status: AnalysisRunStatus, problem: &str) -> AnalysisRunStatus {
    status.phase = AnalysisPhase::Error.as_str().to_owned();
    status.message = format!("Unable to resolve metric arguments: {problem}");
    status
}

/// The outcome with every Secret's value replaced, in the message and in
/// the recorded text.
fn redact(outcome: Outcome, secrets: &Secrets) -> Outcome {
    match outcome {
        Outcome::Error(message) => Outcome::Error(secrets.redact(&message)),
        Outcome::Value { result, text } => Outcome::Value {
            result,
            text: secrets.redact(&text),
        },
        Outcome::Explained {
            result,
            text,
            message,
        } => Outcome::Explained {
            result,
            text: secrets.redact(&text),
            message: secrets.redact(&message),
        },
    }
}

/// A measurement in flight with every Secret's value replaced, in its
/// message and metadata.
fn redact_progress(progress: Progress, secrets: &Secrets) -> Progress {
    match progress {
        Progress::Finished { verdict, message } => Progress::Finished {
            verdict,
            message: secrets.redact(&message),
        },
        Progress::Running {
            resume_at,
            metadata,
        } => Progress::Running {
            resume_at,
            metadata: metadata
                .into_iter()
                .map(|(k, v)| (k, secrets.redact(&v)))
                .collect(),
        },
    }
}

/// Writes the status when it changed, then records the Events of what
/// completed.
async fn write(
    object: &DynamicObject,
    old: Option<&AnalysisRunStatus>,
    new: &AnalysisRunStatus,
    measurer: &Measurer,
) -> Result<(), Error> {
    let Some(mut patch) = status::patch(old, new) else {
        return Ok(());
    };
    // Written over the version read, or not at all: a status someone else
    // wrote meanwhile is not overwritten (Argo's patch has no precondition).
    if let Some(version) = object.resource_version() {
        patch["metadata"] = serde_json::json!({ "resourceVersion": version });
    }
    let namespace = object.namespace().unwrap_or_default();
    let name = object.name_any();
    let api: Api<DynamicObject> =
        Api::namespaced_with(measurer.client.clone(), &namespace, &run_resource());
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    let written = match api.patch(&name, &params, &Patch::Merge(&patch)).await {
        Ok(written) => written,
        Err(kube::Error::Api(status)) if status.code == 409 => {
            tracing::debug!(analysisrun = %format!("{namespace}/{name}"), "changed meanwhile; looked at again from the watch");
            return Ok(());
        }
        Err(e) => {
            return Err(Error::api(format!(
                "writing the status of AnalysisRun {namespace}/{name}"
            ))(e));
        }
    };
    if let Some(version) = written
        .resource_version()
        .and_then(|v| v.parse::<u64>().ok())
    {
        measurer
            .written()
            .insert((namespace.clone(), name.clone()), version);
    }
    tracing::info!(analysisrun = %format!("{namespace}/{name}"), phase = %new.phase, "status written");
    let regarding = ObjectReference {
        api_version: Some("argoproj.io/v1alpha1".into()),
        kind: Some("AnalysisRun".into()),
        name: Some(name),
        namespace: Some(namespace),
        uid: object.metadata.uid.clone(),
        resource_version: written.resource_version(),
        ..ObjectReference::default()
    };
    for event in status::events(old, new) {
        measurer
            .recorder
            .record(&regarding, event.warning, &event.reason, event.message);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
