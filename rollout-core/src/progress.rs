//! Whether ReplicaSets have progressed far enough for the canary to move on:
//! Argo Rollouts' `ReplicaProgressThresholdMet`, `allDesiredAreAvailable`,
//! `AtDesiredReplicaCountsForCanary` and `checkReplicasAvailable`
//! (`utils/replicaset/canary.go`, `rollout/trafficrouting.go`), as pure
//! functions over what a controller observes. [`crate::decide`] uses these
//! same functions.

use crate::decision::ReplicaSetState;
use crate::spec::{ReplicaProgressThreshold, ThresholdKind};

/// Whether `desired` pods are asked for and available: the ReplicaSet
/// exists and both `spec.replicas` and `status.availableReplicas` equal
/// `desired` (Argo's `allDesiredAreAvailable`).
///
/// ```
/// use rollout_core::ReplicaSetState;
/// use rollout_core::progress::all_desired_available;
/// let rs = ReplicaSetState { spec_replicas: 10, available_replicas: 10, ..Default::default() };
/// assert!(all_desired_available(Some(&rs), 10));
/// assert!(!all_desired_available(Some(&rs), 9));
/// assert!(!all_desired_available(None, 0));
/// ```
pub fn all_desired_available(rs: Option<&ReplicaSetState>, desired: i32) -> bool {
    rs.is_some_and(|rs| desired == rs.spec_replicas && desired == rs.available_replicas)
}

/// Whether enough of `desired` pods are available for the canary to move
/// on (Argo's `ReplicaProgressThresholdMet`): with a `Percent` threshold,
/// `available / desired` reaches it (always, when nothing is desired); with
/// `Pods`, `available` reaches it. Without a threshold, with a negative one,
/// or without the ReplicaSet, [`all_desired_available`] decides.
///
/// ```
/// use rollout_core::ReplicaSetState;
/// use rollout_core::progress::replica_progress_threshold_met;
/// use rollout_core::spec::{ReplicaProgressThreshold, ThresholdKind};
/// let rs = ReplicaSetState { spec_replicas: 10, available_replicas: 9, ..Default::default() };
/// let ninety = ReplicaProgressThreshold { kind: ThresholdKind::Percent, value: 90 };
/// assert!(replica_progress_threshold_met(Some(&ninety), Some(&rs), 10));
/// assert!(!replica_progress_threshold_met(None, Some(&rs), 10));
/// ```
pub fn replica_progress_threshold_met(
    threshold: Option<&ReplicaProgressThreshold>,
    rs: Option<&ReplicaSetState>,
    desired: i32,
) -> bool {
    let (Some(threshold), Some(rs)) = (threshold, rs) else {
        return all_desired_available(rs, desired);
    };
    if threshold.value < 0 {
        return all_desired_available(Some(rs), desired);
    }
    match threshold.kind {
        ThresholdKind::Percent => {
            if desired == 0 {
                return true;
            }
            let percent = f64::from(rs.available_replicas) / f64::from(desired) * 100.0;
            let wanted = f64::from(threshold.value);
            // Argo allows for floating point error at the boundary.
            percent >= wanted || (percent - wanted).abs() <= 1e-10
        }
        ThresholdKind::Pods => rs.available_replicas >= threshold.value,
    }
}

/// Whether `desired` pods are asked for and exist (Argo's
/// `allDesiredAreCreated`): `spec.replicas` and `status.replicas` both
/// equal `desired`; availability is not looked at.
pub fn all_desired_created(rs: Option<&ReplicaSetState>, desired: i32) -> bool {
    rs.is_some_and(|rs| desired == rs.spec_replicas && desired == rs.replicas)
}

/// Inputs of [`at_desired_replica_counts`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CanaryReplicaCounts<'a> {
    /// The (canary, stable) pod counts wanted at this point of the update.
    pub desired: (i32, i32),
    /// `canary.replicaProgressThreshold`.
    pub threshold: Option<&'a ReplicaProgressThreshold>,
    /// The canary (new) ReplicaSet, if observed.
    pub canary: Option<&'a ReplicaSetState>,
    /// The stable ReplicaSet, if observed and not the canary.
    pub stable: Option<&'a ReplicaSetState>,
    /// Available pods of every other ReplicaSet of the rollout.
    pub others_available: i32,
    /// The canary routes traffic (`trafficRouting` is set).
    pub routes_traffic: bool,
    /// `dynamicStableScale` (with traffic routing).
    pub dynamic_stable_scale: bool,
}

/// Whether the canary's ReplicaSets are where this point of the update
/// wants them (Argo's `AtDesiredReplicaCountsForCanary`): the canary meets
/// [`replica_progress_threshold_met`] for its desired count; the stable
/// ReplicaSet has its desired count asked for and created (not checked with
/// traffic routing and `dynamicStableScale`); and, for a basic canary, no
/// other ReplicaSet still has available pods (they would serve traffic).
///
/// ```
/// use rollout_core::ReplicaSetState;
/// use rollout_core::progress::{at_desired_replica_counts, CanaryReplicaCounts};
/// let rs = |n| ReplicaSetState { spec_replicas: n, replicas: n, available_replicas: n, ..Default::default() };
/// let (canary, stable) = (rs(2), rs(2));
/// let counts = CanaryReplicaCounts { desired: (2, 2), canary: Some(&canary), stable: Some(&stable),
///     ..Default::default() };
/// assert!(at_desired_replica_counts(&counts));
/// assert!(!at_desired_replica_counts(&CanaryReplicaCounts { others_available: 1, ..counts }));
/// ```
pub fn at_desired_replica_counts(c: &CanaryReplicaCounts<'_>) -> bool {
    let (desired_canary, desired_stable) = c.desired;
    if !replica_progress_threshold_met(c.threshold, c.canary, desired_canary) {
        return false;
    }
    // With dynamic stable scale the stable side follows traffic, not a count.
    let stable_checked = !(c.routes_traffic && c.dynamic_stable_scale);
    if stable_checked && !all_desired_created(c.stable, desired_stable) {
        return false;
    }
    c.routes_traffic || c.others_available == 0
}

/// Whether a ReplicaSet has the pods to carry `weight` of the traffic
/// (Argo's `checkReplicasAvailable`): `weight × replicas / max_weight` pods
/// (rounded down) are available, or the [`replica_progress_threshold_met`]
/// for that many. The router is not asked to move traffic onto a side that
/// cannot carry it.
///
/// ```
/// use rollout_core::ReplicaSetState;
/// use rollout_core::progress::replicas_available_for_weight;
/// let stable = ReplicaSetState { spec_replicas: 10, available_replicas: 5, ..Default::default() };
/// assert!(replicas_available_for_weight(Some(&stable), 50, 10, 100, None));
/// assert!(!replicas_available_for_weight(Some(&stable), 60, 10, 100, None));
/// assert!(!replicas_available_for_weight(None, 0, 10, 100, None));
/// ```
pub fn replicas_available_for_weight(
    rs: Option<&ReplicaSetState>,
    weight: i32,
    replicas: i32,
    max_weight: i32,
    threshold: Option<&ReplicaProgressThreshold>,
) -> bool {
    let Some(rs) = rs else {
        return false;
    };
    let needed = crate::replicas::mul_div(weight, replicas, max_weight.max(1));
    rs.available_replicas >= needed || replica_progress_threshold_met(threshold, Some(rs), needed)
}
