//! `decide`: one reconcile pass of a canary Rollout, as a pure function.
//!
//! The pass follows Argo Rollouts' order: reset on a new template or new
//! steps, operations recorded on the object (promote-full, abort, retry),
//! analysis outcomes, pause steps, promotion, then at most one step advance.
//! Replica targets, traffic and conditions are computed last, from the
//! status the pass ends with.

use std::time::Duration;

use crate::conditions::{self, Counts};
use crate::decision::{
    AnalysisKind, AnalysisPhase, AnalysisRunRequest, Decision, DesiredTraffic, Event, Observations,
    ReplicaSetRole, ReplicaSetState, ReplicaSetTarget,
};
use crate::error::{Error, FieldError};
use crate::progress::{self, CanaryReplicaCounts};
use crate::replicas::{self, BasicCanary, Pods, TrafficRoutedCanary};
use crate::scale_down::{self, OldReplicaSet, OldReplicaSetPlan};
use crate::spec::{
    AnalysisStep, CanaryStep, CanaryStrategy, DEFAULT_SCALE_DOWN_DELAY_SECONDS, PluginStep,
    Rollout, SetMirrorRoute, StepAction,
};
use crate::status::{
    CanaryStatus, ConditionReason, ConditionType, PauseCondition, PauseReason,
    RolloutAnalysisRunStatus, RolloutStatus, TrafficWeights, WeightDestination,
};
use crate::steps;
use crate::time::Time;
use crate::validate;
use crate::weights::{self, CanaryState, RouterWeight};

/// The incoming status as the starting point of the new one; the recorded
/// weights are left out (they are recomputed) so they are not copied twice.
fn status_to_decide(status: Option<&RolloutStatus>) -> RolloutStatus {
    let Some(status) = status else {
        return RolloutStatus::default();
    };
    let weights = None;
    let canary = CanaryStatus {
        weights,
        current_step_analysis_run_status: status.canary.current_step_analysis_run_status.clone(),
        current_background_analysis_run_status: status
            .canary
            .current_background_analysis_run_status
            .clone(),
    };
    RolloutStatus {
        canary,
        ..RolloutStatus::clone_without_canary(status)
    }
}

/// The status of a Rollout no controller has written to yet.
static EMPTY_STATUS: RolloutStatus = RolloutStatus::EMPTY;

/// How soon to look again when the router reports the weight not in place yet.
pub const VERIFY_RETRY: Duration = Duration::from_secs(10);

/// Decides what a canary Rollout does next.
///
/// Given the Rollout (spec and current status), what the controller
/// observed and the current time, returns the status to write, the traffic
/// the router should apply, the ReplicaSet sizes, the AnalysisRuns that
/// should run, events, and when to call again. Pure and deterministic: the
/// same inputs give the same decision, and nothing is read from a clock.
///
/// The controller applies a decision in this order: scale ReplicaSets, apply
/// the traffic (then ask the router to verify it and pass the answer as
/// [`Observations::traffic_verified`] next time), create or terminate
/// AnalysisRuns, and finally write the status.
///
/// An invalid Rollout yields [`Error::Invalid`] listing every problem; the
/// controller should record it (condition `InvalidSpec`) and change nothing.
/// A valid Rollout using what this engine does not run yet (blue-green,
/// experiment steps, ping-pong; see [`crate::unsupported`]) yields
/// [`Error::Unsupported`] naming the field, and likewise changes nothing.
///
/// ```
/// use rollout_core::{decide, Observations, ReplicaSetState, Rollout, Time};
/// let rollout = Rollout::from_value(serde_json::json!({
///     "metadata": {"name": "web", "namespace": "default"},
///     "spec": {"replicas": 2, "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}}}
/// }), "web.yaml").unwrap();
/// let seen = Observations { current_pod_hash: "abc".into(), ..Default::default() };
/// let decision = decide(&rollout, &seen, Time::from_unix_seconds(0)).unwrap();
/// // The first revision is promoted at once: no steps for an initial deploy.
/// assert_eq!(decision.status.stable_rs.as_deref(), Some("abc"));
/// assert_eq!(decision.replica_sets[0].replicas, 2);
/// ```
pub fn decide(rollout: &Rollout, observed: &Observations, now: Time) -> Result<Decision, Error> {
    validate::check(rollout)?;
    let canary = rollout.canary().ok_or_else(|| Error::Unsupported {
        object: rollout.object_name(),
        field: FieldError::new("spec.strategy", "only the canary strategy is supported"),
    })?;
    let (surge, unavailable) = replicas::surge_and_unavailable(
        canary.max_surge.as_ref(),
        canary.max_unavailable.as_ref(),
        rollout.replicas(),
    )
    .map_err(|field| Error::Invalid {
        object: rollout.object_name(),
        errors: vec![field],
    })?;
    let mut pass = Pass {
        ro: rollout,
        c: canary,
        obs: observed,
        new: observed.replica_set(&observed.current_pod_hash),
        stable: None,
        promoted: false,
        now,
        r: rollout.replicas(),
        max_w: canary.max_weight(),
        surge,
        unavailable,
        prev: rollout.status.as_ref().unwrap_or(&EMPTY_STATUS),
        st: status_to_decide(rollout.status.as_ref()),
        events: Vec::new(),
        progressed: false,
        wake: None,
        abort_reason: None,
        retried: false,
        deadline_exceeded: false,
        canary_size_before_promotion: None,
    };
    pass.stable_changed();
    pass.run();
    Ok(pass.finish())
}

struct Pass<'a> {
    ro: &'a Rollout,
    c: &'a CanaryStrategy,
    obs: &'a Observations,
    /// The ReplicaSet of the current pod template, if it exists.
    new: Option<&'a ReplicaSetState>,
    /// The stable ReplicaSet when it is a different one from the current.
    stable: Option<&'a ReplicaSetState>,
    /// `stableRS` is the current pod template.
    promoted: bool,
    now: Time,
    r: i32,
    max_w: i32,
    surge: i32,
    unavailable: i32,
    /// The status as it came in.
    prev: &'a RolloutStatus,
    /// The status being decided.
    st: RolloutStatus,
    events: Vec<Event>,
    progressed: bool,
    wake: Option<Time>,
    abort_reason: Option<String>,
    retried: bool,
    deadline_exceeded: bool,
    /// The canary's size from the status as it came in, when this pass
    /// promoted over a named stable ReplicaSet that is not observed.
    canary_size_before_promotion: Option<i32>,
}

impl<'a> Pass<'a> {
    // ----- what the pass looks at -------------------------------------------------

    fn current_hash(&self) -> &'a str {
        &self.obs.current_pod_hash
    }

    fn new_rs(&self) -> Option<&'a ReplicaSetState> {
        self.new
    }

    /// The stable ReplicaSet when it is a different one from the current.
    fn stable_rs(&self) -> Option<&'a ReplicaSetState> {
        self.stable
    }

    fn fully_promoted(&self) -> bool {
        self.promoted
    }

    /// Refreshes the cached stable lookups after `st.stable_rs` changed.
    fn stable_changed(&mut self) {
        let current = self.obs.current_pod_hash.as_str();
        self.promoted = self.st.stable_rs.as_deref() == Some(current);
        self.stable = match self.st.stable_rs.as_deref() {
            Some(hash) if hash != current => self.obs.replica_set(hash),
            _ => None,
        };
    }

    fn steps(&self) -> &'a [CanaryStep] {
        &self.c.steps
    }

    fn index(&self) -> usize {
        self.st.step_index()
    }

    fn current_step(&self) -> Option<&'a CanaryStep> {
        steps::current_step(self.steps(), self.index())
    }

    fn revision(&self) -> u64 {
        self.new_rs()
            .map(|rs| rs.revision)
            .filter(|r| *r > 0)
            .or_else(|| self.ro.revision())
            .unwrap_or(1)
    }

    fn halted(&self) -> bool {
        self.ro.spec.paused == Some(true) || self.st.has_pause(PauseReason::InconclusiveAnalysisRun)
    }

    fn set_index(&mut self, index: usize) {
        self.st.current_step_index = if self.steps().is_empty() {
            None
        } else {
            Some(i32::try_from(index).unwrap_or(i32::MAX))
        };
    }

    fn event(&mut self, warning: bool, reason: &'static str, message: String) {
        self.events.push(Event {
            warning,
            reason,
            message,
        });
    }

    fn wake_at(&mut self, t: Time) {
        self.wake = Some(self.wake.map_or(t, |w| w.min(t)));
    }

    // ----- the pass -----------------------------------------------------------------

    fn run(&mut self) {
        self.reset_on_new_template_or_steps();
        self.promote_full_and_abort();
        // A full promotion treats every step as done: no pauses, no waiting
        // on analysis or plugin outcomes.
        if !self.st.abort && !self.fully_promoted() && !self.st.promote_full {
            self.background_analysis();
            self.step_outcome_gates();
            self.enter_pause_step();
        }
        if !self.promote_if_due() && !self.st.abort {
            self.advance_step();
        }
    }

    fn reset_on_new_template_or_steps(&mut self) {
        let hash = self.current_hash();

        let same_template = self.st.current_pod_hash.as_deref() == Some(hash);
        let same_steps = self
            .st
            .current_step_hash
            .as_deref()
            .is_some_and(|h| steps::step_hash_matches(self.steps(), h));
        if same_template && same_steps {
            return;
        }
        let st = &mut self.st;
        st.pause_conditions.clear();
        st.controller_pause = false;
        st.abort = false;
        st.aborted_at = None;
        st.promote_full = false;
        st.canary.current_step_analysis_run_status = None;
        st.canary.current_background_analysis_run_status = None;
        st.current_pod_hash = Some(hash.to_owned());
        st.current_step_hash = Some(steps::step_hash(&self.c.steps));
        self.set_index(0);
        self.progressed = true;
        // Back on the stable template (a rollback, or new steps for a promoted
        // rollout): every step counts as done.
        if !self.steps().is_empty() && self.is_rollback() {
            self.set_index(self.steps().len());
            if !same_template {
                self.event(false, "SkipSteps", "Rollback to stable ReplicaSets".into());
            }
        }
    }

    /// The current template is the stable one, or an older revision inside
    /// `rollbackWindow` that still has pods.
    fn is_rollback(&self) -> bool {
        if self.fully_promoted() {
            return true;
        }
        let window = self
            .ro
            .spec
            .rollback_window
            .as_ref()
            .and_then(|w| w.revisions);
        match (window, self.new_rs(), self.stable_rs()) {
            (Some(w), Some(new), Some(stable)) if w > 0 => {
                new.revision < stable.revision
                    && new.available_replicas > 0
                    && stable.revision - new.revision <= u64::try_from(w).unwrap_or(0)
            }
            _ => false,
        }
    }

    /// `promoteFull` and `abort` as recorded on the object. When both are
    /// set, abort wins: it is the safety action (Argo lets a pending full
    /// promotion swallow a later abort). [`crate::ops::promote_full`] clears
    /// `abort` itself when a person pushes an aborted update through.
    fn promote_full_and_abort(&mut self) {
        if self.st.promote_full {
            if self.fully_promoted() || self.st.abort {
                self.st.promote_full = false;
            } else {
                self.st.pause_conditions.clear();
                self.st.controller_pause = false;
            }
        }
        self.progress_deadline();
        if self.st.abort {
            if self.st.aborted_at.is_none() {
                self.st.aborted_at = Some(self.now);
                let reason = self.abort_reason.clone();
                self.event(
                    true,
                    "RolloutAborted",
                    conditions::aborted_message(self.revision(), reason.as_deref()),
                );
            }
            self.st.pause_conditions.clear();
            self.st.controller_pause = false;
            self.st.promote_full = false;
            let index = if self.fully_promoted() {
                self.steps().len()
            } else {
                0
            };
            self.set_index(index);
        } else if self.st.aborted_at.is_some() {
            // `retry`: the abort was cleared; run the steps again with fresh analysis.
            self.st.aborted_at = None;
            self.st.canary.current_step_analysis_run_status = None;
            self.st.canary.current_background_analysis_run_status = None;
            self.retried = true;
            self.progressed = true;
            self.event(false, "RolloutRetry", "Retrying Rollout after abort".into());
        }
    }

    /// `progressDeadlineSeconds` without progress: the Progressing condition
    /// turns False and, with `progressDeadlineAbort`, the update aborts.
    fn progress_deadline(&mut self) {
        if self.st.abort
            || self.fully_promoted()
            || self.halted()
            || !self.st.pause_conditions.is_empty()
        {
            return;
        }
        if self
            .prev
            .condition(&ConditionType::Progressing)
            .is_some_and(|c| c.reason == ConditionReason::ProgressDeadlineExceeded)
        {
            // Stays exceeded until something progresses (see `conditions::update`).
            self.deadline_exceeded = true;
            return;
        }
        let Some(deadline) = conditions::progress_deadline(self.ro, self.prev) else {
            return;
        };
        if self.now < deadline {
            self.wake_at(deadline);
            return;
        }
        self.deadline_exceeded = true;
        if self.ro.spec.progress_deadline_abort == Some(true) {
            self.st.abort = true;
            self.abort_reason = Some(format!(
                "ReplicaSet {:?} has timed out progressing.",
                conditions::replica_set_name(self.ro, self.current_hash())
            ));
        }
    }

    fn abort(&mut self, reason: String) {
        self.st.abort = true;
        self.abort_reason = Some(reason);
        self.promote_full_and_abort();
        self.progressed = true;
    }

    fn pause(&mut self, reason: PauseReason) {
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

    fn background_analysis(&mut self) {
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
        // Resumed after an inconclusive run (the person removed the pause):
        // measure again with a fresh run, as Argo does.
        if recorded
            .as_ref()
            .is_some_and(|r| r.status == AnalysisPhase::Inconclusive.as_str())
            && self.st.controller_pause
            && !self.st.has_pause(PauseReason::InconclusiveAnalysisRun)
        {
            recorded = None;
        }
        let run = self.track_run(recorded, &base);
        let outcome = (run.status.clone(), run.message.clone());
        self.st.canary.current_background_analysis_run_status = Some(run);
        match outcome.0.as_str() {
            "Failed" | "Error" => self.abort(format!(
                "Background analysis phase {}{}",
                outcome.0.to_lowercase(),
                outcome.1.map(|m| format!(": {m}")).unwrap_or_default()
            )),
            "Inconclusive" => self.pause(PauseReason::InconclusiveAnalysisRun),
            _ => {}
        }
    }

    /// Picks up the run recorded in status, or names a fresh one (the first
    /// of `base`, `base.1`, `base.2`, ... that no observed run has), and
    /// records its observed phase.
    fn track_run(
        &self,
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
                .find(|n| self.obs.analysis_run(n).is_none())
                .unwrap_or_else(|| base.to_owned()),
        };
        match self.obs.analysis_run(&name) {
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

    /// Analysis and plugin actions wait for an outcome: Successful lets the
    /// step complete, Failed/Error abort, Inconclusive pauses. A step may
    /// carry both; each is watched.
    fn step_outcome_gates(&mut self) {
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
        let recorded = self.st.canary.current_step_analysis_run_status.take();
        let run = self.track_run(recorded, &base);
        let (phase, message) = (run.status.clone(), run.message.clone());
        self.st.canary.current_step_analysis_run_status = Some(run);
        match phase.as_str() {
            "Failed" | "Error" => self.abort(format!(
                "Step-based analysis phase {}{}",
                phase.to_lowercase(),
                message.map(|m| format!(": {m}")).unwrap_or_default()
            )),
            "Inconclusive" => self.pause(PauseReason::InconclusiveAnalysisRun),
            _ => {}
        }
    }

    fn step_plugin_gate(&mut self, p: &PluginStep) {
        let index = self.index();
        let Some(outcome) = self
            .obs
            .step_plugin
            .as_ref()
            .filter(|o| o.step_index == index)
        else {
            return;
        };
        match outcome.phase {
            AnalysisPhase::Failed | AnalysisPhase::Error => {
                let msg = format!(
                    "Step plugin {} phase {}{}",
                    p.name,
                    outcome.phase.as_str().to_lowercase(),
                    outcome
                        .message
                        .as_ref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                );
                self.abort(msg);
            }
            AnalysisPhase::Inconclusive => self.pause(PauseReason::InconclusiveAnalysisRun),
            _ => {}
        }
    }

    /// At a `pause` step, record the pause once (its start time is kept).
    fn enter_pause_step(&mut self) {
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

    /// Promotes the current template to stable when it is due; returns whether it did.
    fn promote_if_due(&mut self) -> bool {
        if self.fully_promoted() {
            if self.st.promote_full {
                self.st.promote_full = false;
            }
            return false;
        }
        let reason = if self.st.stable_rs.is_none()
            || self
                .obs
                .replica_set(self.st.stable_rs.as_deref().unwrap_or(""))
                .is_none()
        {
            Some("Initial deploy".to_owned())
        } else if self.st.abort || !self.new_rs().is_some_and(|rs| self.fully_available(rs)) {
            None
        } else if self.st.promote_full {
            Some("Full promotion requested".to_owned())
        } else if self.is_rollback() {
            Some("Fast rollback".to_owned())
        } else if self.index() >= self.steps().len() {
            Some(format!("Completed all {} canary steps", self.steps().len()))
        } else {
            None
        };
        let Some(reason) = reason else {
            return false;
        };
        if self.st.stable_rs.is_some() && self.c.routes_traffic() {
            // The status names a stable ReplicaSet that is not observed (deleted,
            // or not in the cache yet). Argo scales the ReplicaSets before it
            // writes the promotion, sizing the canary by the step it is at;
            // this pass does the same, and the next sizes it fully.
            self.canary_size_before_promotion = Some(self.desired_counts().0);
        }
        let hash = self.current_hash().to_owned();
        let st = &mut self.st;
        st.stable_rs = Some(hash.clone());
        st.pause_conditions.clear();
        st.controller_pause = false;
        st.abort = false;
        st.aborted_at = None;
        st.promote_full = false;
        st.canary.current_step_analysis_run_status = None;
        st.canary.current_background_analysis_run_status = None;
        self.stable_changed();
        let len = self.steps().len();
        self.set_index(len);
        self.progressed = true;
        self.event(
            false,
            "RolloutCompleted",
            format!(
                "Rollout completed update to revision {} ({hash}): {reason}",
                self.revision()
            ),
        );
        true
    }

    fn fully_available(&self, rs: &ReplicaSetState) -> bool {
        rs.available_replicas >= self.r || self.threshold_met(rs, self.r)
    }

    /// `replicaProgressThreshold` (or exact readiness without one).
    fn threshold_met(&self, rs: &ReplicaSetState, desired: i32) -> bool {
        progress::replica_progress_threshold_met(
            self.c.replica_progress_threshold.as_ref(),
            Some(rs),
            desired,
        )
    }

    fn advance_step(&mut self) {
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
            StepAction::Experiment(_) => false,
        }
    }

    /// The router was told this step's weight (recorded in the incoming
    /// status) and did not report it unverified. Always true without traffic
    /// routing.
    fn weight_in_place(&self) -> bool {
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

    // ----- replicas -------------------------------------------------------------

    /// Where the update stands, for the weight and sizing rules.
    fn canary_state(&self) -> CanaryState<'a> {
        CanaryState {
            canary: self.c,
            replicas: self.r,
            index: self.index(),
            aborted: self.st.abort,
            promote_full: self.st.promote_full,
            // Whether the canary follows the steps depends on `status.stableRS`
            // naming another ReplicaSet, not on that ReplicaSet being observed.
            stable_differs: self.st.stable_rs.is_some() && !self.fully_promoted(),
            available: self
                .new_rs()
                .zip(self.stable_rs())
                .map(|(new, stable)| (new.available_replicas, stable.available_replicas)),
        }
    }

    /// Argo's `GetCanaryReplicasOrWeight`: (explicit canary pods, weight) for scaling.
    fn scaling_weight(&self) -> (Option<i32>, i32) {
        weights::canary_replicas_or_weight(&self.canary_state())
    }

    /// The (canary, stable) sizes for the current status: where a
    /// traffic-routed canary should be, or the next move of a basic one.
    fn desired_counts(&self) -> (i32, i32) {
        let (canary_replicas, weight) = self.scaling_weight();
        if self.c.routes_traffic() {
            let current_weights = self
                .prev
                .canary
                .weights
                .as_ref()
                .map(|w| (w.canary.weight, w.stable.weight));
            replicas::traffic_routed_counts(&TrafficRoutedCanary {
                replicas: self.r,
                weight,
                canary_replicas,
                max_weight: self.max_w,
                min_pods_per_replica_set: self.c.min_pods_per_replica_set,
                dynamic_stable_scale: self.c.dynamic_stable_scale(),
                current_weights,
                aborted: self.st.abort,
            })
        } else {
            // A basic canary moves toward the weighted split within the
            // surge and availability budget; Argo checks progress against
            // the counts of this pass, not the final split.
            let pods = |rs: Option<&ReplicaSetState>| {
                rs.map(|rs| Pods::new(rs.spec_replicas, rs.available_replicas))
            };
            let others = self.others().fold(Pods::default(), |acc, rs| {
                Pods::new(
                    acc.spec + rs.spec_replicas,
                    acc.available + rs.available_replicas,
                )
            });
            replicas::basic_canary_counts(&BasicCanary {
                replicas: self.r,
                weight,
                max_weight: self.max_w,
                max_surge: self.surge,
                max_unavailable: self.unavailable,
                new: Some(pods(self.new_rs()).unwrap_or_default()),
                stable: pods(self.stable_rs()),
                others,
            })
        }
    }

    /// Argo's `AtDesiredReplicaCountsForCanary`.
    fn at_desired_replicas(&self) -> bool {
        if self.new_rs().is_none() {
            return false;
        }
        progress::at_desired_replica_counts(&CanaryReplicaCounts {
            desired: self.desired_counts(),
            threshold: self.c.replica_progress_threshold.as_ref(),
            canary: self.new_rs(),
            stable: self.stable_rs(),
            others_available: self.others().map(|rs| rs.available_replicas).sum(),
            routes_traffic: self.c.routes_traffic(),
            dynamic_stable_scale: self.c.dynamic_stable_scale(),
        })
    }

    fn others(&self) -> impl Iterator<Item = &'a ReplicaSetState> + use<'a> {
        let current = self.obs.current_pod_hash.as_str();
        let stable = self.st.stable_rs.clone().unwrap_or_default();
        self.obs
            .replica_sets
            .iter()
            .filter(move |rs| rs.pod_template_hash != current && rs.pod_template_hash != stable)
    }

    fn replica_targets(&mut self) -> Vec<ReplicaSetTarget> {
        let current = self.current_hash().to_owned();
        let mut targets = Vec::new();
        let target = |hash: &str, role, replicas, deadline| ReplicaSetTarget {
            pod_template_hash: hash.to_owned(),
            role,
            replicas,
            scale_down_deadline: deadline,
        };
        if self.halted() {
            if let Some(new) = self.new_rs() {
                targets.push(target(
                    &current,
                    ReplicaSetRole::Current,
                    new.spec_replicas,
                    new.scale_down_deadline,
                ));
            }
            return targets;
        }
        if self.fully_promoted() {
            let size = self.canary_size_before_promotion.unwrap_or(self.r);
            targets.push(target(&current, ReplicaSetRole::Current, size, None));
            for (rs, replicas, deadline) in self.old_replica_set_sizes() {
                targets.push(target(
                    &rs.pod_template_hash,
                    ReplicaSetRole::Old,
                    replicas,
                    deadline,
                ));
            }
            return targets;
        }
        let (mut new_n, stable_n) = self.desired_counts();
        let mut new_deadline = None;
        if self.st.abort && self.c.routes_traffic() {
            (new_n, new_deadline) = self.aborted_canary_size(new_n);
        }
        targets.push(target(
            &current,
            ReplicaSetRole::Current,
            new_n,
            new_deadline,
        ));
        if let Some(stable) = self.stable_rs() {
            targets.push(target(
                &stable.pod_template_hash,
                ReplicaSetRole::Stable,
                stable_n,
                None,
            ));
        }
        for (rs, replicas, deadline) in self.old_replica_set_sizes() {
            targets.push(target(
                &rs.pod_template_hash,
                ReplicaSetRole::Old,
                replicas,
                deadline,
            ));
        }
        targets
    }

    /// After an abort the canary keeps its pods until the stable ReplicaSet
    /// is fully available, then for `abortScaleDownDelaySeconds` (default 30;
    /// 0 keeps it forever; dynamic stable scale without a delay follows traffic).
    fn aborted_canary_size(&mut self, computed: i32) -> (i32, Option<Time>) {
        let Some(new) = self.new_rs() else {
            return (computed, None);
        };
        let delay = self.c.abort_scale_down_delay_seconds;
        if delay == Some(0) {
            // 0 keeps the canary's pods for as long as the rollout stays aborted.
            return (computed.max(new.spec_replicas), None);
        }
        if self.c.dynamic_stable_scale() && delay.is_none() {
            return (computed, None);
        }
        let stable_ready = self
            .stable_rs()
            .is_some_and(|s| s.available_replicas >= self.r);
        if !stable_ready {
            return (new.spec_replicas, new.scale_down_deadline);
        }
        let delay = Duration::from_secs(
            u64::try_from(delay.unwrap_or(DEFAULT_SCALE_DOWN_DELAY_SECONDS)).unwrap_or(0),
        );
        let deadline = new.scale_down_deadline.unwrap_or(self.now + delay);
        if self.now >= deadline {
            (0, Some(deadline))
        } else {
            self.wake_at(deadline);
            (new.spec_replicas, Some(deadline))
        }
    }

    /// The ReplicaSets other than the canary and the stable, their sizes
    /// and scale-down deadlines: Argo's scale-down of old ReplicaSets within
    /// `maxUnavailable` ([`scale_down::scale_down_old_replica_sets`]),
    /// newest revision first.
    fn old_replica_set_sizes(&mut self) -> Vec<(&'a ReplicaSetState, i32, Option<Time>)> {
        let mut olds: Vec<_> = self.others().collect();
        olds.sort_by_key(|rs| std::cmp::Reverse(rs.revision));
        let plans: Vec<_> = olds
            .iter()
            .map(|rs| self.old_replica_set_plan(rs))
            .collect();
        let candidates: Vec<_> = olds
            .iter()
            .zip(&plans)
            .map(|(rs, (plan, _))| OldReplicaSet {
                pods: Pods::new(rs.spec_replicas, rs.available_replicas),
                plan: *plan,
            })
            .collect();
        let total_available = self
            .obs
            .replica_sets
            .iter()
            .map(|rs| rs.available_replicas)
            .sum();
        let sizes = scale_down::scale_down_old_replica_sets(
            &candidates,
            self.r,
            self.unavailable,
            total_available,
        );
        olds.into_iter()
            .zip(sizes)
            .zip(plans)
            .map(|((rs, size), (_, deadline))| (rs, size, deadline))
            .collect()
    }

    /// What may happen to an old ReplicaSet, and its scale-down deadline.
    /// With traffic routing, one the router still sends traffic to is kept;
    /// a previous stable after promotion is kept for `scaleDownDelaySeconds`
    /// (default 30), then scaled to 0 (at once with dynamic stable scale);
    /// an intermediate canary of an earlier template goes to 0. Without
    /// traffic routing every old ReplicaSet goes within the budget.
    fn old_replica_set_plan(&mut self, rs: &ReplicaSetState) -> (OldReplicaSetPlan, Option<Time>) {
        if !self.c.routes_traffic() {
            return (OldReplicaSetPlan::WithinBudget, None);
        }
        // Never shrink a ReplicaSet the router still sends traffic to.
        if self.referenced_by_router(rs) {
            return (OldReplicaSetPlan::Keep, rs.scale_down_deadline);
        }
        let delayed = self.fully_promoted() || rs.scale_down_deadline.is_some();
        if !delayed || self.c.dynamic_stable_scale() || rs.spec_replicas == 0 {
            return (OldReplicaSetPlan::Zero, None);
        }
        let delay = Duration::from_secs(
            u64::try_from(
                self.c
                    .scale_down_delay_seconds
                    .unwrap_or(DEFAULT_SCALE_DOWN_DELAY_SECONDS),
            )
            .unwrap_or(0),
        );
        let deadline = rs.scale_down_deadline.unwrap_or(self.now + delay);
        if self.now >= deadline {
            (OldReplicaSetPlan::Zero, Some(deadline))
        } else {
            self.wake_at(deadline);
            (OldReplicaSetPlan::Keep, Some(deadline))
        }
    }

    fn referenced_by_router(&self, rs: &ReplicaSetState) -> bool {
        self.prev.canary.weights.as_ref().is_some_and(|w| {
            [&w.canary, &w.stable].iter().any(|d| {
                d.weight > 0 && d.pod_template_hash.as_deref() == Some(&rs.pod_template_hash)
            })
        })
    }

    // ----- traffic ----------------------------------------------------------------

    /// Argo's desired canary weight for the router (`reconcileTrafficRouting`).
    fn desired_weight_now(&self) -> i32 {
        let rolling_back = self.rolling_back_to_stable();
        let stable = if rolling_back {
            self.new_rs()
        } else {
            self.stable_rs()
        };
        weights::router_weight(&RouterWeight {
            state: self.canary_state(),
            fully_promoted: self.fully_promoted(),
            rolling_back_to_stable: rolling_back,
            // Only read on the way through the steps; skip the work otherwise.
            at_desired_replicas: !self.fully_promoted()
                && !self.st.abort
                && !self.st.promote_full
                && !self.steps().is_empty()
                && self.new_rs().is_some_and(|rs| rs.available_replicas > 0)
                && self.at_desired_replicas(),
            canary_available: self.new_rs().map(|rs| rs.available_replicas),
            stable_available: stable.map(|rs| rs.available_replicas),
            current_weight: self.prev.canary.weights.as_ref().map(|w| w.canary.weight),
        })
    }

    /// Argo's `IsDynamicallyRollingBackToStable`: back on the stable template
    /// with `dynamicStableScale` while the router still sends traffic to the
    /// previous canary and the stable ReplicaSet is not fully available.
    fn rolling_back_to_stable(&self) -> bool {
        if !self.fully_promoted() || !self.c.dynamic_stable_scale() {
            return false;
        }
        let Some(weights) = &self.prev.canary.weights else {
            return false;
        };
        weights.canary.pod_template_hash.as_deref() != Some(self.current_hash())
            && self
                .new_rs()
                .is_some_and(|rs| rs.available_replicas < self.r)
    }

    /// The ReplicaSet the canary weight goes to: the current template's,
    /// except while rolling back to stable, when traffic drains from the
    /// previous canary (Argo #3020).
    fn canary_destination_hash(&self) -> String {
        let previous = self
            .prev
            .canary
            .weights
            .as_ref()
            .and_then(|w| w.canary.pod_template_hash.as_deref());
        match previous {
            Some(hash) if self.rolling_back_to_stable() => hash.to_owned(),
            _ => self.current_hash().to_owned(),
        }
    }

    fn routes_active(&self) -> bool {
        !self.st.abort
            && !self.fully_promoted()
            && !self.st.promote_full
            && self.index() < self.steps().len()
            && self.new_rs().is_some_and(|rs| rs.available_replicas > 0)
    }

    fn desired_traffic(&self) -> Option<DesiredTraffic> {
        if !self.c.routes_traffic() {
            return None;
        }
        let mut weight = self.desired_weight_now().clamp(0, self.max_w);
        // Do not move traffic to the canary faster than the stable side can
        // give it up: hold the recorded weight while too few stable pods exist.
        let stable_for_gate = self
            .st
            .stable_rs
            .as_deref()
            .and_then(|h| self.obs.replica_set(h));
        let gate_open = progress::replicas_available_for_weight(
            stable_for_gate,
            self.max_w - weight,
            self.r,
            self.max_w,
            self.c.replica_progress_threshold.as_ref(),
        );
        let held = if gate_open {
            None
        } else {
            self.prev.canary.weights.as_ref()
        };
        if let Some(w) = held {
            weight = w.canary.weight;
        }
        let stable_hash = self.st.stable_rs.clone();
        let mut traffic = DesiredTraffic {
            max_weight: self.max_w,
            canary: WeightDestination {
                weight,
                service_name: self.c.canary_service.clone(),
                pod_template_hash: Some(self.canary_destination_hash()),
            },
            stable: WeightDestination {
                weight: self.max_w - weight,
                service_name: self.c.stable_service.clone(),
                pod_template_hash: stable_hash,
            },
            ..Default::default()
        };
        if let Some(w) = held {
            // Too few stable pods to take traffic back: keep what the router has.
            traffic.canary = w.canary.clone();
            traffic.stable = w.stable.clone();
            traffic.additional = w.additional.clone();
        }
        if self.routes_active() {
            let index = self.index();
            for name in self.c.managed_routes() {
                if let Some(h) = steps::header_route_at(self.steps(), index, name) {
                    traffic.header_routes.push(h.clone());
                }
                if let Some(m) = steps::mirror_route_at(self.steps(), index, name) {
                    traffic.mirror_routes.push(SetMirrorRoute {
                        percentage: Some(m.percentage.unwrap_or(100)),
                        ..m.clone()
                    });
                }
            }
        }
        Some(traffic)
    }

    // ----- analysis ---------------------------------------------------------------

    fn analysis_requests(&self) -> Vec<AnalysisRunRequest> {
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

    // ----- the result -----------------------------------------------------------

    fn finish(mut self) -> Decision {
        let replica_sets = self.replica_targets();
        let traffic = self.desired_traffic();
        let mut verify_again = false;
        self.st.canary.weights = traffic.as_ref().map(|t| {
            let mut weights = TrafficWeights {
                canary: t.canary.clone(),
                stable: t.stable.clone(),
                additional: t.additional.clone(),
                verified: None,
            };
            let unchanged = self.prev.canary.weights.as_ref().is_some_and(|p| {
                p.canary == weights.canary
                    && p.stable == weights.stable
                    && p.additional == weights.additional
            });
            if unchanged {
                weights.verified = self.obs.traffic_verified;
            }
            if weights.verified == Some(false) {
                verify_again = true;
            }
            weights
        });
        if let Some(t) = &traffic {
            let before = self
                .prev
                .canary
                .weights
                .as_ref()
                .map_or(0, |w| w.canary.weight);
            if before != t.canary.weight {
                self.event(
                    false,
                    "TrafficWeightUpdated",
                    format!(
                        "Traffic weight updated from {before} to {}",
                        t.canary.weight
                    ),
                );
            }
        }
        if verify_again {
            self.wake_at(self.now + VERIFY_RETRY);
        }
        let counts = Counts::observe(self.obs, self.current_hash());
        let (current_hash, revision) = (self.current_hash(), self.revision());
        conditions::update(
            &mut self.st,
            self.prev,
            conditions::Context {
                rollout: self.ro,
                current_hash,
                counts,
                max_unavailable: self.unavailable,
                abort_reason: self.abort_reason.as_deref(),
                retried: self.retried,
                deadline_exceeded: self.deadline_exceeded,
                revision,
                now: self.now,
            },
        );
        let analysis_runs = self.analysis_requests();
        // A changed status is something the next pass builds on (a weight now
        // recorded as applied, say); an unchanged one is a fixed point.
        let requeue_after = if self.progressed || self.st != *self.prev {
            Some(Duration::ZERO)
        } else {
            self.wake.map(|t| t.saturating_since(self.now))
        };
        Decision {
            status: self.st,
            traffic,
            replica_sets,
            analysis_runs,
            events: self.events,
            requeue_after,
        }
    }
}
