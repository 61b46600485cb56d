//! The controller's writes for a Rollout with `spec.workloadRef`
//! ([`crate::workload::reference`]): the Rollout's
//! `rollout.argoproj.io/workload-generation` annotation kept equal to the
//! Deployment's `metadata.generation` (Argo writes it when the Deployment
//! changes; here the reconcile the change wakes writes it), the
//! `workloadObservedGeneration` status field, and the Deployment scaled as
//! `scaleDown` asks (a merge patch of `spec.replicas`, only when it differs
//! from the cached Deployment's).

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::{Api, Patch, PatchParams};
use rollout_core::{Decision, Rollout};
use serde_json::{Map, Value, json};

use super::{Context, FIELD_MANAGER};
use crate::Error;
use crate::workload::reference::{
    Referenced, ScaleDown, ScaleDownInputs, WORKLOAD_GENERATION_ANNOTATION, deployment_scale,
};

/// Keeps the Rollout's workload-generation annotation equal to the
/// referenced Deployment's generation, and removes it from a Rollout
/// without a reference (Argo's `SetRolloutWorkloadRefGeneration` /
/// `RemoveRolloutWorkloadRefGeneration`). `rollout` is updated to match.
pub(super) async fn sync_generation_annotation(
    ctx: &Context,
    rollout: &mut Rollout,
    referenced: Option<&Referenced>,
) -> Result<(), Error> {
    let desired = referenced.map(|r| r.generation.to_string());
    let live = rollout
        .metadata
        .annotations
        .get(WORKLOAD_GENERATION_ANNOTATION);
    if live == desired.as_ref() {
        return Ok(());
    }
    super::set_rollout_annotation(
        ctx,
        rollout,
        WORKLOAD_GENERATION_ANNOTATION,
        desired.as_deref(),
        "workload generation",
    )
    .await
}

/// `status.workloadObservedGeneration`: the referenced Deployment's
/// generation as a decimal string, and removed for a Rollout without a
/// reference (as Argo's `persistRolloutStatus` writes it).
///
/// ```
/// # use rollgate_controller::reconcile::workload_ref::status_fields;
/// assert_eq!(status_fields(Some(3))["workloadObservedGeneration"], "3");
/// assert!(status_fields(None)["workloadObservedGeneration"].is_null());
/// ```
pub fn status_fields(generation: Option<i64>) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert(
        "workloadObservedGeneration".into(),
        generation.map_or(Value::Null, |g| g.to_string().into()),
    );
    map
}

/// What [`deployment_scale`] reads of this reconcile: the Rollout's status
/// as read (`live_status`), its current ReplicaSet before scaling and the
/// decision.
pub(super) fn inputs<'a>(
    live_status: &'a Value,
    rollout: &Rollout,
    current: &ReplicaSet,
    decision: &Decision,
) -> ScaleDownInputs<'a> {
    let before = current.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let hash = current
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(crate::workload::POD_TEMPLATE_HASH_LABEL))
        .map(String::as_str);
    ScaleDownInputs {
        live_phase: live_status.get("phase").and_then(Value::as_str),
        live_ready_replicas: live_status
            .get("readyReplicas")
            .and_then(Value::as_i64)
            .and_then(|r| i32::try_from(r).ok())
            .unwrap_or(0),
        rollout_replicas: rollout.spec.replicas,
        revision: crate::workload::replica_set_revision(current).unwrap_or(0),
        current_replicas_before: before,
        current_replicas_after: decision
            .replica_sets
            .iter()
            .find(|t| Some(t.pod_template_hash.as_str()) == hash)
            .map_or(before, |t| t.replicas),
        fully_promoted: hash.is_some() && decision.status.stable_rs.as_deref() == hash,
    }
}

/// Scales the referenced Deployment as its `scaleDown` asks for this
/// reconcile ([`deployment_scale`]). A failure is an error of the reconcile
/// for `onsuccess` and only logged for `progressively`, as in Argo.
pub(super) async fn scale_deployment(
    ctx: &Context,
    rollout: &Rollout,
    referenced: &Referenced,
    inputs: &ScaleDownInputs<'_>,
) -> Result<(), Error> {
    let Some(target) = deployment_scale(referenced.scale_down, inputs) else {
        return Ok(());
    };
    if target == referenced.replicas {
        return Ok(());
    }
    let namespace = rollout.metadata.namespace.clone().unwrap_or_default();
    let api: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(ctx.client.clone(), &namespace);
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    let result = api
        .patch(
            &referenced.name,
            &params,
            &Patch::Merge(json!({"spec": {"replicas": target}})),
        )
        .await;
    match result {
        Ok(_) => {
            tracing::info!(rollout = %rollout.object_name(), deployment = %referenced.name,
                from = referenced.replicas, to = target, "scaled the referenced Deployment");
            Ok(())
        }
        Err(e) if referenced.scale_down == ScaleDown::Progressively => {
            tracing::error!(rollout = %rollout.object_name(), deployment = %referenced.name,
                error = %e, "failed to scale the referenced Deployment during a progressive migration");
            Ok(())
        }
        Err(e) => Err(Error::api(format!(
            "scale Deployment {namespace}/{} to {target}",
            referenced.name
        ))(e)),
    }
}
