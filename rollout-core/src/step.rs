//! Canary steps: what each entry of `spec.strategy.canary.steps` asks for.
//!
//! On the wire a step is an object with exactly one field set
//! (`- setWeight: 20`, `- pause: {duration: 1h}`); here it is an enum, so
//! "no action" and "two actions" are parse errors that name the fields.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::intstr::IntOrString;
use crate::spec::AnalysisStep;

/// One step of a canary update.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawStep")]
pub enum CanaryStep {
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

/// `pause: {}` (indefinite) or `pause: {duration: 30s}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pause {
    /// Seconds (number or numeric string) or a duration string; none = until resumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<IntOrString>,
}

impl Pause {
    /// The pause length: `None` for an indefinite pause, `Some(Err(()))` when
    /// the duration cannot be read (validation reports that).
    pub fn duration(&self) -> Option<Result<Duration, ()>> {
        self.duration.as_ref().map(|d| d.as_duration().ok_or(()))
    }
}

/// `setCanaryScale`: exactly one of `weight`, `replicas`, `matchTrafficWeight`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetCanaryScale {
    /// Canary pods as a percentage of `replicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    /// An absolute number of canary pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Return to sizing the canary by its traffic weight.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub match_traffic_weight: bool,
}

/// `setHeaderRoute`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetHeaderRoute {
    /// The managed route this step sets (must be in `managedRoutes`).
    pub name: String,
    /// Header matches; empty removes the route.
    #[serde(default, rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<HeaderMatch>,
}

/// One header condition of a header route.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HeaderMatch {
    /// The header's name.
    pub header_name: String,
    /// How its value is matched.
    pub header_value: StringMatch,
}

/// `{exact|prefix|regex: value}`: exactly one is set on valid input.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StringMatch {
    /// Matches the whole value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    /// Matches the start of the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Matches a regular expression (RE2 syntax, as the data planes use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

impl StringMatch {
    /// How many of exact/prefix/regex are set.
    pub fn kinds_set(&self) -> usize {
        [&self.exact, &self.prefix, &self.regex]
            .iter()
            .filter(|v| v.is_some())
            .count()
    }
}

impl fmt::Display for StringMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.exact, &self.prefix, &self.regex) {
            (Some(v), _, _) => write!(f, "={v}"),
            (_, Some(v), _) => write!(f, "^={v}"),
            (_, _, Some(v)) => write!(f, "~={v}"),
            _ => f.write_str("<empty>"),
        }
    }
}

/// `setMirrorRoute`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetMirrorRoute {
    /// The managed route this step sets (must be in `managedRoutes`).
    pub name: String,
    /// Request matches (ORed); empty removes the route.
    #[serde(default, rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<MirrorMatch>,
    /// Percentage of matching requests copied to the canary (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentage: Option<i32>,
}

/// One request match of a mirror route; the conditions are ANDed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorMatch {
    /// HTTP method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<StringMatch>,
    /// Request path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<StringMatch>,
    /// Request headers by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, StringMatch>,
}

/// `plugin` step.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginStep {
    /// The step plugin's name.
    pub name: String,
    /// Its configuration (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
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

/// The step actions by their field names, in Argo's order.
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

impl TryFrom<RawStep> for CanaryStep {
    type Error = String;

    fn try_from(raw: RawStep) -> Result<Self, String> {
        let mut set: Vec<Self> = Vec::with_capacity(1);
        set.extend(raw.set_weight.map(Self::SetWeight));
        set.extend(raw.pause.map(Self::Pause));
        set.extend(raw.experiment.map(Self::Experiment));
        set.extend(raw.analysis.map(Self::Analysis));
        set.extend(raw.set_canary_scale.map(Self::SetCanaryScale));
        set.extend(raw.set_header_route.map(Self::SetHeaderRoute));
        set.extend(raw.set_mirror_route.map(Self::SetMirrorRoute));
        set.extend(raw.plugin.map(Self::Plugin));
        match set.len() {
            1 => Ok(set.remove(0)),
            0 => Err(format!(
                "a step must set exactly one of {}; this one sets none",
                STEP_FIELDS.join(", ")
            )),
            _ => {
                let names: Vec<_> = set.iter().map(Self::field_name).collect();
                Err(format!(
                    "a step must set exactly one action; this one sets {}",
                    names.join(" and ")
                ))
            }
        }
    }
}

/// A step is written as the one field it sets, as Argo writes it.
impl Serialize for CanaryStep {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(1))?;
        let key = self.field_name();
        match self {
            Self::SetWeight(w) => map.serialize_entry(key, w)?,
            Self::Pause(p) => map.serialize_entry(key, p)?,
            Self::Experiment(e) => map.serialize_entry(key, e)?,
            Self::Analysis(a) => map.serialize_entry(key, a)?,
            Self::SetCanaryScale(s) => map.serialize_entry(key, s)?,
            Self::SetHeaderRoute(h) => map.serialize_entry(key, h)?,
            Self::SetMirrorRoute(m) => map.serialize_entry(key, m)?,
            Self::Plugin(p) => map.serialize_entry(key, p)?,
        }
        map.end()
    }
}

impl CanaryStep {
    /// The step's field name as written in YAML (`setWeight`, `pause`, ...).
    pub fn field_name(&self) -> &'static str {
        match self {
            Self::SetWeight(_) => "setWeight",
            Self::Pause(_) => "pause",
            Self::Experiment(_) => "experiment",
            Self::Analysis(_) => "analysis",
            Self::SetCanaryScale(_) => "setCanaryScale",
            Self::SetHeaderRoute(_) => "setHeaderRoute",
            Self::SetMirrorRoute(_) => "setMirrorRoute",
            Self::Plugin(_) => "plugin",
        }
    }
}

/// Renders a step the way Argo's events do (`setWeight: 20`, `pause: 30s`,
/// `pause`, `setCanaryScale{replicas: 3}`).
impl fmt::Display for CanaryStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SetWeight(w) => write!(f, "setWeight: {w}"),
            Self::Pause(Pause { duration: None }) => f.write_str("pause"),
            Self::Pause(Pause { duration: Some(d) }) => write!(f, "pause: {d}"),
            Self::Experiment(_) => f.write_str("experiment"),
            Self::Analysis(a) => {
                let names: Vec<_> = a
                    .templates
                    .iter()
                    .map(|t| t.template_name.as_str())
                    .collect();
                write!(f, "analysis: {}", names.join(", "))
            }
            Self::SetCanaryScale(s) => match (s.weight, s.replicas) {
                (Some(w), _) => write!(f, "setCanaryScale{{weight: {w}}}"),
                (_, Some(r)) => write!(f, "setCanaryScale{{replicas: {r}}}"),
                _ => f.write_str("setCanaryScale{matchTrafficWeight: true}"),
            },
            Self::SetHeaderRoute(h) => write!(f, "setHeaderRoute: {}", h.name),
            Self::SetMirrorRoute(m) => write!(f, "setMirrorRoute: {}", m.name),
            Self::Plugin(p) => write!(f, "plugin: {}", p.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<CanaryStep, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn one_field_makes_one_step() {
        assert_eq!(
            parse(json!({"setWeight": 20})),
            Ok(CanaryStep::SetWeight(20))
        );
        assert_eq!(
            parse(json!({"pause": {}})),
            Ok(CanaryStep::Pause(Pause { duration: None }))
        );
    }

    #[test]
    fn two_fields_name_both() {
        let err = parse(json!({"setWeight": 20, "pause": {}})).unwrap_err();
        assert!(err.contains("setWeight and pause"), "{err}");
    }

    #[test]
    fn no_field_lists_the_choices() {
        let err = parse(json!({})).unwrap_err();
        assert!(err.contains("sets none"), "{err}");
    }

    #[test]
    fn unknown_field_is_named() {
        let err = parse(json!({"setWieght": 20})).unwrap_err();
        assert!(err.contains("setWieght"), "{err}");
    }

    #[test]
    fn round_trips_in_argo_field_order() {
        let step = parse(json!({"setMirrorRoute": {"name": "m", "percentage": 30,
            "match": [{"method": {"exact": "GET"}}]}}))
        .unwrap();
        let back = serde_json::to_string(&step).unwrap();
        assert_eq!(
            back,
            r#"{"setMirrorRoute":{"name":"m","match":[{"method":{"exact":"GET"}}],"percentage":30}}"#
        );
    }
}
