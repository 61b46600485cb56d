//! AnalysisRuns and step plugins as gates on the update: background
//! analysis, a step's analysis, a step plugin's outcome, and which runs the
//! controller should keep running.
//!
//! Contract: a run is named after the Rollout, the current template's hash
//! and revision (and the step index for a step's run); Failed or Error
//! aborts with Argo's message (`Step-based analysis phase error/failed: `
//! and the run's message), Inconclusive pauses with
//! `InconclusiveAnalysisRun`, anything else waits.

use super::Pass;
use crate::decision::{AnalysisKind, AnalysisPhase, AnalysisRunRequest, Observations};
use crate::spec::{AnalysisStep, CanaryStep, PluginStep};
use crate::status::{PauseReason, RolloutAnalysisRunStatus};
use crate::steps;

impl Pass<'_> {
    pub(super) fn background_analysis(&mut self) {
        if self.c.analysis.is_none() {
            return;
        }
        // Runs are named after the new ReplicaSet's revision: wait for it.
        if self.stable_rs().is_none()
            || self.new_rs().is_none()
            || steps::before_starting_step(self.c, self.index())
        {
            return;
        }
        let base = format!(
            "{}-{}-{}",
            self.ro.metadata.name,
            self.current_hash(),
            self.revision()
        );
        let mut recorded = self.st.canary.current_background_analysis_run_status.take();
        if self.resumed_after_inconclusive(recorded.as_ref()) {
            recorded = None;
        }
        let run = self.track_run(recorded, &base);
        let (phase, message) = (run.status.clone(), run.message.clone());
        self.st.canary.current_background_analysis_run_status = Some(run);
        self.analysis_outcome("Background analysis", &phase, message.as_deref());
    }

    /// Whether `recorded` ended Inconclusive and the person has since
    /// removed the pause it caused (the controller's pause still set, its
    /// condition gone): then it is measured again with a fresh run, as
    /// Argo's `needsNewAnalysisRun` decides. (`kubectl argo rollouts
    /// promote` on an inconclusive step's run moves to the next step
    /// instead, clearing the controller's pause.)
    fn resumed_after_inconclusive(&self, recorded: Option<&RolloutAnalysisRunStatus>) -> bool {
        recorded.is_some_and(|r| r.status == AnalysisPhase::Inconclusive.as_str())
            && self.st.controller_pause
            && !self.st.has_pause(PauseReason::InconclusiveAnalysisRun)
            && !self.st.has_pause(PauseReason::CanaryPauseStep)
    }

    /// [`track_run`] on this pass's observations.
    fn track_run(
        &self,
        recorded: Option<RolloutAnalysisRunStatus>,
        base: &str,
    ) -> RolloutAnalysisRunStatus {
        track_run(self.obs, recorded, base)
    }

    /// Analysis and plugin actions wait for an outcome: Successful lets the
    /// step complete, Failed/Error abort, Inconclusive pauses. A step may
    /// carry both; each is watched.
    pub(super) fn step_outcome_gates(&mut self) {
        if self.st.abort {
            return;
        }
        let Some(step) = self.current_step() else {
            return;
        };
        if step.analysis().is_some() {
            self.step_analysis_gate();
        }
        if let Some(p) = step.plugin()
            && !self.st.abort
        {
            self.step_plugin_gate(p);
        }
    }

    fn step_analysis_gate(&mut self) {
        let index = self.index();
        let recorded = self.st.canary.current_step_analysis_run_status.is_some();
        if self.new_rs().is_none() || (!self.st.pause_conditions.is_empty() && !recorded) {
            return;
        }
        let base = format!(
            "{}-{}-{}-{}",
            self.ro.metadata.name,
            self.current_hash(),
            self.revision(),
            index
        );
        let mut recorded = self.st.canary.current_step_analysis_run_status.take();
        if self.resumed_after_inconclusive(recorded.as_ref()) {
            recorded = None;
        }
        let run = self.track_run(recorded, &base);
        let (phase, message) = (run.status.clone(), run.message.clone());
        self.st.canary.current_step_analysis_run_status = Some(run);
        self.analysis_outcome("Step-based analysis", &phase, message.as_deref());
    }

    fn step_plugin_gate(&mut self, p: &PluginStep) {
        let index = self.index();
        let obs = self.obs;
        let Some(outcome) = obs.step_plugin.as_ref().filter(|o| o.step_index == index) else {
            return;
        };
        self.act_on_outcome(
            &format!("Step plugin {}", p.name),
            outcome.phase.as_str(),
            outcome.message.as_deref(),
        );
    }

    /// Acts on the phase of an AnalysisRun as Argo does: Failed or Error
    /// abort with `<what> phase error/failed[: <the run's message>]`,
    /// Inconclusive pauses, any other phase waits.
    fn analysis_outcome(&mut self, what: &str, phase: &str, message: Option<&str>) {
        match phase {
            "Failed" | "Error" => self.abort(format!(
                "{what} phase error/failed{}",
                message.map(|m| format!(": {m}")).unwrap_or_default()
            )),
            "Inconclusive" => self.pause(PauseReason::InconclusiveAnalysisRun),
            _ => {}
        }
    }

    /// Acts on the phase of a step plugin: Failed or Error
    /// abort with a message naming `what`, the phase and its message;
    /// Inconclusive pauses; any other phase waits.
    fn act_on_outcome(&mut self, what: &str, phase: &str, message: Option<&str>) {
        match phase {
            "Failed" | "Error" => self.abort(format!(
                "{what} phase {}{}",
                phase.to_lowercase(),
                message.map(|m| format!(": {m}")).unwrap_or_default()
            )),
            "Inconclusive" => self.pause(PauseReason::InconclusiveAnalysisRun),
            _ => {}
        }
    }

    pub(super) fn analysis_requests(&self) -> Vec<AnalysisRunRequest> {
        let mut runs = Vec::new();
        if self.st.abort || self.fully_promoted() || self.st.promote_full {
            return runs;
        }
        if let (Some(bg), Some(run)) = (
            &self.c.analysis,
            &self.st.canary.current_background_analysis_run_status,
        ) {
            runs.push(AnalysisRunRequest {
                name: run.name.clone(),
                kind: AnalysisKind::Background,
                spec: bg.run.clone(),
            });
        }
        if let (Some(a), Some(run)) = (
            self.current_step().and_then(CanaryStep::analysis),
            &self.st.canary.current_step_analysis_run_status,
        ) {
            runs.push(AnalysisRunRequest {
                name: run.name.clone(),
                kind: AnalysisKind::Step(self.index()),
                spec: AnalysisStep::clone(a),
            });
        }
        runs
    }
}

/// Picks up the run recorded in status, or names a fresh one (the first of
/// `base`, `base.1`, `base.2`, ... that no observed run has), and records
/// its observed phase (`Pending` while it is not observed).
pub(crate) fn track_run(
    obs: &Observations,
    recorded: Option<RolloutAnalysisRunStatus>,
    base: &str,
) -> RolloutAnalysisRunStatus {
    let name = match recorded {
        Some(r) if r.name == base || r.name.starts_with(&format!("{base}.")) => r.name,
        _ => (0..)
            .map(|n| {
                if n == 0 {
                    base.to_owned()
                } else {
                    format!("{base}.{n}")
                }
            })
            .find(|n| obs.analysis_run(n).is_none())
            .unwrap_or_else(|| base.to_owned()),
    };
    match obs.analysis_run(&name) {
        Some(seen) => RolloutAnalysisRunStatus {
            name,
            status: seen.phase.as_str().to_owned(),
            message: seen.message.clone(),
        },
        None => RolloutAnalysisRunStatus {
            name,
            status: AnalysisPhase::Pending.as_str().to_owned(),
            message: None,
        },
    }
}
