//! Step lookup: which step is current and which weight, scale, routes and
//! experiment the step history puts in effect at a step index. These are
//! Argo Rollouts' `utils/replicaset` step helpers; each reads every step that
//! carries the action concerned, whatever else the step sets.

use crate::spec::{
    CanaryStep, CanaryStrategy, SetCanaryScale, SetHeaderRoute, SetMirrorRoute, StepAction,
};
pub use crate::step_hash::step_hash;
pub(crate) use crate::step_hash::step_hash_matches;

/// The step at `index`, or `None` once every step is done.
///
/// ```
/// use rollout_core::spec::{CanaryStep, StepAction};
/// use rollout_core::steps::current_step;
/// let steps = [CanaryStep::from(StepAction::SetWeight(20))];
/// assert_eq!(current_step(&steps, 0), Some(&steps[0]));
/// assert_eq!(current_step(&steps, 1), None);
/// ```
pub fn current_step(steps: &[CanaryStep], index: usize) -> Option<&CanaryStep> {
    steps.get(index)
}

/// The `setWeight` in effect at `index`: the nearest one at or before it
/// (0 if none), `max_weight` once all steps are done. Argo's `GetCurrentSetWeight`
/// without the abort rule (an aborted rollout's weight is 0).
///
/// ```
/// use rollout_core::spec::{CanaryStep, Pause, StepAction};
/// use rollout_core::steps::set_weight_at;
/// let steps = [StepAction::SetWeight(20), StepAction::Pause(Pause::default()), StepAction::SetWeight(60)]
///     .map(CanaryStep::from);
/// assert_eq!(set_weight_at(&steps, 1, 100), 20);
/// assert_eq!(set_weight_at(&steps, 2, 100), 60);
/// assert_eq!(set_weight_at(&steps, 3, 100), 100);
/// ```
pub fn set_weight_at(steps: &[CanaryStep], index: usize, max_weight: i32) -> i32 {
    if index >= steps.len() {
        return max_weight;
    }
    last_set_weight(&steps[..=index])
}

/// The last `setWeight` strictly before `index` (0 if none): the traffic a
/// canary keeps while the pods for the current step are not ready yet.
///
/// ```
/// use rollout_core::spec::{CanaryStep, StepAction};
/// use rollout_core::steps::set_weight_before;
/// let steps = [StepAction::SetWeight(20), StepAction::SetWeight(40)].map(CanaryStep::from);
/// assert_eq!(set_weight_before(&steps, 0), 0);
/// assert_eq!(set_weight_before(&steps, 1), 20);
/// ```
pub fn set_weight_before(steps: &[CanaryStep], index: usize) -> i32 {
    last_set_weight(&steps[..index.min(steps.len())])
}

fn last_set_weight(steps: &[CanaryStep]) -> i32 {
    set_weights(steps).next_back().unwrap_or(0)
}

/// The weights of the steps that set one, in step order.
///
/// ```
/// use rollout_core::spec::{CanaryStep, Pause, StepAction};
/// use rollout_core::steps::set_weights;
/// let steps = [StepAction::SetWeight(20), StepAction::Pause(Pause::default()), StepAction::SetWeight(60)]
///     .map(CanaryStep::from);
/// assert_eq!(set_weights(&steps).collect::<Vec<_>>(), [20, 60]);
/// ```
pub fn set_weights(steps: &[CanaryStep]) -> impl DoubleEndedIterator<Item = i32> + '_ {
    steps.iter().filter_map(CanaryStep::set_weight)
}

/// How the canary is sized when a `setCanaryScale` step is in effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CanaryScale {
    /// An absolute number of pods.
    Replicas(i32),
    /// A weight, scaled like traffic: `spec.replicas × weight / maxTrafficWeight`.
    Weight(i32),
}

impl CanaryScale {
    /// What one `setCanaryScale` asks for, read as Argo's
    /// `UseSetCanaryScale` and `GetCanaryReplicasOrWeight` read it:
    /// `matchTrafficWeight: true` wins over everything (the canary follows
    /// its traffic weight again), then `replicas`, then `weight`; with none
    /// of them set the canary follows its traffic weight too (`None`).
    ///
    /// ```
    /// use rollout_core::spec::SetCanaryScale;
    /// use rollout_core::steps::CanaryScale;
    /// let s = SetCanaryScale { replicas: Some(3), weight: Some(50), match_traffic_weight: false };
    /// assert_eq!(CanaryScale::of(&s), Some(CanaryScale::Replicas(3)));
    /// let s = SetCanaryScale { match_traffic_weight: true, ..s };
    /// assert_eq!(CanaryScale::of(&s), None);
    /// ```
    pub fn of(scale: &SetCanaryScale) -> Option<Self> {
        match scale {
            SetCanaryScale {
                match_traffic_weight: true,
                ..
            } => None,
            SetCanaryScale {
                replicas: Some(r), ..
            } => Some(Self::Replicas(*r)),
            SetCanaryScale {
                weight: Some(w), ..
            } => Some(Self::Weight(*w)),
            _ => None,
        }
    }
}

/// The `setCanaryScale` in effect at `index` (Argo's `UseSetCanaryScale`):
/// the nearest step at or before the index that sets one, read by
/// [`CanaryScale::of`]; `None` when there is no traffic routing, all steps
/// are done, or the update was aborted (an abort keeps it only when
/// `abortScaleDownDelaySeconds` is 0).
///
/// ```
/// use rollout_core::spec::{CanaryStep, CanaryStrategy, SetCanaryScale, StepAction, TrafficRouting};
/// use rollout_core::steps::{canary_scale_at, CanaryScale};
/// let canary = CanaryStrategy {
///     traffic_routing: Some(TrafficRouting::default()),
///     steps: vec![
///         StepAction::SetCanaryScale(SetCanaryScale { replicas: Some(3), ..Default::default() }).into(),
///         StepAction::SetWeight(10).into(),
///     ],
///     ..Default::default()
/// };
/// assert_eq!(canary_scale_at(&canary, 1, false), Some(CanaryScale::Replicas(3)));
/// assert_eq!(canary_scale_at(&canary, 1, true), None);
/// ```
pub fn canary_scale_at(
    canary: &CanaryStrategy,
    index: usize,
    aborted: bool,
) -> Option<CanaryScale> {
    if !canary.routes_traffic() || index >= canary.steps.len() {
        return None;
    }
    if aborted && canary.abort_scale_down_delay_seconds != Some(0) {
        return None;
    }
    canary.steps[..=index]
        .iter()
        .rev()
        .find_map(CanaryStep::set_canary_scale)
        .and_then(CanaryScale::of)
}

/// The `setHeaderRoute` in effect for a managed route at `index`: the last
/// one for that name at or before the index, or `None` if none set it or the
/// last one removed it (empty match).
///
/// ```
/// use rollout_core::spec::{CanaryStep, HeaderMatch, Pause, SetHeaderRoute, StepAction};
/// use rollout_core::steps::header_route_at;
/// let route = SetHeaderRoute { name: "h".into(), matches: vec![HeaderMatch::default()] };
/// let steps = [
///     CanaryStep::new([StepAction::SetHeaderRoute(route), StepAction::Pause(Pause::default())]).unwrap(),
///     StepAction::SetWeight(50).into(),
/// ];
/// assert!(header_route_at(&steps, 1, "h").is_some());
/// assert!(header_route_at(&steps, 1, "other").is_none());
/// ```
pub fn header_route_at<'a>(
    steps: &'a [CanaryStep],
    index: usize,
    name: &str,
) -> Option<&'a SetHeaderRoute> {
    steps[..(index + 1).min(steps.len())]
        .iter()
        .rev()
        .filter_map(CanaryStep::set_header_route)
        .find(|h| h.name == name)
        .filter(|h| !h.matches.is_empty())
}

/// The `setMirrorRoute` in effect for a managed route at `index`; see
/// [`header_route_at`]. Its `percentage` defaults to 100.
pub fn mirror_route_at<'a>(
    steps: &'a [CanaryStep],
    index: usize,
    name: &str,
) -> Option<&'a SetMirrorRoute> {
    steps[..(index + 1).min(steps.len())]
        .iter()
        .rev()
        .filter_map(CanaryStep::set_mirror_route)
        .find(|m| m.name == name)
        .filter(|m| !m.matches.is_empty())
}

/// Whether any step sets a mirror route with this managed route name.
///
/// ```
/// use rollout_core::spec::{CanaryStep, SetMirrorRoute, StepAction};
/// use rollout_core::steps::sets_mirror_route;
/// let steps = [CanaryStep::from(StepAction::SetMirrorRoute(SetMirrorRoute { name: "m".into(), ..Default::default() }))];
/// assert!(sets_mirror_route(&steps, "m"));
/// assert!(!sets_mirror_route(&steps, "h"));
/// ```
pub fn sets_mirror_route(steps: &[CanaryStep], name: &str) -> bool {
    steps
        .iter()
        .filter_map(CanaryStep::set_mirror_route)
        .any(|m| m.name == name)
}

/// The experiment in effect at `index` (Argo's `GetCurrentExperimentStep`):
/// the nearest step at or before the index that sets `experiment`, so an
/// experiment stays current through the steps after it until another one;
/// `None` before the first, and once all steps are done.
///
/// ```
/// use rollout_core::spec::{CanaryStep, StepAction};
/// use rollout_core::steps::experiment_at;
/// let steps = [
///     StepAction::SetWeight(10),
///     StepAction::Experiment(serde_json::json!({"templates": []})),
///     StepAction::SetWeight(20),
/// ]
/// .map(CanaryStep::from);
/// assert!(experiment_at(&steps, 0).is_none());
/// assert!(experiment_at(&steps, 2).is_some());
/// assert!(experiment_at(&steps, 3).is_none());
/// ```
pub fn experiment_at(steps: &[CanaryStep], index: usize) -> Option<&serde_json::Value> {
    steps
        .get(..=index)?
        .iter()
        .rev()
        .find_map(CanaryStep::experiment)
}

/// Whether background analysis waits for its starting step (Argo's
/// `BeforeStartingStep`): the canary has background analysis with a
/// `startingStep`, there are steps, and the step index is below it. With no
/// `startingStep`, or no steps at all, background analysis starts at once.
///
/// ```
/// use rollout_core::spec::{BackgroundAnalysis, CanaryStep, CanaryStrategy, StepAction};
/// use rollout_core::steps::before_starting_step;
/// let canary = CanaryStrategy {
///     analysis: Some(BackgroundAnalysis { starting_step: Some(2), ..Default::default() }),
///     steps: [StepAction::SetWeight(10), StepAction::SetWeight(20), StepAction::SetWeight(30)]
///         .map(CanaryStep::from)
///         .into(),
///     ..Default::default()
/// };
/// assert!(before_starting_step(&canary, 1));
/// assert!(!before_starting_step(&canary, 2));
/// ```
pub fn before_starting_step(canary: &CanaryStrategy, index: usize) -> bool {
    let Some(starting) = canary.analysis.as_ref().and_then(|a| a.starting_step) else {
        return false;
    };
    if canary.steps.is_empty() {
        return false;
    }
    i64::try_from(index).unwrap_or(i64::MAX) < i64::from(starting)
}

/// Every action of every step, with the step's index, in order.
pub fn actions(steps: &[CanaryStep]) -> impl Iterator<Item = (usize, &StepAction)> {
    steps
        .iter()
        .enumerate()
        .flat_map(|(i, s)| s.actions().iter().map(move |a| (i, a)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{HeaderMatch, Pause, StringMatch, TrafficRouting};

    fn header(name: &str, value: Option<&str>) -> StepAction {
        StepAction::SetHeaderRoute(SetHeaderRoute {
            name: name.into(),
            matches: value
                .map(|v| HeaderMatch {
                    header_name: "x-canary".into(),
                    header_value: StringMatch {
                        exact: Some(v.into()),
                        ..Default::default()
                    },
                })
                .into_iter()
                .collect(),
        })
    }

    #[test]
    fn header_routes_follow_the_step_history() {
        let steps = [
            header("h", Some("1")),
            StepAction::SetWeight(20),
            header("h", None),
            StepAction::SetWeight(40),
        ]
        .map(CanaryStep::from);
        assert!(header_route_at(&steps, 0, "h").is_some());
        assert!(header_route_at(&steps, 1, "h").is_some());
        assert!(header_route_at(&steps, 2, "h").is_none());
        assert!(header_route_at(&steps, 3, "h").is_none());
        assert!(header_route_at(&steps, 1, "other").is_none());
    }

    #[test]
    fn actions_sharing_a_step_are_each_found() {
        let scale = SetCanaryScale {
            weight: Some(5),
            ..Default::default()
        };
        let steps = [
            CanaryStep::new([
                StepAction::SetWeight(30),
                StepAction::SetCanaryScale(scale),
                header("h", Some("1")),
            ])
            .unwrap(),
            StepAction::Pause(Pause::default()).into(),
        ];
        let canary = CanaryStrategy {
            traffic_routing: Some(TrafficRouting::default()),
            steps: steps.to_vec(),
            ..Default::default()
        };
        assert_eq!(set_weight_at(&steps, 1, 100), 30);
        assert_eq!(set_weight_before(&steps, 1), 30);
        assert_eq!(
            canary_scale_at(&canary, 1, false),
            Some(CanaryScale::Weight(5))
        );
        assert!(header_route_at(&steps, 1, "h").is_some());
        let names: Vec<_> = actions(&steps).map(|(i, a)| (i, a.field_name())).collect();
        assert_eq!(
            names,
            [
                (0, "setWeight"),
                (0, "setCanaryScale"),
                (0, "setHeaderRoute"),
                (1, "pause")
            ]
        );
    }

    #[test]
    fn match_traffic_weight_ends_an_earlier_scale() {
        let scale = |s: SetCanaryScale| CanaryStep::from(StepAction::SetCanaryScale(s));
        let canary = CanaryStrategy {
            traffic_routing: Some(TrafficRouting::default()),
            steps: vec![
                scale(SetCanaryScale {
                    replicas: Some(2),
                    ..Default::default()
                }),
                StepAction::SetWeight(20).into(),
                scale(SetCanaryScale {
                    replicas: Some(4),
                    match_traffic_weight: true,
                    ..Default::default()
                }),
                scale(SetCanaryScale::default()),
            ],
            ..Default::default()
        };
        assert_eq!(
            canary_scale_at(&canary, 1, false),
            Some(CanaryScale::Replicas(2))
        );
        // matchTrafficWeight wins over the replicas written next to it.
        assert_eq!(canary_scale_at(&canary, 2, false), None);
        // An empty setCanaryScale is in effect and asks for nothing.
        assert_eq!(canary_scale_at(&canary, 3, false), None);
    }
}
