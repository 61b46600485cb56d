//! Scaling down the old ReplicaSets of a canary within `maxUnavailable`:
//! Argo Rollouts' `scaleDownOldReplicaSetsForCanary` (with its
//! `cleanupUnhealthyReplicas`), as a pure function of the observed pods.

use crate::replicas::Pods;

/// What may happen to one old ReplicaSet when the budget reaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldReplicaSetPlan {
    /// Keep its pods: the router still sends it traffic, or its
    /// scale-down delay has not passed. It uses none of the budget.
    Keep,
    /// Scale it to 0 in one go when the budget reaches it (traffic routing:
    /// no traffic reaches it any more).
    Zero,
    /// Scale it down by as much of the budget as is left (basic canary:
    /// its pods serve traffic, so they go only as others become available).
    WithinBudget,
}

/// One old ReplicaSet: its pods and its plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OldReplicaSet {
    /// `spec.replicas` and available pods.
    pub pods: Pods,
    /// What may happen to it.
    pub plan: OldReplicaSetPlan,
}

/// The pods to keep in each old ReplicaSet, given newest revision first.
///
/// First every old ReplicaSet with unavailable pods gives them up (they
/// serve nothing: `spec` drops to its available pods). A ReplicaSet that
/// reports more available pods than it asks for is still scaling down, and
/// stops the pass there, as Argo's cleanup does (those before it, oldest
/// first, are already cleaned). Then a budget of
/// `total_available - (replicas - max_unavailable)` pods is walked from the
/// newest old ReplicaSet: [`OldReplicaSetPlan::Keep`] ones are passed over,
/// the walk stops when the budget is spent, and each other one is scaled
/// down as its plan says, using the pods it gives up from the budget.
///
/// `total_available` counts the available pods of every ReplicaSet of the
/// rollout (canary and stable included).
///
/// ```
/// use rollout_core::replicas::Pods;
/// use rollout_core::scale_down::{scale_down_old_replica_sets, OldReplicaSet, OldReplicaSetPlan};
/// // 4 replicas, maxUnavailable 0, two old ReplicaSets of 5 available pods
/// // next to a current one with none available: 6 pods may go.
/// let old = |n| OldReplicaSet { pods: Pods::new(n, n), plan: OldReplicaSetPlan::WithinBudget };
/// assert_eq!(scale_down_old_replica_sets(&[old(5), old(5)], 4, 0, 10), [0, 4]);
/// ```
pub fn scale_down_old_replica_sets(
    olds: &[OldReplicaSet],
    replicas: i32,
    max_unavailable: i32,
    total_available: i32,
) -> Vec<i32> {
    let mut sizes: Vec<i32> = olds.iter().map(|o| o.pods.spec).collect();
    // Oldest first, as Argo walks them by creation time.
    for (size, old) in sizes.iter_mut().zip(olds).rev() {
        let Pods { spec, available } = old.pods;
        if spec == 0 || spec == available {
            continue;
        }
        if available > spec {
            return sizes;
        }
        *size = available;
    }
    let mut budget = total_available - (replicas - max_unavailable);
    if budget <= 0 {
        return sizes;
    }
    for (size, old) in sizes.iter_mut().zip(olds) {
        if old.plan == OldReplicaSetPlan::Keep {
            continue;
        }
        if budget <= 0 {
            break;
        }
        if *size == 0 {
            continue;
        }
        let keep = match old.plan {
            OldReplicaSetPlan::WithinBudget if *size > budget => *size - budget,
            _ => 0,
        };
        budget -= *size - keep;
        *size = keep;
    }
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn old(spec: i32, available: i32, plan: OldReplicaSetPlan) -> OldReplicaSet {
        OldReplicaSet {
            pods: Pods::new(spec, available),
            plan,
        }
    }

    #[test]
    fn kept_replica_sets_use_no_budget() {
        let olds = [
            old(3, 3, OldReplicaSetPlan::Keep),
            old(3, 3, OldReplicaSetPlan::Zero),
        ];
        assert_eq!(scale_down_old_replica_sets(&olds, 5, 1, 6), [3, 0]);
    }

    #[test]
    fn unhealthy_pods_go_first_even_without_budget() {
        let olds = [old(4, 1, OldReplicaSetPlan::WithinBudget)];
        assert_eq!(scale_down_old_replica_sets(&olds, 5, 0, 5), [1]);
    }

    #[test]
    fn a_replica_set_still_scaling_down_stops_the_pass() {
        let olds = [
            old(2, 3, OldReplicaSetPlan::WithinBudget),
            old(4, 2, OldReplicaSetPlan::WithinBudget),
        ];
        // The older one (cleaned first) gives up its 2 unavailable pods; then the pass stops.
        assert_eq!(scale_down_old_replica_sets(&olds, 5, 0, 20), [2, 2]);
    }
}
