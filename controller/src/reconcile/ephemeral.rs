//! `canaryMetadata` and `stableMetadata` (blue-green: `previewMetadata` and
//! `activeMetadata`, in the same roles) kept on the ReplicaSets and their
//! pods as the update moves on, as Argo's `reconcileEphemeralMetadata`:
//! while an update is in progress the current ReplicaSet carries the canary
//! metadata and the stable one the stable metadata; once fully promoted the
//! current ReplicaSet carries the stable metadata; any other ReplicaSet
//! carries none. A ReplicaSet is patched first (so new pods get it), then
//! its existing pods.
//!
//! Unlike Argo, which lists a ReplicaSet's pods on every reconcile, the pods
//! are listed only when their ReplicaSet's metadata changes, so a settled
//! Rollout costs no request here.

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams};
use rollout_core::Rollout;

use super::{Context, FIELD_MANAGER};
use crate::Error;
use crate::workload::ephemeral::{self, PodMetadata};
use crate::workload::{POD_TEMPLATE_HASH_LABEL, replica_set::ephemeral_metadata_for_new};

/// Brings the metadata of `replica_sets` (the current one first) and their
/// pods in line; `stable` is the stable ReplicaSet's hash from the status.
pub(super) async fn reconcile(
    ctx: &Context,
    rollout: &Rollout,
    replica_sets: &mut [ReplicaSet],
    stable: Option<&str>,
) -> Result<(), Error> {
    let shape = |e: crate::workload::WorkloadError| Error::Shape {
        object: rollout.object_name(),
        message: e.to_string(),
    };
    // The gate checked both shapes before anything ran.
    let canary = ephemeral_metadata_for_new(rollout, true).map_err(shape)?;
    let stable_metadata = ephemeral_metadata_for_new(rollout, false).map_err(shape)?;
    if canary.is_none() && stable_metadata.is_none() {
        return Ok(());
    }
    let hash = |rs: &ReplicaSet| {
        rs.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(POD_TEMPLATE_HASH_LABEL))
            .cloned()
    };
    let current = replica_sets.first().and_then(hash);
    let promoted = stable.is_none() || stable == current.as_deref();
    for (i, rs) in replica_sets.iter_mut().enumerate() {
        let desired = if i == 0 {
            if promoted {
                stable_metadata.as_ref()
            } else {
                canary.as_ref()
            }
        } else if stable.is_some() && hash(rs).as_deref() == stable {
            stable_metadata.as_ref()
        } else {
            None
        };
        if let Some(updated) = sync(ctx, rs, desired).await? {
            *rs = updated;
        }
    }
    Ok(())
}

/// Patches one ReplicaSet and then its pods; returns the ReplicaSet as
/// patched, `None` when it already had the metadata.
async fn sync(
    ctx: &Context,
    rs: &ReplicaSet,
    desired: Option<&PodMetadata>,
) -> Result<Option<ReplicaSet>, Error> {
    let Some(patch) = ephemeral::replica_set_patch(rs, desired) else {
        return Ok(None);
    };
    let namespace = rs.metadata.namespace.clone().unwrap_or_default();
    let name = rs.metadata.name.clone().unwrap_or_default();
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    let patched = Api::<ReplicaSet>::namespaced(ctx.client.clone(), &namespace)
        .patch(&name, &params, &Patch::Merge(patch))
        .await
        .map_err(Error::api(format!(
            "sync the pod metadata of ReplicaSet {namespace}/{name}"
        )))?;
    ctx.wrote(
        "ReplicaSet",
        &namespace,
        &name,
        patched.metadata.resource_version.as_deref(),
    );
    tracing::info!(replica_set = %name, "synced the canary/stable pod metadata");
    let replicas = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
    let Some(hash) = rs
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(POD_TEMPLATE_HASH_LABEL))
    else {
        return Ok(Some(patched));
    };
    if replicas == 0 {
        return Ok(Some(patched));
    }
    // What was injected before this change, to take out of the pods.
    let recorded = PodMetadata::recorded(rs.metadata.annotations.as_ref());
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let listed = pods
        .list(&ListParams::default().labels(&format!("{POD_TEMPLATE_HASH_LABEL}={hash}")))
        .await
        .map_err(Error::api(format!(
            "list the pods of ReplicaSet {namespace}/{name}"
        )))?;
    let uid = rs.metadata.uid.as_deref().unwrap_or_default();
    for pod in listed.items {
        let owned = pod
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.uid == uid);
        if !owned || pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let Some(patch) = ephemeral::metadata_patch(
            pod.metadata.labels.as_ref(),
            pod.metadata.annotations.as_ref(),
            recorded.as_ref(),
            desired,
        ) else {
            continue;
        };
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        match pods
            .patch(
                &pod_name,
                &params,
                &Patch::Merge(serde_json::json!({"metadata": patch})),
            )
            .await
        {
            Ok(_) => {}
            // Gone meanwhile: its replacement has the new metadata.
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => {
                return Err(Error::api(format!("relabel pod {namespace}/{pod_name}"))(e));
            }
        }
    }
    Ok(Some(patched))
}
