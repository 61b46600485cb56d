//! Precedence between managed routes, expressed in Gateway API's terms.
//!
//! Managed routes take precedence in `managedRoutes` order, as Argo Rollouts
//! documents for them: a request that matches two managed routes goes where
//! the one listed first sends it. Gateway API does not evaluate rules in list
//! order, though: across rules the match with the exact path wins, then the
//! longest path prefix, then one with a method, then the most header
//! matches, then the most query parameter matches, and only then the rule
//! listed first. A mirror route matching `GET /api` would so outrank a header
//! route copied from a rule for `/`, whatever `managedRoutes` says.
//!
//! So for every managed route `a` listed before a managed route `b`, each of
//! `a`'s rules gets a companion rule `<rule>--<b>` that behaves exactly like
//! it (a copy with the same filters and backends) and matches the requests
//! both match: each match is the intersection of one of `a`'s matches and
//! one of `b`'s (the longer or exact path, the method, the headers and query
//! parameters of both). Such a match is at least as specific as `b`'s on
//! every criterion, and the managed rules are kept in `managedRoutes` order,
//! so `a` wins every tie. Companion rules match nothing `a` does not match.
//!
//! Two matches whose intersection cannot be written as one Gateway API match
//! (a regular expression on both sides for the same path, header or query
//! parameter, unless they are equal) get no companion match: for those
//! requests Gateway API's own precedence decides. Matches that cannot both
//! hold (different exact values, different methods, unrelated paths) need
//! none.

use serde_json::{Map, Value, json};

/// The companion rule name of rule `rule` (`a` or `a-<n>`) over route `b`.
pub(crate) fn companion_name(rule: &str, over: &str) -> String {
    format!("{rule}--{over}")
}

/// Whether `name` is a companion rule name of `a`'s rules over a managed
/// route in `managed`, per `is_own` (whether a name is one of `a`'s rules).
pub(crate) fn is_companion<'m>(
    name: &str,
    managed: impl IntoIterator<Item = &'m str>,
    is_own: impl Fn(&str) -> bool,
) -> bool {
    managed.into_iter().any(|b| {
        name.strip_suffix(b)
            .and_then(|rest| rest.strip_suffix("--"))
            .is_some_and(&is_own)
    })
}

/// The intersection of two HTTP matches (both with the API server's
/// defaults made explicit); `None` when no request can match both or the
/// intersection is not one Gateway API match.
pub(crate) fn intersect_http(a: &Value, b: &Value) -> Option<Value> {
    let mut out = Map::new();
    out.insert("path".into(), path(&a["path"], &b["path"])?);
    if let Some(method) = same_or_either(&a["method"], &b["method"])? {
        out.insert("method".into(), method);
    }
    for list in ["headers", "queryParams"] {
        let case_insensitive = list == "headers";
        if let Some(merged) = merge_named(&a[list], &b[list], case_insensitive)? {
            out.insert(list.into(), merged);
        }
    }
    Some(Value::Object(out))
}

/// The intersection of two gRPC matches (defaults explicit).
pub(crate) fn intersect_grpc(a: &Value, b: &Value) -> Option<Value> {
    let mut out = Map::new();
    let method = match (a["method"].as_object(), b["method"].as_object()) {
        (None, None) => None,
        (Some(m), None) | (None, Some(m)) => Some(Value::Object(m.clone())),
        (Some(x), Some(y)) => {
            if x.get("type") != y.get("type") {
                return None;
            }
            let mut merged = x.clone();
            for (k, v) in y {
                match merged.get(k) {
                    Some(have) if have != v => return None,
                    _ => {
                        merged.insert(k.clone(), v.clone());
                    }
                }
            }
            Some(Value::Object(merged))
        }
    };
    if let Some(method) = method {
        out.insert("method".into(), method);
    }
    if let Some(merged) = merge_named(&a["headers"], &b["headers"], true)? {
        out.insert("headers".into(), merged);
    }
    Some(Value::Object(out))
}

/// Both unset: `Some(None)`; one set or both equal: that; else `None`.
fn same_or_either(a: &Value, b: &Value) -> Option<Option<Value>> {
    match (a.is_null(), b.is_null()) {
        (true, true) => Some(None),
        (false, true) => Some(Some(a.clone())),
        (true, false) => Some(Some(b.clone())),
        (false, false) => (a == b).then(|| Some(a.clone())),
    }
}

/// Whether path `path` is under prefix `prefix` (Gateway API prefixes match
/// whole path elements).
fn under(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    prefix.is_empty()
        || path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The intersection of two path matches.
fn path(a: &Value, b: &Value) -> Option<Value> {
    let kind = |p: &Value| p["type"].as_str().unwrap_or("PathPrefix").to_owned();
    let value = |p: &Value| p["value"].as_str().unwrap_or("/").to_owned();
    let (ka, va, kb, vb) = (kind(a), value(a), kind(b), value(b));
    match (ka.as_str(), kb.as_str()) {
        _ if ka == kb && va == vb => Some(a.clone()),
        ("Exact", "Exact") => None,
        ("Exact", "PathPrefix") => under(&va, &vb).then(|| a.clone()),
        ("PathPrefix", "Exact") => under(&vb, &va).then(|| b.clone()),
        ("PathPrefix", "PathPrefix") => {
            if under(&va, &vb) {
                Some(a.clone())
            } else if under(&vb, &va) {
                Some(b.clone())
            } else {
                None
            }
        }
        // A regular expression with anything else: a regular expression
        // with a prefix of `/` is the expression itself.
        ("RegularExpression", "PathPrefix") if vb == "/" => Some(a.clone()),
        ("PathPrefix", "RegularExpression") if va == "/" => Some(b.clone()),
        _ => None,
    }
}

/// The union of two lists of named matches (headers or query parameters):
/// `Some(None)` when both are empty; `None` when one name is matched
/// differently on both sides.
fn merge_named(a: &Value, b: &Value, case_insensitive: bool) -> Option<Option<Value>> {
    let key = |m: &Value| {
        let name = m["name"].as_str().unwrap_or_default();
        if case_insensitive {
            name.to_ascii_lowercase()
        } else {
            name.to_owned()
        }
    };
    let mut out: Vec<Value> = a.as_array().cloned().unwrap_or_default();
    for m in b.as_array().into_iter().flatten() {
        match out.iter().find(|have| key(have) == key(m)) {
            Some(have) if have != m => return None,
            Some(_) => {}
            None => out.push(m.clone()),
        }
    }
    Some((!out.is_empty()).then(|| json!(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(v: Value) -> Value {
        v
    }

    #[test]
    fn paths_intersect_by_whole_elements() {
        let prefix = |v: &str| json!({"type": "PathPrefix", "value": v});
        let exact = |v: &str| json!({"type": "Exact", "value": v});
        assert_eq!(path(&prefix("/"), &prefix("/api")), Some(prefix("/api")));
        assert_eq!(
            path(&prefix("/api"), &prefix("/api/v2")),
            Some(prefix("/api/v2"))
        );
        assert_eq!(path(&prefix("/api"), &prefix("/apis")), None);
        assert_eq!(
            path(&exact("/api/x"), &prefix("/api")),
            Some(exact("/api/x"))
        );
        assert_eq!(path(&exact("/a"), &exact("/b")), None);
    }

    #[test]
    fn a_header_route_and_a_mirror_route_overlap_in_one_more_specific_match() {
        let header = m(json!({"path": {"type": "PathPrefix", "value": "/"},
            "headers": [{"type": "Exact", "name": "x-beta", "value": "1"}]}));
        let mirror = m(json!({"path": {"type": "PathPrefix", "value": "/api"}, "method": "GET"}));
        assert_eq!(
            intersect_http(&header, &mirror),
            Some(
                json!({"path": {"type": "PathPrefix", "value": "/api"}, "method": "GET",
                        "headers": [{"type": "Exact", "name": "x-beta", "value": "1"}]})
            )
        );
        let post = json!({"path": {"type": "PathPrefix", "value": "/"}, "method": "POST"});
        assert_eq!(
            intersect_http(&mirror, &post),
            None,
            "different methods never overlap"
        );
        let other = json!({"path": {"type": "PathPrefix", "value": "/"},
            "headers": [{"type": "Exact", "name": "X-Beta", "value": "2"}]});
        assert_eq!(
            intersect_http(&header, &other),
            None,
            "header names are case-insensitive"
        );
    }

    #[test]
    fn companion_names_belong_to_their_route() {
        let managed = ["beta", "shadow"];
        let own = |n: &str| n == "beta" || n == "beta-1";
        assert!(is_companion("beta--shadow", managed, own));
        assert!(is_companion("beta-1--shadow", managed, own));
        assert!(!is_companion("beta--other", managed, own));
        assert!(!is_companion("gamma--shadow", managed, own));
    }
}
