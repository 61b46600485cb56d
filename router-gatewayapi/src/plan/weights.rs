//! Weights: the canary, stable and extra-destination backendRefs of the
//! rollout's rules, and the backendRefs of the extra destinations
//! (experiments) added and removed.

use rollout_core::status::WeightDestination;
use serde_json::{Map, Value, json};

use super::MAX_WEIGHT;
use super::view::View;
use crate::error::Error;

/// The patch operations that give the canary `weight` (of `max_weight`),
/// each extra destination its weight and the stable Service the rest, in
/// the rollout's rules (see [`View::source_rules`]); every other backendRef
/// and rule untouched. Each changed weight is guarded by a `test` of its
/// backendRef's name.
///
/// An extra destination whose Service no rollout rule refers to yet gets a
/// backendRef appended to each of the rollout's rules, on its Service's
/// port (see [`super::Routing::additional_ports`]), as the Gateway API
/// plugin adds the Services of a running experiment (it adds them to the
/// first such rule only; here every rule the weights apply to carries
/// them, so that each rule's weights add up). A backendRef of a Service
/// that was an extra destination when the weights were last applied
/// ([`super::Routing::previous_additional`]) and no longer is, is removed,
/// as the plugin removes them when the experiment ends.
pub(super) fn ops(
    view: &View<'_>,
    weight: i32,
    additional: &[WeightDestination],
) -> Result<Vec<Value>, Error> {
    let max_weight = view.routing.max_weight;
    if !(1..=MAX_WEIGHT).contains(&max_weight) {
        return Err(view.error(format!(
            "maxTrafficWeight {max_weight} is outside 1 to {MAX_WEIGHT}, Gateway API's weight range"
        )));
    }
    let extra: i32 = additional.iter().map(|d| d.weight.max(0)).sum();
    let stable = max_weight - weight - extra;
    if !(0..=max_weight).contains(&weight) || stable < 0 {
        return Err(view.error(format!(
            "canary weight {weight} and extra weights {extra} do not fit in {max_weight}"
        )));
    }
    let services = view.services();
    let extra_service = |backend: &Value| {
        additional.iter().find(|d| {
            d.service_name
                .as_deref()
                .is_some_and(|s| view.refers_to(backend, s))
        })
    };
    let mut ops = Vec::new();
    for (i, rule) in view.source_rules()? {
        let refs = rule["backendRefs"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let at = |j: usize| format!("/spec/rules/{i}/backendRefs/{j}");
        let mut gone = Vec::new();
        for (j, backend) in refs.iter().enumerate() {
            let want = if view.refers_to(backend, services.canary) {
                weight
            } else if view.refers_to(backend, services.stable) {
                stable
            } else if let Some(d) = extra_service(backend) {
                d.weight
            } else {
                if view
                    .routing
                    .previous_additional
                    .iter()
                    .any(|s| view.refers_to(backend, s))
                {
                    gone.push(j);
                }
                continue;
            };
            // An unset weight means 1.
            let current = backend.get("weight");
            if current.and_then(Value::as_i64) == Some(i64::from(want)) {
                continue;
            }
            ops.push(
                json!({"op": "test", "path": format!("{}/name", at(j)), "value": backend["name"]}),
            );
            let op = if current.is_some() { "replace" } else { "add" };
            ops.push(json!({"op": op, "path": format!("{}/weight", at(j)), "value": want}));
        }
        // Removed last first, so that the earlier indices hold.
        for j in gone.into_iter().rev() {
            ops.push(
                json!({"op": "test", "path": format!("{}/name", at(j)), "value": refs[j]["name"]}),
            );
            ops.push(json!({"op": "remove", "path": at(j)}));
        }
        for d in additional {
            let Some(service) = d.service_name.as_deref() else {
                continue;
            };
            if refs.iter().any(|b| view.refers_to(b, service)) {
                continue;
            }
            let value = backend_ref(view, service, d.weight)?;
            ops.push(json!({"op": "add", "path": format!("/spec/rules/{i}/backendRefs/-"), "value": value}));
        }
    }
    Ok(ops)
}

/// A backendRef to an extra destination's Service, on its port, in the
/// rollout's namespace (written only when the route lives in another).
fn backend_ref(view: &View<'_>, service: &str, weight: i32) -> Result<Value, Error> {
    let port = view
        .routing
        .additional_ports
        .iter()
        .find(|(s, _)| s == service)
        .map(|(_, p)| *p)
        .ok_or_else(|| {
            view.error(format!(
                "the port of experiment Service {service:?} is not known, so no backendRef can be added for it"
            ))
        })?;
    let mut backend = Map::new();
    backend.insert("name".into(), service.into());
    let namespace = view.services().namespace;
    if namespace != view.route.namespace() {
        backend.insert("namespace".into(), namespace.into());
    }
    backend.insert("port".into(), port.into());
    backend.insert("weight".into(), weight.into());
    Ok(Value::Object(backend))
}
