//! The controller's writes to the canary, stable and ping-pong Services (rules in
//! [`crate::service`]): each Service read from the watch cache, patched only
//! when its selector must switch, with Argo's `SwitchService` event.
//!
//! A blue-green Rollout's active and preview Services are observed for the
//! engine ([`observe_blue_green`]) and given the selectors it decides
//! ([`apply_blue_green`]); the engine records their `SwitchService` events.

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, Patch, PatchParams};
use std::sync::Arc;

use kube::Resource;
use kube::runtime::reflector::ObjectRef;
use rollout_core::{FieldError, Rollout, ServiceSelector};
use router_kube::Packed;

use super::{Context, FIELD_MANAGER, reference};
use crate::Error;
use crate::cache::{unpack, unpack_or_warn};
use crate::service::{self, Availability, Role};

/// The cached Service, packed.
fn cached(ctx: &Context, namespace: &str, name: &str) -> Option<Arc<Packed<Service>>> {
    ctx.services.get(&ObjectRef::new(name).within(namespace))
}

/// The first problem with the Services the Rollout names, if any (a cached
/// Service that does not read back counts as missing, with a warning).
pub(super) fn validate(ctx: &Context, rollout: &Rollout) -> Option<FieldError> {
    let namespace = rollout.metadata.namespace.as_deref().unwrap_or_default();
    service::references(rollout).into_iter().find_map(|r| {
        let found = cached(ctx, namespace, r.name).and_then(|svc| unpack_or_warn(&svc));
        service::validate(rollout, r, found.as_ref())
    })
}

/// Where the canary Service points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CanaryTarget {
    /// The current ReplicaSet.
    Current,
    /// The stable ReplicaSet (after an abort).
    Stable,
    /// Where it points now (an abort whose traffic is not back on stable yet).
    Unchanged,
}

/// Argo's rule: after an abort the canary Service selects the stable
/// ReplicaSet; with traffic routing and `dynamicStableScale` only once the
/// canary's weight is back to 0 (the status records the weight as applied),
/// so that the traffic still sent to the canary Service keeps its pods.
fn canary_target(rollout: &Rollout) -> CanaryTarget {
    let status = rollout.status.as_ref();
    if !status.is_some_and(|s| s.abort) {
        return CanaryTarget::Current;
    }
    let canary = rollout.canary();
    let dynamic =
        canary.is_some_and(|c| c.traffic_routing.is_some() && c.dynamic_stable_scale == Some(true));
    let weight = status
        .and_then(|s| s.canary.weights.as_ref())
        .map_or(0, |w| w.canary.weight);
    if dynamic && weight != 0 {
        CanaryTarget::Unchanged
    } else {
        CanaryTarget::Stable
    }
}

/// Points the Services at their ReplicaSets: the stable Service at
/// `stable`, the canary Service at `current` (at `stable` after an abort,
/// see [`canary_target`]).
pub(super) async fn reconcile(
    ctx: &Context,
    rollout: &Rollout,
    current: &ReplicaSet,
    stable: Option<&ReplicaSet>,
) -> Result<(), Error> {
    let namespace = rollout.metadata.namespace.clone().unwrap_or_default();
    let canary_target = canary_target(rollout);
    // Argo's order: the ping-pong Service in the canary's role, then the
    // stable and canary Services.
    let ping_pong = service::ping_pong_canary(rollout)
        .map(|name| (name, Some(current), Availability::Unchecked));
    let named = service::references(rollout).into_iter().filter_map(|r| {
        let target = match (r.role, canary_target) {
            (Role::PingPong | Role::Active | Role::Preview, _)
            | (Role::Canary, CanaryTarget::Unchanged) => return None,
            (Role::Stable, _) | (Role::Canary, CanaryTarget::Stable) => stable,
            (Role::Canary, CanaryTarget::Current) => Some(current),
        };
        Some((r.name, target, Availability::Checked))
    });
    for (name, target, availability) in ping_pong.into_iter().chain(named) {
        let (Some(rs), Some(svc)) = (target, cached(ctx, &namespace, name)) else {
            continue;
        };
        let svc = unpack(&svc)?;
        let Some((patch, before)) = service::switch(rollout, &svc, rs, availability) else {
            continue;
        };
        let after = patch["spec"]["selector"][crate::workload::POD_TEMPLATE_HASH_LABEL]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        patch_service(ctx, &namespace, name, patch).await?;
        ctx.recorder.record(
            &reference(rollout),
            false,
            "SwitchService",
            format!("Switched selector for service '{name}' from '{before}' to '{after}'"),
        );
    }
    Ok(())
}

/// Writes one Service's merge patch and records the write.
async fn patch_service(
    ctx: &Context,
    namespace: &str,
    name: &str,
    patch: serde_json::Value,
) -> Result<(), Error> {
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    let patched = Api::<Service>::namespaced(ctx.client.clone(), namespace)
        .patch(name, &params, &Patch::Merge(patch))
        .await
        .map_err(Error::api(format!(
            "switch the selector of Service {namespace}/{name}"
        )))?;
    ctx.wrote(
        "Service",
        namespace,
        name,
        patched.metadata.resource_version.as_deref(),
    );
    Ok(())
}

/// A blue-green Rollout's active and preview Services as the engine reads
/// them ([`rollout_core::Observations::services`]): the hash each selects.
/// Both exist: a missing one made the Rollout invalid before this.
pub(super) fn observe_blue_green(
    ctx: &Context,
    rollout: &Rollout,
) -> Result<Vec<ServiceSelector>, Error> {
    let namespace = rollout.metadata.namespace.as_deref().unwrap_or_default();
    let mut observed = Vec::new();
    for r in service::references(rollout) {
        if !matches!(r.role, Role::Active | Role::Preview) {
            continue;
        }
        let Some(svc) = cached(ctx, namespace, r.name) else {
            continue;
        };
        let svc = unpack(&svc)?;
        observed.push(ServiceSelector {
            service_name: r.name.to_owned(),
            pod_template_hash: service::selected_hash(&svc).map(str::to_owned),
        });
    }
    Ok(observed)
}

/// Gives each Service of `decided` (the decision's
/// [`rollout_core::Decision::services`]) its selector, patching only a
/// Service whose selector differs or that is not yet annotated as managed
/// by the Rollout (Argo's `switchServiceSelector`). Unlike Argo, which
/// records `SwitchService` for every such patch (also "from 'h' to 'h'"
/// when it only adds the annotation), the event is the engine's and is
/// recorded only when the selector changes.
pub(super) async fn apply_blue_green(
    ctx: &Context,
    rollout: &Rollout,
    decided: &[ServiceSelector],
) -> Result<(), Error> {
    let namespace = rollout.metadata.namespace.clone().unwrap_or_default();
    for wanted in decided {
        let (Some(hash), Some(svc)) = (
            wanted.pod_template_hash.as_deref(),
            cached(ctx, &namespace, &wanted.service_name),
        ) else {
            continue;
        };
        let svc = unpack(&svc)?;
        if let Some((patch, before)) = service::select(rollout, &svc, hash) {
            tracing::info!(rollout = %rollout.object_name(), service = %wanted.service_name,
                from = %before, to = %hash, "switched the selector of a blue-green Service");
            patch_service(ctx, &namespace, &wanted.service_name, patch).await?;
        }
    }
    Ok(())
}

/// Whether the cache is behind a write of ours to one of the Rollout's Services.
pub(super) fn stale(ctx: &Context, rollout: &Rollout) -> bool {
    let namespace = rollout.metadata.namespace.as_deref().unwrap_or_default();
    service::references(rollout).into_iter().any(|r| {
        cached(ctx, namespace, r.name).is_some_and(|svc| {
            ctx.stale(
                "Service",
                namespace,
                r.name,
                svc.meta().resource_version.as_deref(),
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn rollout(canary: Value, status: Value) -> Rollout {
        Rollout::from_value(
            json!({"metadata": {"name": "web"},
                   "spec": {"strategy": {"canary": canary}}, "status": status}),
            "web",
        )
        .unwrap()
    }

    #[test]
    fn after_an_abort_the_canary_service_selects_stable() {
        let routed = json!({"trafficRouting": {"plugins": {"acme/r": {}}}});
        let at = |weight: i32| {
            json!({"abort": true, "canary": {"weights": {
                "canary": {"weight": weight, "podTemplateHash": "b"},
                "stable": {"weight": 100 - weight, "podTemplateHash": "a"}}}})
        };
        assert_eq!(
            canary_target(&rollout(routed.clone(), json!({}))),
            CanaryTarget::Current
        );
        assert_eq!(
            canary_target(&rollout(routed.clone(), at(20))),
            CanaryTarget::Stable
        );
        let mut dynamic = routed;
        dynamic["dynamicStableScale"] = json!(true);
        assert_eq!(
            canary_target(&rollout(dynamic.clone(), at(20))),
            CanaryTarget::Unchanged
        );
        assert_eq!(
            canary_target(&rollout(dynamic, at(0))),
            CanaryTarget::Stable
        );
    }
}
