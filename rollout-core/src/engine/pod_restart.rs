//! `spec.restartAt` in the pass: asks [`crate::restart`] what to evict, or
//! records a restart as done.
//!
//! Contract: a pass that reset the status for a new template or new steps
//! restarts nothing, as in Argo.

use super::Pass;
use crate::restart;

impl Pass<'_> {
    /// `spec.restartAt`: records a completed restart, or names the pods to
    /// evict now. Like Argo, a pass that reset the status for a new template
    /// or new steps restarts nothing.
    pub(super) fn restart_pods(&mut self) {
        if self.template_or_steps_changed {
            return;
        }
        let outcome = restart::reconcile(&restart::RestartInput {
            restart_at: restart::restart_at(self.ro),
            restarted_at: self.st.restarted_at,
            replicas: self.r,
            max_unavailable: self.unavailable,
            min_ready_seconds: self.ro.spec.min_ready_seconds.unwrap_or(0),
            replica_sets: &self.obs.replica_sets,
            pods: self.obs.pods.as_deref(),
            now: self.now,
        });
        match outcome {
            restart::Restart::NotPending { due } => {
                if let Some(due) = due {
                    self.wake_at(due);
                }
            }
            restart::Restart::Completed => self.st.restarted_at = restart::restart_at(self.ro),
            restart::Restart::InProgress { evict, .. } => {
                self.restart = evict;
                self.wake_at(self.now + restart::RESTART_CHECK);
            }
            restart::Restart::PodsNotObserved => self.wake_at(self.now + restart::RESTART_CHECK),
        }
    }
}
