//! The GitOps label the Gateway API plugin puts on routes while a canary
//! has traffic.

use serde_json::{Value, json};

use super::pointer_token;

/// The operations that set (`on`) or remove the label `key=value` on
/// `object`, touching no other label; none when it already is so.
pub(super) fn ops(object: &Value, (key, value): (&str, &str), on: bool) -> Vec<Value> {
    let labels = &object["metadata"]["labels"];
    let current = labels.get(key).and_then(Value::as_str);
    let path = format!("/metadata/labels/{}", pointer_token(key));
    let mut ops = Vec::new();
    match (on, current) {
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

#[cfg(test)]
mod tests {
    use super::*;

    const LABEL: (&str, &str) = ("rollouts.argoproj.io/gatewayapi-canary", "in-progress");

    #[test]
    fn the_label_is_set_beside_the_others_and_removed_alone() {
        let object = json!({"metadata": {"name": "web", "labels": {"team": "a"}}});
        let set = ops(&object, LABEL, true);
        let patch: json_patch::Patch = serde_json::from_value(Value::Array(set)).unwrap();
        let mut after = object.clone();
        json_patch::patch(&mut after, &patch).unwrap();
        assert_eq!(after["metadata"]["labels"][LABEL.0], "in-progress");
        assert_eq!(after["metadata"]["labels"]["team"], "a");
        assert!(ops(&after, LABEL, true).is_empty(), "already there");
        let remove = ops(&after, LABEL, false);
        let patch: json_patch::Patch = serde_json::from_value(Value::Array(remove)).unwrap();
        json_patch::patch(&mut after, &patch).unwrap();
        assert_eq!(after, object);
    }

    #[test]
    fn a_route_without_labels_gets_the_map_first() {
        let object = json!({"metadata": {"name": "web"}});
        let set = ops(&object, LABEL, true);
        assert_eq!(set.len(), 2);
        assert!(ops(&object, LABEL, false).is_empty());
    }
}
