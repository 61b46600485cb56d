//! One reconcile of one Rollout: Rollout → [`rollout_core::decide`] → act.
//!
//! 1. A Rollout being deleted is left alone. A Rollout whose copy in the
//!    cache is older than this controller's last write to it (or to one of
//!    its ReplicaSets) is looked at again shortly, so that a stale cache
//!    never repeats a write.
//! 2. A Rollout with `spec.workloadRef` gets its template from the
//!    Deployment in the watch cache ([`crate::workload::reference`]); a
//!    reference that cannot be resolved makes the Rollout invalid, in Argo's
//!    words.
//!    [`gate`]: an invalid Rollout gets `InvalidSpec` (looked at again after
//!    20 s, as Argo does: the cause may be outside the Rollout), one asking
//!    for what this controller does not run yet gets `Unsupported`; nothing
//!    else is written. A missing or mismatched canary or stable Service makes
//!    the Rollout invalid too, as in Argo, and so does an analysis template
//!    that is missing or does not merge ([`crate::analysis::Caches::check`]).
//! 3. The ReplicaSets of the Rollout's namespace are claimed (module
//!    `claim`): orphans matching its selector adopted, its own that no
//!    longer match released. The current ReplicaSet is found by hash, or
//!    adopted by template equality, or created (module `replica_sets`); its revision annotations are
//!    kept in line, and the Rollout's `rollout.argoproj.io/revision`
//!    annotation follows it (event `RolloutUpdated`), as its
//!    workload-generation annotation follows a referenced Deployment
//!    ([`workload_ref`]).
//!    Before that, the Rollout's traffic routers are resolved
//!    ([`crate::traffic::Routers::select`]): one that cannot run (a plugin
//!    not registered or not loadable) stops the reconcile with the
//!    condition that names it ([`traffic`]), and nothing else is written.
//! 4. The engine decides on the Rollout's ReplicaSets as observed
//!    ([`crate::observe`]) and on the routers' last answer to "is the weight
//!    in place?" (`status.canary.weights.verified`); the routers apply the
//!    decision's desired traffic ([`traffic`]; a failure stops the reconcile
//!    there, with a condition, an event and a backoff); then the controller
//!    scales the ReplicaSets, creates and cancels the Experiments of
//!    `experiment` steps ([`experiment`]; the engine reads their phases
//!    from the watch cache), creates and terminates AnalysisRuns (module
//!    `analysis`; the engine reads their phases from the watch cache,
//!    [`crate::analysis`]), records the decision's events and writes the
//!    status ([`status`]) with the routers' new answer, each only when
//!    something differs, and requeues after the decision's `requeue_after`.
//!    Before the decision, in Argo's order: the canary/stable pod
//!    metadata is kept on the ReplicaSets and their pods (module
//!    `ephemeral`), old ReplicaSets beyond `revisionHistoryLimit` are
//!    deleted ([`crate::workload::history`]) and the canary and stable
//!    Services' selectors follow the ReplicaSets ([`crate::service`]): the
//!    canary Service selects the current ReplicaSet once it is available,
//!    the stable Service the stable one, with or without traffic routing.
//!    After the ReplicaSets are scaled, a referenced Deployment is scaled
//!    as its `scaleDown` asks ([`workload_ref`]). A blue-green Rollout's
//!    active and preview Services are observed for the engine and, after
//!    the ReplicaSets are scaled, given the selectors it decides.

mod analysis;
mod claim;
mod context;
mod ephemeral;
pub mod events;
pub mod experiment;
pub mod gate;
mod refuse;
mod replica_sets;
mod restart;
mod services;
pub mod status;
pub mod traffic;
pub mod workload_ref;
mod written;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use rollout_core::{Observations, Rollout, Time};
use router_kube::Packed;
use serde_json::{Value, json};

use crate::Error;
use crate::workload::reference::{ReferenceError, Referenced};
use crate::workload::{self, REVISION_ANNOTATION};
pub use context::Context;
pub(crate) use context::filled;
use context::{reference, write_status};
use gate::Gate;
use refuse::{refuse_create, refuse_invalid, refuse_unsupported};
/// The field manager of this controller's writes.
pub const FIELD_MANAGER: &str = "rollgate-controller";
/// How soon an invalid Rollout is looked at again (Argo's 20 s).
pub const INVALID_RETRY: Duration = Duration::from_secs(20);
/// How soon a Rollout is looked at again when the cache is behind our writes.
const STALE_RETRY: Duration = Duration::from_millis(250);

/// The Rollout resource.
pub fn rollout_resource() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Rollout"))
}

/// Reconciles one Rollout; see the module documentation.
pub async fn reconcile(object: Arc<DynamicObject>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = object.namespace().unwrap_or_default();
    let name = object.name_any();
    if object.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    if ctx.stale(
        "Rollout",
        &namespace,
        &name,
        object.resource_version().as_deref(),
    ) {
        return Ok(Action::requeue(STALE_RETRY));
    }
    if !ctx.caches_ready() {
        return Ok(Action::requeue(STALE_RETRY));
    }
    let value = serde_json::to_value(&*object).map_err(|e| Error::Shape {
        object: format!("rollout {namespace}/{name}"),
        message: e.to_string(),
    })?;
    let live_status = value.get("status").cloned().unwrap_or(Value::Null);
    let collision_count = live_status
        .get("collisionCount")
        .and_then(Value::as_i64)
        .and_then(|c| i32::try_from(c).ok());
    let generation = object.metadata.generation.unwrap_or(0);
    let now = Time::from_system_time(SystemTime::now());
    let parsed = Rollout::from_value(value, &format!("rollout {namespace}/{name}"));
    let (rollout, gate, referenced) = match parsed.map(|r| resolve(&ctx, r)) {
        Ok(Ok((rollout, referenced))) => {
            let analysis = crate::analysis::uses_analysis(&rollout);
            if (analysis && !ctx.analysis.ready_for(&rollout))
                || !ctx.experiments.ready_for(&rollout)
            {
                return Ok(Action::requeue(STALE_RETRY));
            }
            let gate = match gate::check(&rollout) {
                Gate::Run => match services::validate(&ctx, &rollout)
                    .or_else(|| analysis.then(|| ctx.analysis.check(&rollout)).flatten())
                {
                    Some(field) => Gate::Invalid(gate::invalid_message(&name, &field.to_string())),
                    None => Gate::Run,
                },
                other => other,
            };
            (Some(rollout), gate, referenced)
        }
        Ok(Err(ReferenceError::Invalid(problem))) => (
            None,
            Gate::Invalid(gate::invalid_message(&name, &problem)),
            None,
        ),
        Ok(Err(ReferenceError::Unsupported(field))) => (None, Gate::Unsupported(field), None),
        // A spec that does not even read as a Rollout's (a field of the wrong type, ...).
        Err(e) => {
            let problem = match e {
                rollout_core::Error::Parse { field, .. } => field.to_string(),
                other => other.to_string(),
            };
            (
                None,
                Gate::Invalid(gate::invalid_message(&name, &problem)),
                None,
            )
        }
    };
    let refused = match gate {
        Gate::Run => None,
        Gate::Invalid(message) => Some(
            refuse_invalid(
                &ctx,
                &namespace,
                &name,
                generation,
                &live_status,
                message,
                now,
            )
            .await,
        ),
        Gate::Unsupported(field) => Some(
            refuse_unsupported(
                &ctx,
                &namespace,
                &name,
                &live_status,
                field.to_string(),
                now,
            )
            .await,
        ),
    };
    match (refused, rollout) {
        (Some(refused), _) => refused,
        (None, Some(rollout)) => {
            let live = Live {
                status: &live_status,
                collision_count,
                referenced,
            };
            run(&ctx, rollout, &live, now).await
        }
        // A Rollout that does not read is refused above.
        (None, None) => Ok(Action::await_change()),
    }
}

/// The Rollout's template resolved from its `workloadRef`, if it has one
/// (see [`crate::workload::reference::resolve`]), from the cached Deployment.
fn resolve(
    ctx: &Context,
    rollout: Rollout,
) -> Result<(Rollout, Option<Referenced>), ReferenceError> {
    let namespace = rollout.metadata.namespace.clone().unwrap_or_default();
    workload::reference::resolve(rollout, |name| {
        let key = kube::runtime::reflector::ObjectRef::new(name).within(&namespace);
        crate::cache::get(&ctx.deployments, &key).unwrap_or_else(|error| {
            tracing::warn!(%error, "the cached Deployment does not read back; reading it as missing");
            None
        })
    })
}

/// What a run reads of the Rollout besides its spec.
struct Live<'a> {
    /// The status as read.
    status: &'a Value,
    /// `status.collisionCount`.
    collision_count: Option<i32>,
    /// The Deployment its template comes from, if any.
    referenced: Option<Referenced>,
}

/// The Rollout is run: see the module documentation, steps 3 and 4.
async fn run(
    ctx: &Context,
    mut rollout: Rollout,
    live: &Live<'_>,
    now: Time,
) -> Result<Action, Error> {
    let live_status = live.status;
    let collision_count = live.collision_count;
    let namespace = rollout.metadata.namespace.clone().unwrap_or_default();
    let name = rollout.metadata.name.clone();
    let template = workload::pod_template(&rollout)
        .map_err(|e| Error::Shape {
            object: rollout.object_name(),
            message: e.to_string(),
        })?
        .clone();
    let hash = workload::pod_template_hash(&template, collision_count);
    // The routers first: one that cannot run stops the reconcile before anything is written.
    let routers = match ctx.routers.select(&rollout).await {
        Ok(routers) => routers,
        Err(e) => return traffic::failed(ctx, &rollout, live_status, &e, now).await,
    };

    workload_ref::sync_generation_annotation(ctx, &mut rollout, live.referenced.as_ref()).await?;
    let in_namespace: Vec<Arc<Packed<ReplicaSet>>> = ctx
        .replica_sets
        .state()
        .into_iter()
        .filter(|rs| rs.meta().namespace.as_deref() == Some(namespace.as_str()))
        .collect();
    let cached = claim::claim_replica_sets(ctx, &rollout, in_namespace).await?;
    if cached.iter().any(|rs| {
        ctx.stale(
            "ReplicaSet",
            &namespace,
            rs.metadata.name.as_deref().unwrap_or_default(),
            rs.metadata.resource_version.as_deref(),
        )
    }) || services::stale(ctx, &rollout)
    {
        return Ok(Action::requeue(STALE_RETRY));
    }
    let owned: Vec<&ReplicaSet> = cached.iter().map(AsRef::as_ref).collect();

    let current = match replica_sets::find_or_create(
        ctx,
        &rollout,
        &template,
        &hash,
        &owned,
        collision_count,
    )
    .await?
    {
        replica_sets::Current::Found(rs) => {
            let others = owned
                .iter()
                .copied()
                .filter(|o| o.metadata.name != rs.metadata.name);
            let max_other = workload::max_revision(others);
            replica_sets::sync_current(ctx, &rollout, rs, max_other).await?
        }
        replica_sets::Current::Created(rs) => rs,
        replica_sets::Current::Collision => return Ok(Action::requeue(Duration::ZERO)),
        replica_sets::Current::Refused(message) => {
            return refuse_create(ctx, &rollout, live_status, message, now).await;
        }
    };
    let current_hash = current
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(workload::POD_TEMPLATE_HASH_LABEL))
        .cloned()
        .unwrap_or(hash);
    sync_rollout_revision(ctx, &mut rollout, &current).await?;

    // The Rollout's ReplicaSets as they are now: the cache, with the current one as written.
    let mut replica_sets: Vec<ReplicaSet> = owned
        .iter()
        .filter(|rs| rs.metadata.name != current.metadata.name)
        .map(|rs| (*rs).clone())
        .collect();
    replica_sets.insert(0, current);
    let stable_hash = rollout.status.as_ref().and_then(|s| s.stable_rs.clone());
    let is_stable = |rs: &ReplicaSet| {
        rs.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(workload::POD_TEMPLATE_HASH_LABEL))
            .is_some_and(|h| Some(h) == stable_hash.as_ref())
    };
    // In Argo's order: the pods' canary/stable metadata, then old
    // ReplicaSets beyond revisionHistoryLimit, then the Services.
    ephemeral::reconcile(ctx, &rollout, &mut replica_sets, stable_hash.as_deref()).await?;
    let others: Vec<&ReplicaSet> = replica_sets[1..]
        .iter()
        .filter(|rs| !is_stable(rs))
        .collect();
    let deleted = replica_sets::delete_history(ctx, &rollout, &others).await?;
    replica_sets
        .retain(|rs| !deleted.contains(rs.metadata.name.as_ref().unwrap_or(&String::new())));
    let stable = replica_sets.iter().find(|rs| is_stable(rs)).cloned();
    services::reconcile(ctx, &rollout, &replica_sets[0], stable.as_ref()).await?;
    let uid = rollout.metadata.uid.clone().unwrap_or_default();
    let runs = ctx.analysis.owned_runs(&namespace, &uid)?;
    let experiments = ctx.experiments.owned(&namespace, &uid)?;
    let observations = Observations {
        experiments: experiments.iter().map(|e| e.state.clone()).collect(),
        current_pod_hash: current_hash.clone(),
        analysis_runs: runs
            .iter()
            .map(crate::analysis::ObservedRun::state)
            .collect(),
        replica_sets: replica_sets
            .iter()
            .filter_map(crate::observe::replica_set_state)
            .collect(),
        traffic_verified: traffic::verified(&rollout),
        pods: restart::observe(ctx, &rollout, &replica_sets, now).await?,
        services: services::observe_blue_green(ctx, &rollout)?,
        ..Default::default()
    };
    if let Some(status) = rollout.status.as_mut() {
        status::clear_refusals(status);
    }
    let mut decision = match rollout_core::decide(&rollout, &observations, now) {
        Ok(decision) => decision,
        Err(e) => {
            // The gate let it through, so the engine refusing it is a gap between the two.
            return refuse_unsupported(ctx, &namespace, &name, live_status, e.to_string(), now)
                .await;
        }
    };
    tracing::debug!(rollout = %rollout.object_name(), restart = ?decision.restart,
        requeue_after = ?decision.requeue_after, pods = ?observations.pods.as_ref().map(Vec::len), "decided");
    // Pods evicted for spec.restartAt: nothing else of this decision holds.
    if let Some(pods) = &decision.restart
        && restart::evict(&ctx.client, &rollout, pods).await? > 0
    {
        return Ok(Action::requeue(restart::RESTART_CHECK));
    }
    // Traffic before the ReplicaSets are scaled, as in Argo; the status records its answer.
    if let Some(desired) = decision.traffic.as_ref().filter(|_| !routers.is_empty()) {
        match crate::traffic::apply(&routers, desired).await {
            Ok(verified) => {
                ctx.traffic_succeeded(&namespace, &name);
                if let Some(weights) = decision.status.canary.weights.as_mut() {
                    weights.verified = verified;
                }
            }
            Err(e) => return traffic::failed(ctx, &rollout, live_status, &e, now).await,
        }
    }
    replica_sets::scale(ctx, &rollout, &decision.replica_sets, &replica_sets).await?;
    services::apply_blue_green(ctx, &rollout, &decision.services).await?;
    if let Some(referenced) = &live.referenced {
        let inputs = workload_ref::inputs(live_status, &rollout, &replica_sets[0], &decision);
        workload_ref::scale_deployment(ctx, &rollout, referenced, &inputs).await?;
    }
    let analysis_runs = analysis::Runs {
        rollout: &rollout,
        observed: &runs,
        stable_hash: stable_hash.as_deref(),
        current_hash: &current_hash,
        replica_sets: replica_sets
            .iter()
            .filter_map(|rs| {
                let hash = rs
                    .metadata
                    .labels
                    .as_ref()?
                    .get(workload::POD_TEMPLATE_HASH_LABEL)?;
                Some((hash.clone(), rs.metadata.deletion_timestamp.is_some()))
            })
            .collect(),
    };
    let experiment_writes = experiment::Writes {
        rollout: &rollout,
        observed: &experiments,
        replica_sets: &replica_sets,
        stable_hash: stable_hash.as_deref(),
    };
    experiment::reconcile(ctx, &experiment_writes, &decision).await?;
    analysis::reconcile(ctx, &analysis_runs, &decision, rollout.status.as_ref()).await?;
    let regarding = reference(&rollout);
    for event in &decision.events {
        ctx.recorder.record(
            &regarding,
            event.warning,
            event.reason,
            event.message.clone(),
        );
    }
    let pods = replica_sets
        .iter()
        .filter_map(|rs| rs.status.as_ref())
        .map(|s| s.replicas)
        .sum();
    let mut scale = status::scale_fields(rollout.spec.selector.as_ref(), pods);
    scale.extend(workload_ref::status_fields(
        live.referenced.as_ref().map(|r| r.generation),
    ));
    write_status(
        ctx,
        &namespace,
        &name,
        live_status,
        &decision.status,
        &scale,
    )
    .await?;
    Ok(match decision.requeue_after {
        Some(after) => Action::requeue(after),
        None => Action::await_change(),
    })
}

/// Keeps the Rollout's revision annotation equal to its current
/// ReplicaSet's (Argo's `setRolloutRevision`), recording `RolloutUpdated`.
async fn sync_rollout_revision(
    ctx: &Context,
    rollout: &mut Rollout,
    current: &ReplicaSet,
) -> Result<(), Error> {
    let Some(revision) = current
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(REVISION_ANNOTATION))
        .cloned()
    else {
        return Ok(());
    };
    if rollout.metadata.annotations.get(REVISION_ANNOTATION) == Some(&revision) {
        return Ok(());
    }
    set_rollout_annotation(
        ctx,
        rollout,
        REVISION_ANNOTATION,
        Some(&revision),
        "revision",
    )
    .await?;
    ctx.recorder.record(
        &reference(rollout),
        false,
        "RolloutUpdated",
        format!("Rollout updated to revision {revision}"),
    );
    Ok(())
}

/// Sets (or, with `None`, removes) one annotation of the Rollout with a
/// merge patch, records the write, and updates `rollout` to match; `what`
/// names the annotation in an error ("set the <what> of rollout ns/name").
pub(super) async fn set_rollout_annotation(
    ctx: &Context,
    rollout: &mut Rollout,
    key: &str,
    value: Option<&str>,
    what: &str,
) -> Result<(), Error> {
    let namespace = rollout.metadata.namespace.clone().unwrap_or_default();
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    let patch = json!({"metadata": {"annotations": {key: value}}});
    let patched = ctx
        .rollouts(&namespace)
        .patch(&rollout.metadata.name, &params, &Patch::Merge(patch))
        .await
        .map_err(Error::api(format!(
            "set the {what} of rollout {}",
            rollout.object_name()
        )))?;
    ctx.wrote(
        "Rollout",
        &namespace,
        &rollout.metadata.name,
        patched.resource_version().as_deref(),
    );
    match value {
        Some(value) => {
            rollout
                .metadata
                .annotations
                .insert(key.into(), value.into());
        }
        None => {
            rollout.metadata.annotations.remove(key);
        }
    }
    Ok(())
}
