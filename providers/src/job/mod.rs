//! Argo Rollouts' Job metric provider (`provider.job`): a measurement is
//! a Kubernetes Job made from the metric's template; it succeeds when the
//! Job completes and fails when the Job fails.
//!
//! A measurement takes time, so it goes through the analysis crate's
//! [`in_flight`](rollgate_analysis::in_flight) steps, one call per
//! [`Action`](rollgate_analysis::evaluate::Action) that
//! [`decide`](rollgate_analysis::evaluate::decide) asks for:
//!
//! - `Measure` → [`JobProvider::run`] creates the Job and answers
//!   `Running` with the measurement's metadata `job-name` and
//!   `job-namespace`, to be resumed at once.
//! - `Resume` → [`JobProvider::resume`] reads the Job: `Complete` is
//!   `Successful`, `Failed` is `Failed` (with the condition's reason and
//!   message), a pod whose image cannot be had is `Inconclusive`;
//!   otherwise still `Running`, looked at again after a delay that grows
//!   with the time the Job has run ([`resume_delay`]).
//! - `Terminate` → [`JobProvider::terminate`] deletes the Job (foreground
//!   propagation, so its pods go first; one already gone is fine): the
//!   measurement ends `Inconclusive` ("Metric Terminated").
//! - When `decide` trims a metric's measurements to its retention limit
//!   ([`retention::trimmed`](rollgate_analysis::retention::trimmed)),
//!   [`JobProvider::garbage_collect`] deletes the metric's oldest Jobs
//!   beyond that limit.
//!
//! Each returns `Err` when the Job cannot be made, found or deleted; the
//! caller records it as the measurement's error
//! ([`Progress::error`](rollgate_analysis::in_flight::Progress::error)),
//! as Argo records a provider's error.
//!
//! The Job, as Argo makes it: named `<run uid>.<metric>.<n>` ([`job_name`];
//! `n` counts the metric's measurements), labelled
//! [`ANALYSIS_RUN_UID_LABEL`] (on its pod template too), annotated with the
//! run's name and namespace and the metric's name, and controlled by the
//! AnalysisRun (an owner reference, so deleting the run deletes its Jobs).
//! It goes in the run's namespace unless the provider was given one of its
//! own ([`JobProvider::with_namespace`], Argo's
//! `ARGO_ROLLOUTS_ANALYSIS_JOB_NAMESPACE`); a Job in another namespace or
//! another cluster ([`JobProvider::in_other_cluster`], Argo's
//! `ARGO_ROLLOUTS_ANALYSIS_JOB_KUBECONFIG`) has no owner reference and
//! is known by its uid label. A Job of the same name that already exists
//! and is the run's (a create whose answer was lost) is taken as this
//! measurement's.
//!
//! Where Rollgate differs from Argo, on purpose:
//!
//! - The metric's Job spec is checked before anything is sent: a field of
//!   the wrong type or a required field missing is refused naming the
//!   field (`provider.job.spec.template.spec: the field "containers" is
//!   required`), and the create asks the API server for strict field
//!   validation, so a misspelt field is refused by name rather than
//!   dropped. Either way nothing is created.
//! - [`JobProvider::garbage_collect`] keeps `limit` Jobs per metric; Argo
//!   keeps `limit` of all the run's Jobs, so one metric's collection can
//!   delete another metric's Jobs.
//! - The Job and its pods are read from the API server when resumed (Argo
//!   reads its informers' caches): one read of the Job, and one list of
//!   its pods while it runs.
//! - See also [`verdict::from_conditions`] (conditions must be true; a
//!   failure's message is kept) and [`resume_delay`] (whole seconds).

mod manifest;
pub mod verdict;

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams};
use kube::core::{Resource, Selector};
use kube::{Client, ResourceExt};
use rollgate_analysis::AnalysisRun;
use rollgate_analysis::in_flight::{Progress, Verdict};
use rollgate_analysis::types::{AnalysisRunStatus, Measurement, Metric};
use rollout_core::Time;

pub use manifest::{MAX_JOB_NAME, job_name};
pub use verdict::resume_delay;

use crate::error::{Error, Failure};

/// The measurement's metadata key naming its Job.
pub const JOB_NAME_KEY: &str = "job-name";
/// The measurement's metadata key naming its Job's namespace.
pub const JOB_NAMESPACE_KEY: &str = "job-namespace";
/// The Job's annotation naming the AnalysisRun.
pub const ANALYSIS_RUN_NAME_ANNOTATION: &str = "analysisrun.argoproj.io/name";
/// The Job's annotation naming the AnalysisRun's namespace.
pub const ANALYSIS_RUN_NAMESPACE_ANNOTATION: &str = "analysisrun.argoproj.io/namespace";
/// The Job's annotation naming the metric.
pub const ANALYSIS_RUN_METRIC_ANNOTATION: &str = "analysisrun.argoproj.io/metric-name";
/// The label with the AnalysisRun's uid, on the Job and its pod template.
pub const ANALYSIS_RUN_UID_LABEL: &str = "analysisrun.argoproj.io/uid";

/// The AnalysisRun a measurement belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRef {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.uid`.
    pub uid: String,
}

impl RunRef {
    /// The run's name, namespace and uid; `None` for a run that has not
    /// been stored yet (no namespace or uid).
    ///
    /// ```
    /// use rollgate_providers::job::RunRef;
    /// let run = rollgate_analysis::AnalysisRun::from_value(serde_json::json!({
    ///     "metadata": {"name": "web-2", "namespace": "shop", "uid": "4e8e"},
    ///     "spec": {"metrics": []}})).unwrap();
    /// assert_eq!(RunRef::of(&run).unwrap().uid, "4e8e");
    /// ```
    pub fn of(run: &AnalysisRun) -> Option<Self> {
        Some(Self {
            name: run.metadata.name.clone(),
            namespace: run.metadata.namespace.clone()?,
            uid: run.metadata.uid.clone()?,
        })
    }
}

/// Runs Job metrics against one API server (see the module documentation).
#[derive(Clone)]
pub struct JobProvider {
    client: Client,
    namespace: Option<String>,
    other_cluster: bool,
}

impl JobProvider {
    /// Jobs in each run's namespace, owned by the run, through `client`.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            namespace: None,
            other_cluster: false,
        }
    }

    /// Jobs in `namespace` instead of the run's (Argo's
    /// `ARGO_ROLLOUTS_ANALYSIS_JOB_NAMESPACE`); a Job outside the run's
    /// namespace has no owner reference.
    #[must_use]
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// The client reaches another cluster than the runs' (Argo's
    /// `ARGO_ROLLOUTS_ANALYSIS_JOB_KUBECONFIG`): Jobs have no owner
    /// reference there and are known by their uid label.
    #[must_use]
    pub fn in_other_cluster(mut self) -> Self {
        self.other_cluster = true;
        self
    }

    fn namespace_for<'a>(&'a self, run: &'a RunRef) -> &'a str {
        self.namespace.as_deref().unwrap_or(&run.namespace)
    }

    /// Whether a Job in `namespace` is owned by the run (Argo's rule).
    fn owned(&self, run: &RunRef, namespace: &str) -> bool {
        !self.other_cluster && namespace == run.namespace
    }

    /// Starts a measurement of `metric` (its arguments put in): creates
    /// its Job and answers `Running`, to be resumed at `now`, with the
    /// measurement's `job-name` and `job-namespace`. `status` is the run's
    /// status so far (the Job's number counts its measurements).
    ///
    /// A Job of that name that is already the run's is taken as this one;
    /// one that is not is an error. A metric whose Job spec or metadata
    /// does not read, or that the API server refuses, is an error naming
    /// the field, and nothing is created.
    pub async fn run(
        &self,
        run: &RunRef,
        metric: &Metric,
        status: &AnalysisRunStatus,
        now: Time,
    ) -> Result<Progress, Error> {
        let id = status
            .metric_results
            .iter()
            .find(|r| r.name == metric.name)
            .map_or(1, |r| {
                u64::try_from(i64::from(r.count) + i64::from(r.error) + 1).unwrap_or(1)
            });
        let namespace = self.namespace_for(run).to_owned();
        let fail = |address: String, failure| Error {
            metric: metric.name.clone(),
            address,
            failure,
        };
        let name = job_name(&run.uid, &metric.name, id)
            .map_err(|f| fail(format!("Job {namespace}"), f))?;
        let address = format!("Job {namespace}/{name}");
        let provider = metric.provider.job.as_ref().ok_or_else(|| {
            fail(
                address.clone(),
                Failure::Config {
                    field: "provider.job".to_owned(),
                    problem: "the metric has no Job provider".to_owned(),
                },
            )
        })?;
        let owned = self.owned(run, &namespace);
        let body = manifest::job(run, &metric.name, provider, &name, &namespace, owned)
            .map_err(|f| fail(address.clone(), f))?;
        let job = match self.create(&namespace, &body).await {
            Ok(job) => job,
            Err(kube::Error::Api(status)) if status.is_already_exists() => {
                let existing = self
                    .jobs(&namespace)
                    .get(&name)
                    .await
                    .map_err(|e| fail(address.clone(), kubernetes("reading the Job", e)))?;
                let owner = if owned {
                    existing
                        .owner_references()
                        .iter()
                        .find(|o| o.controller == Some(true))
                        .map(|o| o.uid.clone())
                } else {
                    existing.labels().get(ANALYSIS_RUN_UID_LABEL).cloned()
                }
                .unwrap_or_default();
                if owner != run.uid {
                    return Err(fail(address, Failure::NotOwned { owner }));
                }
                existing
            }
            Err(e) => return Err(fail(address, kubernetes("creating the Job", e))),
        };
        Ok(Progress::Running {
            resume_at: now,
            metadata: BTreeMap::from([
                (JOB_NAME_KEY.to_owned(), job.name_any()),
                (
                    JOB_NAMESPACE_KEY.to_owned(),
                    job.namespace().unwrap_or(namespace),
                ),
            ]),
        })
    }

    /// Follows the measurement in flight (see the module documentation):
    /// the Job's verdict, `Inconclusive` for a pod whose image cannot be
    /// had, or still `Running` with the next look at `now` plus
    /// [`resume_delay`] of the time since the measurement started.
    pub async fn resume(
        &self,
        run: &RunRef,
        metric: &Metric,
        measurement: &Measurement,
        now: Time,
    ) -> Result<Progress, Error> {
        let (namespace, name) = self.job_of(run, metric, measurement)?;
        let fail = |failure| Error {
            metric: metric.name.clone(),
            address: format!("Job {namespace}/{name}"),
            failure,
        };
        let job = self
            .jobs(&namespace)
            .get(&name)
            .await
            .map_err(|e| fail(kubernetes("reading the Job", e)))?;
        if let Some(done) = verdict::from_conditions(&job) {
            return Ok(done);
        }
        if let Some(selector) = job.spec.as_ref().and_then(|s| s.selector.clone()) {
            let selector = Selector::try_from(selector).map_err(|e| {
                fail(Failure::Kubernetes {
                    action: "reading the Job's pod selector",
                    message: e.to_string(),
                })
            })?;
            let pods = Api::<Pod>::namespaced(self.client.clone(), &namespace)
                .list(&ListParams::default().labels_from(&selector))
                .await
                .map_err(|e| fail(kubernetes("listing the Job's pods", e)))?;
            if let Some(stuck) = verdict::from_pods(&pods.items) {
                return Ok(stuck);
            }
        }
        let started = measurement
            .started_at
            .as_deref()
            .and_then(|s| s.parse::<Time>().ok())
            .unwrap_or(now);
        Ok(Progress::Running {
            resume_at: now + resume_delay(now.saturating_since(started)),
            metadata: BTreeMap::new(),
        })
    }

    /// Stops the measurement in flight: deletes its Job with foreground
    /// propagation (a Job already gone is fine) and answers
    /// `Inconclusive`, which the run records as "Metric Terminated".
    pub async fn terminate(
        &self,
        run: &RunRef,
        metric: &Metric,
        measurement: &Measurement,
    ) -> Result<Progress, Error> {
        let (namespace, name) = self.job_of(run, metric, measurement)?;
        self.delete(&namespace, &name)
            .await
            .map_err(|failure| Error {
                metric: metric.name.clone(),
                address: format!("Job {namespace}/{name}"),
                failure,
            })?;
        Ok(Progress::Finished {
            verdict: Verdict::Inconclusive,
            message: String::new(),
        })
    }

    /// Deletes the metric's Jobs of this run beyond the `limit` most
    /// recently created (foreground propagation), and returns their names,
    /// oldest first. Jobs are found by the run's uid label and the
    /// metric's annotation in the provider's namespace for the run.
    pub async fn garbage_collect(
        &self,
        run: &RunRef,
        metric: &str,
        limit: usize,
    ) -> Result<Vec<String>, Error> {
        let namespace = self.namespace_for(run);
        let fail = |failure| Error {
            metric: metric.to_owned(),
            address: format!("Jobs in {namespace}"),
            failure,
        };
        let selector = format!("{ANALYSIS_RUN_UID_LABEL}={}", run.uid);
        let mut jobs: Vec<Job> = self
            .jobs(namespace)
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| fail(kubernetes("listing the run's Jobs", e)))?
            .items
            .into_iter()
            .filter(|j| {
                j.annotations()
                    .get(ANALYSIS_RUN_METRIC_ANNOTATION)
                    .is_some_and(|m| m == metric)
            })
            .collect();
        jobs.sort_by(|a, b| {
            let created = |j: &Job| j.meta().creation_timestamp.clone().map(|t| t.0);
            created(a)
                .cmp(&created(b))
                .then_with(|| a.name_any().cmp(&b.name_any()))
        });
        let excess = jobs.len().saturating_sub(limit);
        let mut deleted = Vec::with_capacity(excess);
        for job in jobs.into_iter().take(excess) {
            let name = job.name_any();
            self.delete(namespace, &name).await.map_err(fail)?;
            deleted.push(name);
        }
        Ok(deleted)
    }

    /// The namespace and name of the measurement's Job (Argo's
    /// `getJobNamespacedName`: the run's namespace when the metadata has
    /// none).
    fn job_of(
        &self,
        run: &RunRef,
        metric: &Metric,
        measurement: &Measurement,
    ) -> Result<(String, String), Error> {
        let value = |key| {
            measurement
                .metadata
                .get(key)
                .filter(|v| !v.is_empty())
                .cloned()
        };
        let name = value(JOB_NAME_KEY).ok_or_else(|| Error {
            metric: metric.name.clone(),
            address: format!("Job {}", run.namespace),
            failure: Failure::MissingJobReference,
        })?;
        let namespace = value(JOB_NAMESPACE_KEY).unwrap_or_else(|| run.namespace.clone());
        Ok((namespace, name))
    }

    fn jobs(&self, namespace: &str) -> Api<Job> {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// Creates the Job with strict field validation, so that the API
    /// server refuses a field it does not know instead of dropping it.
    async fn create(&self, namespace: &str, body: &serde_json::Value) -> Result<Job, kube::Error> {
        let path = Job::url_path(&(), Some(namespace));
        let request = http::Request::post(format!("{path}?fieldValidation=Strict"))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(body).map_err(kube::Error::SerdeError)?)
            .map_err(kube::Error::HttpError)?;
        self.client.request::<Job>(request).await
    }

    async fn delete(&self, namespace: &str, name: &str) -> Result<(), Failure> {
        match self
            .jobs(namespace)
            .delete(name, &DeleteParams::foreground())
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.is_not_found() => Ok(()),
            Err(e) => Err(kubernetes("deleting the Job", e)),
        }
    }
}

/// A failed request, in the API server's words when it answered.
fn kubernetes(action: &'static str, error: kube::Error) -> Failure {
    let message = match error {
        kube::Error::Api(status) if !status.message.is_empty() => status.message,
        kube::Error::Api(status) => format!("the API server answered {}", status.code),
        kube::Error::Service(e) => format!("no answer from the API server: {e}"),
        kube::Error::HyperError(e) => format!("no answer from the API server: {e}"),
        kube::Error::SerdeError(e) => format!("the API server's answer does not read: {e}"),
        other => other.to_string(),
    };
    Failure::Kubernetes { action, message }
}
