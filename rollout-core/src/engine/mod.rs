//! `decide`: one reconcile pass of a canary Rollout, as a pure function
//! (a blue-green Rollout is handed to [`crate::bluegreen`]).
//!
//! The pass follows Argo Rollouts' order: reset on a new template or new
//! steps, operations recorded on the object (promote-full, abort, retry),
//! analysis outcomes, pause steps, promotion, then at most one step advance.
//! Replica targets, traffic and conditions are computed last, from the
//! status the pass ends with.
//!
//! This module holds the entry points, the pass's state ([`Pass`]) with what
//! every stage reads, the order of the stages and the assembly of the
//! [`Decision`]. Each stage lives in its own module as methods on [`Pass`]:
//!
//! - [`promotion`] — the reset for a new template or new steps, rollback
//!   detection, and promotion to stable;
//! - [`abort`] — `promoteFull`, `abort` and retry as recorded on the object,
//!   and the progress deadline;
//! - [`analysis`] — background and step AnalysisRuns and step-plugin
//!   outcomes, and the runs the controller should keep;
//! - [`experiment`] — `experiment` steps: the Experiment to run, those to
//!   cancel, and the weights of a running one;
//! - [`step_machine`] — pause steps, step completion and the step advance;
//! - [`replica_sets`] — the size of every ReplicaSet;
//! - [`traffic`] — the router's weights and managed routes, and the weights
//!   recorded in the status;
//! - [`pod_restart`] — `spec.restartAt`.

mod abort;
pub(crate) mod analysis;
mod experiment;
mod pod_restart;
pub(crate) mod promotion;
mod replica_sets;
mod step_machine;
mod traffic;

use std::time::Duration;

use crate::conditions::{self, Counts};
use crate::decision::{Decision, Event, Observations, ReplicaSetState};
use crate::error::Error;
use crate::spec::{CanaryStep, CanaryStrategy, Rollout};
use crate::status::{CanaryStatus, PauseReason, RolloutStatus};
use crate::steps;
use crate::time::Time;
use crate::valid::Checked;

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
        stable_ping_pong: status.canary.stable_ping_pong,
        // Written afresh by the experiment stage, as Argo does.
        current_experiment: None,
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

/// Decides what a canary or blue-green Rollout does next (blue-green:
/// see [`crate::bluegreen`]).
///
/// Given the Rollout (spec and current status), what the controller
/// observed and the current time, returns the status to write, the traffic
/// the router should apply, the ReplicaSet sizes, the AnalysisRuns that
/// should run, events, and when to call again. Pure and deterministic: the
/// same inputs give the same decision, and nothing is read from a clock.
///
/// The controller applies a decision in this order: evict the pods of a
/// restart ([`Decision::restart`]; if any was evicted, stop there and decide
/// again), scale ReplicaSets, apply the traffic (then ask the router to
/// verify it and pass the answer as [`Observations::traffic_verified`] next
/// time), create or terminate AnalysisRuns, and finally write the status.
///
/// An invalid Rollout yields [`Error::Invalid`] listing every problem; the
/// controller should record it (condition `InvalidSpec`) and change nothing.
/// A valid Rollout using what this engine does not run yet (see
/// [`crate::unsupported`]) yields
/// [`Error::Unsupported`] naming the field, and likewise changes nothing.
/// This validates the whole spec on every call; to decide an unchanged spec
/// many times, validate it once with [`crate::ValidRollout`].
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
    Ok(run(&Checked::new(rollout)?, observed, now))
}

/// One pass over a Rollout already checked (see [`crate::ValidRollout`]).
pub(crate) fn run(checked: &Checked<'_>, observed: &Observations, now: Time) -> Decision {
    let Checked {
        rollout,
        canary,
        blue_green,
        surge,
        unavailable,
        step_hash,
    } = *checked;
    if let Some(bg) = blue_green {
        return crate::bluegreen::run(rollout, bg, observed, now);
    }
    let mut pass = Pass {
        ro: rollout,
        c: canary,
        step_hash,
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
        template_or_steps_changed: false,
        restart: None,
        experiments: experiment::ExperimentOutcome::default(),
    };
    pass.stable_changed();
    pass.run();
    pass.finish()
}

struct Pass<'a> {
    ro: &'a Rollout,
    c: &'a CanaryStrategy,
    /// The steps' hash when computed ahead of the pass.
    step_hash: Option<&'a str>,
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
    /// The status was reset for a new pod template or new steps in this pass.
    template_or_steps_changed: bool,
    /// Pods to restart for `spec.restartAt` (see [`Pass::restart_pods`]).
    restart: Option<crate::decision::PodRestart>,
    /// The experiment stage's findings (see [`experiment`]).
    experiments: experiment::ExperimentOutcome,
}

impl<'a> Pass<'a> {
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

    fn run(&mut self) {
        self.reset_on_new_template_or_steps();
        self.skip_steps_within_rollback_window();
        self.promote_full_and_abort();
        self.reconcile_experiments();
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

    fn finish(mut self) -> Decision {
        self.restart_pods();
        let replica_sets = self.replica_targets();
        let traffic = self.desired_traffic();
        self.record_weights(traffic.as_ref());
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
                blue_green: None,
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
            services: Vec::new(),
            experiments: self.experiments.decided,
            restart: self.restart,
            requeue_after,
        }
    }
}
