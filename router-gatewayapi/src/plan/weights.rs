//! Weights: the canary, stable and extra-destination backendRefs of the
//! rollout's rules.

use rollout_core::status::WeightDestination;
use serde_json::{Value, json};

use super::MAX_WEIGHT;
use super::view::View;
use crate::error::Error;

/// The patch operations that give the canary `weight` (of `max_weight`),
/// each extra destination its weight and the stable Service the rest, in
/// the rollout's rules (see [`View::source_rules`]); every other backendRef
/// and rule untouched. Each changed weight is guarded by a `test` of its
/// backendRef's name.
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
    let mut ops = Vec::new();
    for (i, rule) in view.source_rules()? {
        let refs = rule["backendRefs"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        for (j, backend) in refs.iter().enumerate() {
            let want = if view.refers_to(backend, services.canary) {
                weight
            } else if view.refers_to(backend, services.stable) {
                stable
            } else if let Some(d) = additional.iter().find(|d| {
                d.service_name
                    .as_deref()
                    .is_some_and(|s| view.refers_to(backend, s))
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
    Ok(ops)
}
