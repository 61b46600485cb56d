//! The size of every ReplicaSet of a blue-green Rollout (Argo's
//! `reconcileBlueGreenReplicaSets`, `NewRSNewReplicas`,
//! `scaleDownOldReplicaSetsForBlueGreen` and `scaleDownDelayHelper`).
//!
//! The stable ReplicaSet keeps `spec.replicas`; the current one gets
//! `spec.replicas`, or `previewReplicaCount` until the preview has passed
//! its pause and analysis. After an abort the current one keeps its pods
//! until the stable one is fully available, then for
//! `abortScaleDownDelaySeconds` (default 30; 0 keeps them). Every other
//! ReplicaSet that no Service or status field refers to is given a
//! `scale-down-deadline` `scaleDownDelaySeconds` (default 30) ahead, keeps
//! `spec.replicas` pods until then and goes to 0 after; beyond the newest
//! `scaleDownDelayRevisionLimit` of them, at once. As in Argo, a delay of 0
//! sets no deadline, so such a ReplicaSet keeps its pods. Nothing is scaled
//! down while an inconclusive run pauses the rollout, nor, with
//! post-promotion analysis and no `scaleDownDelaySeconds`, before that run
//! has succeeded.

use std::time::Duration;

use super::Pass;
use crate::decision::{ReplicaSetRole, ReplicaSetState};
use crate::spec::DEFAULT_SCALE_DOWN_DELAY_SECONDS;
use crate::status::PauseReason;
use crate::time::Time;

fn seconds(value: Option<i32>) -> Duration {
    let s = value.unwrap_or(DEFAULT_SCALE_DOWN_DELAY_SECONDS);
    Duration::from_secs(u64::try_from(s).unwrap_or(0))
}

impl<'a> Pass<'a> {
    /// Argo's `NewRSNewReplicas` for blue-green: `spec.replicas`, or
    /// `previewReplicaCount` before the switch while the preview has not
    /// passed its checkpoint (or is paused).
    pub(super) fn new_rs_replicas(&self) -> i32 {
        let Some(preview) = self.bg.preview_replica_count else {
            return self.r;
        };
        let prev = self.prev;
        let active = prev
            .blue_green
            .active_selector
            .as_deref()
            .and_then(|h| self.obs.replica_set(h));
        if active.is_none_or(|a| a.pod_template_hash == self.current_hash()) || prev.promote_full {
            return self.r;
        }
        if prev.current_pod_hash.as_deref() != Some(self.current_hash()) {
            return preview;
        }
        let running = self.ro.spec.paused != Some(true) && prev.pause_conditions.is_empty();
        if running && prev.blue_green.scale_up_preview_check_point {
            return self.r;
        }
        preview
    }

    /// Argo's `shouldDelayScaleDownOnAbort`: aborted over a stable
    /// ReplicaSet, and `abortScaleDownDelaySeconds` is not 0.
    fn delay_scale_down_on_abort(&self) -> bool {
        self.aborted() && self.stable.is_some() && self.bg.abort_scale_down_delay_seconds != Some(0)
    }

    pub(super) fn reconcile_replica_sets(&mut self) {
        let current = self.current_hash();
        let (size, deadline) = match self.new {
            Some(new) => self.new_rs_size(new),
            None => (self.new_rs_replicas(), None),
        };
        self.target(current, ReplicaSetRole::Current, size, deadline);
        if let Some(stable) = self.stable.filter(|s| s.pod_template_hash != current) {
            self.target(
                &stable.pod_template_hash,
                ReplicaSetRole::Stable,
                self.r,
                None,
            );
        }
        self.scale_down_others();
    }

    /// The current ReplicaSet's size and deadline, with the delay after an abort.
    fn new_rs_size(&mut self, new: &ReplicaSetState) -> (i32, Option<Time>) {
        let wanted = self.new_rs_replicas();
        if !self.delay_scale_down_on_abort() {
            return (wanted, None);
        }
        match new.scale_down_deadline {
            Some(deadline) if self.now < deadline => {
                self.wake_at(deadline);
                (new.spec_replicas, Some(deadline))
            }
            Some(deadline) => (0, Some(deadline)),
            None => {
                let stable_ready = self.stable.is_some_and(|s| s.available_replicas >= self.r);
                if !stable_ready {
                    return (new.spec_replicas, None);
                }
                let deadline = self.now + seconds(self.bg.abort_scale_down_delay_seconds);
                self.wake_at(deadline);
                (new.spec_replicas, Some(deadline))
            }
        }
    }

    /// Whether the status or a Service still refers to this ReplicaSet
    /// (Argo's `isReplicaSetReferenced`): it is not scaled down.
    fn referenced(&self, rs: &ReplicaSetState) -> bool {
        let hash = Some(rs.pod_template_hash.as_str());
        let prev = self.prev;
        [
            prev.stable_rs.as_deref(),
            prev.current_pod_hash.as_deref(),
            prev.blue_green.active_selector.as_deref(),
            prev.blue_green.preview_selector.as_deref(),
        ]
        .contains(&hash)
            || [
                Some(self.bg.active_service.as_str()),
                self.bg.preview_service.as_deref(),
            ]
            .into_iter()
            .flatten()
            .any(|service| self.obs.service_selector(service) == hash)
    }

    fn scale_down_others(&mut self) {
        let current = self.current_hash();
        let stable = self.stable.map(|s| s.pod_template_hash.as_str());
        let mut others: Vec<&'a ReplicaSetState> = self
            .obs
            .replica_sets
            .iter()
            .filter(|rs| {
                rs.pod_template_hash != current
                    && Some(rs.pod_template_hash.as_str()) != stable
                    && rs.spec_replicas > 0
            })
            .collect();
        if others.is_empty() || self.prev.has_pause(PauseReason::InconclusiveAnalysisRun) {
            return;
        }
        if self.bg.post_promotion_analysis.is_some()
            && self.bg.scale_down_delay_seconds.is_none()
            && !self.post_promotion_succeeded()
            && self.post_promotion_under_way()
        {
            return;
        }
        others.sort_by_key(|rs| std::cmp::Reverse(rs.revision));
        let limit = self
            .bg
            .scale_down_delay_revision_limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(0));
        let delay = seconds(self.bg.scale_down_delay_seconds);
        let mut delayed = 0;
        for rs in others {
            if self.referenced(rs) {
                continue;
            }
            let (size, deadline) = match rs.scale_down_deadline {
                None if delayed < limit => {
                    delayed += 1;
                    if delay.is_zero() {
                        (rs.spec_replicas, None)
                    } else {
                        let deadline = self.now + delay;
                        self.wake_at(deadline);
                        (rs.spec_replicas, Some(deadline))
                    }
                }
                None => (0, None),
                Some(deadline) => {
                    delayed += 1;
                    if delayed <= limit && self.now < deadline {
                        self.wake_at(deadline);
                        (self.r, Some(deadline))
                    } else {
                        (0, Some(deadline))
                    }
                }
            };
            self.target(&rs.pod_template_hash, ReplicaSetRole::Old, size, deadline);
        }
    }

    /// Post-promotion analysis applies to this update (Argo's
    /// `!skipPostPromotionAnalysisRun` as the scale-down reads it).
    fn post_promotion_under_way(&self) -> bool {
        let current = self.current_hash();
        if self.prev.stable_rs.as_deref() == Some(current)
            || self.prev.blue_green.active_selector.as_deref() != Some(current)
        {
            return false;
        }
        self.post.is_some() || self.new.is_some_and(|new| self.saturated(new))
    }
}
