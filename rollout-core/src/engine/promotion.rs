//! The start and the end of an update: the status reset when the pod
//! template or the steps change (a return to the stable template, or to an
//! older ReplicaSet inside `rollbackWindow`, skips the steps), and promotion
//! of the current template to stable once it is due.
//!
//! `rollbackWindow` follows Argo's `isRollbackWithinWindow`: the current
//! ReplicaSet was created before the stable one, and fewer than
//! `revisions` ReplicaSets were created between the two. The pass that
//! resets the status skips the steps only when that ReplicaSet still has
//! pods asked of it (`spec.replicas` above 0, Argo's `IsActive`); every
//! later pass inside the window clears pauses and an abort and goes to the
//! end of the steps, and the promotion that follows is "Rollback within
//! window".
//!
//! Contract: these stages change the status being decided (the step index
//! included) and record events; a promotion refreshes the cached stable
//! lookups ([`Pass::stable_changed`]) and, over a stable ReplicaSet that is
//! not observed, keeps the canary at its step's size for this pass. Nothing
//! here sizes ReplicaSets or moves traffic.

use super::Pass;
use crate::decision::{Observations, ReplicaSetState};
use crate::pingpong;
use crate::progress;
use crate::spec::Rollout;
use crate::status::RolloutStatus;
use crate::steps;

impl Pass<'_> {
    pub(super) fn reset_on_new_template_or_steps(&mut self) {
        let hash = self.current_hash();

        let same_template = self.st.current_pod_hash.as_deref() == Some(hash);
        let same_steps = self.st.current_step_hash.as_deref().is_some_and(|h| {
            self.step_hash.map_or_else(
                || steps::step_hash_matches(self.steps(), h),
                |known| h == known,
            )
        });
        if same_template && same_steps {
            return;
        }
        clear_update_state(&mut self.st);
        let st = &mut self.st;
        st.current_pod_hash = Some(hash.to_owned());
        st.current_step_hash = Some(
            self.step_hash
                .map_or_else(|| steps::step_hash(&self.c.steps), str::to_owned),
        );
        self.set_index(0);
        self.progressed = true;
        self.template_or_steps_changed = true;
        if self.steps().is_empty() {
            return;
        }
        // Back on the stable template (a rollback, or new steps for a promoted
        // rollout): every step counts as done.
        if self.fully_promoted() {
            self.set_index(self.steps().len());
            if !same_template {
                self.event(false, "SkipSteps", "Rollback to stable ReplicaSets".into());
            }
        } else if self.rollback_within_window()
            && self.new_rs().is_some_and(|rs| rs.spec_replicas > 0)
        {
            self.set_index(self.steps().len());
            self.event(
                false,
                "SkipSteps",
                "Rollback to active ReplicaSets within RollbackWindow".into(),
            );
        }
    }

    /// After the reset, inside `rollbackWindow`: no pause and no abort
    /// hold the rollback back, and every step counts as done.
    pub(super) fn skip_steps_within_rollback_window(&mut self) {
        if self.template_or_steps_changed || !self.rollback_within_window() {
            return;
        }
        self.st.pause_conditions.clear();
        self.st.controller_pause = false;
        self.st.abort = false;
        self.st.aborted_at = None;
        if !self.steps().is_empty() {
            self.set_index(self.steps().len());
        }
    }

    /// Argo's `isRollbackWithinWindow`: the current ReplicaSet is older than
    /// the stable one, and fewer than `rollbackWindow.revisions`
    /// ReplicaSets are newer than it and older than the stable one.
    fn rollback_within_window(&self) -> bool {
        rollback_within_window(self.ro, self.obs, self.new_rs(), self.stable_rs())
    }

    /// Promotes the current template to stable when it is due; returns whether it did.
    pub(super) fn promote_if_due(&mut self) -> bool {
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
        } else if self.rollback_within_window() {
            Some("Rollback within window".to_owned())
        } else if self.index() >= self.steps().len() {
            // As Argo (`reconcileTrafficRouting`): at the end of the steps the
            // whole traffic goes to the canary, and the stable ReplicaSet
            // changes only once the router has that weight in place and has
            // not reported it unverified.
            self.weight_in_place()
                .then(|| format!("Completed all {} canary steps", self.steps().len()))
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
        clear_update_state(st);
        if self.c.ping_pong.is_some() {
            st.canary.stable_ping_pong =
                Some(pingpong::after_promotion(st.canary.stable_ping_pong));
        }
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
}

/// Clears what belongs to one update (pauses, abort, a pending full
/// promotion, the analysis runs followed), as a new template, new steps and
/// a promotion all do.
fn clear_update_state(st: &mut RolloutStatus) {
    st.pause_conditions.clear();
    st.controller_pause = false;
    st.abort = false;
    st.aborted_at = None;
    st.promote_full = false;
    st.canary.current_step_analysis_run_status = None;
    st.canary.current_background_analysis_run_status = None;
}

/// Argo's `isRollbackWithinWindow`: the current ReplicaSet `new` is older
/// than the `stable` one, and fewer than `rollbackWindow.revisions`
/// ReplicaSets are newer than it and older than the stable one.
pub(crate) fn rollback_within_window(
    rollout: &Rollout,
    obs: &Observations,
    new: Option<&ReplicaSetState>,
    stable: Option<&ReplicaSetState>,
) -> bool {
    let window = rollout
        .spec
        .rollback_window
        .as_ref()
        .and_then(|w| w.revisions)
        .and_then(|w| usize::try_from(w).ok())
        .filter(|w| *w > 0);
    let (Some(window), Some(new), Some(stable)) = (window, new, stable) else {
        return false;
    };
    if !created_before(new, stable) {
        return false;
    }
    let between = obs
        .replica_sets
        .iter()
        .filter(|rs| created_before(new, rs) && created_before(rs, stable))
        .count();
    between < window
}

/// Whether `a` was created before `b`: by creation time when both are
/// known, else by revision.
pub(crate) fn created_before(a: &ReplicaSetState, b: &ReplicaSetState) -> bool {
    match (a.created, b.created) {
        (Some(x), Some(y)) => x < y,
        _ => a.revision < b.revision,
    }
}
