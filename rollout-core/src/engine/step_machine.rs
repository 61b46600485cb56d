//! The step machine: pause steps, Argo's step completion
//! (`completedCurrentCanaryStep`) and the advance to the next step.
//!
//! Contract: at most one step completes per pass; a pause records its start
//! time once and the pass wakes when a timed pause ends; a paused or halted
//! Rollout does not advance.

use std::time::Duration;

use super::Pass;
use crate::decision::AnalysisPhase;
use crate::spec::{CanaryStep, StepAction};
use crate::status::{PauseCondition, PauseReason};

impl Pass<'_> {
    pub(super) fn pause(&mut self, reason: PauseReason) {
        if !self.st.has_pause(reason.clone()) {
            let message = format!("Rollout is paused ({reason})");
            self.st.pause_conditions.push(PauseCondition {
                reason,
                start_time: self.now,
            });
            self.st.controller_pause = true;
            self.event(false, "RolloutPaused", message);
        }
    }

    /// At a `pause` step, record the pause once (its start time is kept).
    pub(super) fn enter_pause_step(&mut self) {
        if self.ro.spec.paused == Some(true) || self.st.abort {
            return;
        }
        let Some(p) = self.current_step().and_then(CanaryStep::pause) else {
            return;
        };
        if !self.st.has_pause(PauseReason::CanaryPauseStep) && !self.st.controller_pause {
            self.pause(PauseReason::CanaryPauseStep);
        }
        if let (Some(Ok(d)), Some(cond)) = (
            p.duration(),
            self.st
                .pause_conditions
                .iter()
                .find(|c| c.reason == PauseReason::CanaryPauseStep),
        ) {
            // Completes strictly after the duration, as Argo does.
            let at = cond.start_time + d + Duration::from_secs(1);
            self.wake_at(at);
        }
    }
    pub(super) fn advance_step(&mut self) {
        if self.ro.spec.paused == Some(true) || self.halted() {
            return;
        }
        let index = self.index();
        let Some(step) = self.current_step() else {
            return;
        };
        if !self.step_completed(step) {
            return;
        }
        self.st
            .pause_conditions
            .retain(|c| c.reason != PauseReason::CanaryPauseStep);
        if self.st.pause_conditions.is_empty() {
            self.st.controller_pause = false;
        }
        self.st.canary.current_step_analysis_run_status = None;
        self.set_index(index + 1);
        self.progressed = true;
        self.event(
            false,
            "RolloutStepCompleted",
            format!(
                "Rollout step {}/{} completed ({step})",
                index + 1,
                self.steps().len()
            ),
        );
        self.enter_pause_step();
    }

    /// Argo's `completedCurrentCanaryStep`: the action that decides
    /// ([`CanaryStep::completed_by`]) has reached its end.
    fn step_completed(&self, step: &CanaryStep) -> bool {
        let Some(action) = step.completed_by() else {
            return false;
        };
        match action {
            StepAction::Pause(p) => {
                let cond = self
                    .st
                    .pause_conditions
                    .iter()
                    .find(|c| c.reason == PauseReason::CanaryPauseStep);
                match (cond, p.duration()) {
                    (None, _) => self.st.controller_pause,
                    (Some(c), Some(Ok(d))) => self.now > c.start_time + d,
                    (Some(_), _) => false,
                }
            }
            StepAction::SetWeight(_) => self.at_desired_replicas() && self.weight_in_place(),
            StepAction::SetCanaryScale(_) => self.at_desired_replicas(),
            StepAction::Analysis(_) => self
                .st
                .canary
                .current_step_analysis_run_status
                .as_ref()
                .is_some_and(|r| r.status == AnalysisPhase::Successful.as_str()),
            StepAction::SetHeaderRoute(_) | StepAction::SetMirrorRoute(_) => true,
            StepAction::Plugin(_) => self.obs.step_plugin.as_ref().is_some_and(|o| {
                o.step_index == self.index() && o.phase == AnalysisPhase::Successful
            }),
            StepAction::Experiment(_) => self.experiment_step_completed(),
        }
    }

    /// The router was told this step's weight (recorded in the incoming
    /// status) and did not report it unverified. Always true without traffic
    /// routing.
    pub(super) fn weight_in_place(&self) -> bool {
        if !self.c.routes_traffic() {
            return true;
        }
        let want = self.desired_weight_now();
        match &self.prev.canary.weights {
            Some(w) => {
                w.canary.weight == want
                    && w.canary.pod_template_hash.as_deref() == Some(self.current_hash())
                    && self.obs.traffic_verified != Some(false)
            }
            None => false,
        }
    }
}
