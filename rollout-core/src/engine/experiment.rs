//! `experiment` steps (Argo's `reconcileExperiments` and the experiment
//! half of `completedCurrentCanaryStep`), and the experiment weights the
//! router adds (`calculateWeightDestinationsFromExperiment`).
//!
//! Contract, as Argo runs it:
//!
//! - aborted or promoted with `promoteFull`: every Experiment that has not
//!   finished and is not terminated yet is cancelled, nothing is created;
//! - paused for an Inconclusive AnalysisRun: nothing changes;
//! - at an `experiment` step: the step's Experiment, named
//!   `<rollout>-<hash>-<revision>-<step index>`, is asked for once the
//!   stable ReplicaSet exists. Its phase decides: Successful completes the
//!   step, Failed or Error aborts with `Experiment analysis phase is
//!   error/failed[: <its message>]`, Inconclusive pauses with
//!   `InconclusiveExperiment`, any other phase (or none yet) records it as
//!   `status.canary.currentExperiment`;
//! - every other Experiment of the Rollout that has not finished is
//!   cancelled (`spec.terminate: true`), and may be deleted by the history
//!   rule of AnalysisRuns.
//!
//! While the recorded current Experiment is Running and an `experiment`
//! step is in effect ([`crate::steps::experiment_at`]), each of its
//! templates with a `weight` is an additional destination (its Service and
//! ReplicaSet from the Experiment's `templateStatuses`), taken from the
//! stable side.

use super::Pass;
use crate::decision::AnalysisPhase;
use crate::experiment_state::{ExperimentRequest, ExperimentState};
use crate::spec::ExperimentStep;
use crate::status::{PauseReason, WeightDestination};
use crate::steps;

/// What the experiment stage found, for the step machine and the decision.
#[derive(Debug, Default)]
pub(super) struct ExperimentOutcome {
    /// The phase of the current step's Experiment, as observed.
    pub(super) phase: Option<AnalysisPhase>,
    /// The decisions, once the stage has run.
    pub(super) decided: crate::experiment_state::ExperimentDecision,
}

impl<'a> Pass<'a> {
    /// The Experiment recorded as current by the last pass, as observed.
    fn recorded_experiment(&self) -> Option<&'a ExperimentState> {
        let name = self.prev.canary.current_experiment.as_deref()?;
        self.obs.experiment(name)
    }

    /// Argo's `reconcileExperiments`, on the step index the pass started with.
    pub(super) fn reconcile_experiments(&mut self) {
        let all = &self.obs.experiments;
        if self.st.abort || self.st.promote_full {
            self.experiments.decided.cancel = all
                .iter()
                .filter(|e| !e.terminate && !e.finished())
                .map(|e| e.name.clone())
                .collect();
            return;
        }
        if self.st.has_pause(PauseReason::InconclusiveAnalysisRun) {
            return;
        }
        let index = self.index();
        let step = self
            .current_step()
            .and_then(|s| s.experiment())
            .and_then(|v| ExperimentStep::from_value(v).ok());
        let mut current: Option<String> = None;
        if let Some(step) = step {
            let name = self.experiment_name(index);
            let observed = self.obs.experiment(&name);
            let stable_exists = self
                .st
                .stable_rs
                .as_deref()
                .and_then(|h| self.obs.replica_set(h))
                .is_some();
            if observed.is_none() && !stable_exists {
                // Argo waits for the stable ReplicaSet, and cleans up nothing meanwhile.
                return;
            }
            let phase = observed.and_then(|e| e.phase);
            self.experiments.phase = phase;
            if !phase.is_some_and(AnalysisPhase::is_completed) {
                self.experiments.decided.run = Some(ExperimentRequest {
                    name: name.clone(),
                    step_index: index,
                    revision: self.revision(),
                    pod_template_hash: self.current_hash().to_owned(),
                    step,
                });
            }
            match phase {
                Some(AnalysisPhase::Inconclusive) => {
                    self.pause(PauseReason::InconclusiveExperiment);
                }
                Some(AnalysisPhase::Failed | AnalysisPhase::Error) => {
                    let message = observed
                        .and_then(|e| e.message.as_deref())
                        .filter(|m| !m.is_empty())
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default();
                    self.abort(format!(
                        "Experiment analysis phase is error/failed{message}"
                    ));
                }
                Some(AnalysisPhase::Successful) => {}
                _ => self.st.canary.current_experiment = Some(name.clone()),
            }
            current = Some(name);
        }
        let past: Vec<&ExperimentState> = all
            .iter()
            .filter(|e| current.as_deref() != Some(e.name.as_str()))
            .collect();
        self.experiments.decided.cancel = past
            .iter()
            .filter(|e| !e.terminate && !e.finished())
            .map(|e| e.name.clone())
            .collect();
        self.experiments.decided.past = past.iter().map(|e| e.name.clone()).collect();
    }

    /// The name of the current step's Experiment: the one recorded as
    /// current when it belongs to this step, else the first of
    /// `<rollout>-<hash>-<revision>-<index>`, then `-1`, `-2`, ... that no
    /// observed Experiment has, or whose Experiment has not finished (Argo's
    /// create with collision handling takes over an unfinished one of the
    /// same name and moves past a finished one).
    fn experiment_name(&self, index: usize) -> String {
        let base = format!(
            "{}-{}-{}-{index}",
            self.ro.metadata.name,
            self.current_hash(),
            self.revision()
        );
        if let Some(recorded) = self.prev.canary.current_experiment.as_deref()
            && (recorded == base
                || recorded
                    .strip_prefix(&format!("{base}-"))
                    .is_some_and(|n| n.parse::<u32>().is_ok()))
        {
            return recorded.to_owned();
        }
        (0..)
            .map(|n| {
                if n == 0 {
                    base.clone()
                } else {
                    format!("{base}-{n}")
                }
            })
            .find(|n| self.obs.experiment(n).is_none_or(|e| !e.finished()))
            .unwrap_or(base)
    }

    /// Argo's `completedCurrentCanaryStep` for an `experiment` step.
    pub(super) fn experiment_step_completed(&self) -> bool {
        self.experiments.phase == Some(AnalysisPhase::Successful)
    }

    /// Argo's `calculateWeightDestinationsFromExperiment`: the weighted
    /// templates of the Running current Experiment, in the order of its
    /// `templateStatuses`.
    pub(super) fn experiment_destinations(&self) -> Vec<WeightDestination> {
        let Some(spec) = steps::experiment_at(self.steps(), self.index())
            .and_then(|v| ExperimentStep::from_value(v).ok())
        else {
            return Vec::new();
        };
        let Some(running) = self
            .recorded_experiment()
            .filter(|e| e.phase == Some(AnalysisPhase::Running))
        else {
            return Vec::new();
        };
        running
            .templates
            .iter()
            .filter_map(|status| {
                let weight = spec
                    .templates
                    .iter()
                    .find(|t| t.name == status.name)?
                    .weight?;
                Some(WeightDestination {
                    weight,
                    service_name: status.service_name.clone(),
                    pod_template_hash: status.pod_template_hash.clone(),
                })
            })
            .collect()
    }
}
