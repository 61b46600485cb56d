//! The canary Ingress as a pure function of the stable Ingress, the rollout
//! and the desired traffic, and the decision whether to write it.
//!
//! The canary Ingress is built fresh from the stable Ingress on every call,
//! as Argo Rollouts builds it: same TLS and class, only the rules that send
//! traffic to the stable Service, with that Service replaced by the canary.
//! Its annotations, in increasing precedence: `kubernetes.io/ingress.class`
//! copied from the stable Ingress, `additionalIngressAnnotations`,
//! `canaryIngressAnnotations`, then the generated `canary`, `canary-weight`,
//! `canary-weight-total` (with `maxTrafficWeight`), header-route and cookie
//! annotations.
//!
//! It is written with server-side apply under [`FIELD_MANAGER`], so the
//! fields we set are ours and everything else on the object (annotations
//! and labels others add) is left alone; [`plan`] says when nothing would
//! change so that no request is sent.

use std::collections::{BTreeMap, BTreeSet};

use rollout_core::spec::{SetHeaderRoute, StringMatch};
use serde_json::{Map, Value, json};

use crate::Error;
use crate::config::Config;

/// The field manager of our server-side applies.
pub const FIELD_MANAGER: &str = "rollgate-nginx";

/// Annotation naming the managed header route a canary Ingress carries.
pub const HEADER_ROUTE_ANNOTATION: &str = "rollgate.dev/header-route";

/// The rollout, as far as the canary Ingress is concerned.
#[derive(Debug, Clone, Copy)]
pub struct Rollout<'a> {
    /// Rollout name.
    pub name: &'a str,
    /// Rollout (and Ingress) namespace.
    pub namespace: &'a str,
    /// The Rollout's UID, when known: the canary Ingress gets an owner
    /// reference to it, and one controlled by another object is refused.
    pub uid: Option<&'a str>,
    /// `canaryService`.
    pub canary_service: &'a str,
    /// `stableService`.
    pub stable_service: &'a str,
    /// `trafficRouting.maxTrafficWeight`, when set (emitted as `canary-weight-total`).
    pub max_traffic_weight: Option<i32>,
    /// Whether the rollout is fully promoted (its stable ReplicaSet is the
    /// current one): with `deleteCanaryIngressOnCompletion`, weight 0 then
    /// deletes the canary Ingress.
    pub promoted: bool,
}

impl Rollout<'_> {
    fn label(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// The canary Ingress's name for a stable Ingress: `<rollout>-<stable>-canary`,
/// with `<rollout>-<stable>` cut to 246 bytes so that the name fits in 253.
///
/// ```
/// use router_nginx::plan::canary_ingress_name;
/// assert_eq!(canary_ingress_name("web", "web-ingress"), "web-web-ingress-canary");
/// assert_eq!(canary_ingress_name(&"r".repeat(200), &"s".repeat(100)).len(), 253);
/// ```
pub fn canary_ingress_name(rollout: &str, stable_ingress: &str) -> String {
    const LIMIT: usize = 253;
    const SUFFIX: &str = "-canary";
    if stable_ingress.is_empty() {
        return String::new();
    }
    let mut prefix = format!("{rollout}-{stable_ingress}");
    let mut cut = LIMIT - SUFFIX.len();
    if prefix.len() > cut {
        while !prefix.is_char_boundary(cut) {
            cut -= 1;
        }
        prefix.truncate(cut);
    }
    prefix + SUFFIX
}

/// A header route as ingress-nginx's canary annotations express it: one
/// header, matched exactly (`canary-by-header-value`) or by a regular
/// expression (`canary-by-header-pattern`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderRoute {
    /// The managed route's name.
    pub name: String,
    /// The header's name.
    pub header: String,
    /// How its value is matched.
    pub value: HeaderValue,
}

/// How a header route matches the header's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    /// `canary-by-header-value`.
    Exact(String),
    /// `canary-by-header-pattern` (a prefix becomes an anchored, escaped pattern).
    Pattern(String),
}

impl HeaderRoute {
    /// The header route a `setHeaderRoute` step asks for; `None` for a step
    /// with no match (which removes the route).
    ///
    /// ```
    /// use router_nginx::plan::{HeaderRoute, HeaderValue};
    /// let step = serde_json::from_value(serde_json::json!({
    ///     "name": "beta", "match": [{"headerName": "x-user", "headerValue": {"prefix": "beta."}}]
    /// })).unwrap();
    /// let route = HeaderRoute::from_step(&step, "default/web").unwrap().unwrap();
    /// assert_eq!(route.value, HeaderValue::Pattern(r"^beta\..*".into()));
    /// ```
    pub fn from_step(step: &SetHeaderRoute, rollout: &str) -> Result<Option<Self>, Error> {
        let unsupported = |message: String| Error::Unsupported {
            rollout: rollout.to_owned(),
            message: format!("setHeaderRoute {}: {message}", step.name),
        };
        let m = match step.matches.as_slice() {
            [] => return Ok(None),
            [one] => one,
            more => {
                return Err(unsupported(format!(
                    "ingress-nginx canary Ingresses match on one header; the step has {} matches",
                    more.len()
                )));
            }
        };
        let value = match &m.header_value {
            StringMatch {
                exact: Some(v),
                prefix: None,
                regex: None,
            } => HeaderValue::Exact(v.clone()),
            StringMatch {
                exact: None,
                prefix: Some(v),
                regex: None,
            } => HeaderValue::Pattern(format!("^{}.*", regex::escape(v))),
            StringMatch {
                exact: None,
                prefix: None,
                regex: Some(v),
            } => HeaderValue::Pattern(v.clone()),
            _ => {
                return Err(unsupported(format!(
                    "header {}: set exactly one of exact, prefix and regex",
                    m.header_name
                )));
            }
        };
        Ok(Some(Self {
            name: step.name.clone(),
            header: m.header_name.clone(),
            value,
        }))
    }
}

/// What the canary Ingress should carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Desired<'a> {
    /// `canary-weight`, of `maxTrafficWeight` (or 100).
    pub weight: i32,
    /// The header route in effect, if any.
    pub header: Option<&'a HeaderRoute>,
}

fn ingress_label(namespace: &str, name: &str) -> String {
    format!("Ingress {namespace}/{name}")
}

/// The canary Ingress for `stable` (an Ingress as read), as the object to
/// apply: only the fields we own.
///
/// # Errors
///
/// The canary and stable Services are the same, or no rule of the stable
/// Ingress sends traffic to the stable Service.
pub fn canary_ingress(
    stable: &Value,
    rollout: &Rollout<'_>,
    config: &Config,
    desired: &Desired<'_>,
) -> Result<Value, Error> {
    let stable_name = stable["metadata"]["name"].as_str().unwrap_or_default();
    if rollout.canary_service.is_empty()
        || rollout.stable_service.is_empty()
        || rollout.canary_service == rollout.stable_service
    {
        return Err(Error::Config {
            rollout: rollout.label(),
            message: format!(
                "canaryService {:?} and stableService {:?} must both be set and differ for NGINX routing",
                rollout.canary_service, rollout.stable_service
            ),
        });
    }
    let mut rules = Vec::new();
    for rule in stable["spec"]["rules"].as_array().into_iter().flatten() {
        let mut rule = rule.clone();
        let mut rewritten = false;
        for path in rule["http"]["paths"].as_array_mut().into_iter().flatten() {
            let service = &mut path["backend"]["service"]["name"];
            if service.as_str() == Some(rollout.stable_service) {
                *service = json!(rollout.canary_service);
                rewritten = true;
            }
        }
        if rewritten {
            rules.push(rule);
        }
    }
    if rules.is_empty() {
        return Err(Error::Ingress {
            ingress: ingress_label(rollout.namespace, stable_name),
            message: format!(
                "ingress `{stable_name}` has no rules using service {} backend",
                rollout.stable_service
            ),
        });
    }

    let mut annotations: BTreeMap<String, String> = BTreeMap::new();
    if let Some(class) = stable["metadata"]["annotations"]["kubernetes.io/ingress.class"].as_str() {
        annotations.insert("kubernetes.io/ingress.class".into(), class.into());
    }
    annotations.extend(config.additional_annotations.clone());
    annotations.extend(config.canary_annotations.clone());
    annotations.insert(config.annotation("canary"), "true".into());
    annotations.insert(
        config.annotation("canary-weight"),
        desired.weight.to_string(),
    );
    if let Some(total) = rollout.max_traffic_weight {
        annotations.insert(config.annotation("canary-weight-total"), total.to_string());
    }
    if let Some(cookie) = &config.canary_by_cookie {
        annotations.insert(config.annotation("canary-by-cookie"), cookie.clone());
    }
    if let Some(route) = desired.header {
        annotations.insert(config.annotation("canary-by-header"), route.header.clone());
        let (key, value) = match &route.value {
            HeaderValue::Exact(v) => ("canary-by-header-value", v),
            HeaderValue::Pattern(p) => ("canary-by-header-pattern", p),
        };
        annotations.insert(config.annotation(key), value.clone());
        annotations.insert(HEADER_ROUTE_ANNOTATION.into(), route.name.clone());
    }

    let mut metadata = Map::new();
    metadata.insert(
        "name".into(),
        json!(canary_ingress_name(rollout.name, stable_name)),
    );
    metadata.insert("namespace".into(), json!(rollout.namespace));
    metadata.insert("annotations".into(), json!(annotations));
    if let Some(uid) = rollout.uid {
        metadata.insert(
            "ownerReferences".into(),
            json!([{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": rollout.name,
                    "uid": uid, "controller": true, "blockOwnerDeletion": true}]),
        );
    }
    let mut spec = Map::new();
    if let Some(class) = stable["spec"]
        .get("ingressClassName")
        .filter(|c| !c.is_null())
    {
        spec.insert("ingressClassName".into(), class.clone());
    }
    if let Some(tls) = stable["spec"].get("tls").filter(|t| !t.is_null()) {
        spec.insert("tls".into(), tls.clone());
    }
    spec.insert("rules".into(), Value::Array(rules));
    Ok(json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata,
        "spec": spec,
    }))
}

fn annotation<'v>(object: &'v Value, key: &str) -> Option<&'v str> {
    object["metadata"]["annotations"][key].as_str()
}

/// The `canary-weight` a canary Ingress carries.
pub fn current_weight(canary: &Value, config: &Config) -> Option<i32> {
    annotation(canary, &config.annotation("canary-weight"))?
        .parse()
        .ok()
}

/// The managed header route a canary Ingress carries (as we wrote it).
pub fn current_header_route(canary: &Value, config: &Config) -> Option<HeaderRoute> {
    let name = annotation(canary, HEADER_ROUTE_ANNOTATION)?;
    let header = annotation(canary, &config.annotation("canary-by-header"))?;
    let value = if let Some(v) = annotation(canary, &config.annotation("canary-by-header-value")) {
        HeaderValue::Exact(v.to_owned())
    } else {
        HeaderValue::Pattern(
            annotation(canary, &config.annotation("canary-by-header-pattern"))?.to_owned(),
        )
    };
    Some(HeaderRoute {
        name: name.to_owned(),
        header: header.to_owned(),
        value,
    })
}

/// What to do with one canary Ingress.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// It already is as desired: send nothing.
    Unchanged,
    /// Server-side apply this object (the fields we own).
    Apply(Value),
    /// Delete it.
    Delete,
}

/// Annotation keys that `manager` owns on `object`, from its `managedFields`.
pub fn owned_annotations(object: &Value, manager: &str) -> BTreeSet<String> {
    object["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["manager"] == manager)
        .filter_map(|m| m["fieldsV1"]["f:metadata"]["f:annotations"].as_object())
        .flat_map(|fields| fields.keys())
        .filter_map(|k| k.strip_prefix("f:").map(str::to_owned))
        .collect()
}

/// Refuses a canary Ingress that is not ours: controlled by another object,
/// or (when the rollout's UID is unknown) never written by us.
fn check_owner(existing: &Value, rollout: &Rollout<'_>) -> Result<(), Error> {
    let name = existing["metadata"]["name"].as_str().unwrap_or_default();
    let controller = existing["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["controller"] == true);
    let ours = match (rollout.uid, controller) {
        (Some(uid), Some(c)) => c["uid"].as_str() == Some(uid),
        (Some(_), None) => false,
        (None, Some(c)) => c["kind"] == "Rollout" && c["name"].as_str() == Some(rollout.name),
        (None, None) => existing["metadata"]["managedFields"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|m| m["manager"] == FIELD_MANAGER),
    };
    if ours {
        Ok(())
    } else {
        Err(Error::Ingress {
            ingress: ingress_label(rollout.namespace, name),
            message: format!("canary ingress `{name}` controlled by different object"),
        })
    }
}

/// Whether to apply `desired` over `existing` (the canary Ingress as read,
/// if it exists).
///
/// Unchanged when every annotation we want is there with our value, no
/// annotation we applied before is to be dropped, the owner reference is in
/// place and the class, TLS and rules are equal. Fields others added are not
/// compared: they are not ours and an apply leaves them alone.
///
/// ```
/// use router_nginx::plan::{plan, Plan, Rollout};
/// let rollout = Rollout { name: "web", namespace: "default", uid: None,
///     canary_service: "web-canary", stable_service: "web-stable", max_traffic_weight: None,
///     promoted: false };
/// let desired = serde_json::json!({"metadata": {"name": "web-web-canary",
///     "annotations": {"nginx.ingress.kubernetes.io/canary-weight": "10"}}, "spec": {"rules": []}});
/// assert!(matches!(plan(None, desired.clone(), &rollout).unwrap(), Plan::Apply(_)));
/// ```
pub fn plan(
    existing: Option<&Value>,
    desired: Value,
    rollout: &Rollout<'_>,
) -> Result<Plan, Error> {
    let Some(existing) = existing else {
        return Ok(Plan::Apply(desired));
    };
    check_owner(existing, rollout)?;
    let want = desired["metadata"]["annotations"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let have = &existing["metadata"]["annotations"];
    let annotations_differ = want.iter().any(|(k, v)| &have[k] != v)
        || owned_annotations(existing, FIELD_MANAGER)
            .iter()
            .any(|k| !want.contains_key(k));
    let owner_missing = desired["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|want| {
            !existing["metadata"]["ownerReferences"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|have| have["uid"] == want["uid"])
        });
    let spec_differs = ["ingressClassName", "tls", "rules"]
        .iter()
        .any(|f| desired["spec"][f] != existing["spec"][f]);
    Ok(if annotations_differ || owner_missing || spec_differs {
        Plan::Apply(desired)
    } else {
        Plan::Unchanged
    })
}

/// Whether to delete the canary Ingress (`existing`, if it exists).
pub fn plan_delete(existing: Option<&Value>, rollout: &Rollout<'_>) -> Result<Plan, Error> {
    match existing {
        None => Ok(Plan::Unchanged),
        Some(existing) => {
            check_owner(existing, rollout)?;
            Ok(Plan::Delete)
        }
    }
}

/// Which part of the canary Ingress a call changes; the other parts are
/// kept as the canary Ingress carries them.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// `canary-weight`.
    Weight(i32),
    /// The managed header route `name`: set it, or (`None`) remove it.
    Header {
        /// The step's route name.
        name: &'a str,
        /// The route, `None` for a step with no match.
        route: Option<&'a HeaderRoute>,
    },
    /// Remove whichever header route is in place.
    RemoveHeader,
}

/// What one call does to the canary Ingress of `stable` (`existing`, if it
/// exists): the weight and header route it should carry are the call's
/// change over what the canary Ingress carries now; with
/// `deleteCanaryIngressOnCompletion`, weight 0 on a fully promoted rollout
/// deletes it.
///
/// # Errors
///
/// Those of [`canary_ingress`] and [`plan`], and a second header route while
/// another is in place (ingress-nginx allows one per canary Ingress).
pub fn plan_call(
    stable: &Value,
    existing: Option<&Value>,
    rollout: &Rollout<'_>,
    config: &Config,
    change: Change<'_>,
) -> Result<Plan, Error> {
    let current_weight = existing
        .and_then(|c| current_weight(c, config))
        .unwrap_or(0);
    let current_header = existing.and_then(|c| current_header_route(c, config));
    let (weight, header) = match change {
        Change::Weight(w) => (w, current_header.as_ref()),
        Change::RemoveHeader => (current_weight, None),
        // Removing a route that is not the one in place changes nothing.
        Change::Header { name, route: None } => (
            current_weight,
            current_header.as_ref().filter(|h| h.name != name),
        ),
        Change::Header {
            route: Some(route), ..
        } => {
            if let Some(active) = current_header.as_ref().filter(|h| h.name != route.name) {
                return Err(Error::Unsupported {
                    rollout: rollout.label(),
                    message: format!(
                        "setHeaderRoute {}: header route `{}` is in place on Ingress {}; \
                         ingress-nginx allows one header route per canary Ingress (remove it first)",
                        route.name,
                        active.name,
                        canary_ingress_name(
                            rollout.name,
                            stable["metadata"]["name"].as_str().unwrap_or_default()
                        )
                    ),
                });
            }
            (current_weight, Some(route))
        }
    };
    if matches!(change, Change::Weight(0)) && config.delete_on_completion && rollout.promoted {
        return plan_delete(existing, rollout);
    }
    let desired = canary_ingress(stable, rollout, config, &Desired { weight, header })?;
    plan(existing, desired, rollout)
}

/// Whether the canary Ingress as stored (`canary`, if it exists) carries
/// `weight`: `canary: "true"`, `canary-weight` and the weight total. Once a
/// fully promoted rollout's canary Ingress is deleted (with
/// `deleteCanaryIngressOnCompletion`), weight 0 is verified by its absence.
pub fn verified(
    canary: Option<&Value>,
    rollout: &Rollout<'_>,
    config: &Config,
    weight: i32,
) -> bool {
    match canary {
        None => weight == 0 && config.delete_on_completion && rollout.promoted,
        Some(c) => {
            annotation(c, &config.annotation("canary")) == Some("true")
                && current_weight(c, config) == Some(weight)
                && annotation(c, &config.annotation("canary-weight-total")).map(str::to_owned)
                    == rollout.max_traffic_weight.map(|t| t.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cut_on_character_boundaries() {
        let name = canary_ingress_name(&"é".repeat(200), "stable");
        assert!(name.len() <= 253, "{}", name.len());
        assert!(name.ends_with("-canary"));
        assert_eq!(canary_ingress_name("web", ""), "");
    }

    #[test]
    fn owned_annotations_come_from_our_apply_only() {
        let object = json!({"metadata": {"managedFields": [
            {"manager": FIELD_MANAGER, "operation": "Apply", "fieldsV1": {"f:metadata": {"f:annotations": {
                "f:nginx.ingress.kubernetes.io/canary": {}, "f:rollgate.dev/header-route": {}}}}},
            {"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:metadata": {"f:annotations": {
                "f:example.com/team": {}}}}}
        ]}});
        assert_eq!(
            owned_annotations(&object, FIELD_MANAGER),
            BTreeSet::from([
                "nginx.ingress.kubernetes.io/canary".to_owned(),
                "rollgate.dev/header-route".to_owned()
            ])
        );
    }

    #[test]
    fn one_header_route_at_a_time_and_other_removals_change_nothing() {
        let config = Config::parse(&json!({"stableIngress": "web"}), "ns/web").unwrap();
        let rollout = Rollout {
            name: "web",
            namespace: "ns",
            uid: None,
            canary_service: "web-canary",
            stable_service: "web-stable",
            max_traffic_weight: None,
            promoted: false,
        };
        let stable = json!({"metadata": {"name": "web", "namespace": "ns"}, "spec": {"rules": [{"http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web-stable", "port": {"number": 80}}}}]}}]}});
        let beta = HeaderRoute {
            name: "beta".into(),
            header: "x-beta".into(),
            value: HeaderValue::Exact("1".into()),
        };
        let gamma = HeaderRoute {
            name: "gamma".into(),
            ..beta.clone()
        };
        let set = |route| Change::Header {
            name: "beta",
            route,
        };
        let Plan::Apply(mut stored) =
            plan_call(&stable, None, &rollout, &config, set(Some(&beta))).unwrap()
        else {
            panic!("a new canary Ingress is applied");
        };
        stored["metadata"]["managedFields"] = json!([{"manager": FIELD_MANAGER}]);
        let other = Change::Header {
            name: "gamma",
            route: Some(&gamma),
        };
        let err = plan_call(&stable, Some(&stored), &rollout, &config, other).unwrap_err();
        assert!(
            err.to_string().contains("header route `beta` is in place"),
            "{err}"
        );
        let remove_other = Change::Header {
            name: "gamma",
            route: None,
        };
        assert_eq!(
            plan_call(&stable, Some(&stored), &rollout, &config, remove_other).unwrap(),
            Plan::Unchanged
        );
        assert!(verified(Some(&stored), &rollout, &config, 0));
        assert!(!verified(Some(&stored), &rollout, &config, 10));
    }
}
