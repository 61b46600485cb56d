//! The size of every ReplicaSet: the canary and stable split for the
//! current step (traffic-routed or basic canary), the canary kept after an
//! abort, and the scale-down of old ReplicaSets.
//!
//! Contract: [`Pass::replica_targets`] is read once at the end of the pass;
//! a halted Rollout keeps the canary's size and names no other target.
//! Scale-down delays wake the pass when they end.

use std::time::Duration;

use super::Pass;
use crate::decision::{ReplicaSetRole, ReplicaSetState, ReplicaSetTarget};
use crate::progress::{self, CanaryReplicaCounts};
use crate::replicas::{self, BasicCanary, Pods, TrafficRoutedCanary};
use crate::scale_down::{self, OldReplicaSet, OldReplicaSetPlan};
use crate::spec::DEFAULT_SCALE_DOWN_DELAY_SECONDS;
use crate::time::Time;
use crate::weights::{self, CanaryState};

impl<'a> Pass<'a> {
    /// Where the update stands, for the weight and sizing rules.
    pub(super) fn canary_state(&self) -> CanaryState<'a> {
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
    pub(super) fn desired_counts(&self) -> (i32, i32) {
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
    pub(super) fn at_desired_replicas(&self) -> bool {
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

    /// ReplicaSets neither current nor stable. The stable one is known by
    /// the cached lookup: a stable hash with no observed ReplicaSet matches
    /// none anyway.
    fn others(&self) -> impl Iterator<Item = &'a ReplicaSetState> + use<'a> {
        let current = self.obs.current_pod_hash.as_str();
        let stable = self.stable.map(|s| s.pod_template_hash.as_str());
        self.obs.replica_sets.iter().filter(move |rs| {
            rs.pod_template_hash != current && Some(rs.pod_template_hash.as_str()) != stable
        })
    }

    pub(super) fn replica_targets(&mut self) -> Vec<ReplicaSetTarget> {
        let current = self.current_hash();
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
                    current,
                    ReplicaSetRole::Current,
                    new.spec_replicas,
                    new.scale_down_deadline,
                ));
            }
            return targets;
        }
        if self.fully_promoted() {
            let size = self.canary_size_before_promotion.unwrap_or(self.r);
            targets.push(target(current, ReplicaSetRole::Current, size, None));
        } else {
            let (mut new_n, stable_n) = self.desired_counts();
            let mut new_deadline = None;
            if self.st.abort && self.c.routes_traffic() {
                (new_n, new_deadline) = self.aborted_canary_size(new_n);
            }
            targets.push(target(
                current,
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
        let (due, deadline) = self.delayed_scale_down(delay, new.scale_down_deadline);
        (if due { 0 } else { new.spec_replicas }, Some(deadline))
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
        let (due, deadline) =
            self.delayed_scale_down(self.c.scale_down_delay_seconds, rs.scale_down_deadline);
        let plan = if due {
            OldReplicaSetPlan::Zero
        } else {
            OldReplicaSetPlan::Keep
        };
        (plan, Some(deadline))
    }

    fn referenced_by_router(&self, rs: &ReplicaSetState) -> bool {
        self.prev.canary.weights.as_ref().is_some_and(|w| {
            [&w.canary, &w.stable].iter().any(|d| {
                d.weight > 0 && d.pod_template_hash.as_deref() == Some(&rs.pod_template_hash)
            })
        })
    }

    /// A scale-down after `delay_seconds` (default 30), counted from the
    /// deadline already recorded or else from now: whether it is due, and
    /// the deadline. Wakes the pass at the deadline while it is not due.
    fn delayed_scale_down(
        &mut self,
        delay_seconds: Option<i32>,
        recorded: Option<Time>,
    ) -> (bool, Time) {
        let delay = Duration::from_secs(
            u64::try_from(delay_seconds.unwrap_or(DEFAULT_SCALE_DOWN_DELAY_SECONDS)).unwrap_or(0),
        );
        let deadline = recorded.unwrap_or(self.now + delay);
        if self.now < deadline {
            self.wake_at(deadline);
        }
        (self.now >= deadline, deadline)
    }
}
