//! Mirror routes: a copy of the rollout's rule that sends matching requests
//! to the stable Service and mirrors them to the canary.

use json_patch::Patch;
use rollout_core::spec::{HeaderMatch, MirrorMatch, SetMirrorRoute};
use serde_json::{Map, Value, json};

use super::{Route, Services, canary_ref, derived_rule, header_match, set_managed};
use crate::config::RouteKind;
use crate::error::Error;

/// Sets the managed mirror route `step.name` on an HTTPRoute: one rule
/// matching the step's requests (method, path, headers; the match entries
/// are ORed) that sends them to the stable Service and copies `percentage`
/// of them to the canary with a `RequestMirror` filter. The rule is a copy
/// of the first rule that carries both Services, so mirrored requests get
/// the user's behaviour (its filters, timeouts, retry and the rest), with
/// the `RequestMirror` filter after the source rule's filters. An empty
/// match removes it. Precedence with the other managed routes follows
/// `managedRoutes` order, as for header routes.
///
/// On a GRPCRoute (where `RequestMirror` is an extended filter too) the
/// step's path is the gRPC path: `exact: /<service>/<method>` matches that
/// method, `prefix: /<service>/` every method of the service; headers match
/// as on HTTP; a method match is refused (every gRPC request is a POST), as
/// is a regular-expression path. TCP and TLS routes: no change.
pub fn plan_mirror_route(
    route: &Route<'_>,
    services: &Services<'_>,
    step: &SetMirrorRoute,
) -> Result<Option<Patch>, Error> {
    if !route.kind.routes_requests() {
        return Ok(None);
    }
    if step.matches.is_empty() {
        return set_managed(route, &step.name, Vec::new());
    }
    let (_, source) = route.source_rules(services)?[0];
    let matches: Vec<Value> = step
        .matches
        .iter()
        .map(|m| match route.kind {
            RouteKind::Grpc => grpc_mirror_match(route, &step.name, m),
            _ => mirror_match(route, m),
        })
        .collect::<Result<_, _>>()?;
    let mut stable = source["backendRefs"]
        .as_array()
        .and_then(|refs| {
            refs.iter()
                .find(|b| route.refers_to(b, services.stable, services))
        })
        .cloned()
        .unwrap_or_else(|| json!({"name": services.stable}));
    if let Some(obj) = stable.as_object_mut() {
        obj.remove("weight");
    }
    // A mirror target is an object reference: no weight, no filters.
    let mut mirror_to = canary_ref(route, source, services);
    if let Some(obj) = mirror_to.as_object_mut() {
        obj.remove("filters");
    }
    let percent = step.percentage.unwrap_or(100).clamp(0, 100);
    let mut filter = json!({"type": "RequestMirror", "requestMirror": {"backendRef": mirror_to}});
    if percent != 100 {
        filter["requestMirror"]["percent"] = json!(percent);
    }
    let mut rule = derived_rule(source, &step.name, matches, json!([stable]));
    let mut filters = source["filters"].as_array().cloned().unwrap_or_default();
    filters.push(filter);
    rule["filters"] = Value::Array(filters);
    set_managed(route, &step.name, vec![rule])
}

/// A GRPCRoute match from a mirror step's match (see [`plan_mirror_route`]).
fn grpc_mirror_match(route: &Route<'_>, name: &str, m: &MirrorMatch) -> Result<Value, Error> {
    let refuse = |what: &str| route.error(format!("setMirrorRoute {name}: {what}"));
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
    if let Some(headers) = mirror_headers(route, m)? {
        out.insert("headers".into(), headers);
    }
    Ok(Value::Object(out))
}

fn mirror_match(route: &Route<'_>, m: &MirrorMatch) -> Result<Value, Error> {
    let mut out = Map::new();
    if let Some(method) = &m.method {
        match (&method.exact, &method.prefix, &method.regex) {
            (Some(v), None, None) => {
                out.insert("method".into(), Value::String(v.to_uppercase()));
            }
            _ => {
                return Err(
                    route.error("setMirrorRoute: Gateway API matches methods exactly (use exact)")
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
                    route.error("setMirrorRoute path: set exactly one of exact, prefix and regex")
                );
            }
        };
        out.insert("path".into(), json!({"type": kind, "value": value}));
    }
    if let Some(headers) = mirror_headers(route, m)? {
        out.insert("headers".into(), headers);
    }
    Ok(Value::Object(out))
}

/// A mirror step's header conditions as Gateway API header matches.
fn mirror_headers(route: &Route<'_>, m: &MirrorMatch) -> Result<Option<Value>, Error> {
    if m.headers.is_empty() {
        return Ok(None);
    }
    let headers: Vec<Value> = m
        .headers
        .iter()
        .map(|(name, value)| {
            header_match(
                route,
                &HeaderMatch {
                    header_name: name.clone(),
                    header_value: value.clone(),
                },
            )
        })
        .collect::<Result<_, _>>()?;
    Ok(Some(Value::Array(headers)))
}
