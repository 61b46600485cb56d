//! The managed rules' layout: per `managedRoutes` entry in order, then the
//! sticky-session cookie rules (see [`super::sticky`]), its rules and their
//! companion rules over the routes listed after it (see
//! [`crate::precedence`]), at the end of the route.

use router_core::{RouteTarget, TrafficTarget};
use serde_json::{Value, json};

use super::view::{View, is_named};
use super::{header, limits, mirror, sticky};
use crate::config::RouteKind;
use crate::error::Error;
use crate::precedence;

/// The operations that lay the managed rules out as `target` asks: each
/// managed route's rules kept ([`RouteTarget::AsIs`]), removed
/// ([`RouteTarget::Absent`]) or set (a header or mirror route), the
/// rollout's sticky cookie rules as the target's weight asks and those of
/// earlier versions' fixed names removed (both kept without a weight), all of them
/// laid out again at the end of the route in `managedRoutes` order, the
/// sticky rules last, with their companion rules. None when the managed rules already are exactly
/// that (compared with the API server's defaults filled in). Every removed
/// rule is guarded by a `test` of its name; a layout past Gateway API's
/// limits is refused.
pub(super) fn ops(view: &View<'_>, target: &TrafficTarget) -> Result<Vec<Value>, Error> {
    let kind = view.route.kind;
    let rules = view.rules()?;
    let existing_of = |name: &str| -> Vec<Value> {
        rules
            .iter()
            .filter(|r| r["name"].as_str().is_some_and(|n| is_named(n, name)))
            .cloned()
            .collect()
    };
    let mut own: Vec<(&str, Vec<Value>)> = Vec::new();
    for name in view.routing.managed_routes {
        let wanted = match target.route(name) {
            // A route without header routes keeps its managed rules.
            _ if !view.routing.header_routes => existing_of(name),
            RouteTarget::AsIs => existing_of(name),
            RouteTarget::Absent => Vec::new(),
            RouteTarget::Header(step) => header::rules(view, step)?,
            RouteTarget::Mirror(step) => vec![mirror::rule(view, step)?],
        };
        own.push((name, wanted));
    }
    // This rollout's sticky rules, then those of earlier versions: removed
    // at a weight change (the rollout's own are laid out under its names).
    for (k, name) in view.sticky_rule_names().enumerate() {
        let wanted = match target.canary_weight {
            None => existing_of(name),
            Some(weight) if k < 2 => sticky::rules(view, k == 0, weight)?,
            Some(_) => Vec::new(),
        };
        own.push((name, wanted));
    }
    let mut sequence = Vec::new();
    for (i, (_, rules_a)) in own.iter().enumerate() {
        sequence.extend(rules_a.iter().cloned());
        for rule in rules_a {
            for (b, rules_b) in &own[i + 1..] {
                if let Some(companion) = companion(kind, rule, b, rules_b) {
                    sequence.push(companion);
                }
            }
        }
    }
    let existing: Vec<(usize, &Value)> = rules
        .iter()
        .enumerate()
        .filter(|(_, r)| view.is_managed(r))
        .collect();
    if existing.len() == sequence.len()
        && existing
            .iter()
            .zip(&sequence)
            .all(|((_, have), want)| defaulted(kind, have) == defaulted(kind, want))
    {
        return Ok(Vec::new());
    }
    let kept = rules.iter().filter(|r| !view.is_managed(r));
    limits::check(view, kept.chain(&sequence))?;
    let mut ops = Vec::new();
    if view.route.object["spec"]["rules"].is_null() {
        ops.push(json!({"op": "add", "path": "/spec/rules", "value": []}));
    }
    for (i, rule) in existing.iter().rev() {
        ops.push(
            json!({"op": "test", "path": format!("/spec/rules/{i}/name"), "value": rule["name"]}),
        );
        ops.push(json!({"op": "remove", "path": format!("/spec/rules/{i}")}));
    }
    for rule in sequence {
        ops.push(json!({"op": "add", "path": "/spec/rules/-", "value": rule}));
    }
    Ok(ops)
}
/// A rule's matches with the API server's defaults explicit (a rule
/// without matches matches every request).
fn normalized_matches(kind: RouteKind, rule: &Value) -> Vec<Value> {
    let rule = defaulted(kind, rule);
    match rule["matches"].as_array() {
        Some(ms) if !ms.is_empty() => ms.clone(),
        _ => vec![json!({})],
    }
}

/// `rule` (of a managed route) again, named `<rule>--<over>`, matching the
/// requests that both it and the rules of managed route `over` match;
/// `None` when there are none.
fn companion(kind: RouteKind, rule: &Value, over: &str, others: &[Value]) -> Option<Value> {
    let mut matches: Vec<Value> = Vec::new();
    for a in normalized_matches(kind, rule) {
        for other in others {
            for b in normalized_matches(kind, other) {
                let both = match kind {
                    RouteKind::Http => precedence::intersect_http(&a, &b),
                    _ => precedence::intersect_grpc(&a, &b),
                };
                if let Some(m) = both.filter(|m| !matches.contains(m)) {
                    matches.push(m);
                }
            }
        }
    }
    if matches.is_empty() {
        return None;
    }
    let mut companion = rule.clone();
    companion["name"] = json!(precedence::companion_name(
        rule["name"].as_str().unwrap_or_default(),
        over
    ));
    companion["matches"] = Value::Array(matches);
    Some(companion)
}

/// A rule with the defaults the API server fills in (from the Gateway API
/// CRD schemas) made explicit, so that a rule we wrote compares equal to the
/// same rule read back: a backendRef's `group` `""`, `kind` `Service` and
/// `weight` 1; a header or query match's `type` `Exact`; an HTTP match's
/// `path` `PathPrefix /` and an HTTP rule's `matches` one such match; a GRPC
/// method match's `type` `Exact`.
fn defaulted(kind: RouteKind, rule: &Value) -> Value {
    fn object_ref(backend: &mut Value) {
        if let Some(b) = backend.as_object_mut() {
            b.entry("group").or_insert_with(|| json!(""));
            b.entry("kind").or_insert_with(|| json!("Service"));
        }
    }
    fn exact_by_default(list: &mut Value) {
        for m in list.as_array_mut().into_iter().flatten() {
            if let Some(m) = m.as_object_mut() {
                m.entry("type").or_insert_with(|| json!("Exact"));
            }
        }
    }
    let mut rule = rule.clone();
    for backend in rule["backendRefs"].as_array_mut().into_iter().flatten() {
        object_ref(backend);
        if let Some(b) = backend.as_object_mut() {
            b.entry("weight").or_insert_with(|| json!(1));
        }
    }
    for filter in rule["filters"].as_array_mut().into_iter().flatten() {
        if filter["requestMirror"]["backendRef"].is_object() {
            object_ref(&mut filter["requestMirror"]["backendRef"]);
        }
    }
    let http = kind == RouteKind::Http;
    if http && rule["matches"].as_array().is_none_or(Vec::is_empty) {
        rule["matches"] = json!([{}]);
    }
    for m in rule["matches"].as_array_mut().into_iter().flatten() {
        if !m.is_object() {
            continue;
        }
        exact_by_default(&mut m["headers"]);
        exact_by_default(&mut m["queryParams"]);
        if http {
            if m["path"].is_null() {
                m["path"] = json!({});
            }
            if let Some(path) = m["path"].as_object_mut() {
                path.entry("type").or_insert_with(|| json!("PathPrefix"));
                path.entry("value").or_insert_with(|| json!("/"));
            }
        } else if let Some(method) = m["method"].as_object_mut() {
            method.entry("type").or_insert_with(|| json!("Exact"));
        }
    }
    rule
}
