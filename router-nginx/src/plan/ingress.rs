//! The canary Ingress built from its stable Ingress, as Argo Rollouts
//! builds it.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::header::{HEADER_ROUTE_ANNOTATION, HeaderRoute, HeaderValue};
use super::{Rollout, canary_ingress_name, ingress_label};
use crate::Error;
use crate::config::Config;

/// What the canary Ingress should carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Desired<'a> {
    /// `canary-weight`, of `maxTrafficWeight` (or 100).
    pub weight: i32,
    /// The header route in effect, if any.
    pub header: Option<&'a HeaderRoute>,
}

/// The canary Ingress for `stable` (an Ingress as read), as the object to
/// apply: only the fields this router owns.
///
/// Same TLS and class as the stable Ingress, only the rules that send
/// traffic to the stable Service, with that Service replaced by the canary.
/// Its annotations, in increasing precedence: `kubernetes.io/ingress.class`
/// copied from the stable Ingress, `additionalIngressAnnotations`,
/// `canaryIngressAnnotations`, then the generated `canary`, `canary-weight`,
/// `canary-weight-total` (with `maxTrafficWeight`), cookie and header-route
/// annotations.
///
/// # Errors
///
/// The canary and stable Services are not both set or are the same, or no
/// rule of the stable Ingress sends traffic to the stable Service.
pub fn canary_ingress(
    stable: &Value,
    rollout: &Rollout<'_>,
    config: &Config,
    desired: &Desired<'_>,
) -> Result<Value, Error> {
    let stable_name = stable["metadata"]["name"].as_str().unwrap_or_default();
    rollout.check_services()?;
    let rules = canary_rules(stable, rollout);
    if rules.is_empty() {
        return Err(Error::Ingress {
            ingress: ingress_label(rollout.namespace, stable_name),
            message: format!(
                "ingress `{stable_name}` has no rules using service {} backend",
                rollout.stable_service
            ),
        });
    }

    let mut metadata = Map::new();
    metadata.insert(
        "name".into(),
        json!(canary_ingress_name(rollout.name, stable_name)),
    );
    metadata.insert("namespace".into(), json!(rollout.namespace));
    metadata.insert(
        "annotations".into(),
        json!(annotations(stable, rollout, config, desired)),
    );
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

/// The stable Ingress's rules that send traffic to the stable Service, each
/// such path pointed at the canary Service (other paths of a kept rule stay).
fn canary_rules(stable: &Value, rollout: &Rollout<'_>) -> Vec<Value> {
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
    rules
}

fn annotations(
    stable: &Value,
    rollout: &Rollout<'_>,
    config: &Config,
    desired: &Desired<'_>,
) -> BTreeMap<String, String> {
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
    annotations
}
