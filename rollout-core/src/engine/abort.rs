//! Operations recorded on the object: `promoteFull`, `abort` and its
//! `retry`, and the progress deadline that may abort on its own
//! (`progressDeadlineAbort`).
//!
//! Contract: an abort sends the step index back to 0 (or to the end when
//! already promoted) and clears pauses; the event and `abortedAt` are
//! recorded once per abort. [`Pass::abort`] is how the other stages abort
//! with a reason.

use super::Pass;
use crate::conditions;

impl Pass<'_> {
    /// `promoteFull` and `abort` as recorded on the object. When both are
    /// set, abort wins: it is the safety action (Argo lets a pending full
    /// promotion swallow a later abort). [`crate::ops::promote_full`] clears
    /// `abort` itself when a person pushes an aborted update through.
    pub(super) fn promote_full_and_abort(&mut self) {
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
            || self.at_indefinite_step()
        {
            return;
        }
        match conditions::check_progress_deadline(self.ro, self.prev, self.current_hash(), self.now)
        {
            conditions::DeadlineCheck::NotRunning => {}
            conditions::DeadlineCheck::Until(deadline) => self.wake_at(deadline),
            conditions::DeadlineCheck::Exceeded { abort_message, .. } => {
                self.deadline_exceeded = true;
                if let Some(message) = abort_message {
                    self.st.abort = true;
                    self.abort_reason = Some(message);
                }
            }
        }
    }

    /// Argo's `isIndefiniteStep`: an `experiment`, `analysis` or `pause`
    /// step waits on something outside the rollout, so the progress
    /// deadline does not run there.
    fn at_indefinite_step(&self) -> bool {
        self.current_step().is_some_and(|s| {
            s.experiment().is_some() || s.analysis().is_some() || s.pause().is_some()
        })
    }

    pub(super) fn abort(&mut self, reason: String) {
        self.st.abort = true;
        self.abort_reason = Some(reason);
        self.promote_full_and_abort();
        self.progressed = true;
    }
}
