//! The blue-green strategy, as Argo Rollouts runs it (`rollout/bluegreen.go`,
//! `rollout/service.go`, the blue-green parts of `rollout/analysis.go`,
//! `rollout/replicaset.go`, `rollout/pause.go` and `rollout/sync.go`).
//!
//! A blue-green update brings the new ReplicaSet up next to the active
//! one, points the preview Service at it, optionally pauses and runs
//! pre-promotion analysis, then switches the active Service to it. With
//! post-promotion analysis the new ReplicaSet becomes stable only once that
//! run succeeds (a failure aborts, and the active Service goes back to the
//! stable ReplicaSet). The previous active ReplicaSet keeps its pods for
//! `scaleDownDelaySeconds` after the switch.
//!
//! One pass follows Argo's order: the preview Service; on a new pod
//! template, the status reset and nothing else; the ReplicaSet sizes; the
//! pause; the active Service; the AnalysisRuns; then the status (promotion,
//! `scaleUpPreviewCheckPoint`, pause conditions and abort, counts and
//! conditions). As in Argo, the stages read the status as it came in and
//! pauses and aborts decided during the pass are applied to the new status
//! at its end ([`pause::PauseContext`]).
//!
//! What the controller does with the [`Decision`]: scale the ReplicaSets
//! (creating the current one, with the `scale-down-deadline` annotation each
//! target names), patch the Services of [`Decision::services`], create the
//! AnalysisRuns it lists and terminate the others, then write the status.
//! [`Decision::traffic`] is `None`: a blue-green Rollout moves traffic by
//! Service selectors only. `previewMetadata` and `activeMetadata` follow the
//! roles of [`Decision::replica_sets`] as canary and stable metadata do (Argo's
//! `reconcileEphemeralMetadata`): the current ReplicaSet carries
//! `previewMetadata` until it is the stable one, the stable one
//! `activeMetadata` (a first ReplicaSet, stable from the start, too).
//!
//! Deliberate differences from Argo: `spec.restartAt` is not run for a
//! blue-green Rollout (validation reports it as unsupported); the target
//! group verification of the AWS load balancer controller is not done (the
//! engine behaves as if verification were off, Argo's default); a Service
//! is not looked up to tell whether it still selects an old ReplicaSet: the
//! selectors observed in [`Observations::services`] are what counts; a new
//! pod template resets `scaleUpPreviewCheckPoint` (Argo resets it and then
//! reads the old value back, so a preview replaced mid-update skipped
//! `previewReplicaCount`); and `autoPromotionSeconds` ends at its very
//! second (Argo waits until strictly after it, for its next resync).
//!
//! Decisions list every Service the pass reconciled in
//! [`Decision::services`], with the selector it keeps or gets; the
//! `SwitchService` event is recorded only when that changes it.
//!
//! ```
//! use rollout_core::{decide, Observations, ReplicaSetState, Rollout, ServiceSelector, Time};
//! let rollout = Rollout::from_value(serde_json::json!({
//!     "metadata": {"name": "web", "namespace": "default"},
//!     "spec": {"replicas": 2, "strategy": {"blueGreen": {
//!         "activeService": "web", "previewService": "web-preview", "autoPromotionEnabled": false}}},
//!     "status": {"currentPodHash": "new", "stableRS": "old",
//!                "blueGreen": {"activeSelector": "old", "previewSelector": "new"}}
//! }), "web.yaml").unwrap();
//! let rs = |hash: &str, revision| ReplicaSetState {
//!     pod_template_hash: hash.into(), revision, spec_replicas: 2, replicas: 2,
//!     ready_replicas: 2, available_replicas: 2, ..Default::default()
//! };
//! let service = |name: &str, hash: &str| ServiceSelector {
//!     service_name: name.into(), pod_template_hash: Some(hash.into()),
//! };
//! let seen = Observations {
//!     current_pod_hash: "new".into(),
//!     replica_sets: vec![rs("old", 1), rs("new", 2)],
//!     services: vec![service("web", "old"), service("web-preview", "new")],
//!     ..Default::default()
//! };
//! let decision = decide(&rollout, &seen, Time::from_unix_seconds(0)).unwrap();
//! // The new pods are ready: the rollout pauses before the switch.
//! assert_eq!(decision.status.pause_conditions[0].reason.as_str(), "BlueGreenPause");
//! assert_eq!(decision.status.blue_green.active_selector.as_deref(), Some("old"));
//! // Each Service keeps the selector it has.
//! let selectors: Vec<_> = decision.services.iter()
//!     .map(|s| (s.service_name.as_str(), s.pod_template_hash.as_deref())).collect();
//! assert_eq!(selectors, [("web-preview", Some("new")), ("web", Some("old"))]);
//! ```

mod analysis;
mod pause;
mod promotion;
mod replica_sets;
mod services;

use std::time::Duration;

use crate::conditions::{self, BlueGreenProgress, Counts};
use crate::decision::{
    AnalysisRunRequest, Decision, Event, Observations, ReplicaSetRole, ReplicaSetState,
    ReplicaSetTarget, ServiceSelector,
};
use crate::engine::promotion::{created_before, rollback_within_window};
use crate::spec::{BlueGreenStrategy, Rollout};
use crate::status::{BlueGreenStatus, PauseReason, RolloutStatus};
use crate::time::Time;

use pause::PauseContext;

/// The status of a Rollout no controller has written to yet.
static EMPTY_STATUS: RolloutStatus = RolloutStatus::EMPTY;

/// One pass over a blue-green Rollout (already validated).
pub(crate) fn run(
    rollout: &Rollout,
    bg: &BlueGreenStrategy,
    observed: &Observations,
    now: Time,
) -> Decision {
    let prev = rollout.status.as_ref().unwrap_or(&EMPTY_STATUS);
    let current = observed.current_pod_hash.as_str();
    let new = observed.replica_set(current);
    let stable = prev
        .stable_rs
        .as_deref()
        .and_then(|h| observed.replica_set(h));
    let mut pass = Pass {
        ro: rollout,
        bg,
        obs: observed,
        now,
        r: rollout.replicas(),
        new,
        stable,
        prev,
        st: RolloutStatus {
            canary: Default::default(),
            blue_green: BlueGreenStatus::default(),
            ..RolloutStatus::clone_without_canary(prev)
        },
        pause: PauseContext::default(),
        events: Vec::new(),
        wake: None,
        active: observed
            .service_selector(&bg.active_service)
            .map(str::to_owned),
        preview: bg
            .preview_service
            .as_deref()
            .and_then(|s| observed.service_selector(s))
            .map(str::to_owned),
        services: Vec::new(),
        pre: analysis::observed_run(
            observed,
            prev.blue_green.pre_promotion_analysis_run_status.as_ref(),
        ),
        post: analysis::observed_run(
            observed,
            prev.blue_green.post_promotion_analysis_run_status.as_ref(),
        ),
        runs: Vec::new(),
        targets: Vec::new(),
        deadline_exceeded: false,
    };
    pass.run();
    pass.finish()
}

struct Pass<'a> {
    ro: &'a Rollout,
    bg: &'a BlueGreenStrategy,
    obs: &'a Observations,
    now: Time,
    /// `spec.replicas`.
    r: i32,
    /// The ReplicaSet of the current pod template, if observed.
    new: Option<&'a ReplicaSetState>,
    /// The ReplicaSet `status.stableRS` names, if observed (it may be `new`).
    stable: Option<&'a ReplicaSetState>,
    /// The status as it came in: what Argo's stages read.
    prev: &'a RolloutStatus,
    /// The status being decided.
    st: RolloutStatus,
    /// Pauses and aborts decided during the pass.
    pause: PauseContext,
    events: Vec<Event>,
    wake: Option<Time>,
    /// The hash the active Service selects, after this pass's switch.
    active: Option<String>,
    /// The hash the preview Service selects, after this pass's switch.
    preview: Option<String>,
    /// The Service selectors to set.
    services: Vec<ServiceSelector>,
    /// The pre-promotion run followed (Argo's current run), with its observed phase.
    pre: Option<crate::status::RolloutAnalysisRunStatus>,
    /// The post-promotion run followed, with its observed phase.
    post: Option<crate::status::RolloutAnalysisRunStatus>,
    /// The runs that should exist and run.
    runs: Vec<AnalysisRunRequest>,
    targets: Vec<ReplicaSetTarget>,
    deadline_exceeded: bool,
}

impl<'a> Pass<'a> {
    fn current_hash(&self) -> &'a str {
        &self.obs.current_pod_hash
    }

    /// The pod template changed since the status was written (Argo's `CheckPodSpecChange`).
    fn template_changed(&self) -> bool {
        self.prev.current_pod_hash.as_deref() != Some(self.current_hash())
    }

    /// `spec.paused`, or an inconclusive run waiting for a person (Argo's `haltProgress`).
    fn halted(&self) -> bool {
        self.ro.spec.paused == Some(true)
            || self.prev.has_pause(PauseReason::InconclusiveAnalysisRun)
    }

    /// Aborted now: by the status as it came in, or during this pass.
    fn aborted(&self) -> bool {
        self.pause.aborted(self.prev)
    }

    fn revision(&self) -> u64 {
        self.new
            .map(|rs| rs.revision)
            .filter(|r| *r > 0)
            .or_else(|| self.ro.revision())
            .unwrap_or(1)
    }

    fn event(&mut self, warning: bool, reason: &'static str, message: String) {
        self.events.push(Event {
            warning,
            reason,
            message,
        });
    }

    fn wake_at(&mut self, t: Time) {
        if t > self.now {
            self.wake = Some(self.wake.map_or(t, |w| w.min(t)));
        }
    }

    /// Argo's `isRollback`: the current ReplicaSet is the stable one, or older than it.
    fn is_rollback(&self) -> bool {
        let (Some(new), Some(stable)) = (self.new, self.stable) else {
            return false;
        };
        self.prev.stable_rs.as_deref() == Some(new.pod_template_hash.as_str())
            || created_before(new, stable)
    }

    fn rollback_within_window(&self) -> bool {
        let stable = self.stable.filter(|s| Some(*s) != self.new);
        rollback_within_window(self.ro, self.obs, self.new, stable)
    }

    /// Argo's `isFastRollback`: back to the stable template, or to a
    /// ReplicaSet inside `rollbackWindow` or still within its scale-down delay.
    fn is_fast_rollback(&self) -> bool {
        if !self.is_rollback() {
            return false;
        }
        let within_delay = self
            .new
            .and_then(|rs| rs.scale_down_deadline)
            .is_some_and(|d| d > self.now);
        within_delay
            || self.rollback_within_window()
            || self.prev.stable_rs.as_deref() == Some(self.current_hash())
    }

    fn run(&mut self) {
        self.reconcile_preview_service();
        if self.template_changed() {
            self.reset_for_new_template();
            let (hash, size) = (
                self.current_hash(),
                self.new.map_or(0, |rs| rs.spec_replicas),
            );
            let deadline = self.new.and_then(|rs| rs.scale_down_deadline);
            self.target(hash, ReplicaSetRole::Current, size, deadline);
        } else {
            self.reconcile_replica_sets();
            self.reconcile_pause();
            self.reconcile_active_service();
            self.reconcile_analysis_runs();
        }
        self.sync_status();
    }

    fn target(&mut self, hash: &str, role: ReplicaSetRole, replicas: i32, deadline: Option<Time>) {
        self.targets.push(ReplicaSetTarget {
            pod_template_hash: hash.to_owned(),
            role,
            replicas,
            scale_down_deadline: deadline,
        });
    }

    /// Argo's `resetRolloutStatus` for a new pod template.
    fn reset_for_new_template(&mut self) {
        self.pause.clear = true;
        self.pause.remove_abort = true;
        self.st.promote_full = false;
        self.st.current_step_index = None;
        self.st.current_step_hash = None;
    }

    /// `progressDeadlineSeconds` without progress: the Progressing condition
    /// turns False and, with `progressDeadlineAbort`, the update aborts. A
    /// paused or promoted rollout does not time out.
    fn progress_deadline(&mut self) {
        let promoted = self.st.stable_rs.as_deref() == Some(self.current_hash());
        if self.aborted() || promoted || self.halted() || !self.prev.pause_conditions.is_empty() {
            return;
        }
        match conditions::check_progress_deadline(self.ro, self.prev, self.current_hash(), self.now)
        {
            conditions::DeadlineCheck::NotRunning => {}
            conditions::DeadlineCheck::Until(deadline) => self.wake_at(deadline),
            conditions::DeadlineCheck::Exceeded { abort_message, .. } => {
                self.deadline_exceeded = true;
                if let Some(message) = abort_message {
                    self.pause.add_abort(message);
                }
            }
        }
    }

    fn finish(mut self) -> Decision {
        self.progress_deadline();
        self.pause.apply(&mut self.st, self.prev, self.now);
        if self.st.abort && self.prev.aborted_at.is_none() {
            let message =
                conditions::aborted_message(self.revision(), self.pause.abort_message.as_deref());
            self.event(true, "RolloutAborted", message);
        }
        let current_hash = self.current_hash();
        let mut counts = Counts::observe(self.obs, current_hash);
        let active_rs = self
            .st
            .blue_green
            .active_selector
            .as_deref()
            .and_then(|h| self.obs.replica_set(h));
        if let Some(active) = active_rs {
            counts.ready = active.ready_replicas;
            counts.available = active.available_replicas;
        }
        let complete = self.st.blue_green.active_selector.as_deref() == Some(current_hash)
            && (self.bg.preview_service.is_none()
                || self.st.blue_green.preview_selector.as_deref() == Some(current_hash));
        let revision = self.revision();
        let active_saturated = active_rs.is_some_and(|rs| self.saturated(rs));
        conditions::update(
            &mut self.st,
            self.prev,
            conditions::Context {
                rollout: self.ro,
                current_hash,
                counts,
                max_unavailable: 0,
                abort_reason: self.pause.abort_message.as_deref(),
                retried: false,
                deadline_exceeded: self.deadline_exceeded,
                revision,
                now: self.now,
                blue_green: Some(BlueGreenProgress {
                    complete,
                    active_saturated,
                }),
            },
        );
        let requeue_after = if self.st != *self.prev {
            Some(Duration::ZERO)
        } else {
            self.wake.map(|t| t.saturating_since(self.now))
        };
        Decision {
            status: self.st,
            traffic: None,
            replica_sets: self.targets,
            analysis_runs: self.runs,
            events: self.events,
            services: self.services,
            experiments: crate::ExperimentDecision::default(),
            restart: None,
            requeue_after,
        }
    }
}
