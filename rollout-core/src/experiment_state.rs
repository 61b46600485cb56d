//! Experiments as the engine sees them and decides them: what a controller
//! observed of the Experiments a Rollout controls ([`ExperimentState`]),
//! and what should happen to them ([`ExperimentDecision`]).
//!
//! An `experiment` step runs one Experiment object, created by the
//! Rollout's controller and run by an Experiment controller; the Rollout
//! side only names it, reads its phase and, while it runs, routes the
//! weights of its templates (see [`crate::DesiredTraffic::additional`]).

use crate::decision::AnalysisPhase;
use crate::spec::ExperimentStep;

/// An Experiment controlled by the Rollout, as observed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExperimentState {
    /// Its name.
    pub name: String,
    /// `status.phase`; `None` while it has no status yet (Argo reads that
    /// as still to run).
    pub phase: Option<AnalysisPhase>,
    /// `status.message`, if any.
    pub message: Option<String>,
    /// `spec.terminate` is set.
    pub terminate: bool,
    /// `status.templateStatuses`: where each template's pods are reached.
    pub templates: Vec<ExperimentTemplateState>,
}

impl ExperimentState {
    /// Argo's `HasFinished`: the phase is Successful, Failed, Error or Inconclusive.
    pub fn finished(&self) -> bool {
        self.phase.is_some_and(AnalysisPhase::is_completed)
    }
}

/// One entry of an Experiment's `status.templateStatuses`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExperimentTemplateState {
    /// The template's name.
    pub name: String,
    /// `serviceName`: the Service created for the template, if any.
    pub service_name: Option<String>,
    /// `podTemplateHash`: its ReplicaSet's `rollouts-pod-template-hash`.
    pub pod_template_hash: Option<String>,
}

/// What should happen to the Rollout's Experiments.
///
/// ```
/// use rollout_core::{decide, AnalysisPhase, ExperimentState, Observations, ReplicaSetState, Rollout, Time};
/// let mut rollout = Rollout::from_value(serde_json::json!({
///     "metadata": {"name": "web", "annotations": {"rollout.argoproj.io/revision": "2"}},
///     "spec": {"replicas": 2, "strategy": {"canary": {"steps": [
///         {"experiment": {"templates": [{"name": "preview", "specRef": "canary"}]}},
///         {"setWeight": 50}]}}}}), "web.yaml").unwrap();
/// let steps = rollout_core::steps::step_hash(&rollout.canary().unwrap().steps);
/// rollout.status = Some(serde_json::from_value(serde_json::json!({
///     "stableRS": "old", "currentPodHash": "new", "currentStepIndex": 0,
///     "currentStepHash": steps})).unwrap());
/// let rs = |hash: &str, revision| ReplicaSetState {
///     pod_template_hash: hash.into(), revision, spec_replicas: 1, replicas: 1,
///     ready_replicas: 1, available_replicas: 1, ..Default::default() };
/// let mut seen = Observations {
///     current_pod_hash: "new".into(),
///     replica_sets: vec![rs("old", 1), rs("new", 2)],
///     ..Default::default()
/// };
/// let decision = decide(&rollout, &seen, Time::from_unix_seconds(0)).unwrap();
/// let run = decision.experiments.run.unwrap();
/// assert_eq!(run.name, "web-new-2-0");
/// assert_eq!(decision.status.canary.current_experiment.as_deref(), Some("web-new-2-0"));
/// rollout.status = Some(decision.status);
/// // Once the Experiment is Successful, the step completes.
/// seen.experiments.push(ExperimentState {
///     name: run.name, phase: Some(AnalysisPhase::Successful), ..Default::default() });
/// let decision = decide(&rollout, &seen, Time::from_unix_seconds(1)).unwrap();
/// assert_eq!(decision.status.current_step_index, Some(1));
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExperimentDecision {
    /// The Experiment the current step runs: create it if no Experiment of
    /// this name exists (a controller builds the object from the request,
    /// as Argo's `GetExperimentFromTemplate` does).
    pub run: Option<ExperimentRequest>,
    /// Experiments to cancel with `spec.terminate: true`: not finished, not
    /// terminated already, and no longer wanted (their step passed, the
    /// update was aborted or fully promoted, a new revision started).
    pub cancel: Vec<String>,
    /// The Experiments that are not current: the ones a controller may
    /// delete once they are beyond the Rollout's history limits (Argo's
    /// `FilterExperimentsToDelete`, with the AnalysisRuns' limits and rule).
    /// Empty while the update is aborted or fully promoted at once, when
    /// Argo does not clean up.
    pub past: Vec<String>,
}

/// An Experiment the Rollout needs, named as Argo names it:
/// `<rollout>-<pod template hash>-<revision>-<step index>` (then `-1`,
/// `-2`, ... when a finished Experiment has the name already).
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentRequest {
    /// The Experiment's name.
    pub name: String,
    /// The index of the `experiment` step.
    pub step_index: usize,
    /// The Rollout's revision (the `rollout.argoproj.io/revision` the
    /// Experiment is annotated with).
    pub revision: u64,
    /// The current pod template hash (its `rollouts-pod-template-hash` label).
    pub pod_template_hash: String,
    /// The step as written.
    pub step: ExperimentStep,
}
