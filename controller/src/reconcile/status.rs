//! Writing a Rollout's status: only what changed, as a JSON merge patch on
//! the status subresource (as Argo's `persistRolloutStatus` does), so an
//! unchanged state costs no write.
//!
//! Only the fields the engine owns are compared, plus the ones the
//! controller adds (`HPAReplicas` and `selector`, which the Rollout's scale
//! subresource reads, see [`scale_fields`]); fields other parties write
//! (`collisionCount`, ...) are left as they are. An absent field, `null`, `{}` and `[]` are the same, so the
//! empty `canary: {}` Argo writes does not count as a change.

use rollout_core::status::{Condition, ConditionReason, ConditionStatus, ConditionType};
use rollout_core::{RolloutStatus, Time};
use serde_json::{Map, Value};

/// The `status` fields the engine decides.
const OWNED: [&str; 20] = [
    "abort",
    "abortedAt",
    "pauseConditions",
    "controllerPause",
    "currentPodHash",
    "currentStepHash",
    "currentStepIndex",
    "stableRS",
    "promoteFull",
    "canary",
    "blueGreen",
    "replicas",
    "updatedReplicas",
    "readyReplicas",
    "availableReplicas",
    "conditions",
    "phase",
    "message",
    "observedGeneration",
    "restartedAt",
];

/// The `status.canary` fields the engine decides.
const OWNED_CANARY: [&str; 5] = [
    "weights",
    "currentExperiment",
    "currentStepAnalysisRunStatus",
    "currentBackgroundAnalysisRunStatus",
    "stablePingPong",
];

/// The merge patch (the value of `status`) that turns the live status
/// `live` (as read, `null` when absent) into `new`, or `None` when nothing
/// the engine owns differs.
///
/// ```
/// use rollgate_controller::reconcile::status::status_patch;
/// use rollout_core::RolloutStatus;
/// let live = serde_json::json!({"canary": {}, "currentStepIndex": 1, "collisionCount": 2});
/// let mut new = RolloutStatus::default();
/// new.current_step_index = Some(1);
/// assert_eq!(status_patch(&live, &new), None);
/// new.current_step_index = Some(2);
/// assert_eq!(status_patch(&live, &new), Some(serde_json::json!({"currentStepIndex": 2})));
/// ```
pub fn status_patch(live: &Value, new: &RolloutStatus) -> Option<Value> {
    status_patch_with(live, new, &Map::new())
}

/// [`status_patch`] with fields the controller computes besides the
/// engine's status (`extra`, such as [`scale_fields`]).
pub fn status_patch_with(
    live: &Value,
    new: &RolloutStatus,
    extra: &Map<String, Value>,
) -> Option<Value> {
    let mut new = serde_json::to_value(new).unwrap_or(Value::Null);
    if let Some(map) = new.as_object_mut() {
        map.extend(extra.clone());
    }
    let keys: Vec<&str> = OWNED
        .iter()
        .copied()
        .chain(extra.keys().map(String::as_str))
        .collect();
    let mut live = owned(live, &keys);
    if let Some(canary) = live.get_mut("canary") {
        *canary = owned(canary, &OWNED_CANARY);
    }
    merge_diff(&live, &new)
}

/// `HPAReplicas` (the pods of all the Rollout's ReplicaSets, as their
/// statuses count them) and `selector` (`spec.selector` written as
/// Kubernetes' `FormatLabelSelector` writes it), which Argo's controller
/// records for the scale subresource (`kubectl scale`, autoscalers).
///
/// ```
/// use rollgate_controller::reconcile::status::scale_fields;
/// let selector = serde_json::json!({"matchLabels": {"tier": "web", "app": "shop"},
///     "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "eu"]}]});
/// let fields = scale_fields(Some(&selector), 7);
/// assert_eq!(fields["selector"], "app=shop,env in (eu,prod),tier=web");
/// assert_eq!(fields["HPAReplicas"], 7);
/// ```
pub fn scale_fields(selector: Option<&Value>, pods: i32) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("HPAReplicas".into(), pods.into());
    map.insert("selector".into(), format_label_selector(selector).into());
    map
}

/// `spec.selector` as a list request's label selector (empty: every object).
pub(super) fn label_selector(selector: Option<&Value>) -> String {
    let text = format_label_selector(selector);
    if text == "<none>" {
        String::new()
    } else {
        text
    }
}

fn format_label_selector(selector: Option<&Value>) -> String {
    let mut requirements: Vec<(String, String)> = Vec::new();
    if let Some(labels) = selector
        .and_then(|s| s.get("matchLabels"))
        .and_then(Value::as_object)
    {
        for (k, v) in labels {
            requirements.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or_default())));
        }
    }
    let expressions = selector
        .and_then(|s| s.get("matchExpressions"))
        .and_then(Value::as_array);
    for e in expressions.into_iter().flatten() {
        let key = e["key"].as_str().unwrap_or_default();
        let mut values: Vec<&str> = e["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        values.sort_unstable();
        let text = match e["operator"].as_str().unwrap_or_default() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_owned(),
            "DoesNotExist" => format!("!{key}"),
            _ => continue,
        };
        requirements.push((key.to_owned(), text));
    }
    requirements.sort_by(|a, b| a.0.cmp(&b.0));
    let text: Vec<String> = requirements.into_iter().map(|(_, t)| t).collect();
    if text.is_empty() {
        "<none>".into()
    } else {
        text.join(",")
    }
}

fn owned(value: &Value, keys: &[&str]) -> Value {
    let Some(map) = value.as_object() else {
        return Value::Object(Map::new());
    };
    Value::Object(
        map.iter()
            .filter(|(k, _)| keys.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

fn is_empty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    }
}

/// RFC 7386 merge patch from `old` to `new` (objects recursed, anything
/// else replaced whole; removed fields become `null`).
pub(crate) fn merge_diff(old: &Value, new: &Value) -> Option<Value> {
    let (Some(o), Some(n)) = (old.as_object(), new.as_object()) else {
        return (old != new).then(|| new.clone());
    };
    let mut patch = Map::new();
    for key in o.keys().chain(n.keys()) {
        if patch.contains_key(key) {
            continue;
        }
        let (ov, nv) = (o.get(key), n.get(key));
        if is_empty(ov) && is_empty(nv) {
            continue;
        }
        match (ov, nv) {
            (_, None) | (_, Some(Value::Null)) => {
                patch.insert(key.clone(), Value::Null);
            }
            (Some(ov @ Value::Object(_)), Some(nv @ Value::Object(_))) => {
                if let Some(p) = merge_diff(ov, nv) {
                    patch.insert(key.clone(), p);
                }
            }
            (ov, Some(nv)) => {
                if ov != Some(nv) {
                    patch.insert(key.clone(), nv.clone());
                }
            }
        }
    }
    (!patch.is_empty()).then_some(Value::Object(patch))
}

/// Sets a condition in `status`: a condition of the same type with the same
/// status, reason and message is kept as it is (its times too); otherwise it
/// is replaced, stamped `now`.
pub fn set_condition(
    status: &mut RolloutStatus,
    kind: ConditionType,
    holds: bool,
    reason: ConditionReason,
    message: String,
    now: Time,
) {
    let holds = ConditionStatus::from_bool(holds);
    let same = status
        .condition(&kind)
        .is_some_and(|c| c.status == holds && c.reason == reason && c.message == message);
    if same {
        return;
    }
    status.conditions.retain(|c| c.kind != kind);
    status.conditions.push(Condition {
        kind,
        status: holds,
        reason,
        message,
        last_transition_time: now,
        last_update_time: now,
    });
}

/// Removes the conditions by which this controller refuses a Rollout
/// (`InvalidSpec`, `Unsupported`) or reports that its traffic could not be
/// routed (`TrafficRouting`), once it runs it.
pub fn clear_refusals(status: &mut RolloutStatus) {
    status.conditions.retain(|c| {
        c.kind != ConditionType::InvalidSpec
            && c.kind.as_str() != super::gate::UNSUPPORTED_CONDITION
            && c.kind.as_str() != super::traffic::TRAFFIC_CONDITION
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn removed_fields_become_null_and_lists_are_replaced_whole() {
        let old = json!({"a": 1, "b": {"c": 1, "d": 2}, "l": [1, 2]});
        let new = json!({"b": {"c": 1, "d": 3}, "l": [1]});
        assert_eq!(
            merge_diff(&old, &new),
            Some(json!({"a": null, "b": {"d": 3}, "l": [1]}))
        );
        assert_eq!(merge_diff(&new, &new), None);
    }

    #[test]
    fn the_scale_fields_are_written_only_when_they_change() {
        let live = json!({"HPAReplicas": 5, "selector": "app=web", "phase": "Healthy"});
        let new = RolloutStatus {
            phase: Some(rollout_core::Phase::Healthy),
            ..Default::default()
        };
        let selector = json!({"matchLabels": {"app": "web"}});
        assert_eq!(
            status_patch_with(&live, &new, &scale_fields(Some(&selector), 5)),
            None
        );
        assert_eq!(
            status_patch_with(&live, &new, &scale_fields(Some(&selector), 6)),
            Some(json!({"HPAReplicas": 6}))
        );
        assert_eq!(format_label_selector(None), "<none>");
    }

    #[test]
    fn fields_others_own_are_left_alone() {
        let live = json!({"HPAReplicas": 3, "selector": "app=web", "canary": {"stepPluginStatuses": []},
                          "phase": "Healthy"});
        let new = RolloutStatus {
            phase: Some(rollout_core::Phase::Paused),
            ..Default::default()
        };
        assert_eq!(status_patch(&live, &new), Some(json!({"phase": "Paused"})));
    }
}
