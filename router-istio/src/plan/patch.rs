//! A change of weights only, as a JSON patch guarded by `test` operations.

use json_patch::Patch;
use serde_json::{Value, json};

const ROUTE_KINDS: [&str; 3] = ["http", "tls", "tcp"];

/// `vs` with every route destination's `weight` taken out: two objects
/// equal this way differ at most in weights.
fn without_weights(vs: &Value) -> Value {
    let mut out = vs.clone();
    for kind in ROUTE_KINDS {
        for route in out["spec"][kind].as_array_mut().into_iter().flatten() {
            for d in route["route"].as_array_mut().into_iter().flatten() {
                if let Some(d) = d.as_object_mut() {
                    d.remove("weight");
                }
            }
        }
    }
    out
}

/// The JSON patch that turns `before` into `after` when the two differ only
/// in the weights of route destinations; `None` when anything else differs
/// (routes added, removed, reordered; destinations added or dropped), which
/// a replace carries instead.
///
/// Each weight written is guarded: the patch first `test`s the route's name
/// (when it has one) and the destination's `host` (and `subset`, when it
/// has one) at that position, so a concurrent edit that moved routes or
/// destinations makes the API server refuse the whole patch (422) instead
/// of writing a weight onto someone else's destination.
pub(super) fn weight_patch(before: &Value, after: &Value) -> Option<Patch> {
    if without_weights(before) != without_weights(after) {
        return None;
    }
    let mut ops = Vec::new();
    for kind in ROUTE_KINDS {
        let routes = before["spec"][kind].as_array().into_iter().flatten();
        for (i, route) in routes.enumerate() {
            let destinations = route["route"].as_array().into_iter().flatten();
            for (j, d) in destinations.enumerate() {
                let want = &after["spec"][kind][i]["route"][j]["weight"];
                let have = d.get("weight");
                if have == Some(want) || (have.is_none() && want.is_null()) {
                    continue;
                }
                let at = format!("/spec/{kind}/{i}");
                if let Some(name) = route.get("name") {
                    ops.push(json!({"op": "test", "path": format!("{at}/name"), "value": name}));
                }
                let at = format!("{at}/route/{j}");
                let destination = &d["destination"];
                for field in ["host", "subset"] {
                    if let Some(value) = destination.get(field) {
                        ops.push(json!({"op": "test",
                            "path": format!("{at}/destination/{field}"), "value": value}));
                    }
                }
                let op = if have.is_some() { "replace" } else { "add" };
                ops.push(json!({"op": op, "path": format!("{at}/weight"), "value": want}));
            }
        }
    }
    if ops.is_empty() {
        return None;
    }
    serde_json::from_value(Value::Array(ops)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_only_become_a_guarded_patch() {
        let before = json!({"spec": {"http": [{"name": "primary", "route": [
            {"destination": {"host": "web", "subset": "stable"}, "weight": 100},
            {"destination": {"host": "web", "subset": "canary"}}]}]}});
        let mut after = before.clone();
        after["spec"]["http"][0]["route"][0]["weight"] = json!(90);
        after["spec"]["http"][0]["route"][1]["weight"] = json!(10);
        let patch = weight_patch(&before, &after).expect("weights only");
        assert_eq!(
            serde_json::to_value(&patch).unwrap(),
            json!([
                {"op": "test", "path": "/spec/http/0/name", "value": "primary"},
                {"op": "test", "path": "/spec/http/0/route/0/destination/host", "value": "web"},
                {"op": "test", "path": "/spec/http/0/route/0/destination/subset", "value": "stable"},
                {"op": "replace", "path": "/spec/http/0/route/0/weight", "value": 90},
                {"op": "test", "path": "/spec/http/0/name", "value": "primary"},
                {"op": "test", "path": "/spec/http/0/route/1/destination/host", "value": "web"},
                {"op": "test", "path": "/spec/http/0/route/1/destination/subset", "value": "canary"},
                {"op": "add", "path": "/spec/http/0/route/1/weight", "value": 10},
            ])
        );
        let mut patched = before.clone();
        json_patch::patch(&mut patched, &patch).unwrap();
        assert_eq!(patched, after);
    }

    #[test]
    fn anything_else_is_not_a_weight_patch() {
        let before =
            json!({"spec": {"http": [{"route": [{"destination": {"host": "a"}, "weight": 100}]}]}});
        let mut after = before.clone();
        after["spec"]["http"][0]["route"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": {"host": "exp"}, "weight": 0}));
        assert!(weight_patch(&before, &after).is_none());
        assert!(weight_patch(&before, &before).is_none());
    }
}
