//! The controller's writes to ReplicaSets: creating the current one,
//! keeping its annotations in line, and scaling them to the decision's
//! targets. Every write is made only when something differs.

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use rollout_core::{ReplicaSetTarget, Rollout};
use serde_json::{Value, json};

use super::{Context, FIELD_MANAGER, events};
use crate::Error;
use crate::workload::{
    self, POD_TEMPLATE_HASH_LABEL, replica_set::ephemeral_metadata_for_new, scale_patch,
};

/// What became of the current pod template's ReplicaSet.
pub(super) enum Current {
    /// It exists (found by hash or adopted by template equality).
    Found(ReplicaSet),
    /// It was created now.
    Created(ReplicaSet),
    /// Its name is taken by a ReplicaSet of another template: the collision
    /// count was raised and the Rollout is tried again.
    Collision,
    /// The API server refused it; the reason is recorded on the Rollout.
    Refused(String),
}

fn replica_set_resource() -> ApiResource {
    ApiResource::erase::<ReplicaSet>(&())
}

fn from_dynamic(object: DynamicObject, what: &str) -> Result<ReplicaSet, Error> {
    serde_json::to_value(object)
        .and_then(serde_json::from_value)
        .map_err(|e| Error::Shape {
            object: what.to_owned(),
            message: format!(
                "the API server returned a ReplicaSet this controller cannot read: {e}"
            ),
        })
}

/// Finds the current ReplicaSet among the Rollout's own (`owned`), or
/// creates it.
pub(super) async fn find_or_create(
    ctx: &Context,
    rollout: &Rollout,
    template: &Value,
    hash: &str,
    owned: &[&ReplicaSet],
    collision_count: Option<i32>,
) -> Result<Current, Error> {
    if let Some(rs) = workload::current_by_hash(owned, hash) {
        return Ok(Current::Found(rs.clone()));
    }
    if !owned.is_empty() {
        match defaulted_template(ctx, rollout, template, hash).await? {
            Ok(desired) => {
                let anti_affinity = workload::anti_affinity::strategy(rollout);
                if let Some(rs) = workload::current_by_template(owned, &desired, anti_affinity) {
                    tracing::info!(
                        rollout = %rollout.object_name(),
                        replica_set = rs.metadata.name.as_deref().unwrap_or_default(),
                        "adopted the ReplicaSet of the pod template by template equality"
                    );
                    return Ok(Current::Found(rs.clone()));
                }
            }
            Err(refusal) => return Ok(Current::Refused(refusal)),
        }
    }
    create(ctx, rollout, template, hash, owned, collision_count).await
}

/// The desired template in the API server's defaulted form, made
/// comparable: from a server-side dry-run create of its ReplicaSet (one
/// request per template, remembered by namespace and hash). `Ok(Err(_))`:
/// the API server refused the ReplicaSet, with its message.
async fn defaulted_template(
    ctx: &Context,
    rollout: &Rollout,
    template: &Value,
    hash: &str,
) -> Result<Result<Value, String>, Error> {
    let namespace = rollout.metadata.namespace.clone().unwrap_or_default();
    let key = (namespace.clone(), hash.to_owned());
    if let Some(found) = ctx.defaulted_lookup(&key) {
        return Ok(Ok(found));
    }
    let mut body = workload::desired_replica_set(rollout, template, hash, 1, None)
        .map_err(|e| shape(rollout, e))?;
    // A generated name: the dry run must not collide with an existing ReplicaSet.
    body["metadata"] = json!({
        "generateName": format!("{}-", rollout.metadata.name),
        "namespace": namespace,
        "labels": body["metadata"]["labels"].take(),
    });
    let api: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &namespace, &replica_set_resource());
    let object: DynamicObject = serde_json::from_value(body).map_err(|e| shape(rollout, e))?;
    let params = PostParams {
        dry_run: true,
        field_manager: Some(FIELD_MANAGER.into()),
    };
    let created = match api.create(&params, &object).await {
        Ok(created) => created,
        Err(kube::Error::Api(status)) if status.code == 422 || status.code == 400 => {
            return Ok(Err(status.message));
        }
        Err(e) => {
            return Err(Error::api(format!(
                "dry-run create of the ReplicaSet of rollout {namespace}/{}",
                rollout.metadata.name
            ))(e));
        }
    };
    let template = created.data["spec"]["template"].clone();
    // Through the typed form, as the watch cache holds the live templates.
    let typed: PodTemplateSpec = serde_json::from_value(template).map_err(|e| Error::Shape {
        object: format!("rollout {namespace}/{}", rollout.metadata.name),
        message: format!("the defaulted pod template cannot be read: {e}"),
    })?;
    let comparable = workload::comparable_template(serde_json::to_value(typed).unwrap_or_default());
    ctx.defaulted_remember(key, &comparable);
    Ok(Ok(comparable))
}

fn shape(rollout: &Rollout, e: impl std::fmt::Display) -> Error {
    Error::Shape {
        object: rollout.object_name(),
        message: e.to_string(),
    }
}

async fn create(
    ctx: &Context,
    rollout: &Rollout,
    template: &Value,
    hash: &str,
    owned: &[&ReplicaSet],
    collision_count: Option<i32>,
) -> Result<Current, Error> {
    let namespace = rollout.metadata.namespace.clone().unwrap_or_default();
    let revision = workload::max_revision(owned.iter().copied()) + 1;
    let stable = rollout.status.as_ref().and_then(|s| s.stable_rs.as_deref());
    let stable_exists = stable.is_some_and(|s| workload::current_by_hash(owned, s).is_some());
    let ephemeral =
        ephemeral_metadata_for_new(rollout, stable_exists).map_err(|e| shape(rollout, e))?;
    let mut body =
        workload::desired_replica_set(rollout, template, hash, revision, ephemeral.as_ref())
            .map_err(|e| shape(rollout, e))?;
    // The anti-affinity term against the stable pods: in the ReplicaSet only, after the hash.
    workload::anti_affinity::inject(&mut body["spec"]["template"], rollout, hash);
    let name = body["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let object: DynamicObject = serde_json::from_value(body).map_err(|e| shape(rollout, e))?;
    let api: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &namespace, &replica_set_resource());
    let params = PostParams {
        dry_run: false,
        field_manager: Some(FIELD_MANAGER.into()),
    };
    match api.create(&params, &object).await {
        Ok(created) => {
            let rs = from_dynamic(created, &name)?;
            ctx.wrote(
                "ReplicaSet",
                &namespace,
                &name,
                rs.metadata.resource_version.as_deref(),
            );
            ctx.recorder.record(
                &super::reference(rollout),
                false,
                "NewReplicaSetCreated",
                format!("Created ReplicaSet {name} (revision {revision})"),
            );
            tracing::info!(rollout = %rollout.object_name(), replica_set = %name, "created the ReplicaSet");
            Ok(Current::Created(rs))
        }
        Err(kube::Error::Api(status)) if status.code == 409 => {
            // Ours, not yet in the cache? Then it is the one. Otherwise the
            // name belongs to another template: a hash collision.
            let typed: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &namespace);
            let existing = typed
                .get(&name)
                .await
                .map_err(Error::api(format!("read ReplicaSet {namespace}/{name}")))?;
            let uid = rollout.metadata.uid.as_deref().unwrap_or_default();
            let same_hash = existing
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(POD_TEMPLATE_HASH_LABEL))
                .is_some_and(|h| h == hash);
            if crate::observe::owned_by(&existing, uid) && same_hash {
                return Ok(Current::Found(existing));
            }
            bump_collision_count(ctx, rollout, collision_count.unwrap_or(0)).await?;
            Ok(Current::Collision)
        }
        Err(kube::Error::Api(status)) if status.code == 422 || status.code == 400 => {
            Ok(Current::Refused(format!(
                "Failed to create new replica set \"{name}\": {}",
                status.message
            )))
        }
        Err(e) => Err(Error::api(format!("create ReplicaSet {namespace}/{name}"))(
            e,
        )),
    }
}

async fn bump_collision_count(ctx: &Context, rollout: &Rollout, count: i32) -> Result<(), Error> {
    let namespace = rollout.metadata.namespace.clone().unwrap_or_default();
    tracing::warn!(rollout = %rollout.object_name(), from = count, to = count + 1,
        "hash collision: raising status.collisionCount");
    ctx.rollouts(&namespace)
        .patch_status(
            &rollout.metadata.name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"collisionCount": count + 1}})),
        )
        .await
        .map_err(Error::api(format!(
            "raise the collision count of rollout {}",
            rollout.object_name()
        )))?;
    Ok(())
}

/// Brings the current ReplicaSet's annotations and `minReadySeconds` in
/// line with the Rollout; returns it as it is afterwards.
pub(super) async fn sync_current(
    ctx: &Context,
    rollout: &Rollout,
    current: ReplicaSet,
    max_other_revision: u64,
) -> Result<ReplicaSet, Error> {
    let Some(patch) = workload::sync_current_replica_set(rollout, &current, max_other_revision)
    else {
        return Ok(current);
    };
    patch_replica_set(ctx, &current, patch).await
}

async fn patch_replica_set(
    ctx: &Context,
    rs: &ReplicaSet,
    patch: Value,
) -> Result<ReplicaSet, Error> {
    let namespace = rs.metadata.namespace.clone().unwrap_or_default();
    let name = rs.metadata.name.clone().unwrap_or_default();
    let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &namespace);
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    let patched = api
        .patch(&name, &params, &Patch::Merge(patch))
        .await
        .map_err(Error::api(format!("patch ReplicaSet {namespace}/{name}")))?;
    ctx.wrote(
        "ReplicaSet",
        &namespace,
        &name,
        patched.metadata.resource_version.as_deref(),
    );
    Ok(patched)
}

/// Scales the ReplicaSets to the decision's targets, recording
/// `ScalingReplicaSet` for every change of size.
pub(super) async fn scale(
    ctx: &Context,
    rollout: &Rollout,
    targets: &[ReplicaSetTarget],
    replica_sets: &[ReplicaSet],
) -> Result<(), Error> {
    for target in targets {
        let Some(rs) = replica_sets.iter().find(|rs| {
            rs.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(POD_TEMPLATE_HASH_LABEL))
                .is_some_and(|h| *h == target.pod_template_hash)
        }) else {
            continue;
        };
        let Some(patch) = scale_patch(rs, target, rollout.replicas()) else {
            continue;
        };
        let from = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let patched = patch_replica_set(ctx, rs, patch).await?;
        if from != target.replicas {
            let name = patched.metadata.name.clone().unwrap_or_default();
            let revision = workload::replica_set_revision(&patched).unwrap_or(0);
            ctx.recorder.record(
                &super::reference(rollout),
                false,
                "ScalingReplicaSet",
                events::scaled_message(&name, revision, from, target.replicas),
            );
        }
    }
    Ok(())
}

/// Deletes the old ReplicaSets beyond `revisionHistoryLimit`
/// ([`workload::history`]); returns their names.
pub(super) async fn delete_history(
    ctx: &Context,
    rollout: &Rollout,
    others: &[&ReplicaSet],
) -> Result<Vec<String>, Error> {
    let mut deleted = Vec::new();
    for rs in workload::history::to_delete(rollout, others) {
        let namespace = rs.metadata.namespace.clone().unwrap_or_default();
        let name = rs.metadata.name.clone().unwrap_or_default();
        let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &namespace);
        match api.delete(&name, &Default::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => {
                return Err(Error::api(format!("delete ReplicaSet {namespace}/{name}"))(
                    e,
                ));
            }
        }
        tracing::info!(rollout = %rollout.object_name(), replica_set = %name,
            "deleted an old ReplicaSet beyond revisionHistoryLimit");
        deleted.push(name);
    }
    Ok(deleted)
}
