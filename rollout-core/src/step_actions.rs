//! What each step action carries: the payloads of `pause`, `setCanaryScale`,
//! `setHeaderRoute`, `setMirrorRoute` and `plugin`, as Argo Rollouts spells them.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::intstr::IntOrString;

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

/// `setCanaryScale`: how the canary is sized from this step on (traffic
/// routing only). Argo Rollouts accepts any combination of the three fields
/// and reads them in this order: `matchTrafficWeight: true` (back to sizing
/// by the traffic weight) wins, then `replicas`, then `weight`; a step with
/// none of them set leaves the canary sized by the traffic weight. See
/// [`crate::steps::canary_scale_at`].
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
