//! The controller's writes to the canary and stable Services (rules in
//! [`crate::service`]): each Service read from the watch cache, patched only
//! when its selector must switch, with Argo's `SwitchService` event.

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::ObjectRef;
use rollout_core::{FieldError, Rollout};

use super::{Context, FIELD_MANAGER, reference};
use crate::Error;
use crate::service;

fn cached(ctx: &Context, namespace: &str, name: &str) -> Option<std::sync::Arc<Service>> {
    ctx.services
        .get(&ObjectRef::<Service>::new(name).within(namespace))
}

/// The first problem with the Services the Rollout names, if any.
pub(super) fn validate(ctx: &Context, rollout: &Rollout) -> Option<FieldError> {
    let namespace = rollout.metadata.namespace.as_deref().unwrap_or_default();
    service::references(rollout).into_iter().find_map(|r| {
        let found = cached(ctx, namespace, r.name);
        service::validate(rollout, r, found.as_deref())
    })
}

/// Points the Services at their ReplicaSets: the stable Service at
/// `stable`, the canary Service at `current` (at `stable` after an abort).
pub(super) async fn reconcile(
    ctx: &Context,
    rollout: &Rollout,
    current: &ReplicaSet,
    stable: Option<&ReplicaSet>,
) -> Result<(), Error> {
    let namespace = rollout.metadata.namespace.clone().unwrap_or_default();
    let aborted = rollout.status.as_ref().is_some_and(|s| s.abort);
    for r in service::references(rollout) {
        let target = if r.stable || aborted {
            stable
        } else {
            Some(current)
        };
        let (Some(rs), Some(svc)) = (target, cached(ctx, &namespace, r.name)) else {
            continue;
        };
        let Some((patch, before)) = service::switch(rollout, &svc, rs) else {
            continue;
        };
        let after = patch["spec"]["selector"][crate::workload::POD_TEMPLATE_HASH_LABEL]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        let patched = Api::<Service>::namespaced(ctx.client.clone(), &namespace)
            .patch(r.name, &params, &Patch::Merge(patch))
            .await
            .map_err(Error::api(format!(
                "switch the selector of Service {namespace}/{}",
                r.name
            )))?;
        ctx.wrote(
            "Service",
            &namespace,
            r.name,
            patched.metadata.resource_version.as_deref(),
        );
        ctx.recorder
            .record(
                &reference(rollout),
                false,
                "SwitchService",
                format!(
                    "Switched selector for service '{}' from '{before}' to '{after}'",
                    r.name
                ),
            )
            .await;
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
                svc.metadata.resource_version.as_deref(),
            )
        })
    })
}
