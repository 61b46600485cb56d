//! Replica math: how many pods the canary and stable ReplicaSets should have.
//!
//! These are the formulas Argo Rollouts uses (`utils/replicaset`), as plain
//! functions over numbers so that a controller can call them directly:
//!
//! * [`surge_and_unavailable`] resolves `maxSurge`/`maxUnavailable`;
//! * [`approximate_weighted_counts`] turns a weight into a pod split without
//!   ever leaving a side at zero for weights strictly between 0 and max;
//! * [`basic_canary_counts`] moves a basic (replica-ratio) canary toward that
//!   split within the surge and availability budget;
//! * [`traffic_routed_counts`] sizes a traffic-routed canary, where the
//!   stable side stays fully scaled unless `dynamicStableScale` is on.

use crate::error::FieldError;
use crate::intstr::{IntOrString, Rounding};

/// The default `maxSurge` and `maxUnavailable` of a canary: 25%.
pub const DEFAULT_SURGE_AND_UNAVAILABLE: &str = "25%";

/// The spec and available pod counts of a ReplicaSet, as the math needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pods {
    /// `spec.replicas`.
    pub spec: i32,
    /// `status.availableReplicas`.
    pub available: i32,
}

impl Pods {
    /// A ReplicaSet with `spec` pods of which `available` are available.
    pub const fn new(spec: i32, available: i32) -> Self {
        Self { spec, available }
    }
}

/// Resolves `maxSurge` and `maxUnavailable` against `replicas` like Argo:
/// surge rounds up, unavailable rounds down, both 0 makes unavailable 1,
/// and unavailable is capped at `replicas` (0 when `replicas` is 0).
///
/// ```
/// use rollout_core::replicas::surge_and_unavailable;
/// use rollout_core::intstr::IntOrString;
/// assert_eq!(surge_and_unavailable(None, None, 10), Ok((3, 2)));
/// let zero = IntOrString::from(0);
/// assert_eq!(surge_and_unavailable(Some(&"10%".into()), Some(&zero), 4), Ok((1, 0)));
/// assert_eq!(surge_and_unavailable(Some(&zero), Some(&"10%".into()), 4), Ok((0, 1)));
/// ```
pub fn surge_and_unavailable(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    replicas: i32,
) -> Result<(i32, i32), FieldError> {
    let default = IntOrString::from(DEFAULT_SURGE_AND_UNAVAILABLE);
    let surge = max_surge
        .unwrap_or(&default)
        .resolve(replicas, Rounding::Up)
        .map_err(|e| FieldError::new("spec.strategy.canary.maxSurge", e.to_string()))?;
    let mut unavailable = max_unavailable
        .unwrap_or(&default)
        .resolve(replicas, Rounding::Down)
        .map_err(|e| FieldError::new("spec.strategy.canary.maxUnavailable", e.to_string()))?;
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    let unavailable = if replicas == 0 {
        0
    } else {
        unavailable.min(replicas)
    };
    Ok((surge, unavailable))
}

/// `a * b / d` without overflow (in 64 bits, saturated back to `i32`); 0 when `d` is 0.
pub(crate) fn mul_div(a: i32, b: i32, d: i32) -> i32 {
    if d == 0 {
        return 0;
    }
    let v = i64::from(a) * i64::from(b) / i64::from(d);
    i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX })
}

/// `ceil(weight * replicas / max_weight)`, the pod count a traffic share needs.
///
/// ```
/// use rollout_core::replicas::pods_for_weight;
/// assert_eq!(pods_for_weight(10, 25, 100), 3);
/// assert_eq!(pods_for_weight(10, 0, 100), 0);
/// ```
pub fn pods_for_weight(replicas: i32, weight: i32, max_weight: i32) -> i32 {
    if max_weight <= 0 {
        return 0;
    }
    let n = i64::from(weight.max(0)) * i64::from(replicas.max(0));
    let d = i64::from(max_weight);
    i32::try_from((n + d - 1) / d).unwrap_or(i32::MAX)
}

/// Splits `replicas` into (canary, stable) pods approximating `weight` out
/// of `max_weight`, allowing one extra pod when `surge > 0`. For weights
/// strictly between 0 and the maximum and at least two replicas, neither
/// side is ever zero; ties round the canary up.
///
/// ```
/// use rollout_core::replicas::approximate_weighted_counts;
/// assert_eq!(approximate_weighted_counts(10, 20, 100, 1), (2, 8));
/// assert_eq!(approximate_weighted_counts(2, 50, 100, 1), (1, 1));
/// assert_eq!(approximate_weighted_counts(4, 1, 100, 1), (1, 4)); // surges instead of 0 canary
/// ```
pub fn approximate_weighted_counts(
    replicas: i32,
    weight: i32,
    max_weight: i32,
    surge: i32,
) -> (i32, i32) {
    if replicas <= 0 || max_weight <= 0 {
        return (0, 0);
    }
    let ratio =
        |canary: i32, total: i32| f64::from(canary) * f64::from(max_weight) / f64::from(total);
    let frac = f64::from(weight) / f64::from(max_weight);
    let tied = |n: i32| {
        let x = f64::from(n) * frac;
        (x - x.floor() - 0.5).abs() < 1e-12
    };
    let ceil = pods_for_weight(replicas, weight, max_weight);
    let floor =
        i32::try_from(i64::from(replicas) * i64::from(weight.max(0)) / i64::from(max_weight))
            .unwrap_or(i32::MAX);
    let zero_allowed = weight == max_weight || weight == 0 || (replicas == 1 && surge == 0);

    let mut candidates: Vec<(i32, i32)> = Vec::with_capacity(4);
    if ceil < replicas || zero_allowed {
        candidates.push((ceil, replicas));
    }
    if !tied(replicas) && (floor != 0 || zero_allowed) {
        candidates.push((floor, replicas));
    }
    if surge > 0 {
        candidates.push((ceil, replicas + 1));
        if !tied(replicas + 1) && (floor != 0 || zero_allowed) {
            candidates.push((floor, replicas + 1));
        }
    }
    let target = f64::from(weight);
    let best = candidates
        .into_iter()
        .fold(None::<(i32, i32, f64)>, |best, (c, t)| {
            let err = (ratio(c, t) - target).abs();
            match best {
                Some((_, _, e)) if e <= err => best,
                _ => Some((c, t, err)),
            }
        });
    best.map_or((0, replicas), |(c, t, _)| (c, t - c))
}

/// Inputs of [`basic_canary_counts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BasicCanary {
    /// `spec.replicas`.
    pub replicas: i32,
    /// The weight in effect for scaling (a `setWeight` or `setCanaryScale.weight`, of `max_weight`).
    pub weight: i32,
    /// `trafficRouting.maxTrafficWeight`, 100 for a basic canary.
    pub max_weight: i32,
    /// Resolved `maxSurge`.
    pub max_surge: i32,
    /// Resolved `maxUnavailable`.
    pub max_unavailable: i32,
    /// The canary (new) ReplicaSet, if it exists.
    pub new: Option<Pods>,
    /// The stable ReplicaSet, if it exists and differs from the new one.
    pub stable: Option<Pods>,
    /// Pods of all other ReplicaSets of the rollout.
    pub others: Pods,
}

/// The next (canary, stable) sizes of a basic canary: move toward the
/// weighted split, scaling up within `replicas + maxSurge` (stable first) and
/// down only as far as `replicas - maxUnavailable` available pods allow.
/// While other ReplicaSets still have pods, nothing is scaled down.
///
/// ```
/// use rollout_core::replicas::{basic_canary_counts, BasicCanary, Pods};
/// // 10 replicas at 20%: one surge pod at a time, stable drains as the canary becomes available.
/// let mut input = BasicCanary { replicas: 10, weight: 20, max_weight: 100, max_surge: 1,
///     max_unavailable: 0, new: Some(Pods::new(0, 0)), stable: Some(Pods::new(10, 10)),
///     others: Pods::default() };
/// assert_eq!(basic_canary_counts(&input), (1, 10));
/// input.new = Some(Pods::new(1, 1));
/// input.stable = Some(Pods::new(10, 10));
/// assert_eq!(basic_canary_counts(&input), (1, 9));
/// ```
pub fn basic_canary_counts(input: &BasicCanary) -> (i32, i32) {
    let r = input.replicas;
    let (mut desired_new, mut desired_stable) =
        approximate_weighted_counts(r, input.weight, input.max_weight, input.max_surge);
    if input.stable.is_none() {
        desired_new = r;
        desired_stable = 0;
        return scale_up_only(input, desired_new, desired_stable);
    }
    let (mut new_count, mut stable_count) = scale_up_only(input, desired_new, desired_stable);
    if input.others.spec > 0 {
        return (new_count, stable_count);
    }
    let min_available = r - input.max_unavailable;
    let is_increasing = input.new.is_none_or(|n| desired_new >= n.spec);
    let to_scale_down = replicas_for_scale_down(input.new, !is_increasing)
        + replicas_for_scale_down(input.stable, is_increasing);
    if to_scale_down <= min_available {
        return (new_count, stable_count);
    }
    let scale_down = to_scale_down - min_available;
    let max_allowed = r.saturating_add(input.max_surge);
    if !is_increasing {
        if let Some(new) = input.new
            && new.spec > desired_new
        {
            new_count = desired_new.max(new_count - scale_down);
        }
        (new_count, stable_count) = adjust_within_limits(
            (input.new, new_count),
            (input.stable, stable_count),
            max_allowed,
            min_available,
        );
    } else if let Some(stable) = input.stable {
        if stable.spec > desired_stable {
            stable_count = desired_stable.max(stable_count - scale_down);
        }
        (stable_count, new_count) = adjust_within_limits(
            (input.stable, stable_count),
            (input.new, new_count),
            max_allowed,
            min_available,
        );
    }
    (new_count, stable_count)
}

/// Scale-up phase: stable first, then new, both within `replicas + maxSurge`.
fn scale_up_only(input: &BasicCanary, desired_new: i32, desired_stable: i32) -> (i32, i32) {
    let mut new_count = input.new.map_or(0, |p| p.spec);
    let mut stable_count = input.stable.map_or(0, |p| p.spec);
    let max_allowed = input.replicas.saturating_add(input.max_surge);
    let mut room = max_allowed.saturating_sub(
        input
            .others
            .spec
            .saturating_add(new_count)
            .saturating_add(stable_count),
    );
    if input.stable.is_some() && stable_count < desired_stable && room > 0 {
        let add = (desired_stable - stable_count).min(room);
        stable_count += add;
        room -= add;
    }
    if new_count < desired_new && room > 0 {
        new_count += (desired_new - new_count).min(room);
    }
    (new_count, stable_count)
}

/// The pods of a ReplicaSet that count when deciding how far it may be
/// scaled down (Argo's `GetReplicasForScaleDown`): none without the
/// ReplicaSet; `spec` when more pods are available than asked for (the extra
/// ones are going away) or when availability is ignored (so a ReplicaSet
/// whose pods crash can still be scaled down); else the available pods.
///
/// ```
/// use rollout_core::replicas::{replicas_for_scale_down, Pods};
/// assert_eq!(replicas_for_scale_down(Some(Pods::new(3, 5)), false), 3);
/// assert_eq!(replicas_for_scale_down(Some(Pods::new(3, 2)), false), 2);
/// assert_eq!(replicas_for_scale_down(Some(Pods::new(3, 2)), true), 3);
/// assert_eq!(replicas_for_scale_down(None, false), 0);
/// ```
pub fn replicas_for_scale_down(rs: Option<Pods>, ignore_availability: bool) -> i32 {
    match rs {
        None => 0,
        Some(p) if p.spec < p.available || ignore_availability => p.spec,
        Some(p) => p.available,
    }
}

/// Keeps `drain + adjust` within `max_allowed` while keeping at least
/// `min_available` available pods; returns the new (drain, adjust) counts.
fn adjust_within_limits(
    (drain_rs, mut drain): (Option<Pods>, i32),
    (adjust_rs, mut adjust): (Option<Pods>, i32),
    max_allowed: i32,
    min_available: i32,
) -> (i32, i32) {
    let over = adjust
        .saturating_add(drain)
        .saturating_sub(max_allowed)
        .max(0);
    adjust = adjust.saturating_sub(over);
    let drain_available = drain_rs.map_or(0, |p| p.available);
    let adjust_available = adjust_rs.map_or(0, |p| p.available);
    let available = drain_available
        .min(drain)
        .saturating_add(adjust_available.min(adjust));
    let extra = adjust_available.saturating_sub(adjust).max(0);
    adjust = adjust.saturating_add(extra.min(min_available.saturating_sub(available).max(0)));
    drain = drain.saturating_sub(
        adjust
            .saturating_add(drain)
            .saturating_sub(max_allowed)
            .max(0),
    );
    (drain, adjust)
}

/// Inputs of [`traffic_routed_counts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TrafficRoutedCanary {
    /// `spec.replicas`.
    pub replicas: i32,
    /// The canary's scaling weight (of `max_weight`), when not sized by replicas.
    pub weight: i32,
    /// An explicit canary size from `setCanaryScale.replicas`.
    pub canary_replicas: Option<i32>,
    /// `trafficRouting.maxTrafficWeight`.
    pub max_weight: i32,
    /// `minPodsPerReplicaSet`.
    pub min_pods_per_replica_set: Option<i32>,
    /// `dynamicStableScale`.
    pub dynamic_stable_scale: bool,
    /// The weights last sent to the router (canary, stable), if any.
    pub current_weights: Option<(i32, i32)>,
    /// The update is aborted.
    pub aborted: bool,
}

/// The (canary, stable) sizes of a traffic-routed canary. The canary gets
/// `ceil(weight * replicas / max)` pods (or `setCanaryScale.replicas`); the
/// stable side stays at `replicas` so an abort can move traffic back at once,
/// unless `dynamicStableScale` shrinks it with the traffic it no longer gets.
///
/// ```
/// use rollout_core::replicas::{traffic_routed_counts, TrafficRoutedCanary};
/// let input = TrafficRoutedCanary { replicas: 10, weight: 25, max_weight: 100, ..Default::default() };
/// assert_eq!(traffic_routed_counts(&input), (3, 10));
/// let dynamic = TrafficRoutedCanary { dynamic_stable_scale: true, ..input };
/// assert_eq!(traffic_routed_counts(&dynamic), (3, 8));
/// ```
pub fn traffic_routed_counts(input: &TrafficRoutedCanary) -> (i32, i32) {
    let r = input.replicas;
    let min_pods = |n: i32| match input.min_pods_per_replica_set {
        Some(m) if n > 0 => n.max(m.min(r)),
        _ => n,
    };
    let mut canary = input
        .canary_replicas
        .unwrap_or_else(|| min_pods(pods_for_weight(r, input.weight, input.max_weight)));
    if !input.dynamic_stable_scale {
        return (canary, r);
    }
    let mut stable = pods_for_weight(r, input.max_weight - input.weight, input.max_weight);
    if let Some((canary_weight, stable_weight)) = input.current_weights {
        stable = stable.max(pods_for_weight(r, stable_weight, input.max_weight));
        if input.aborted {
            canary = canary.max(pods_for_weight(r, canary_weight, input.max_weight));
        }
    }
    (min_pods(canary), min_pods(stable))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approximate_never_zeroes_a_side_in_between() {
        for r in 2..30 {
            for w in 1..100 {
                let (c, s) = approximate_weighted_counts(r, w, 100, 1);
                assert!(c > 0 && s > 0, "r={r} w={w} gave ({c},{s})");
            }
        }
    }

    #[test]
    fn approximate_extremes() {
        assert_eq!(approximate_weighted_counts(5, 0, 100, 1), (0, 5));
        assert_eq!(approximate_weighted_counts(5, 100, 100, 1), (5, 0));
        assert_eq!(approximate_weighted_counts(0, 50, 100, 1), (0, 0));
    }

    #[test]
    fn min_pods_floor_applies_to_non_zero_sides() {
        let input = TrafficRoutedCanary {
            replicas: 10,
            weight: 5,
            max_weight: 100,
            min_pods_per_replica_set: Some(2),
            ..Default::default()
        };
        assert_eq!(traffic_routed_counts(&input), (2, 10));
        let zero = TrafficRoutedCanary { weight: 0, ..input };
        assert_eq!(traffic_routed_counts(&zero), (0, 10));
    }
}
