//! Pure checks on what the API server returns: whether a route's parents
//! accepted it, which rule names a write adds and whether the server kept
//! them.

use json_patch::Patch;
use serde_json::Value;

/// Names of the rules a patch appends.
pub(super) fn added_rule_names(patch: &Patch) -> Vec<String> {
    patch
        .0
        .iter()
        .filter_map(|op| match op {
            json_patch::PatchOperation::Add(add) if add.path.as_str() == "/spec/rules/-" => {
                add.value["name"].as_str().map(str::to_owned)
            }
            _ => None,
        })
        .collect()
}

/// Whether any rule of `route` (as stored) has a name.
pub(super) fn has_named_rule(route: &Value) -> bool {
    route["spec"]["rules"]
        .as_array()
        .is_some_and(|rules| rules.iter().any(|r| r["name"].is_string()))
}

/// A rule name of `added` that `result` (the route as the API server
/// would store it) does not have.
pub(super) fn lost_rule_name(added: &[String], result: &Value) -> Option<String> {
    let kept: Vec<&str> = result["spec"]["rules"]
        .as_array()
        .map(|rules| rules.iter().filter_map(|r| r["name"].as_str()).collect())
        .unwrap_or_default();
    added
        .iter()
        .find(|name| !kept.contains(&name.as_str()))
        .cloned()
}

/// Whether every parent of the route accepted its current generation with
/// resolvable backends.
pub(super) fn accepted(route: &Value) -> bool {
    let generation = route["metadata"]["generation"].as_i64();
    let parents = route["status"]["parents"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let condition = |parent: &Value, kind: &str| {
        parent["conditions"].as_array().is_some_and(|cs| {
            cs.iter().any(|c| {
                c["type"] == kind
                    && c["status"] == "True"
                    && (generation.is_none() || c["observedGeneration"].as_i64() == generation)
            })
        })
    };
    !parents.is_empty()
        && parents
            .iter()
            .all(|p| condition(p, "Accepted") && condition(p, "ResolvedRefs"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn acceptance_needs_every_parent_for_the_current_generation() {
        let ok = |g: i64| json!({"type": "Accepted", "status": "True", "observedGeneration": g});
        let refs = json!({"type": "ResolvedRefs", "status": "True", "observedGeneration": 2});
        let route = json!({"metadata": {"generation": 2}, "status": {"parents": [{"conditions": [ok(2), refs]}]}});
        assert!(accepted(&route));
        let stale = json!({"metadata": {"generation": 2}, "status": {"parents": [{"conditions": [ok(1), refs]}]}});
        assert!(!accepted(&stale));
        assert!(!accepted(&json!({"metadata": {"generation": 2}})));
    }
}
