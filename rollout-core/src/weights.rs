//! Canary weights: the weight the steps ask for, how the canary is sized,
//! the weight the traffic router gets, and on abort how fast traffic
//! returns to the stable side.
//!
//! Without `dynamicStableScale` the stable ReplicaSet is always fully
//! scaled, so an abort moves all traffic back in one update (weight 0).
//! With it, the stable side may be small when the abort happens; traffic then
//! steps back only as fast as stable pods become available. These are
//! Argo Rollouts' `GetDesiredCanaryWeight` (abort branch) and
//! `calculateDesiredWeightOnAbortOrStableRollback`.

use crate::replicas::pods_for_weight;
use crate::spec::{CanaryStep, CanaryStrategy};
use crate::steps::{CanaryScale, set_weights};

/// The canary weight an aborted, dynamically scaled rollout can still
/// justify: walking the `setWeight` steps from the last to the first, the
/// first weight whose pods (`ceil(w * replicas / max)`) are fewer than the
/// canary pods still needed, or 0. The canary pods needed are the pods the
/// stable side is missing, or the canary's available pods if more, unless an
/// explicit positive `abortScaleDownDelaySeconds` asks to ignore the latter.
///
/// ```
/// use rollout_core::spec::{CanaryStep, StepAction};
/// use rollout_core::weights::abort_step_weight;
/// let steps = [StepAction::SetWeight(10), StepAction::SetWeight(50)].map(CanaryStep::from);
/// // 10 replicas, 9 stable available, 5 canary available: 5 canary pods still count.
/// assert_eq!(abort_step_weight(&steps, 10, 100, 9, 5, None), 10);
/// // With an explicit delay only the 1 missing stable pod counts: weight 0.
/// assert_eq!(abort_step_weight(&steps, 10, 100, 9, 5, Some(30)), 0);
/// ```
pub fn abort_step_weight(
    steps: &[CanaryStep],
    replicas: i32,
    max_weight: i32,
    stable_available: i32,
    canary_available: i32,
    abort_scale_down_delay_seconds: Option<i32>,
) -> i32 {
    let missing_stable = replicas - stable_available;
    let canary_pods = if abort_scale_down_delay_seconds.is_some_and(|d| d > 0) {
        missing_stable
    } else {
        missing_stable.max(canary_available)
    };
    set_weights(steps)
        .rev()
        .find(|w| pods_for_weight(replicas, *w, max_weight) < canary_pods)
        .unwrap_or(0)
}

/// Inputs of [`abort_weight`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AbortWeight {
    /// `dynamicStableScale` is on.
    pub dynamic_stable_scale: bool,
    /// `spec.replicas`.
    pub replicas: i32,
    /// `maxTrafficWeight`.
    pub max_weight: i32,
    /// The weight the steps still justify ([`abort_step_weight`]).
    pub desired: i32,
    /// Available stable pods, if a stable ReplicaSet exists.
    pub stable_available: Option<i32>,
    /// Whether the canary ReplicaSet exists.
    pub canary_exists: bool,
    /// The canary weight last sent to the router, if any.
    pub current: Option<i32>,
}

/// The canary weight after an abort: 0 at once, unless dynamic stable scale
/// is on, in which case the weight only drops as far as the available
/// stable pods can carry (`max - max * stable_available / replicas`), never
/// rises, and holds while the stable side is still scaling up.
///
/// ```
/// use rollout_core::weights::{abort_weight, AbortWeight};
/// let base = AbortWeight { dynamic_stable_scale: true, replicas: 5, max_weight: 100,
///     canary_exists: true, ..Default::default() };
/// // 1 of 5 stable pods available: the canary keeps 80 of its 100.
/// assert_eq!(abort_weight(&AbortWeight { stable_available: Some(1), current: Some(100), ..base }), 80);
/// // Without dynamic stable scale traffic returns at once.
/// assert_eq!(abort_weight(&AbortWeight { dynamic_stable_scale: false, ..base }), 0);
/// ```
pub fn abort_weight(input: &AbortWeight) -> i32 {
    let (Some(stable_available), true) = (input.stable_available, input.canary_exists) else {
        return 0;
    };
    if !input.dynamic_stable_scale || input.replicas <= 0 {
        return 0;
    }
    let (r, max, desired) = (input.replicas, input.max_weight, input.desired);
    let stable_weight = crate::replicas::mul_div(max, stable_available, r);
    let expected = (max - stable_weight).max(0);
    match input.current {
        None => expected.max(desired),
        Some(current) if desired <= 0 => expected.min(current),
        Some(current) if stable_weight < max - desired => current,
        Some(current) => desired.min(current),
    }
}

/// Where a canary update stands, as the weight and sizing rules read it
/// (Argo's rollout status fields).
#[derive(Debug, Clone, Copy)]
pub struct CanaryState<'a> {
    /// The canary strategy (steps, traffic routing, dynamic stable scale).
    pub canary: &'a CanaryStrategy,
    /// `spec.replicas`.
    pub replicas: i32,
    /// `status.currentStepIndex` (0 when unset).
    pub index: usize,
    /// `status.abort`.
    pub aborted: bool,
    /// `status.promoteFull`.
    pub promote_full: bool,
    /// `status.stableRS` names a ReplicaSet, and not the current template's:
    /// the canary follows its steps (whether that ReplicaSet is observed or not).
    pub stable_differs: bool,
    /// Available pods of the (canary, stable) ReplicaSets, when both are observed.
    pub available: Option<(i32, i32)>,
}

/// The `setWeight` in effect (Argo's `GetCurrentSetWeight`): 0 once aborted,
/// else [`set_weight_at`](crate::steps::set_weight_at).
///
/// ```
/// use rollout_core::spec::{CanaryStep, StepAction};
/// use rollout_core::weights::current_set_weight;
/// let steps = [CanaryStep::from(StepAction::SetWeight(10))];
/// assert_eq!(current_set_weight(&steps, 0, false, 100), 10);
/// assert_eq!(current_set_weight(&steps, 0, true, 100), 0);
/// assert_eq!(current_set_weight(&steps, 1, false, 100), 100);
/// ```
pub fn current_set_weight(steps: &[CanaryStep], index: usize, aborted: bool, max: i32) -> i32 {
    if aborted {
        0
    } else {
        crate::steps::set_weight_at(steps, index, max)
    }
}

/// The canary weight the steps ask for (Argo's `GetDesiredCanaryWeight`):
/// after an abort with `dynamicStableScale`, and both ReplicaSets observed,
/// the [`abort_step_weight`] the stable side's progress still justifies;
/// otherwise [`current_set_weight`].
pub fn desired_canary_weight(s: &CanaryState<'_>) -> i32 {
    let max = s.canary.max_weight();
    match s.available {
        Some((canary, stable)) if s.aborted && s.canary.dynamic_stable_scale == Some(true) => {
            abort_step_weight(
                &s.canary.steps,
                s.replicas,
                max,
                stable,
                canary,
                s.canary.abort_scale_down_delay_seconds,
            )
        }
        _ => current_set_weight(&s.canary.steps, s.index, s.aborted, max),
    }
}

/// How the canary is sized (Argo's `GetCanaryReplicasOrWeight`): an
/// explicit pod count, or a weight of `maxTrafficWeight`. The full weight
/// on a full promotion or when the canary does not follow steps (no other
/// stable ReplicaSet named in the status); else the `setCanaryScale` in
/// effect ([`canary_scale_at`](crate::steps::canary_scale_at)); else
/// [`desired_canary_weight`].
///
/// ```
/// use rollout_core::spec::{CanaryStep, CanaryStrategy, SetCanaryScale, StepAction, TrafficRouting};
/// use rollout_core::weights::{canary_replicas_or_weight, CanaryState};
/// let canary = CanaryStrategy {
///     traffic_routing: Some(TrafficRouting::default()),
///     steps: vec![
///         StepAction::SetWeight(10).into(),
///         StepAction::SetCanaryScale(SetCanaryScale { replicas: Some(5), ..Default::default() }).into(),
///     ],
///     ..Default::default()
/// };
/// let state = CanaryState { canary: &canary, replicas: 10, index: 1, aborted: false,
///     promote_full: false, stable_differs: true, available: None };
/// assert_eq!(canary_replicas_or_weight(&state), (Some(5), 0));
/// assert_eq!(canary_replicas_or_weight(&CanaryState { index: 0, ..state }), (None, 10));
/// ```
pub fn canary_replicas_or_weight(s: &CanaryState<'_>) -> (Option<i32>, i32) {
    if s.promote_full || !s.stable_differs {
        return (None, s.canary.max_weight());
    }
    match crate::steps::canary_scale_at(s.canary, s.index, s.aborted) {
        Some(CanaryScale::Replicas(r)) => (Some(r), 0),
        Some(CanaryScale::Weight(w)) => (None, w),
        None => (None, desired_canary_weight(s)),
    }
}

/// Inputs of [`router_weight`] beyond the [`CanaryState`].
#[derive(Debug, Clone, Copy)]
pub struct RouterWeight<'a> {
    /// Where the update stands.
    pub state: CanaryState<'a>,
    /// `status.stableRS` is the current template's ReplicaSet.
    pub fully_promoted: bool,
    /// Fully promoted back to the stable template while traffic still goes
    /// to the previous canary and the stable side is not fully available,
    /// with `dynamicStableScale` (Argo's `IsDynamicallyRollingBackToStable`).
    pub rolling_back_to_stable: bool,
    /// The ReplicaSets are at their desired counts
    /// ([`at_desired_replica_counts`](crate::progress::at_desired_replica_counts)).
    pub at_desired_replicas: bool,
    /// Available pods of the current template's ReplicaSet, if observed.
    pub canary_available: Option<i32>,
    /// Available pods of the stable ReplicaSet (when rolling back: of the
    /// current template's), if observed.
    pub stable_available: Option<i32>,
    /// The canary weight the router was last told (`status.canary.weights`).
    pub current_weight: Option<i32>,
}

/// The canary weight to send to the traffic router (Argo's
/// `reconcileTrafficRouting`): when rolling back to stable or aborted, the
/// [`abort_weight`]; 0 when fully promoted or while the canary has no
/// available pod; on a full promotion, the share its available pods carry
/// with `dynamicStableScale` (else the weight the router has); while the
/// ReplicaSets are not at their counts, the last `setWeight` before the
/// current step; during the steps, [`current_set_weight`]; after them, all.
///
/// ```
/// use rollout_core::spec::{CanaryStep, CanaryStrategy, StepAction};
/// use rollout_core::weights::{router_weight, CanaryState, RouterWeight};
/// let canary = CanaryStrategy {
///     steps: [StepAction::SetWeight(10), StepAction::SetWeight(20)].map(CanaryStep::from).into(),
///     ..Default::default()
/// };
/// let state = CanaryState { canary: &canary, replicas: 10, index: 1, aborted: false,
///     promote_full: false, stable_differs: true, available: Some((1, 10)) };
/// let input = RouterWeight { state, fully_promoted: false, rolling_back_to_stable: false,
///     at_desired_replicas: false, canary_available: Some(1), stable_available: Some(10),
///     current_weight: Some(10) };
/// // Weight 20 needs 2 canary pods; with 1 the router keeps the previous step's 10.
/// assert_eq!(router_weight(&input), 10);
/// assert_eq!(router_weight(&RouterWeight { at_desired_replicas: true, ..input }), 20);
/// ```
pub fn router_weight(input: &RouterWeight<'_>) -> i32 {
    let s = &input.state;
    let max = s.canary.max_weight();
    let on_abort = || {
        abort_weight(&AbortWeight {
            dynamic_stable_scale: s.canary.dynamic_stable_scale(),
            replicas: s.replicas,
            max_weight: max,
            desired: desired_canary_weight(s),
            stable_available: input.stable_available,
            canary_exists: input.canary_available.is_some(),
            current: input.current_weight,
        })
    };
    if input.rolling_back_to_stable {
        return on_abort();
    }
    if input.fully_promoted {
        return 0;
    }
    if s.aborted {
        return on_abort();
    }
    let canary_available = input.canary_available.unwrap_or(0);
    if canary_available == 0 {
        return 0;
    }
    if s.promote_full {
        if s.canary.dynamic_stable_scale() && s.replicas > 0 {
            return crate::replicas::mul_div(max, canary_available, s.replicas);
        }
        return input.current_weight.unwrap_or(0);
    }
    if s.canary.steps.is_empty() {
        return 0;
    }
    if !input.at_desired_replicas {
        crate::steps::set_weight_before(&s.canary.steps, s.index)
    } else {
        crate::steps::set_weight_at(&s.canary.steps, s.index, max)
    }
}
