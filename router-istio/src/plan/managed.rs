//! Managed header and mirror routes: named http routes placed first, in
//! `managedRoutes` order (Argo Rollouts' `orderRoutes`).

use std::collections::BTreeMap;

use rollout_core::spec::{MirrorMatch, SetHeaderRoute, SetMirrorRoute, StringMatch};
use router_core::{RouteTarget, TrafficTarget};
use serde_json::{Map, Value, json};

use super::select::{http_indexes, routes};
use super::{Rollout, vs_error};
use crate::Error;
use crate::config::VirtualServiceRef;

/// Makes the managed http routes of `vs` what `target` asks of each
/// (see [`TrafficTarget::route`]): set (replacing the route of that name),
/// removed, or left as it is. A header route is built where
/// [`header_route`] says, a mirror route where [`mirror_route`] says; both
/// send to `canary_host`.
pub(super) fn set_routes(
    vs: &mut Value,
    vs_ref: &VirtualServiceRef,
    rollout: &Rollout<'_>,
    target: &TrafficTarget,
    canary_host: &str,
) -> Result<(), Error> {
    for name in rollout.managed_routes {
        let wanted = target.route(name);
        if wanted == RouteTarget::AsIs {
            continue;
        }
        if wanted != RouteTarget::Absent && vs["spec"]["http"].as_array().is_none() {
            return Err(vs_error(vs, "spec.http not found"));
        }
        if let Some(http) = http_mut(vs) {
            http.retain(|r| r["name"].as_str() != Some(name));
        }
        match wanted {
            RouteTarget::AsIs | RouteTarget::Absent => {}
            RouteTarget::Header(step) => {
                let route = header_route(vs, vs_ref, rollout, step, canary_host)?;
                http_mut(vs).expect("checked above").push(route);
            }
            RouteTarget::Mirror(step) => {
                let route = mirror_route(vs, vs_ref, rollout, step, canary_host)?;
                http_mut(vs).expect("checked above").insert(0, route);
            }
        }
    }
    Ok(())
}

/// Puts the managed http routes first, in `managedRoutes` order; the others
/// follow in their order.
pub(super) fn order_routes(vs: &mut Value, managed: &[String]) {
    let Some(http) = http_mut(vs) else {
        return;
    };
    if managed.is_empty() {
        return;
    }
    let mut first = Vec::new();
    for name in managed {
        if let Some(i) = http.iter().position(|r| r["name"].as_str() == Some(name)) {
            first.push(http.remove(i));
        }
    }
    first.append(http);
    *http = first;
}

/// The http routes, if the object has them (never inserting the field).
fn http_mut(vs: &mut Value) -> Option<&mut Vec<Value>> {
    vs.get_mut("spec")?.get_mut("http")?.as_array_mut()
}

/// Where managed routes send requests: `canary_host` (the DestinationRule's
/// host, or the canary Service) with the canary subset, on the port of the
/// weighted route's first destination.
fn canary_destination(
    vs: &Value,
    vs_ref: &VirtualServiceRef,
    rollout: &Rollout<'_>,
    canary_host: &str,
) -> Result<Value, Error> {
    let mut destination = Map::new();
    destination.insert("host".into(), json!(canary_host));
    let weighted = http_indexes(vs, vs_ref, rollout)?;
    if let Some(port) = weighted
        .first()
        .and_then(|&i| routes(vs, "http")[i]["route"][0]["destination"]["port"]["number"].as_i64())
    {
        destination.insert("port".into(), json!({"number": port}));
    }
    if let Some(dr) = rollout.destination_rule {
        destination.insert("subset".into(), json!(dr.canary_subset_name));
    }
    Ok(Value::Object(destination))
}

fn istio_match(m: &StringMatch) -> Value {
    let mut out = Map::new();
    for (key, value) in [
        ("exact", &m.exact),
        ("prefix", &m.prefix),
        ("regex", &m.regex),
    ] {
        if let Some(v) = value {
            out.insert(key.into(), json!(v));
        }
    }
    Value::Object(out)
}

/// The managed header route `step.name`: requests whose headers match go
/// to the canary (each match entry one Istio match block, ORed). Built over
/// `vs` without the route.
fn header_route(
    vs: &Value,
    vs_ref: &VirtualServiceRef,
    rollout: &Rollout<'_>,
    step: &SetHeaderRoute,
    canary_host: &str,
) -> Result<Value, Error> {
    let destination = canary_destination(vs, vs_ref, rollout, canary_host)?;
    let matches: Vec<Value> = step
        .matches
        .iter()
        .map(|m| json!({"headers": {m.header_name.clone(): istio_match(&m.header_value)}}))
        .collect();
    Ok(json!({"name": step.name, "match": matches,
              "route": [{"destination": destination, "weight": 100}]}))
}

/// One Istio match block from a mirror step's match (method, uri, headers).
fn mirror_match(m: &MirrorMatch) -> Value {
    let mut block = Map::new();
    if let Some(method) = &m.method {
        block.insert("method".into(), istio_match(method));
    }
    if let Some(path) = &m.path {
        block.insert("uri".into(), istio_match(path));
    }
    if !m.headers.is_empty() {
        let headers: BTreeMap<&String, Value> =
            m.headers.iter().map(|(k, v)| (k, istio_match(v))).collect();
        block.insert("headers".into(), json!(headers));
    }
    Value::Object(block)
}

/// The managed mirror route `step.name`: requests matching the step go
/// where the weighted route sends them (same destinations and weights) and
/// `percentage` of them are copied to the canary. Built over `vs` without
/// the route.
fn mirror_route(
    vs: &Value,
    vs_ref: &VirtualServiceRef,
    rollout: &Rollout<'_>,
    step: &SetMirrorRoute,
    canary_host: &str,
) -> Result<Value, Error> {
    let destination = canary_destination(vs, vs_ref, rollout, canary_host)?;
    let destinations = http_indexes(vs, vs_ref, rollout)?
        .first()
        .map(|&i| routes(vs, "http")[i]["route"].clone())
        .unwrap_or_else(|| json!([]));
    let matches: Vec<Value> = step.matches.iter().map(mirror_match).collect();
    Ok(json!({
        "name": step.name, "match": matches, "route": destinations,
        "mirror": destination,
        "mirrorPercentage": {"value": step.percentage.unwrap_or(100)}
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_routes_go_first_in_their_order() {
        let mut vs = json!({"spec": {"http": [{"name": "primary"}, {"name": "b"}, {"name": "a"}]}});
        order_routes(&mut vs, &["a".into(), "b".into()]);
        let names: Vec<&str> = vs["spec"]["http"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "b", "primary"]);
    }
}
