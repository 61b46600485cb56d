//! One annotation of the route set, changed or removed by a guarded patch:
//! the in-progress label's holders and the sticky sessions' records.

use serde_json::{Value, json};

use super::pointer_token;

/// Pushes onto `ops` the operations that make annotation `key` of `object`
/// (as read) be `want` (`None`: absent), touching no other annotation;
/// none when it already is. A change of a value read is guarded by a
/// `test` of that value (the last annotation is removed with the map, whose
/// `test` is that value alone); an annotation that did not exist, by a `test` of
/// the object's `resourceVersion` (nothing else to test it against), and
/// the annotations map is added first when the object had none (once per
/// patch, whatever number of annotations `ops` adds).
pub(super) fn set(object: &Value, key: &str, want: Option<&str>, ops: &mut Vec<Value>) {
    let annotations = &object["metadata"]["annotations"];
    let current = annotations.get(key).and_then(Value::as_str);
    if current == want {
        return;
    }
    let path = format!("/metadata/annotations/{}", pointer_token(key));
    match (current, want) {
        (Some(read), None) if annotations.as_object().is_some_and(|a| a.len() == 1) => {
            // The last annotation: the map goes with it, as the API server
            // drops an empty one.
            ops.push(json!({"op": "test", "path": "/metadata/annotations", "value": {key: read}}));
            ops.push(json!({"op": "remove", "path": "/metadata/annotations"}));
        }
        (Some(read), want) => {
            ops.push(json!({"op": "test", "path": path, "value": read}));
            match want {
                Some(value) => {
                    ops.push(json!({"op": "replace", "path": path, "value": value}));
                }
                None => ops.push(json!({"op": "remove", "path": path})),
            }
        }
        (None, Some(value)) => {
            if let Some(version) = object["metadata"]["resourceVersion"].as_str() {
                let guard =
                    json!({"op": "test", "path": "/metadata/resourceVersion", "value": version});
                if !ops.contains(&guard) {
                    ops.push(guard);
                }
            }
            let map = json!({"op": "add", "path": "/metadata/annotations", "value": {}});
            if !annotations.is_object() && !ops.contains(&map) {
                ops.push(map);
            }
            ops.push(json!({"op": "add", "path": path, "value": value}));
        }
        (None, None) => {}
    }
}
