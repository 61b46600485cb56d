//! Traffic weight on abort: how fast traffic returns to the stable side.
//!
//! Without `dynamicStableScale` the stable ReplicaSet is always fully
//! scaled, so an abort moves all traffic back in one update (weight 0).
//! With it, the stable side may be small when the abort happens; traffic then
//! steps back only as fast as stable pods become available. These are
//! Argo Rollouts' `GetDesiredCanaryWeight` (abort branch) and
//! `calculateDesiredWeightOnAbortOrStableRollback`.

use crate::replicas::pods_for_weight;
use crate::spec::CanaryStep;
use crate::steps::set_weights;

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
