//! Canary steps: what each entry of `spec.strategy.canary.steps` asks for.
//!
//! A step sets one or more actions (`- setWeight: 20`,
//! `- {setCanaryScale: {replicas: 1}, setHeaderRoute: {...}, pause: {}}`).
//! Which actions may share a step is Argo Rollouts' rule, and it holds by
//! construction here: at most one of `setWeight`, `pause`, `experiment` and
//! `analysis` (the [`EXCLUSIVE_STEP_FIELDS`]), joined by any of
//! `setCanaryScale`, `setHeaderRoute`, `setMirrorRoute` and `plugin`. A step
//! with no action, or with two of the exclusive ones, is a parse error that
//! names the actions.
//!
//! Every action of the current step takes effect (a `pause` pauses, an
//! `analysis` runs, a `setCanaryScale` sizes the canary, routes are set, a
//! `plugin` runs); one of them decides when the step is complete
//! ([`CanaryStep::completed_by`]), in the order Argo Rollouts' controller
//! checks them.

use std::fmt;

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::spec::AnalysisStep;
pub use crate::step_actions::{
    HeaderMatch, MirrorMatch, Pause, PluginStep, SetCanaryScale, SetHeaderRoute, SetMirrorRoute,
    StringMatch,
};

/// One action of a step: one field of a step object.
#[derive(Debug, Clone, PartialEq)]
pub enum StepAction {
    /// `setWeight`: the canary's share of traffic (of `maxTrafficWeight`).
    SetWeight(i32),
    /// `pause`: wait for a duration, or until resumed.
    Pause(Pause),
    /// `experiment` (kept as written; the engine reports it unsupported).
    Experiment(Value),
    /// `analysis`: run an AnalysisRun and wait for its outcome.
    Analysis(AnalysisStep),
    /// `setCanaryScale`: size the canary independently of its traffic weight.
    SetCanaryScale(SetCanaryScale),
    /// `setHeaderRoute`: send requests matching headers to the canary.
    SetHeaderRoute(SetHeaderRoute),
    /// `setMirrorRoute`: copy matching requests to the canary.
    SetMirrorRoute(SetMirrorRoute),
    /// `plugin`: run a step plugin and wait for its outcome.
    Plugin(PluginStep),
}

/// The step actions by their field names, in Argo's field order.
pub const STEP_FIELDS: [&str; 8] = [
    "setWeight",
    "pause",
    "experiment",
    "analysis",
    "setCanaryScale",
    "setHeaderRoute",
    "setMirrorRoute",
    "plugin",
];

/// The actions of which a step may set at most one (Argo Rollouts'
/// validation rule); the others may join any step.
pub const EXCLUSIVE_STEP_FIELDS: [&str; 4] = ["setWeight", "pause", "experiment", "analysis"];

impl StepAction {
    /// The action's field name as written in YAML (`setWeight`, `pause`, ...).
    pub fn field_name(&self) -> &'static str {
        STEP_FIELDS[self.field_index()]
    }

    /// The position of the action's field in [`STEP_FIELDS`].
    fn field_index(&self) -> usize {
        match self {
            Self::SetWeight(_) => 0,
            Self::Pause(_) => 1,
            Self::Experiment(_) => 2,
            Self::Analysis(_) => 3,
            Self::SetCanaryScale(_) => 4,
            Self::SetHeaderRoute(_) => 5,
            Self::SetMirrorRoute(_) => 6,
            Self::Plugin(_) => 7,
        }
    }

    /// Whether this is one of the [`EXCLUSIVE_STEP_FIELDS`].
    pub fn is_exclusive(&self) -> bool {
        self.field_index() < EXCLUSIVE_STEP_FIELDS.len()
    }

    /// Where the action stands when the controller decides whether the step
    /// is complete (Argo's `completedCurrentCanaryStep` checks `pause`, then
    /// `setCanaryScale`, `setWeight`, `experiment`, `analysis`,
    /// `setHeaderRoute`, `setMirrorRoute`, `plugin`).
    fn completion_rank(&self) -> u8 {
        match self {
            Self::Pause(_) => 0,
            Self::SetCanaryScale(_) => 1,
            Self::SetWeight(_) => 2,
            Self::Experiment(_) => 3,
            Self::Analysis(_) => 4,
            Self::SetHeaderRoute(_) => 5,
            Self::SetMirrorRoute(_) => 6,
            Self::Plugin(_) => 7,
        }
    }

    fn serialize_entry<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        let key = self.field_name();
        match self {
            Self::SetWeight(w) => map.serialize_entry(key, w),
            Self::Pause(p) => map.serialize_entry(key, p),
            Self::Experiment(e) => map.serialize_entry(key, e),
            Self::Analysis(a) => map.serialize_entry(key, a),
            Self::SetCanaryScale(s) => map.serialize_entry(key, s),
            Self::SetHeaderRoute(h) => map.serialize_entry(key, h),
            Self::SetMirrorRoute(m) => map.serialize_entry(key, m),
            Self::Plugin(p) => map.serialize_entry(key, p),
        }
    }
}

/// An action is written as a step object with that one field.
impl Serialize for StepAction {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        self.serialize_entry(&mut map)?;
        map.end()
    }
}

/// Why a set of actions is not a step Argo Rollouts accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// The step sets no action.
    #[error("a step must set at least one of {}; this one sets none", STEP_FIELDS.join(", "))]
    Empty,
    /// The step sets two or more of [`EXCLUSIVE_STEP_FIELDS`] (listed).
    #[error(
        "a step may set only one of {}; this one sets {}",
        EXCLUSIVE_STEP_FIELDS.join(", "),
        .0.join(" and ")
    )]
    Exclusive(Vec<&'static str>),
    /// The same action was given twice (only possible when building steps in code).
    #[error("a step sets {0} twice")]
    Repeated(&'static str),
}

/// One step of a canary update: its actions, in Argo's field order.
///
/// ```
/// use rollout_core::spec::{CanaryStep, Pause, SetCanaryScale, StepAction};
/// let step = CanaryStep::new([
///     StepAction::Pause(Pause::default()),
///     StepAction::SetCanaryScale(SetCanaryScale { replicas: Some(1), ..Default::default() }),
/// ])
/// .unwrap();
/// assert_eq!(step.set_canary_scale().and_then(|s| s.replicas), Some(1));
/// // Argo completes such a step when its pause ends.
/// assert!(matches!(step.completed_by(), Some(StepAction::Pause(_))));
///
/// let err = CanaryStep::new([StepAction::SetWeight(20), StepAction::Pause(Pause::default())]);
/// assert_eq!(
///     err.unwrap_err().to_string(),
///     "a step may set only one of setWeight, pause, experiment, analysis; this one sets setWeight and pause"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawStep")]
pub struct CanaryStep {
    /// Not empty, at most one exclusive action, no field twice, in field order.
    actions: Vec<StepAction>,
}

impl CanaryStep {
    /// A step of these actions (in any order), if Argo Rollouts accepts them
    /// together.
    pub fn new(actions: impl IntoIterator<Item = StepAction>) -> Result<Self, StepError> {
        let mut actions: Vec<StepAction> = actions.into_iter().collect();
        actions.sort_by_key(StepAction::field_index);
        if actions.is_empty() {
            return Err(StepError::Empty);
        }
        if let Some(pair) = actions
            .windows(2)
            .find(|p| p[0].field_index() == p[1].field_index())
        {
            return Err(StepError::Repeated(pair[0].field_name()));
        }
        let exclusive: Vec<_> = actions
            .iter()
            .filter(|a| a.is_exclusive())
            .map(StepAction::field_name)
            .collect();
        if exclusive.len() > 1 {
            return Err(StepError::Exclusive(exclusive));
        }
        Ok(Self { actions })
    }

    /// The step's actions, in Argo's field order ([`STEP_FIELDS`]).
    pub fn actions(&self) -> &[StepAction] {
        &self.actions
    }

    /// The action that decides when the step is complete, in the order Argo
    /// Rollouts' controller checks them: `pause`, `setCanaryScale`,
    /// `setWeight`, `experiment`, `analysis`, `setHeaderRoute`,
    /// `setMirrorRoute`, `plugin`. So a `setWeight` that shares a step with
    /// `setCanaryScale` completes without waiting for the router's weight
    /// verification, and a `plugin` that shares a step with another action
    /// runs but does not hold the step. `None` only for a step without
    /// actions, which cannot be built.
    pub fn completed_by(&self) -> Option<&StepAction> {
        self.actions.iter().min_by_key(|a| a.completion_rank())
    }

    /// The step's `setWeight`, if it has one.
    pub fn set_weight(&self) -> Option<i32> {
        self.actions.iter().find_map(|a| match a {
            StepAction::SetWeight(w) => Some(*w),
            _ => None,
        })
    }

    /// The step's `pause`, if it has one.
    pub fn pause(&self) -> Option<&Pause> {
        self.actions.iter().find_map(|a| match a {
            StepAction::Pause(p) => Some(p),
            _ => None,
        })
    }

    /// The step's `experiment`, if it has one.
    pub fn experiment(&self) -> Option<&Value> {
        self.actions.iter().find_map(|a| match a {
            StepAction::Experiment(e) => Some(e),
            _ => None,
        })
    }

    /// The step's `analysis`, if it has one.
    pub fn analysis(&self) -> Option<&AnalysisStep> {
        self.actions.iter().find_map(|a| match a {
            StepAction::Analysis(a) => Some(a),
            _ => None,
        })
    }

    /// The step's `setCanaryScale`, if it has one.
    pub fn set_canary_scale(&self) -> Option<&SetCanaryScale> {
        self.actions.iter().find_map(|a| match a {
            StepAction::SetCanaryScale(s) => Some(s),
            _ => None,
        })
    }

    /// The step's `setHeaderRoute`, if it has one.
    pub fn set_header_route(&self) -> Option<&SetHeaderRoute> {
        self.actions.iter().find_map(|a| match a {
            StepAction::SetHeaderRoute(h) => Some(h),
            _ => None,
        })
    }

    /// The step's `setMirrorRoute`, if it has one.
    pub fn set_mirror_route(&self) -> Option<&SetMirrorRoute> {
        self.actions.iter().find_map(|a| match a {
            StepAction::SetMirrorRoute(m) => Some(m),
            _ => None,
        })
    }

    /// The step's `plugin`, if it has one.
    pub fn plugin(&self) -> Option<&PluginStep> {
        self.actions.iter().find_map(|a| match a {
            StepAction::Plugin(p) => Some(p),
            _ => None,
        })
    }
}

/// A single action is always a valid step.
impl From<StepAction> for CanaryStep {
    fn from(action: StepAction) -> Self {
        Self {
            actions: vec![action],
        }
    }
}

/// The wire form of a step as read: every action optional, in Argo's field order.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawStep {
    #[serde(default)]
    set_weight: Option<i32>,
    #[serde(default)]
    pause: Option<Pause>,
    #[serde(default)]
    experiment: Option<Value>,
    #[serde(default)]
    analysis: Option<AnalysisStep>,
    #[serde(default)]
    set_canary_scale: Option<SetCanaryScale>,
    #[serde(default)]
    set_header_route: Option<SetHeaderRoute>,
    #[serde(default)]
    set_mirror_route: Option<SetMirrorRoute>,
    #[serde(default)]
    plugin: Option<PluginStep>,
}

impl TryFrom<RawStep> for CanaryStep {
    type Error = StepError;

    fn try_from(raw: RawStep) -> Result<Self, StepError> {
        let actions = [
            raw.set_weight.map(StepAction::SetWeight),
            raw.pause.map(StepAction::Pause),
            raw.experiment.map(StepAction::Experiment),
            raw.analysis.map(StepAction::Analysis),
            raw.set_canary_scale.map(StepAction::SetCanaryScale),
            raw.set_header_route.map(StepAction::SetHeaderRoute),
            raw.set_mirror_route.map(StepAction::SetMirrorRoute),
            raw.plugin.map(StepAction::Plugin),
        ];
        Self::new(actions.into_iter().flatten())
    }
}

/// A step is written as the fields it sets, in Argo's field order.
impl Serialize for CanaryStep {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.actions.len()))?;
        for action in &self.actions {
            action.serialize_entry(&mut map)?;
        }
        map.end()
    }
}

/// Renders a step the way Argo's events do (its `CanaryStepString`): one
/// action names the step, checked in the order `setWeight`, `pause`,
/// `experiment`, `analysis`, `setCanaryScale`, `plugin`, `setHeaderRoute`,
/// `setMirrorRoute` (`setWeight: 20`, `pause: 30s`, `pause`, `analysis`,
/// `setCanaryScale{weight: 20}`). A `setCanaryScale` shows `weight` before
/// `matchTrafficWeight` before `replicas`; one with none of them set is
/// passed over, and a step with nothing else shows `invalid`, as in Argo.
///
/// ```
/// use rollout_core::spec::{CanaryStep, SetCanaryScale, SetHeaderRoute, StepAction};
/// let step = CanaryStep::new([
///     StepAction::SetHeaderRoute(SetHeaderRoute { name: "h".into(), ..Default::default() }),
///     StepAction::SetCanaryScale(SetCanaryScale { replicas: Some(1), ..Default::default() }),
/// ])
/// .unwrap();
/// assert_eq!(step.to_string(), "setCanaryScale{replicas: 1}");
/// ```
impl fmt::Display for CanaryStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(w) = self.set_weight() {
            return write!(f, "setWeight: {w}");
        }
        if let Some(p) = self.pause() {
            return match &p.duration {
                None => f.write_str("pause"),
                Some(d) => write!(f, "pause: {d}"),
            };
        }
        if self.experiment().is_some() {
            return f.write_str("experiment");
        }
        if self.analysis().is_some() {
            return f.write_str("analysis");
        }
        if let Some(s) = self.set_canary_scale() {
            match (s.weight, s.match_traffic_weight, s.replicas) {
                (Some(w), _, _) => return write!(f, "setCanaryScale{{weight: {w}}}"),
                (None, true, _) => return f.write_str("setCanaryScale{matchTrafficWeight: true}"),
                (None, false, Some(r)) => return write!(f, "setCanaryScale{{replicas: {r}}}"),
                (None, false, None) => {}
            }
        }
        if let Some(p) = self.plugin() {
            return write!(f, "plugin: {}", p.name);
        }
        if let Some(h) = self.set_header_route() {
            return write!(f, "setHeaderRoute: {}", h.name);
        }
        if let Some(m) = self.set_mirror_route() {
            return write!(f, "setMirrorRoute: {}", m.name);
        }
        f.write_str("invalid")
    }
}

#[cfg(test)]
mod tests;
