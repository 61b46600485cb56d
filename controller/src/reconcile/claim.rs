//! The controller's writes for [`crate::workload::claim`]: orphaned
//! ReplicaSets matching a Rollout's selector adopted, and the Rollout's own
//! that no longer match released, each with the strategic merge patch
//! Kubernetes' controller-reference manager sends. Before the first
//! adoption the Rollout is read again from the API server (not the cache):
//! one deleted, or deleted and re-created with another uid, adopts nothing
//! (Argo's `RecheckDeletionTimestamp`).

use std::sync::Arc;

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::{Api, ObjectMeta, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use rollout_core::Rollout;
use router_kube::Packed;

use super::{Context, FIELD_MANAGER};
use crate::Error;
use crate::workload::claim::{Claim, adopt_patch, claim, release_patch, selector};

/// The Rollout's ReplicaSets among `in_namespace` (the cached ReplicaSets
/// of its namespace, packed) after adopting and releasing: those it
/// controlled and still matches (unpacked; the others are claimed by their
/// metadata and never unpacked), and those it has just adopted, as the API
/// server returned them.
pub(super) async fn claim_replica_sets(
    ctx: &Context,
    rollout: &Rollout,
    in_namespace: Vec<Arc<Packed<ReplicaSet>>>,
) -> Result<Vec<Arc<ReplicaSet>>, Error> {
    let uid = rollout.metadata.uid.clone().unwrap_or_default();
    let selector = selector(rollout.spec.selector.as_ref()).map_err(|e| Error::Shape {
        object: rollout.object_name(),
        message: e.to_string(),
    })?;
    // A Rollout being deleted is never reconciled (see the module `reconcile`).
    let deleted = false;
    let mut claimed = Vec::new();
    let mut may_adopt: Option<bool> = None;
    for packed in in_namespace {
        let rs = packed.meta();
        match claim(rs, &uid, deleted, &selector) {
            Claim::Keep => claimed.push(Arc::new(crate::cache::unpack(&packed)?)),
            Claim::Ignore => {}
            Claim::Release => {
                let patch = release_patch(&uid, rs.uid.as_deref().unwrap_or_default());
                if patch_owner(ctx, rs, patch).await?.is_some() {
                    tracing::info!(rollout = %rollout.object_name(), replica_set = %packed.name_any(),
                        "released a ReplicaSet that no longer matches the Rollout's selector");
                }
            }
            Claim::Adopt => {
                if may_adopt.is_none() {
                    may_adopt = Some(still_there(ctx, rollout).await?);
                }
                if may_adopt != Some(true) {
                    continue;
                }
                let patch = adopt_patch(rollout, rs.uid.as_deref().unwrap_or_default());
                if let Some(adopted) = patch_owner(ctx, rs, patch).await? {
                    tracing::info!(rollout = %rollout.object_name(), replica_set = %packed.name_any(),
                        "adopted an orphaned ReplicaSet matching the Rollout's selector");
                    claimed.push(Arc::new(adopted));
                }
            }
        }
    }
    Ok(claimed)
}

/// Whether the Rollout, read from the API server, is the same object and
/// not being deleted.
async fn still_there(ctx: &Context, rollout: &Rollout) -> Result<bool, Error> {
    let namespace = rollout.metadata.namespace.clone().unwrap_or_default();
    match ctx
        .rollouts(&namespace)
        .get_opt(&rollout.metadata.name)
        .await
        .map_err(Error::api(format!(
            "read rollout {} before adopting a ReplicaSet",
            rollout.object_name()
        )))? {
        Some(fresh) => Ok(fresh.metadata.uid == rollout.metadata.uid
            && fresh.metadata.deletion_timestamp.is_none()),
        None => Ok(false),
    }
}

/// Sends an owner-reference patch to the ReplicaSet with this metadata;
/// `None` when it is gone (or was re-created: the patch names its uid).
async fn patch_owner(
    ctx: &Context,
    rs: &ObjectMeta,
    patch: serde_json::Value,
) -> Result<Option<ReplicaSet>, Error> {
    let namespace = rs.namespace.clone().unwrap_or_default();
    let name = rs.name.clone().unwrap_or_default();
    let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &namespace);
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    match api.patch(&name, &params, &Patch::Strategic(patch)).await {
        Ok(patched) => {
            ctx.wrote(
                "ReplicaSet",
                &namespace,
                &name,
                patched.metadata.resource_version.as_deref(),
            );
            Ok(Some(patched))
        }
        // Gone, or another object under the same name (the uid precondition).
        Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => Ok(None),
        Err(e) => Err(Error::api(format!(
            "patch the owner references of ReplicaSet {namespace}/{name}"
        ))(e)),
    }
}
