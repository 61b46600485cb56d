//! The GitOps label the Gateway API plugin puts on routes while a canary
//! has traffic, counted over the rollouts that share a route.
//!
//! Several rollouts may weight rules of one route, so the label belongs to
//! all of them: the annotation of the same key lists the rollouts
//! (`<namespace>/<name>`, comma-separated, sorted) whose canary has
//! traffic on the route, and the label is on while that list is not empty.
//! A rollout adds itself when its canary weight is not 0 and removes itself
//! at 0; the label goes with the last one. A route labelled without the
//! annotation (by an earlier version, or by the Gateway API plugin this
//! router replaces) has no other holder, so the label goes at weight 0 as
//! before.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{annotation, pointer_token};

/// The operations that record `holder` (`<namespace>/<name>` of the
/// rollout) as holding the label `key=value` on `object` (`on`) or as no
/// longer holding it, and set or remove the label accordingly, touching no
/// other label or annotation; none when it already is so. A change of the
/// holders is guarded by a `test` of the annotation as read (or, when it
/// did not exist, of the object's `resourceVersion`), so two rollouts
/// changing the holders at once do not lose each other's entry.
///
/// An empty `holder` records nothing: the label then follows this
/// rollout's weight alone.
pub(super) fn ops(
    object: &Value,
    (key, value): (&str, &str),
    holder: &str,
    on: bool,
) -> Vec<Value> {
    let mut ops = Vec::new();
    let label_on = if holder.is_empty() {
        on
    } else {
        holder_ops(object, key, holder, on, &mut ops)
    };
    let labels = &object["metadata"]["labels"];
    let current = labels.get(key).and_then(Value::as_str);
    let path = format!("/metadata/labels/{}", pointer_token(key));
    match (label_on, current) {
        (true, Some(v)) if v == value => {}
        (true, _) => {
            if !labels.is_object() {
                ops.push(json!({"op": "add", "path": "/metadata/labels", "value": {}}));
            }
            ops.push(json!({"op": "add", "path": path, "value": value}));
        }
        (false, Some(_)) => ops.push(json!({"op": "remove", "path": path})),
        (false, None) => {}
    }
    ops
}

/// Pushes the operations that add (`on`) or remove `holder` in the holders
/// annotation `key`; returns whether any rollout holds the label after them.
fn holder_ops(object: &Value, key: &str, holder: &str, on: bool, ops: &mut Vec<Value>) -> bool {
    let current = object["metadata"]["annotations"]
        .get(key)
        .and_then(Value::as_str);
    let before = holders(current.unwrap_or_default());
    let mut after = before.clone();
    if on {
        after.insert(holder);
    } else {
        after.remove(holder);
    }
    if after == before {
        return !after.is_empty();
    }
    let joined = after.iter().copied().collect::<Vec<_>>().join(",");
    let want = (!after.is_empty()).then_some(joined.as_str());
    annotation::set(object, key, want, ops);
    !after.is_empty()
}

/// The holders listed in an annotation's value.
fn holders(listed: &str) -> BTreeSet<&str> {
    listed
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABEL: (&str, &str) = ("rollouts.argoproj.io/gatewayapi-canary", "in-progress");

    fn patched(object: &Value, ops: Vec<Value>) -> Value {
        let patch: json_patch::Patch = serde_json::from_value(Value::Array(ops)).unwrap();
        let mut after = object.clone();
        json_patch::patch(&mut after, &patch).unwrap();
        after
    }

    #[test]
    fn the_label_is_set_beside_the_others_and_removed_alone() {
        let object = json!({"metadata": {"name": "web", "labels": {"team": "a"},
                                         "annotations": {"note": "x"}}});
        let after = patched(&object, ops(&object, LABEL, "ns/web", true));
        assert_eq!(after["metadata"]["labels"][LABEL.0], "in-progress");
        assert_eq!(after["metadata"]["annotations"][LABEL.0], "ns/web");
        assert_eq!(after["metadata"]["labels"]["team"], "a");
        assert!(
            ops(&after, LABEL, "ns/web", true).is_empty(),
            "already there"
        );
        let after = patched(&after, ops(&after, LABEL, "ns/web", false));
        assert_eq!(after, object);
    }

    #[test]
    fn a_route_without_labels_or_annotations_gets_the_maps_first() {
        let object = json!({"metadata": {"name": "web", "resourceVersion": "7"}});
        let set = ops(&object, LABEL, "ns/web", true);
        assert_eq!(
            set[0],
            json!({"op": "test", "path": "/metadata/resourceVersion", "value": "7"}),
            "an annotation that did not exist is guarded by the version read"
        );
        let after = patched(&object, set);
        assert_eq!(after["metadata"]["labels"][LABEL.0], "in-progress");
        assert!(ops(&object, LABEL, "ns/web", false).is_empty());
    }

    #[test]
    fn the_label_stays_while_another_rollout_holds_it() {
        let object = json!({"metadata": {"name": "shared"}});
        let web = patched(&object, ops(&object, LABEL, "ns/web", true));
        let both = patched(&web, ops(&web, LABEL, "ns/api", true));
        assert_eq!(both["metadata"]["annotations"][LABEL.0], "ns/api,ns/web");
        // The first one done: its entry goes, the label stays.
        let remove = ops(&both, LABEL, "ns/web", false);
        assert_eq!(
            remove,
            vec![
                json!({"op": "test", "path": "/metadata/annotations/rollouts.argoproj.io~1gatewayapi-canary", "value": "ns/api,ns/web"}),
                json!({"op": "replace", "path": "/metadata/annotations/rollouts.argoproj.io~1gatewayapi-canary", "value": "ns/api"}),
            ],
            "guarded by the holders as read"
        );
        let api = patched(&both, remove);
        assert_eq!(api["metadata"]["labels"][LABEL.0], "in-progress");
        // The last one done: the label goes with it.
        let none = patched(&api, ops(&api, LABEL, "ns/api", false));
        assert_eq!(none["metadata"]["labels"], json!({}));
        assert!(none["metadata"].get("annotations").is_none(), "{none}");
    }

    #[test]
    fn a_label_without_holders_goes_at_weight_0() {
        let object = json!({"metadata": {"labels": {(LABEL.0): LABEL.1}}});
        let after = patched(&object, ops(&object, LABEL, "ns/web", false));
        assert_eq!(after["metadata"]["labels"], json!({}));
        // Without a holder, the label follows the weight alone.
        let after = patched(&object, ops(&object, LABEL, "", false));
        assert_eq!(after["metadata"]["labels"], json!({}));
        assert!(ops(&object, LABEL, "", true).is_empty());
    }
}
