//! Planning, without I/O: a route object as read from the API server plus
//! what the rollout wants, in; a guarded JSON patch (or "no change") out.
//!
//! Routes are handled as JSON so that fields this crate does not know (newer
//! Gateway API fields, implementation extensions) are never rewritten: a
//! plan only touches the backendRef weights it owns and the rules it manages.
//! Every element a patch changes or removes is first `test`ed for its
//! identity (backendRef name, rule name), so a concurrent edit that moved
//! things makes the patch fail instead of overwriting someone else's change.
//!
//! Managed rules are recognised by `rule.name` only: the name of a
//! `managedRoutes` entry, or `<name>-<n>` for the copies made on multi-rule
//! routes. Nothing structural: a user's rule that happens to look like ours
//! is never touched.

use json_patch::Patch;
use rollout_core::spec::{HeaderMatch, SetHeaderRoute, StringMatch};
use rollout_core::status::WeightDestination;
use serde_json::{Map, Value, json};

use crate::config::RouteKind;
use crate::error::Error;
use crate::precedence;

mod mirror;
pub use mirror::plan_mirror_route;

/// Gateway API's largest backendRef weight.
pub const MAX_WEIGHT: i32 = 1_000_000;

/// The Services a rollout routes between, and the namespace they live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Services<'a> {
    /// `canaryService`.
    pub canary: &'a str,
    /// `stableService`.
    pub stable: &'a str,
    /// The rollout's namespace.
    pub namespace: &'a str,
}

/// A route object and what planning needs to know about it.
#[derive(Debug, Clone, Copy)]
pub struct Route<'a> {
    /// The object as read (`apiVersion`, `metadata`, `spec`, `status`).
    pub object: &'a Value,
    /// Its kind.
    pub kind: RouteKind,
    /// `trafficRouting.managedRoutes` names.
    pub managed: &'a [String],
}

impl Route<'_> {
    fn namespace(&self) -> &str {
        self.object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
    }

    /// `HTTPRoute <namespace>/<name>`, for messages.
    pub fn label(&self) -> String {
        format!(
            "{} {}/{}",
            self.kind.kind(),
            self.namespace(),
            self.object["metadata"]["name"].as_str().unwrap_or("")
        )
    }

    fn error(&self, message: impl Into<String>) -> Error {
        Error::Route {
            route: self.label(),
            message: message.into(),
        }
    }

    fn rules(&self) -> Result<&[Value], Error> {
        match &self.object["spec"]["rules"] {
            Value::Array(rules) => Ok(rules),
            Value::Null => Ok(&[]),
            _ => Err(self.error("spec.rules is not a list")),
        }
    }

    /// Whether a rule is one of ours, by name: a managed route's rule
    /// (`name`, `name-<n>`) or a companion rule keeping the managed routes'
    /// precedence (`<rule>--<later route>`, see [`crate::precedence`]).
    fn is_managed(&self, rule: &Value) -> bool {
        let own = |n: &str| self.managed.iter().any(|m| is_named(n, m));
        rule["name"]
            .as_str()
            .is_some_and(|n| own(n) || precedence::is_companion(n, self.managed, own))
    }

    /// Whether a backendRef points at `service` in the rollout's namespace.
    fn refers_to(&self, backend: &Value, service: &str, services: &Services<'_>) -> bool {
        backend["name"].as_str() == Some(service)
            && matches!(backend["group"].as_str(), None | Some(""))
            && matches!(backend["kind"].as_str(), None | Some("Service"))
            && backend["namespace"].as_str().unwrap_or(self.namespace()) == services.namespace
    }

    /// Unmanaged rules with both the canary and the stable Service, with their index.
    fn source_rules<'r>(
        &'r self,
        services: &Services<'_>,
    ) -> Result<Vec<(usize, &'r Value)>, Error> {
        let both = |rule: &Value| {
            let refs = rule["backendRefs"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            refs.iter()
                .any(|b| self.refers_to(b, services.canary, services))
                && refs
                    .iter()
                    .any(|b| self.refers_to(b, services.stable, services))
        };
        let sources: Vec<_> = self
            .rules()?
            .iter()
            .enumerate()
            .filter(|(_, r)| !self.is_managed(r) && both(r))
            .collect();
        if sources.is_empty() {
            return Err(self.error(format!(
                "no rule outside the managed rules sends traffic to both Service {} \
                 (canaryService) and Service {} (stableService); only such rules are the \
                 rollout's to weight",
                services.canary, services.stable
            )));
        }
        Ok(sources)
    }
}

/// `name` or `<name>-<digits>`.
fn is_named(rule: &str, name: &str) -> bool {
    rule == name
        || rule
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn patch(ops: Vec<Value>) -> Result<Option<Patch>, Error> {
    if ops.is_empty() {
        return Ok(None);
    }
    serde_json::from_value(Value::Array(ops))
        .map(Some)
        .map_err(|e| Error::Internal(format!("building a JSON patch: {e}")))
}

/// Sets the weights of the canary and stable backendRefs (and of extra
/// destinations that have one) in the rollout's rules: the unmanaged rules
/// that send traffic to both the canary and the stable Service. `weight` is
/// the canary's share of `max_weight`; the stable Service gets the rest.
///
/// Every other rule stays as its owner wrote it, at every weight including
/// 0 and 100: a rule whose only backend is the stable Service (say, one
/// matching a header and sending it to stable) is the user's, not the
/// rollout's. The Gateway API plugin this router replaces sets the stable
/// weight on every backendRef named like the stable Service, which drops
/// such a rule's backend to weight 0 (no backend: requests fail) at canary
/// weight 100; this router deliberately does not. Other backendRefs in the
/// rollout's rules and the managed header/mirror rules are untouched.
///
/// ```
/// use router_gatewayapi::config::RouteKind;
/// use router_gatewayapi::plan::{plan_weights, Route, Services};
/// let object = serde_json::json!({"metadata": {"name": "web", "namespace": "default"},
///     "spec": {"rules": [{"backendRefs": [{"name": "web-canary", "port": 80, "weight": 0},
///                                         {"name": "web-stable", "port": 80, "weight": 100}]},
///                        {"matches": [{"headers": [{"name": "x-beta", "value": "1"}]}],
///                         "backendRefs": [{"name": "web-stable", "port": 80, "weight": 1}]}]}});
/// let route = Route { object: &object, kind: RouteKind::Http, managed: &[] };
/// let services = Services { canary: "web-canary", stable: "web-stable", namespace: "default" };
/// let patch = plan_weights(&route, &services, 50, 100, &[]).unwrap().expect("a change");
/// let mut after = object.clone();
/// json_patch::patch(&mut after, &patch).unwrap();
/// assert_eq!(after["spec"]["rules"][0]["backendRefs"][0]["weight"], 50);
/// // The stable-only rule is the user's: untouched.
/// assert_eq!(after["spec"]["rules"][1], object["spec"]["rules"][1]);
/// // Already there: nothing to write.
/// let route = Route { object: &after, kind: RouteKind::Http, managed: &[] };
/// assert!(plan_weights(&route, &services, 50, 100, &[]).unwrap().is_none());
/// ```
pub fn plan_weights(
    route: &Route<'_>,
    services: &Services<'_>,
    weight: i32,
    max_weight: i32,
    additional: &[WeightDestination],
) -> Result<Option<Patch>, Error> {
    if !(1..=MAX_WEIGHT).contains(&max_weight) {
        return Err(route.error(format!(
            "maxTrafficWeight {max_weight} is outside 1 to {MAX_WEIGHT}, Gateway API's weight range"
        )));
    }
    let extra: i32 = additional.iter().map(|d| d.weight.max(0)).sum();
    let stable = max_weight - weight - extra;
    if !(0..=max_weight).contains(&weight) || stable < 0 {
        return Err(route.error(format!(
            "canary weight {weight} and extra weights {extra} do not fit in {max_weight}"
        )));
    }
    let mut ops = Vec::new();
    for (i, rule) in route.source_rules(services)? {
        let refs = rule["backendRefs"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        for (j, backend) in refs.iter().enumerate() {
            let want = if route.refers_to(backend, services.canary, services) {
                weight
            } else if route.refers_to(backend, services.stable, services) {
                stable
            } else if let Some(d) = additional.iter().find(|d| {
                d.service_name
                    .as_deref()
                    .is_some_and(|s| route.refers_to(backend, s, services))
            }) {
                d.weight
            } else {
                continue;
            };
            // An unset weight means 1.
            let current = backend.get("weight");
            if current.and_then(Value::as_i64) == Some(i64::from(want)) {
                continue;
            }
            let at = format!("/spec/rules/{i}/backendRefs/{j}");
            ops.push(json!({"op": "test", "path": format!("{at}/name"), "value": backend["name"]}));
            let op = if current.is_some() { "replace" } else { "add" };
            ops.push(json!({"op": op, "path": format!("{at}/weight"), "value": want}));
        }
    }
    patch(ops)
}

/// Replaces the rules of managed route `name` (`name`, `name-<n>`) with
/// `desired` and lays out every managed rule again at the end of the route:
/// for each managed route in `managedRoutes` order, its rules, then their
/// companion rules over the routes listed after it (see
/// [`crate::precedence`]). No change when the managed rules already are
/// exactly that.
fn set_managed(route: &Route<'_>, name: &str, desired: Vec<Value>) -> Result<Option<Patch>, Error> {
    if !route.managed.iter().any(|m| m == name) {
        return Err(route.error(format!(
            "route {name} is not listed in spec.strategy.canary.trafficRouting.managedRoutes"
        )));
    }
    let rules = route.rules()?;
    let own: Vec<(&str, Vec<Value>)> = route
        .managed
        .iter()
        .map(|m| {
            let rules = if m == name {
                desired.clone()
            } else {
                rules
                    .iter()
                    .filter(|r| r["name"].as_str().is_some_and(|n| is_named(n, m)))
                    .cloned()
                    .collect()
            };
            (m.as_str(), rules)
        })
        .collect();
    let mut sequence = Vec::new();
    for (i, (_, rules_a)) in own.iter().enumerate() {
        sequence.extend(rules_a.iter().cloned());
        for rule in rules_a {
            for (b, rules_b) in &own[i + 1..] {
                if let Some(companion) = companion(route.kind, rule, b, rules_b) {
                    sequence.push(companion);
                }
            }
        }
    }
    let existing: Vec<(usize, &Value)> = rules
        .iter()
        .enumerate()
        .filter(|(_, r)| route.is_managed(r))
        .collect();
    if existing.len() == sequence.len()
        && existing
            .iter()
            .zip(&sequence)
            .all(|((_, have), want)| defaulted(route.kind, have) == defaulted(route.kind, want))
    {
        return Ok(None);
    }
    let mut ops = Vec::new();
    if route.object["spec"]["rules"].is_null() {
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
    patch(ops)
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

/// A Gateway API header match from a step's header match.
fn header_match(route: &Route<'_>, m: &HeaderMatch) -> Result<Value, Error> {
    let (kind, value) = string_match(route, &m.header_value, &format!("header {}", m.header_name))?;
    Ok(json!({"type": kind, "name": m.header_name, "value": value}))
}

/// (`Exact` | `RegularExpression`, value). Gateway API has no prefix match
/// for headers: a prefix becomes an escaped regular expression.
fn string_match(
    route: &Route<'_>,
    m: &StringMatch,
    what: &str,
) -> Result<(&'static str, String), Error> {
    match (&m.exact, &m.prefix, &m.regex) {
        (Some(v), None, None) => Ok(("Exact", v.clone())),
        (None, Some(v), None) => Ok(("RegularExpression", format!("{}.*", regex::escape(v)))),
        (None, None, Some(v)) => Ok(("RegularExpression", v.clone())),
        _ => Err(route.error(format!(
            "{what}: set exactly one of exact, prefix and regex"
        ))),
    }
}

/// The canary backendRef of a source rule, without its weight (a managed
/// rule sends all of its traffic to one backend).
fn canary_ref(route: &Route<'_>, rule: &Value, services: &Services<'_>) -> Value {
    let mut backend = rule["backendRefs"]
        .as_array()
        .and_then(|refs| {
            refs.iter()
                .find(|b| route.refers_to(b, services.canary, services))
        })
        .cloned()
        .unwrap_or_else(|| json!({"name": services.canary}));
    if let Some(obj) = backend.as_object_mut() {
        obj.remove("weight");
    }
    backend
}

/// A managed rule made from a source rule: everything the source rule
/// carries (filters, timeouts, retry, session persistence and any field a
/// newer Gateway API adds) except what the managed route replaces — its
/// `name`, `matches` and `backendRefs`.
fn derived_rule(source: &Value, name: &str, matches: Vec<Value>, backend_refs: Value) -> Value {
    let mut rule = source.as_object().cloned().unwrap_or_default();
    rule.insert("name".into(), Value::String(name.to_owned()));
    rule.insert("matches".into(), Value::Array(matches));
    rule.insert("backendRefs".into(), backend_refs);
    Value::Object(rule)
}

/// Sets the managed header route `step.name`: for every unmanaged rule that
/// carries both Services, one rule (`name`, then `name-1`, ...) that is a
/// copy of that source rule (filters, timeouts, retry and everything else
/// it carries) with the source rule's matches (path, method, query params
/// and headers kept) plus the step's header conditions, and the canary as
/// its only backend. An empty match removes only this named route. The
/// managed rules are laid out again in `managedRoutes` order, with the
/// companion rules that make that order their precedence (see "Managed
/// routes" in the crate documentation). TCP and TLS routes have no requests to match:
/// no change.
pub fn plan_header_route(
    route: &Route<'_>,
    services: &Services<'_>,
    step: &SetHeaderRoute,
) -> Result<Option<Patch>, Error> {
    if !route.kind.routes_requests() {
        return Ok(None);
    }
    if step.matches.is_empty() {
        return set_managed(route, &step.name, Vec::new());
    }
    let headers: Vec<Value> = step
        .matches
        .iter()
        .map(|m| header_match(route, m))
        .collect::<Result<_, _>>()?;
    let copied: &[&str] = match route.kind {
        RouteKind::Http => &["path", "method", "queryParams"],
        _ => &["method"],
    };
    let mut desired = Vec::new();
    for (k, (_, source)) in route.source_rules(services)?.into_iter().enumerate() {
        let name = if k == 0 {
            step.name.clone()
        } else {
            format!("{}-{k}", step.name)
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
        let backend = json!([canary_ref(route, source, services)]);
        desired.push(derived_rule(source, &name, matches, backend));
    }
    set_managed(route, &step.name, desired)
}

/// Sets (`on`) or removes the GitOps label the anchor plugin puts on routes
/// while a canary has traffic (`key=value`), touching no other label.
///
/// ```
/// use router_gatewayapi::config::RouteKind;
/// use router_gatewayapi::plan::{plan_in_progress_label, Route};
/// let object = serde_json::json!({"metadata": {"name": "web", "labels": {"team": "a"}}, "spec": {}});
/// let route = Route { object: &object, kind: RouteKind::Http, managed: &[] };
/// let patch = plan_in_progress_label(&route, ("rollouts.argoproj.io/gatewayapi-canary", "in-progress"), true).unwrap();
/// let mut after = object.clone();
/// json_patch::patch(&mut after, &patch.unwrap()).unwrap();
/// assert_eq!(after["metadata"]["labels"]["rollouts.argoproj.io/gatewayapi-canary"], "in-progress");
/// assert_eq!(after["metadata"]["labels"]["team"], "a");
/// ```
pub fn plan_in_progress_label(
    route: &Route<'_>,
    (key, value): (&str, &str),
    on: bool,
) -> Result<Option<Patch>, Error> {
    let labels = &route.object["metadata"]["labels"];
    let current = labels.get(key).and_then(Value::as_str);
    let path = format!(
        "/metadata/labels/{}",
        key.replace('~', "~0").replace('/', "~1")
    );
    let mut ops = Vec::new();
    match (on, current) {
        (true, Some(v)) if v == value => {}
        (true, _) => {
            if !labels.is_object() {
                ops.push(json!({"op": "add", "path": "/metadata/labels", "value": {}}));
            }
            ops.push(json!({"op": "add", "path": path, "value": value}));
        }
        (false, Some(_)) => ops.push(json!({"op": "remove", "path": path})),
        (false, None) => {}
    }
    patch(ops)
}

/// Both plans in one patch (`None` when neither changes anything).
pub fn combine(a: Option<Patch>, b: Option<Patch>) -> Option<Patch> {
    match (a, b) {
        (Some(mut a), Some(b)) => {
            a.0.extend(b.0);
            Some(a)
        }
        (a, b) => a.or(b),
    }
}

/// Removes every managed rule (header and mirror routes) and nothing else.
pub fn plan_remove_managed(route: &Route<'_>) -> Result<Option<Patch>, Error> {
    let mut ops = Vec::new();
    for (i, rule) in route.rules()?.iter().enumerate().rev() {
        if route.is_managed(rule) {
            ops.push(json!({"op": "test", "path": format!("/spec/rules/{i}/name"), "value": rule["name"]}));
            ops.push(json!({"op": "remove", "path": format!("/spec/rules/{i}")}));
        }
    }
    patch(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_names_are_exact_or_numbered() {
        assert!(is_named("beta", "beta"));
        assert!(is_named("beta-2", "beta"));
        assert!(!is_named("beta-x", "beta"));
        assert!(!is_named("beta-", "beta"));
        assert!(!is_named("betamax", "beta"));
    }
}
