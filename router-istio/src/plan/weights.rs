//! The weights of the selected routes (Argo Rollouts' `processRoutes`).

use rollout_core::status::WeightDestination;
use serde_json::{Value, json};

use super::select::{http_indexes, routes, tcp_indexes, tls_indexes};
use super::{Rollout, TOTAL_WEIGHT, names_service, vs_error};
use crate::Error;
use crate::config::VirtualServiceRef;

/// Sets `desired` (of 100) on the canary and the rest on stable in every
/// selected http, tls and tcp route of `vs` and its managed mirror routes.
pub(super) fn set_weights(
    vs: &mut Value,
    vs_ref: &VirtualServiceRef,
    rollout: &Rollout<'_>,
    desired: i32,
    additional: &[WeightDestination],
) -> Result<(), Error> {
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
    let selected = [
        ("http", http_indexes(vs, vs_ref, rollout)?),
        ("tls", tls_indexes(vs, vs_ref)?),
        ("tcp", tcp_indexes(vs, vs_ref)?),
    ];
    let label = vs.clone();
    for (kind, indexes) in selected {
        for i in indexes {
            weigh(
                &label,
                &mut vs["spec"][kind][i],
                rollout,
                desired,
                additional,
            )?;
        }
    }
    Ok(())
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
