//! F5 NGINX Ingress Controller VirtualServers and VirtualServerRoutes
//! (`k8s.nginx.org/v1`): the rollout's routes as weighted `splits`, header
//! routes as `matches`.
//!
//! Configured under the same plugin key as the canary Ingresses, with keys
//! of its own (see [`config`]). Argo Rollouts has no VirtualServer router;
//! this one follows the canary Ingress router's rules where they apply.
//!
//! [`plan`] is a pure function of the object as read and a
//! [`TrafficTarget`]: one JSON patch whose `test` operations guard every
//! element it changes, or nothing. On each route it splits (see [`route`]
//! for the two shapes) it owns `action`, `splits` and its own `matches`;
//! on the object, the canary upstream it adds (a copy of the stable
//! upstream named by [`canary_upstream_name`], for the canary Service) and
//! the annotation [`HEADER_ROUTES_ANNOTATION`]. At weight 0 with no header
//! route, all of that is gone again: the object is as the user wrote it.
//! Other routes, upstreams, matches and fields are never touched.

use std::collections::{BTreeMap, BTreeSet};

use json_patch::Patch;
use router_core::TrafficTarget;
use serde_json::{Value, json};

use crate::Error;
use crate::plan::{Rollout, check_two_way};

pub mod config;
mod header;
pub mod route;

pub use config::{Kind, Target};
pub use header::{HEADER_ROUTES_ANNOTATION, HeaderRoute, Record, conditions, in_effect, record};
use route::{Split, with_upstream};

/// Upstream names are DNS-1035 labels, at most this long.
const MAX_UPSTREAM_NAME: usize = 63;

/// What splits traffic here, for messages.
const CARRIER: &str = "F5 NGINX VirtualServer splits";

/// The canary upstream of the stable upstream `stable`:
/// `<stable>-rollgate-canary`, `stable` shortened so that it is a valid
/// upstream name.
///
/// ```
/// use router_nginx::virtual_server::canary_upstream_name;
/// assert_eq!(canary_upstream_name("web"), "web-rollgate-canary");
/// assert_eq!(canary_upstream_name(&"a".repeat(63)).len(), 63);
/// ```
pub fn canary_upstream_name(stable: &str) -> String {
    const SUFFIX: &str = "-rollgate-canary";
    let keep = stable.len().min(MAX_UPSTREAM_NAME - SUFFIX.len());
    let mut end = keep;
    while !stable.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{SUFFIX}", stable[..end].trim_end_matches('-'))
}

/// Refuses, from the target and the rollout alone (so before any I/O),
/// what a VirtualServer split cannot carry: a mirror route, weighted
/// experiment destinations, a `maxTrafficWeight` other than 100 (splits
/// are percentages), a weight out of range, and header routes
/// [`conditions`] refuses.
///
/// # Errors
///
/// [`Error::Unsupported`] or [`Error::Config`], naming the field.
pub fn check(target: &TrafficTarget, rollout: &Rollout<'_>) -> Result<(), Error> {
    let label = rollout.label();
    check_two_way(target, &label, CARRIER)?;
    if let Some(max) = rollout.max_traffic_weight.filter(|m| *m != 100) {
        return Err(Error::Unsupported {
            rollout: label,
            message: format!(
                "spec.strategy.canary.trafficRouting.maxTrafficWeight: {max}, but F5 NGINX \
                 VirtualServer splits are percentages (their weights add up to 100); leave it \
                 unset or 100"
            ),
        });
    }
    if let Some(w) = target.canary_weight.filter(|w| !(0..=100).contains(w)) {
        return Err(Error::Unsupported {
            rollout: label,
            message: format!("canary weight {w}: F5 NGINX split weights are 0 to 100"),
        });
    }
    header::check(target, &label)?;
    rollout.check_services()
}

/// The routes of `object` the rollout splits, as read.
fn splits<'a>(
    object: &'a Value,
    target: &Target,
    rollout: &Rollout<'_>,
    label: &str,
) -> Result<Vec<Split<'a>>, Error> {
    let field = target.kind.routes_field();
    let error = |message: String| Error::VirtualServer {
        object: label.to_owned(),
        message,
    };
    let stable: BTreeSet<&str> = upstreams(object)
        .iter()
        .filter(|u| u["service"].as_str() == Some(rollout.stable_service))
        .filter_map(|u| u["name"].as_str())
        .collect();
    let routes = object["spec"][field]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let read = |i: usize, route: &'a Value| {
        Split::read(i, route, |u| stable.contains(u), canary_upstream_name)
    };
    let key = target.kind.config_key();
    if target.routes.is_empty() {
        let found: Vec<Split<'a>> = routes
            .iter()
            .enumerate()
            .filter_map(|(i, r)| read(i, r).ok())
            .collect();
        if found.is_empty() {
            return Err(error(format!(
                "spec.{field}: no route's action passes to an upstream of the stable Service {} \
                 (spec.upstreams[].service); list the routes to split in the plugin config's \
                 {key}.routes",
                rollout.stable_service
            )));
        }
        return Ok(found);
    }
    target
        .routes
        .iter()
        .map(|path| {
            let (i, route) = routes
                .iter()
                .enumerate()
                .find(|(_, r)| r["path"].as_str() == Some(path))
                .ok_or_else(|| {
                    error(format!(
                        "spec.{field}: no route with path `{path}` (plugin config {key}.routes)"
                    ))
                })?;
            read(i, route).map_err(|what| {
                error(format!(
                    "spec.{field}[{i}] (path `{path}`): expected an action passing to an upstream \
                     of the stable Service {}, or the rollout's splits; found {what}",
                    rollout.stable_service
                ))
            })
        })
        .collect()
}

fn upstreams(object: &Value) -> &[Value] {
    object["spec"]["upstreams"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
}

/// A JSON pointer token: `~` and `/` escaped.
fn pointer_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Operations making `at` (read as `old`) hold `new`; `None` means absent.
fn set_ops(at: &str, old: Option<&Value>, new: Option<&Value>, ops: &mut Vec<Value>) {
    match (old, new) {
        (Some(o), Some(n)) if o == n => {}
        (None, None) => {}
        (Some(o), Some(n)) => {
            ops.push(json!({"op": "test", "path": at, "value": o}));
            ops.push(json!({"op": "replace", "path": at, "value": n}));
        }
        (Some(o), None) => {
            ops.push(json!({"op": "test", "path": at, "value": o}));
            ops.push(json!({"op": "remove", "path": at}));
        }
        (None, Some(n)) => ops.push(json!({"op": "add", "path": at, "value": n})),
    }
}

/// The one plan for a VirtualServer or VirtualServerRoute: what `target`
/// makes of `object` (as read), given the rollout's `managedRoutes` names
/// in order (`managed`). `None`: it already is so, send nothing.
///
/// - Each split route gets the target's weight (or keeps its own) in the
///   shape [`route`] describes, and the header routes in effect after the
///   target (see [`in_effect`]) as matches after the user's own, in
///   `managedRoutes` order.
/// - A canary upstream exists while a route passes traffic to it (a
///   weight above 0, or a header route), as a copy of the stable upstream
///   for the canary Service, and is removed after.
/// - The record of the header routes in place ([`HEADER_ROUTES_ANNOTATION`])
///   exists while there is one.
///
/// # Errors
///
/// Those of [`check`]; a listed route that is missing or in neither shape;
/// no route to split; the canary upstream's name taken by an upstream of
/// another Service; a record this router cannot read.
///
/// ```
/// use router_core::TrafficTarget;
/// use router_nginx::plan::Rollout;
/// use router_nginx::virtual_server::{plan, Kind, Target};
/// let rollout = Rollout { name: "web", namespace: "default", uid: None,
///     canary_service: "web-canary", stable_service: "web-stable", max_traffic_weight: None,
///     promoted: false };
/// let vs = serde_json::json!({"metadata": {"name": "web"}, "spec": {
///     "upstreams": [{"name": "web", "service": "web-stable", "port": 80}],
///     "routes": [{"path": "/", "action": {"pass": "web"}}]}});
/// let target = Target { kind: Kind::VirtualServer, name: "web".into(), routes: vec![] };
/// let patch = plan(&vs, &target, &rollout, &[], &TrafficTarget::weight(20, &[])).unwrap().unwrap();
/// let mut after = vs.clone();
/// json_patch::patch(&mut after, &patch).unwrap();
/// assert_eq!(after["spec"]["routes"][0]["splits"][1], serde_json::json!(
///     {"weight": 20, "action": {"pass": "web-rollgate-canary"}}));
/// assert_eq!(after["spec"]["upstreams"][1]["service"], "web-canary");
/// // Back at 0: the user's object again.
/// let back = plan(&after, &target, &rollout, &[], &TrafficTarget::weight(0, &[])).unwrap().unwrap();
/// json_patch::patch(&mut after, &back).unwrap();
/// assert_eq!(after, vs);
/// ```
pub fn plan(
    object: &Value,
    target: &Target,
    rollout: &Rollout<'_>,
    managed: &[String],
    traffic: &TrafficTarget,
) -> Result<Option<Patch>, Error> {
    check(traffic, rollout)?;
    let label = target.label(rollout.namespace);
    let read = splits(object, target, rollout, &label)?;
    let recorded = record(object, &label)?;
    let field = target.kind.routes_field();
    let mut ops = Vec::new();
    let mut record_after = Record::new();
    // Stable upstream name → whether its canary upstream carries traffic.
    let mut canaries: BTreeMap<&str, bool> = BTreeMap::new();
    for split in &read {
        let path = split.route["path"].as_str().unwrap_or_default();
        let canary_action = with_upstream(split.action, &canary_upstream_name(split.stable));
        let current = recorded.get(path).map_or(&[][..], Vec::as_slice);
        let headers = in_effect(current, traffic, managed, &rollout.label())?;
        let weight = traffic.canary_weight.unwrap_or(split.weight);
        let matches = if current.is_empty() && headers.is_empty() {
            None
        } else {
            let mut theirs: Vec<Value> = split.route["matches"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for ours in current {
                let ours = ours.to_match(&canary_action);
                if let Some(at) = theirs.iter().position(|m| *m == ours) {
                    theirs.remove(at);
                }
            }
            theirs.extend(headers.iter().map(|h| h.to_match(&canary_action)));
            Some(theirs)
        };
        let used = weight > 0 || !headers.is_empty();
        *canaries.entry(split.stable).or_default() |= used;
        if !headers.is_empty() {
            record_after.insert(path.to_owned(), headers);
        }
        let desired = split.shaped(weight, &canary_action, matches);
        let at = format!("/spec/{field}/{}", split.index);
        let mut route_ops = Vec::new();
        for key in ["action", "splits", "matches"] {
            let path = format!("{at}/{key}");
            set_ops(
                &path,
                split.route.get(key),
                desired.get(key),
                &mut route_ops,
            );
        }
        if !route_ops.is_empty() {
            ops.push(json!({"op": "test", "path": format!("{at}/path"), "value": path}));
            ops.extend(route_ops);
        }
    }
    ops.extend(upstream_ops(object, rollout, &canaries, &label)?);
    ops.extend(record_ops(object, &record_after));
    if ops.is_empty() {
        return Ok(None);
    }
    serde_json::from_value(Value::Array(ops))
        .map(Some)
        .map_err(|e| Error::VirtualServer {
            object: label,
            message: format!("building a JSON patch: {e}"),
        })
}

/// The canary upstreams: each added (a copy of its stable upstream for the
/// canary Service), kept in step with its stable upstream, or removed when
/// no route passes traffic to it.
fn upstream_ops(
    object: &Value,
    rollout: &Rollout<'_>,
    canaries: &BTreeMap<&str, bool>,
    label: &str,
) -> Result<Vec<Value>, Error> {
    let all = upstreams(object);
    let find = |name: &str| all.iter().position(|u| u["name"].as_str() == Some(name));
    let (mut ops, mut removed, mut added) = (Vec::new(), Vec::new(), Vec::new());
    for (&stable, &used) in canaries {
        let name = canary_upstream_name(stable);
        let existing = find(&name);
        if let Some(i) = existing
            && all[i]["service"].as_str() != Some(rollout.canary_service)
        {
            return Err(Error::VirtualServer {
                object: label.to_owned(),
                message: format!(
                    "spec.upstreams[{i}]: `{name}` is the rollout's canary upstream for Service \
                     {}, but it is an upstream of Service {}; rename it",
                    rollout.canary_service,
                    all[i]["service"].as_str().unwrap_or("(none)")
                ),
            });
        }
        match (existing, used) {
            (None, false) => {}
            (Some(i), false) => removed.push(i),
            (existing, true) => {
                let mut want = find(stable).map(|i| all[i].clone()).unwrap_or_default();
                want["name"] = json!(name);
                want["service"] = json!(rollout.canary_service);
                match existing {
                    Some(i) => set_ops(
                        &format!("/spec/upstreams/{i}"),
                        Some(&all[i]),
                        Some(&want),
                        &mut ops,
                    ),
                    None => added.push(want),
                }
            }
        }
    }
    removed.sort_unstable_by(|a, b| b.cmp(a));
    for i in removed {
        set_ops(
            &format!("/spec/upstreams/{i}"),
            Some(&all[i]),
            None,
            &mut ops,
        );
    }
    for want in added {
        ops.push(json!({"op": "add", "path": "/spec/upstreams/-", "value": want}));
    }
    Ok(ops)
}

/// The record of the header routes in place: written while there is one,
/// removed after (with `metadata.annotations` itself when it held nothing
/// else).
fn record_ops(object: &Value, after: &header::Record) -> Vec<Value> {
    let annotations = object["metadata"]
        .get("annotations")
        .and_then(Value::as_object);
    let old = annotations.and_then(|a| a.get(HEADER_ROUTES_ANNOTATION));
    let new = (!after.is_empty()).then(|| {
        // A record of strings and JSON values always serializes.
        json!(serde_json::to_string(after).unwrap_or_default())
    });
    let mut ops = Vec::new();
    let at = format!(
        "/metadata/annotations/{}",
        pointer_token(HEADER_ROUTES_ANNOTATION)
    );
    match (annotations, &new) {
        (None, None) => {}
        (None, Some(new)) => ops.push(json!({"op": "add", "path": "/metadata/annotations",
            "value": {HEADER_ROUTES_ANNOTATION: new}})),
        (Some(a), None) if old.is_some() && a.len() == 1 => set_ops(
            "/metadata/annotations",
            Some(&Value::Object(a.clone())),
            None,
            &mut ops,
        ),
        (Some(_), new) => set_ops(&at, old, new.as_ref(), &mut ops),
    }
    ops
}

/// Whether every route of `object` (as stored) the rollout splits carries
/// canary weight `weight`.
///
/// # Errors
///
/// Those of a plan: a listed route missing or in neither shape.
pub fn verified(
    object: &Value,
    target: &Target,
    rollout: &Rollout<'_>,
    weight: i32,
) -> Result<bool, Error> {
    let label = target.label(rollout.namespace);
    Ok(splits(object, target, rollout, &label)?
        .iter()
        .all(|s| s.weight == weight))
}
