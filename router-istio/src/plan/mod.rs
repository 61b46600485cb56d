//! What a VirtualService or DestinationRule should become, as pure
//! functions of the object as read and the desired traffic: the new object,
//! or `None` when nothing changes.
//!
//! The objects are edited as JSON, so fields this crate does not know
//! (retries, timeouts, fault injection, fields of newer Istio versions)
//! are carried over untouched.

use std::collections::{BTreeMap, BTreeSet};

use rollout_core::spec::{MirrorMatch, SetHeaderRoute, SetMirrorRoute, StringMatch};
use rollout_core::status::WeightDestination;
use serde_json::{Map, Value, json};

use crate::Error;
use crate::config::{DestinationRuleRef, VirtualServiceRef};

/// The pod-template-hash label a subset selects on.
pub const HASH_LABEL: &str = "rollouts-pod-template-hash";

/// Annotation naming the rollout that manages a DestinationRule's subsets.
/// Not Argo's `argo-rollouts.argoproj.io/managed-by-rollouts`: Argo Rollouts'
/// own Istio controller strips the hash labels from a DestinationRule that
/// carries that annotation but is not referenced by `trafficRouting.istio`,
/// which is exactly the case when this router runs as Argo's plugin.
pub const MANAGED_BY: &str = "rollgate.dev/managed-by-rollout";

/// Istio's weights add up to 100.
pub const TOTAL_WEIGHT: i64 = 100;

/// The rollout, as far as its VirtualServices are concerned.
#[derive(Debug, Clone, Copy)]
pub struct Rollout<'a> {
    /// `canaryService` (host-level splitting).
    pub canary_service: &'a str,
    /// `stableService`.
    pub stable_service: &'a str,
    /// `trafficRouting.managedRoutes`, in precedence order.
    pub managed_routes: &'a [String],
    /// Subset-level splitting.
    pub destination_rule: Option<&'a DestinationRuleRef>,
}

fn object_error(object: &Value, kind: &str, message: impl Into<String>) -> Error {
    Error::Object {
        object: format!(
            "{kind} {}/{}",
            object["metadata"]["namespace"].as_str().unwrap_or_default(),
            object["metadata"]["name"].as_str().unwrap_or_default()
        ),
        message: message.into(),
    }
}

fn vs_error(vs: &Value, message: impl Into<String>) -> Error {
    object_error(vs, "VirtualService", message)
}

/// Whether `host` names `service`: the part before the first dot
/// (`svc`, `svc.ns`, `svc.ns.svc.cluster.local`).
fn names_service(host: &str, service: &str) -> bool {
    !service.is_empty() && !host.starts_with('.') && host.split('.').next() == Some(service)
}

impl Rollout<'_> {
    fn is_canary(&self, destination: &Value) -> bool {
        let d = &destination["destination"];
        names_service(d["host"].as_str().unwrap_or_default(), self.canary_service)
            || self
                .destination_rule
                .is_some_and(|dr| d["subset"].as_str() == Some(dr.canary_subset_name.as_str()))
    }

    fn is_stable(&self, destination: &Value) -> bool {
        let d = &destination["destination"];
        names_service(d["host"].as_str().unwrap_or_default(), self.stable_service)
            || self
                .destination_rule
                .is_some_and(|dr| d["subset"].as_str() == Some(dr.stable_subset_name.as_str()))
    }

    fn is_additional_subset(&self, destination: &Value) -> bool {
        self.destination_rule.is_some_and(|dr| {
            destination["destination"]["subset"]
                .as_str()
                .is_some_and(|s| dr.additional_subset_names.iter().any(|a| a == s))
        })
    }

    fn is_managed(&self, route: &Value) -> bool {
        route["name"]
            .as_str()
            .is_some_and(|n| self.managed_routes.iter().any(|m| m == n))
    }
}

fn routes<'v>(vs: &'v Value, kind: &str) -> &'v [Value] {
    vs["spec"][kind].as_array().map_or(&[], Vec::as_slice)
}

/// The http routes that carry the weights: those named in `routes`, or the
/// one unmanaged route; plus the managed mirror routes, which are weighted
/// alongside.
fn http_indexes(
    vs: &Value,
    vs_ref: &VirtualServiceRef,
    rollout: &Rollout<'_>,
) -> Result<Vec<usize>, Error> {
    let http = routes(vs, "http");
    let mut indexes = Vec::new();
    if vs_ref.routes.is_empty() {
        if !(vs_ref.tls_routes.is_empty() && vs_ref.tcp_routes.is_empty()) {
            return Ok(indexes);
        }
        let unmanaged: Vec<usize> = (0..http.len())
            .filter(|&i| !rollout.is_managed(&http[i]))
            .collect();
        match unmanaged.as_slice() {
            [one] => indexes.push(*one),
            _ => {
                return Err(vs_error(
                    vs,
                    "spec.http[] should be set in VirtualService and it must have exactly one route \
                     when omitting spec.strategy.canary.trafficRouting.istio.virtualService.routes",
                ));
            }
        }
    } else {
        for name in &vs_ref.routes {
            let i = http
                .iter()
                .position(|r| r["name"].as_str() == Some(name))
                .ok_or_else(|| {
                    vs_error(
                        vs,
                        format!("HTTP Route '{name}' is not found in the defined Virtual Service."),
                    )
                })?;
            indexes.push(i);
        }
    }
    for (i, route) in http.iter().enumerate() {
        if !route["mirror"].is_null() && rollout.is_managed(route) && !indexes.contains(&i) {
            indexes.push(i);
        }
    }
    Ok(indexes)
}

/// The distinct ports of a route's match blocks.
fn match_ports(route: &Value) -> BTreeSet<i64> {
    route["match"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["port"].as_i64())
        .collect()
}

fn port_matches(route: &Value, port: i64) -> bool {
    let ports = match_ports(route);
    match ports.len() {
        0 => port == 0,
        1 => ports.contains(&port),
        _ => false,
    }
}

fn tls_indexes(vs: &Value, vs_ref: &VirtualServiceRef) -> Result<Vec<usize>, Error> {
    let tls = routes(vs, "tls");
    let mut indexes = Vec::new();
    for selector in &vs_ref.tls_routes {
        let want: BTreeSet<&str> = selector.sni_hosts.iter().map(String::as_str).collect();
        let found: Vec<usize> = (0..tls.len())
            .filter(|&i| {
                let hosts: BTreeSet<&str> = tls[i]["match"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|m| m["sniHosts"].as_array().into_iter().flatten())
                    .filter_map(Value::as_str)
                    .collect();
                port_matches(&tls[i], selector.port) && hosts == want
            })
            .collect();
        if found.is_empty() {
            return Err(vs_error(
                vs,
                "No matching TLS routes found in the defined Virtual Service.",
            ));
        }
        indexes.extend(found);
    }
    Ok(indexes)
}

fn tcp_indexes(vs: &Value, vs_ref: &VirtualServiceRef) -> Result<Vec<usize>, Error> {
    let tcp = routes(vs, "tcp");
    let mut indexes = Vec::new();
    for selector in &vs_ref.tcp_routes {
        let found: Vec<usize> = (0..tcp.len())
            .filter(|&i| port_matches(&tcp[i], selector.port))
            .collect();
        if found.is_empty() {
            return Err(vs_error(
                vs,
                "No matching TCP routes found in the defined Virtual Service.",
            ));
        }
        indexes.extend(found);
    }
    Ok(indexes)
}

/// Rewrites one route's destinations for `desired`: canary gets `desired`,
/// stable the rest, experiment Services theirs (added if missing, in host
/// order), additional subsets keep theirs, any other destination is dropped.
fn weigh(
    vs: &Value,
    route: &mut Value,
    rollout: &Rollout<'_>,
    desired: i32,
    additional: &[WeightDestination],
) -> Result<(), Error> {
    let destinations = route["route"].as_array().cloned().unwrap_or_default();
    if !destinations.iter().any(|d| rollout.is_canary(d)) {
        return Err(vs_error(
            vs,
            match rollout.destination_rule {
                Some(dr) => format!(
                    "Canary DestinationRule subset '{}' not found in route",
                    dr.canary_subset_name
                ),
                None => format!(
                    "Canary Service '{}' not found in route",
                    rollout.canary_service
                ),
            },
        ));
    }
    if !destinations.iter().any(|d| rollout.is_stable(d)) {
        return Err(vs_error(
            vs,
            match rollout.destination_rule {
                Some(dr) => format!(
                    "Stable DestinationRule subset '{}' not found in route",
                    dr.stable_subset_name
                ),
                None => format!(
                    "Stable Service '{}' not found in route",
                    rollout.stable_service
                ),
            },
        ));
    }
    let extra: i64 = additional.iter().map(|a| i64::from(a.weight.max(0))).sum();
    let kept: i64 = destinations
        .iter()
        .filter(|d| rollout.is_additional_subset(d))
        .filter_map(|d| d["weight"].as_i64())
        .sum();
    let stable = (TOTAL_WEIGHT - i64::from(desired) - extra - kept).max(0);
    let experiment = |d: &Value| {
        let host = d["destination"]["host"].as_str().unwrap_or_default();
        additional.iter().find(|a| {
            a.service_name
                .as_deref()
                .is_some_and(|s| host == s || names_service(host, s))
        })
    };
    let mut out = Vec::new();
    for d in &destinations {
        if d["destination"]["host"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
        {
            out.push(d.clone());
            continue;
        }
        let weight = if rollout.is_canary(d) {
            i64::from(desired)
        } else if rollout.is_stable(d) {
            stable
        } else if let Some(a) = experiment(d) {
            i64::from(a.weight)
        } else if rollout.is_additional_subset(d) {
            out.push(d.clone());
            continue;
        } else {
            continue;
        };
        let mut d = d.clone();
        d["weight"] = json!(weight);
        out.push(d);
    }
    let mut missing: Vec<&WeightDestination> = additional
        .iter()
        .filter(|a| {
            a.service_name.is_some()
                && !destinations
                    .iter()
                    .any(|d| experiment(d).is_some_and(|e| e == *a))
        })
        .collect();
    missing.sort_by(|a, b| a.service_name.cmp(&b.service_name));
    for a in missing {
        out.push(json!({"destination": {"host": a.service_name}, "weight": a.weight}));
    }
    route["route"] = Value::Array(out);
    Ok(())
}

/// Puts the managed http routes first, in `managedRoutes` order; the others
/// follow in their order.
fn order_routes(vs: &mut Value, managed: &[String]) {
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

fn changed(before: &Value, after: Value) -> Option<Value> {
    (before != &after).then_some(after)
}

/// The VirtualService with `desired` (of 100) on the canary and the rest on
/// stable, in every selected http, tls and tcp route and the managed mirror
/// routes; `None` when it already is so.
///
/// ```
/// use router_istio::{config::VirtualServiceRef, plan::{plan_weights, Rollout}};
/// let vs = serde_json::json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"http": [
///     {"route": [{"destination": {"host": "web-stable"}, "weight": 100},
///                {"destination": {"host": "web-canary"}, "weight": 0}]}]}});
/// let vs_ref: VirtualServiceRef = serde_json::from_value(serde_json::json!({"name": "web"})).unwrap();
/// let rollout = Rollout { canary_service: "web-canary", stable_service: "web-stable",
///     managed_routes: &[], destination_rule: None };
/// let after = plan_weights(&vs, &vs_ref, &rollout, 10, &[]).unwrap().unwrap();
/// assert_eq!(after["spec"]["http"][0]["route"][0]["weight"], 90);
/// assert!(plan_weights(&after, &vs_ref, &rollout, 10, &[]).unwrap().is_none());
/// ```
pub fn plan_weights(
    vs: &Value,
    vs_ref: &VirtualServiceRef,
    rollout: &Rollout<'_>,
    desired: i32,
    additional: &[WeightDestination],
) -> Result<Option<Value>, Error> {
    if !(0..=100).contains(&desired) {
        return Err(vs_error(
            vs,
            format!("weight {desired} is outside 0 to 100"),
        ));
    }
    if routes(vs, "http").is_empty() && routes(vs, "tls").is_empty() && routes(vs, "tcp").is_empty()
    {
        return Err(vs_error(
            vs,
            "Unable to get any of the HTTP, TCP or TLS routes for the Istio VirtualService",
        ));
    }
    let mut out = vs.clone();
    for (kind, indexes) in [
        ("http", http_indexes(vs, vs_ref, rollout)?),
        ("tls", tls_indexes(vs, vs_ref)?),
        ("tcp", tcp_indexes(vs, vs_ref)?),
    ] {
        for i in indexes {
            weigh(vs, &mut out["spec"][kind][i], rollout, desired, additional)?;
        }
    }
    order_routes(&mut out, rollout.managed_routes);
    Ok(changed(vs, out))
}

/// Where managed routes send requests: the DestinationRule's host with the
/// canary subset, or the canary Service; with the port of the weighted
/// route's first destination.
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

/// The http routes, if the object has them (never inserting the field).
fn http_mut(vs: &mut Value) -> Option<&mut Vec<Value>> {
    vs.get_mut("spec")?.get_mut("http")?.as_array_mut()
}

fn without_route(vs: &Value, name: &str) -> Value {
    let mut out = vs.clone();
    if let Some(http) = http_mut(&mut out) {
        http.retain(|r| r["name"].as_str() != Some(name));
    }
    out
}

/// Where a new managed route is put before the `managedRoutes` ordering.
#[derive(Debug, Clone, Copy)]
enum Place {
    First,
    Last,
}

/// The VirtualService with its http route `name` replaced by what `build`
/// makes of the VirtualService without it (`None`: removed), then the
/// managed routes ordered.
fn replace_managed_route(
    vs: &Value,
    rollout: &Rollout<'_>,
    name: &str,
    place: Place,
    build: Option<impl FnOnce(&Value) -> Result<Value, Error>>,
) -> Result<Option<Value>, Error> {
    if vs["spec"]["http"].as_array().is_none() {
        return Err(vs_error(vs, "spec.http not found"));
    }
    let mut out = without_route(vs, name);
    if let Some(build) = build {
        let route = build(&out)?;
        let http = http_mut(&mut out).expect("checked above");
        match place {
            Place::First => http.insert(0, route),
            Place::Last => http.push(route),
        }
    }
    order_routes(&mut out, rollout.managed_routes);
    Ok(changed(vs, out))
}

/// The VirtualService with the managed header route `step.name` sending
/// requests whose headers match to the canary (each match entry one Istio
/// match block, ORed), placed by `managedRoutes` order; an empty match
/// removes it.
pub fn plan_header_route(
    vs: &Value,
    vs_ref: &VirtualServiceRef,
    rollout: &Rollout<'_>,
    step: &SetHeaderRoute,
    canary_host: &str,
) -> Result<Option<Value>, Error> {
    let build = (!step.matches.is_empty()).then_some(|out: &Value| {
        let destination = canary_destination(out, vs_ref, rollout, canary_host)?;
        let matches: Vec<Value> = step
            .matches
            .iter()
            .map(|m| json!({"headers": {m.header_name.clone(): istio_match(&m.header_value)}}))
            .collect();
        Ok(json!({"name": step.name, "match": matches,
                  "route": [{"destination": destination, "weight": 100}]}))
    });
    replace_managed_route(vs, rollout, &step.name, Place::Last, build)
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

/// The VirtualService with the managed mirror route `step.name`: requests
/// matching the step go where the weighted route sends them (same
/// destinations and weights) and `percentage` of them are copied to the
/// canary; an empty match removes it.
pub fn plan_mirror_route(
    vs: &Value,
    vs_ref: &VirtualServiceRef,
    rollout: &Rollout<'_>,
    step: &SetMirrorRoute,
    canary_host: &str,
) -> Result<Option<Value>, Error> {
    let build = (!step.matches.is_empty()).then_some(|out: &Value| {
        let destination = canary_destination(out, vs_ref, rollout, canary_host)?;
        let destinations = http_indexes(out, vs_ref, rollout)?
            .first()
            .map(|&i| routes(out, "http")[i]["route"].clone())
            .unwrap_or_else(|| json!([]));
        let matches: Vec<Value> = step.matches.iter().map(mirror_match).collect();
        Ok(json!({
            "name": step.name, "match": matches, "route": destinations,
            "mirror": destination,
            "mirrorPercentage": {"value": step.percentage.unwrap_or(100)}
        }))
    });
    replace_managed_route(vs, rollout, &step.name, Place::First, build)
}

/// The VirtualService without the http routes named in `names` (the
/// managed routes and the routes the steps set).
pub fn plan_remove_managed(vs: &Value, names: &BTreeSet<String>) -> Option<Value> {
    let mut out = vs.clone();
    if let Some(http) = http_mut(&mut out) {
        http.retain(|r| !r["name"].as_str().is_some_and(|n| names.contains(n)));
    }
    changed(vs, out)
}

/// The DestinationRule with the canary and stable subsets selecting
/// `canary_hash` and `stable_hash` (an empty hash removes the label),
/// experiment subsets selecting theirs (added if missing). Subsets that
/// are none of these are kept as they are, and so are every other field.
pub fn plan_update_hash(
    dr: &Value,
    dr_ref: &DestinationRuleRef,
    rollout_name: &str,
    canary_hash: &str,
    stable_hash: &str,
    additional: &[WeightDestination],
) -> Result<Option<Value>, Error> {
    let mut out = dr.clone();
    out["metadata"]["annotations"][MANAGED_BY] = json!(rollout_name);
    let mut wanted: Vec<(String, String)> = vec![
        (dr_ref.canary_subset_name.clone(), canary_hash.to_owned()),
        (dr_ref.stable_subset_name.clone(), stable_hash.to_owned()),
    ];
    for a in additional {
        if let (Some(name), Some(hash)) = (&a.service_name, &a.pod_template_hash) {
            wanted.push((name.clone(), hash.clone()));
        }
    }
    if out["spec"]["subsets"].is_null() {
        out["spec"]["subsets"] = json!([]);
    }
    let subsets = out["spec"]["subsets"]
        .as_array_mut()
        .ok_or_else(|| object_error(dr, "DestinationRule", "spec.subsets is not a list"))?;
    for (i, (name, hash)) in wanted.iter().enumerate() {
        let position = subsets
            .iter()
            .position(|s| s["name"].as_str() == Some(name));
        let subset = match position {
            Some(p) => &mut subsets[p],
            None if i >= 2 => {
                subsets.push(json!({"name": name, "labels": {}}));
                subsets.last_mut().expect("just pushed")
            }
            None => {
                return Err(object_error(
                    dr,
                    "DestinationRule",
                    format!("subset '{name}' not found"),
                ));
            }
        };
        if hash.is_empty() {
            if let Some(labels) = subset["labels"].as_object_mut() {
                labels.remove(HASH_LABEL);
            }
        } else {
            subset["labels"][HASH_LABEL] = json!(hash);
        }
    }
    Ok(changed(dr, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_name_services_by_their_first_label() {
        assert!(names_service("web", "web"));
        assert!(names_service("web.ns.svc.cluster.local", "web"));
        assert!(!names_service("web-canary", "web"));
        assert!(!names_service(".web", "web"));
        assert!(!names_service("web", ""));
    }

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
