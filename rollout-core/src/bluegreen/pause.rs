//! The blue-green pause (`BlueGreenPause`) and Argo's pause context: the
//! pauses and aborts a pass decides, applied to the new status at its end.
//!
//! `autoPromotionEnabled: false` pauses before the switch until a person
//! promotes (`promote` removes the pause condition and leaves
//! `controllerPause`, which is how the pass tells a promotion from a pause
//! not yet taken). `autoPromotionSeconds` pauses for that long, then
//! promotes on its own. Neither pauses before pre-promotion analysis has
//! succeeded, nor on a fast-tracked update (a rollback, `promote --full`,
//! an active Service without a pod template hash or already on the new
//! ReplicaSet).

use super::Pass;
use crate::status::{PauseCondition, PauseReason, RolloutStatus};
use crate::time::Time;

/// Pauses and aborts decided during a pass (Argo's `pauseContext`).
#[derive(Debug, Default)]
pub(super) struct PauseContext {
    add: Vec<PauseReason>,
    remove: Vec<PauseReason>,
    /// Clear every pause condition.
    pub(super) clear: bool,
    /// Abort, with this message.
    add_abort: bool,
    pub(super) abort_message: Option<String>,
    /// Clear an abort.
    pub(super) remove_abort: bool,
}

impl PauseContext {
    pub(super) fn add(&mut self, reason: PauseReason) {
        self.add.push(reason);
    }

    pub(super) fn remove(&mut self, reason: PauseReason) {
        self.remove.push(reason);
    }

    /// A pause condition was added during this pass.
    pub(super) fn added(&self) -> bool {
        !self.add.is_empty()
    }

    pub(super) fn add_abort(&mut self, message: String) {
        self.add_abort = true;
        self.abort_message = Some(message);
    }

    /// Aborted: during this pass, or by the status as it came in unless cleared.
    pub(super) fn aborted(&self, prev: &RolloutStatus) -> bool {
        self.add_abort || (!self.remove_abort && prev.abort)
    }

    /// Argo's `CalculatePauseStatus`: an aborted rollout has no pause
    /// conditions; otherwise the conditions as they came in, less those
    /// removed, plus those added (which set `controllerPause`). Without any
    /// condition left, `controllerPause` is cleared.
    pub(super) fn apply(&self, st: &mut RolloutStatus, prev: &RolloutStatus, now: Time) {
        st.pause_conditions.clear();
        st.controller_pause = false;
        if self.aborted(prev) {
            st.abort = true;
            st.aborted_at = Some(prev.aborted_at.unwrap_or(now));
            return;
        }
        st.abort = false;
        st.aborted_at = None;
        if self.clear {
            return;
        }
        let mut controller_pause = prev.controller_pause;
        let mut conditions: Vec<PauseCondition> = prev
            .pause_conditions
            .iter()
            .filter(|c| !self.remove.contains(&c.reason))
            .cloned()
            .collect();
        for reason in &self.add {
            if !prev.has_pause(reason.clone()) {
                conditions.push(PauseCondition {
                    reason: reason.clone(),
                    start_time: now,
                });
                controller_pause = true;
            }
        }
        if !conditions.is_empty() {
            st.pause_conditions = conditions;
            st.controller_pause = controller_pause;
        }
    }
}

impl Pass<'_> {
    /// Argo's `reconcileBlueGreenPause`.
    pub(super) fn reconcile_pause(&mut self) {
        if self.prev.abort || !self.ready_for_pause() || self.halted() {
            return;
        }
        if self.fast_tracked()
            || self.prev.blue_green.scale_up_preview_check_point
            || !self.needs_controller_pause()
        {
            self.pause.remove(PauseReason::BlueGreenPause);
            return;
        }
        if !self.completed_pre_promotion_analysis() {
            return;
        }
        match self.pause_condition() {
            Some(started) => {
                if self.completed_pause() {
                    self.pause.remove(PauseReason::BlueGreenPause);
                } else if let Some(seconds) = self.auto_promotion_seconds() {
                    self.wake_at(started + seconds);
                }
            }
            None if !self.prev.controller_pause => self.pause.add(PauseReason::BlueGreenPause),
            None => {}
        }
    }

    /// When the `BlueGreenPause` condition as it came in began.
    fn pause_condition(&self) -> Option<Time> {
        self.prev
            .pause_conditions
            .iter()
            .find(|c| c.reason == PauseReason::BlueGreenPause)
            .map(|c| c.start_time)
    }

    /// `autoPromotionSeconds` when above 0.
    fn auto_promotion_seconds(&self) -> Option<std::time::Duration> {
        self.bg
            .auto_promotion_seconds
            .and_then(|s| u64::try_from(s).ok())
            .filter(|s| *s > 0)
            .map(std::time::Duration::from_secs)
    }

    /// Argo's `needsBlueGreenControllerPause`.
    fn needs_controller_pause(&self) -> bool {
        self.bg.auto_promotion_enabled == Some(false) || self.auto_promotion_seconds().is_some()
    }

    /// Argo's `CompletedBlueGreenPause`: the pause is over, because a person
    /// promoted, `autoPromotionSeconds` passed, or there is no pause to take.
    pub(super) fn completed_pause(&self) -> bool {
        if self.pause.added() {
            return false;
        }
        if self.prev.blue_green.scale_up_preview_check_point {
            return true;
        }
        let started = self.pause_condition();
        if self.bg.auto_promotion_enabled != Some(false) {
            return match (self.auto_promotion_seconds(), started) {
                (None, _) => true,
                // Argo compares with "after"; at the very instant it would wait
                // for its next resync, which a virtual clock does not have.
                (Some(seconds), Some(started)) => self.now >= started + seconds,
                (Some(_), None) => false,
            };
        }
        self.prev.controller_pause && started.is_none()
    }

    /// Argo's `isBlueGreenFastTracked`: skip the pause (and switch at once).
    pub(super) fn fast_tracked(&self) -> bool {
        self.is_fast_rollback()
            || self.prev.promote_full
            || self
                .active
                .as_deref()
                .is_none_or(|hash| hash == self.current_hash())
    }
}
