//! Mirror routes: a copy of the rollout's rule that sends matching requests
//! to the stable Service and mirrors them to the canary.

use rollout_core::spec::{HeaderMatch, MirrorMatch, SetMirrorRoute};
use serde_json::{Map, Value, json};

use super::header::{canary_ref, derived_rule, header_match, only_ref};
use super::view::View;
use crate::config::RouteKind;
use crate::error::Error;

/// The rule of mirror route `step` (with a non-empty match): one rule
/// matching the step's requests (method, path, headers; the match entries
/// are ORed) that sends them to the stable Service and copies `percentage`
/// of them to the canary with a `RequestMirror` filter. The rule is a copy
/// of the rollout's first rule, so mirrored requests get the user's
/// behaviour (its filters, timeouts, retry and the rest), with the
/// `RequestMirror` filter after the source rule's filters. Precedence with
/// the other managed routes follows `managedRoutes` order, as for header
/// routes.
///
/// On a GRPCRoute (where `RequestMirror` is an extended filter too) the
/// step's path is the gRPC path: `exact: /<service>/<method>` matches that
/// method, `prefix: /<service>/` every method of the service; headers match
/// as on HTTP; a method match is refused (every gRPC request is a POST), as
/// is a regular-expression path.
pub(super) fn rule(view: &View<'_>, step: &SetMirrorRoute) -> Result<Value, Error> {
    let (_, source) = view.source_rules()?[0];
    let matches: Vec<Value> = step
        .matches
        .iter()
        .map(|m| match view.route.kind {
            RouteKind::Grpc => grpc_mirror_match(view, &step.name, m),
            _ => mirror_match(view, m),
        })
        .collect::<Result<_, _>>()?;
    let stable = only_ref(view, source, view.services().stable);
    // A mirror target is an object reference: no weight, no filters.
    let mut mirror_to = canary_ref(view, source);
    if let Some(obj) = mirror_to.as_object_mut() {
        obj.remove("filters");
    }
    let percent = step.percentage.unwrap_or(100).clamp(0, 100);
    let mut filter = json!({"type": "RequestMirror", "requestMirror": {"backendRef": mirror_to}});
    if percent != 100 {
        filter["requestMirror"]["percent"] = json!(percent);
    }
    let mut rule = derived_rule(view, source, &step.name, matches, json!([stable]));
    let mut filters = source["filters"].as_array().cloned().unwrap_or_default();
    filters.push(filter);
    rule["filters"] = Value::Array(filters);
    Ok(rule)
}

/// A GRPCRoute match from a mirror step's match (see [`rule`]).
fn grpc_mirror_match(view: &View<'_>, name: &str, m: &MirrorMatch) -> Result<Value, Error> {
    let refuse = |what: &str| view.error(format!("setMirrorRoute {name}: {what}"));
    let mut out = Map::new();
    if m.method.is_some() {
        return Err(refuse(
            "a GRPCRoute cannot match the HTTP method (every gRPC request is a POST); \
             match on the path (/<service>/<method>) or headers",
        ));
    }
    if let Some(path) = &m.path {
        let (exact, value) = match (&path.exact, &path.prefix, &path.regex) {
            (Some(v), None, None) => (true, v),
            (None, Some(v), None) => (false, v),
            _ => {
                return Err(refuse(
                    "a GRPCRoute path is matched as exact /<service>/<method> or prefix \
                     /<service>/ (no regular expression)",
                ));
            }
        };
        let parts: Vec<&str> = value.trim_start_matches('/').split('/').collect();
        let method = match (exact, parts.as_slice()) {
            (true, [service, method]) if !service.is_empty() && !method.is_empty() => {
                json!({"type": "Exact", "service": service, "method": method})
            }
            (false, [service] | [service, ""]) if !service.is_empty() => {
                json!({"type": "Exact", "service": service})
            }
            _ => {
                return Err(refuse(&format!(
                    "path {value:?} is not a gRPC path (exact /<service>/<method>, or prefix \
                     /<service>/)"
                )));
            }
        };
        out.insert("method".into(), method);
    }
    if let Some(headers) = mirror_headers(view, m)? {
        out.insert("headers".into(), headers);
    }
    Ok(Value::Object(out))
}

fn mirror_match(view: &View<'_>, m: &MirrorMatch) -> Result<Value, Error> {
    let mut out = Map::new();
    if let Some(method) = &m.method {
        match (&method.exact, &method.prefix, &method.regex) {
            (Some(v), None, None) => {
                out.insert("method".into(), Value::String(v.to_uppercase()));
            }
            _ => {
                return Err(
                    view.error("setMirrorRoute: Gateway API matches methods exactly (use exact)")
                );
            }
        }
    }
    if let Some(path) = &m.path {
        let (kind, value) = match (&path.exact, &path.prefix, &path.regex) {
            (Some(v), None, None) => ("Exact", v.clone()),
            (None, Some(v), None) => ("PathPrefix", v.clone()),
            (None, None, Some(v)) => ("RegularExpression", v.clone()),
            _ => {
                return Err(
                    view.error("setMirrorRoute path: set exactly one of exact, prefix and regex")
                );
            }
        };
        out.insert("path".into(), json!({"type": kind, "value": value}));
    }
    if let Some(headers) = mirror_headers(view, m)? {
        out.insert("headers".into(), headers);
    }
    Ok(Value::Object(out))
}

/// A mirror step's header conditions as Gateway API header matches.
fn mirror_headers(view: &View<'_>, m: &MirrorMatch) -> Result<Option<Value>, Error> {
    if m.headers.is_empty() {
        return Ok(None);
    }
    let headers: Vec<Value> = m
        .headers
        .iter()
        .map(|(name, value)| {
            header_match(
                view,
                &HeaderMatch {
                    header_name: name.clone(),
                    header_value: value.clone(),
                },
            )
        })
        .collect::<Result<_, _>>()?;
    Ok(Some(Value::Array(headers)))
}
