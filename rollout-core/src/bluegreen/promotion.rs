//! The status at the end of a pass (Argo's `syncRolloutStatusBlueGreen`):
//! the Service selectors as set, promotion to stable when it is due
//! (`shouldFullPromote`, `promoteStable`) and `scaleUpPreviewCheckPoint`.
//!
//! The current ReplicaSet becomes stable on the first deploy, and
//! otherwise once the active Service selects it and, with post-promotion
//! analysis, that run has succeeded (at once on `promote --full` or a fast
//! rollback; never while aborted).

use super::Pass;
use crate::status::BlueGreenStatus;

impl Pass<'_> {
    pub(super) fn sync_status(&mut self) {
        let changed = self.template_changed();
        self.st.current_pod_hash = Some(self.current_hash().to_owned());
        self.st.promote_full =
            self.prev.promote_full && self.st.stable_rs.as_deref() != Some(self.current_hash());
        if changed {
            self.st.promote_full = false;
        }
        if self.prev.promote_full || self.rollback_within_window() {
            self.pause.clear = true;
            self.pause.remove_abort = true;
        }
        self.st.blue_green = BlueGreenStatus {
            preview_selector: self.preview.clone(),
            active_selector: self.active.clone(),
            scale_up_preview_check_point: false,
            pre_promotion_analysis_run_status: if changed { None } else { self.pre.clone() },
            post_promotion_analysis_run_status: if changed { None } else { self.post.clone() },
        };
        match self.promotion_reason() {
            Some(reason) => self.promote_stable(reason),
            None => {
                self.st.blue_green.scale_up_preview_check_point =
                    self.scale_up_preview_check_point();
            }
        }
    }

    /// Argo's `shouldFullPromote` for blue-green: why the current
    /// ReplicaSet becomes stable now, if it does.
    fn promotion_reason(&self) -> Option<&'static str> {
        if self.stable.is_none() {
            return Some("Initial deploy");
        }
        let active = self.st.blue_green.active_selector.as_deref();
        let Some(active) = active else {
            // A first deploy switches the active Service only once there is a stable ReplicaSet.
            return Some("Initial deploy");
        };
        if active != self.current_hash() {
            return None;
        }
        if self.prev.promote_full {
            return Some("Full promotion requested");
        }
        if self.is_fast_rollback() {
            return Some(if self.rollback_within_window() {
                "Rollback within window"
            } else {
                "Fast rollback"
            });
        }
        if self.aborted() {
            return None;
        }
        if self.bg.post_promotion_analysis.is_some() && !self.post_promotion_succeeded() {
            return None;
        }
        Some("Completed blue-green update")
    }

    /// Argo's `promoteStable`.
    fn promote_stable(&mut self, reason: &str) {
        self.pause.clear = true;
        self.pause.remove_abort = true;
        self.st.promote_full = false;
        self.st.blue_green.scale_up_preview_check_point = false;
        let hash = self.current_hash();
        if self.st.stable_rs.as_deref() != Some(hash) {
            self.st.stable_rs = Some(hash.to_owned());
            let message = format!(
                "Rollout completed update to revision {} ({hash}): {reason}",
                self.revision()
            );
            self.event(false, "RolloutCompleted", message);
        }
    }

    /// Argo's `calculateScaleUpPreviewCheckPoint`: with `previewReplicaCount`,
    /// set once the pause and pre-promotion analysis are done and the
    /// preview has that many pods available; kept until the next update or
    /// promotion.
    fn scale_up_preview_check_point(&self) -> bool {
        let Some(count) = self.bg.preview_replica_count else {
            return false;
        };
        if self.prev.blue_green.scale_up_preview_check_point && !self.template_changed() {
            return true;
        }
        if !self.completed_pre_promotion_analysis() || !self.completed_pause() {
            return false;
        }
        self.new.is_some_and(|rs| rs.available_replicas == count)
    }
}
