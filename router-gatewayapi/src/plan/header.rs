//! Header routes: copies of the rollout's rules that send requests carrying
//! the step's headers to the canary; and the rule-building helpers mirror
//! routes share.

use rollout_core::spec::{HeaderMatch, SetHeaderRoute, StringMatch};
use serde_json::{Map, Value, json};

use super::sticky;
use super::view::View;
use crate::config::RouteKind;
use crate::error::Error;

/// The rules of header route `step` (with a non-empty match): for every one
/// of the rollout's rules, one rule (`name`, then `name-1`, ...) that is a
/// copy of that source rule (filters, timeouts, retry and everything else
/// it carries) with the source rule's matches (path, method, query params
/// and headers kept) plus the step's header conditions, and the canary as
/// its only backend.
pub(super) fn rules(view: &View<'_>, step: &SetHeaderRoute) -> Result<Vec<Value>, Error> {
    let headers: Vec<Value> = step
        .matches
        .iter()
        .map(|m| header_match(view, m))
        .collect::<Result<_, _>>()?;
    let canary = view.services().canary;
    copies(view, &step.name, &headers, |source| {
        only_ref(view, source, canary)
    })
}

/// For every one of the rollout's rules, one rule (`name`, then `name-1`,
/// ...) that is a copy of that source rule (see [`derived_rule`]) with the
/// source rule's matches (path, method, query params and headers kept)
/// plus the header conditions `headers`, and `backend(source)` as its only
/// backend: header routes and the sticky-session cookie rules.
pub(super) fn copies(
    view: &View<'_>,
    name: &str,
    headers: &[Value],
    backend: impl Fn(&Value) -> Value,
) -> Result<Vec<Value>, Error> {
    let copied: &[&str] = match view.route.kind {
        RouteKind::Http => &["path", "method", "queryParams"],
        _ => &["method"],
    };
    let mut desired = Vec::new();
    for (k, (_, source)) in view.source_rules()?.into_iter().enumerate() {
        let name = if k == 0 {
            name.to_owned()
        } else {
            format!("{name}-{k}")
        };
        let sources = source["matches"].as_array().filter(|m| !m.is_empty());
        let matches: Vec<Value> = match sources {
            None => vec![json!({"headers": headers})],
            Some(ms) => ms
                .iter()
                .map(|m| {
                    let mut out = Map::new();
                    for field in copied {
                        if let Some(v) = m.get(*field) {
                            out.insert((*field).to_owned(), v.clone());
                        }
                    }
                    let mut all = m["headers"].as_array().cloned().unwrap_or_default();
                    all.extend(headers.iter().cloned());
                    out.insert("headers".into(), Value::Array(all));
                    Value::Object(out)
                })
                .collect(),
        };
        let backends = json!([backend(source)]);
        desired.push(derived_rule(view, source, &name, matches, backends));
    }
    Ok(desired)
}

/// A Gateway API header match from a step's header match.
pub(super) fn header_match(view: &View<'_>, m: &HeaderMatch) -> Result<Value, Error> {
    let (kind, value) = string_match(view, &m.header_value, &format!("header {}", m.header_name))?;
    Ok(json!({"type": kind, "name": m.header_name, "value": value}))
}

/// (`Exact` | `RegularExpression`, value). Gateway API has no prefix match
/// for headers: a prefix becomes an escaped regular expression.
fn string_match(
    view: &View<'_>,
    m: &StringMatch,
    what: &str,
) -> Result<(&'static str, String), Error> {
    match (&m.exact, &m.prefix, &m.regex) {
        (Some(v), None, None) => Ok(("Exact", v.clone())),
        (None, Some(v), None) => Ok(("RegularExpression", format!("{}.*", regex::escape(v)))),
        (None, None, Some(v)) => Ok(("RegularExpression", v.clone())),
        _ => Err(view.error(format!(
            "{what}: set exactly one of exact, prefix and regex"
        ))),
    }
}

/// The canary backendRef of a source rule, as a managed rule's only
/// backend (see [`only_ref`]).
pub(super) fn canary_ref(view: &View<'_>, rule: &Value) -> Value {
    only_ref(view, rule, view.services().canary)
}

/// The backendRef of `service` in a source rule, without its weight (a
/// managed rule sends all of its traffic to one backend) and without the
/// sticky-session cookie the rollout's rules set (a managed rule pins no
/// one).
pub(super) fn only_ref(view: &View<'_>, rule: &Value, service: &str) -> Value {
    let mut backend = view
        .backend_of(rule, service)
        .cloned()
        .unwrap_or_else(|| json!({"name": service}));
    if let Some(obj) = backend.as_object_mut() {
        obj.remove("weight");
    }
    for cookie in view.own_cookies() {
        sticky::strip_cookie(&mut backend, cookie);
    }
    backend
}

/// A managed rule made from a source rule: everything the source rule
/// carries (filters, timeouts, retry, session persistence and any field a
/// newer Gateway API adds) except what the managed route replaces — its
/// `name`, `matches` and `backendRefs` — and the sticky session's
/// `sessionPersistence`, which is the rollout's rules' alone.
pub(super) fn derived_rule(
    view: &View<'_>,
    source: &Value,
    name: &str,
    matches: Vec<Value>,
    backend_refs: Value,
) -> Value {
    let mut rule = source.as_object().cloned().unwrap_or_default();
    if sticky::is_own_persistence(view, source) {
        rule.remove("sessionPersistence");
    }
    rule.insert("name".into(), Value::String(name.to_owned()));
    rule.insert("matches".into(), Value::Array(matches));
    rule.insert("backendRefs".into(), backend_refs);
    Value::Object(rule)
}
