//! The Rollout side of `experiment` steps, as Argo's `reconcileExperiments`
//! acts (the Experiments themselves are run by their own reconciler):
//!
//! - the Experiments the Rollout controls are read from the watch cache
//!   ([`Experiments::owned`]) and handed to the engine
//!   ([`rollout_core::ExperimentState`]);
//! - the Experiment the decision asks for ([`rollout_core::ExperimentDecision::run`])
//!   is created when none of its name exists, built as Argo builds it
//!   (module `object`), with Argo's event `ExperimentCreated`; a name
//!   taken by an unfinished Experiment of the same Rollout and spec (a
//!   cache behind our own create) is ours, anything else an error;
//! - those to cancel get `spec.terminate: true`, once;
//! - of the past ones, those beyond the Rollout's analysis history limits
//!   (`successfulRunHistoryLimit`, `unsuccessfulRunHistoryLimit`, 5 each),
//!   and those whose ReplicaSet is gone or going, are deleted, as Argo's
//!   `FilterExperimentsToDelete` decides (the AnalysisRuns' rule,
//!   [`rollgate_analysis::history`]).

mod object;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use rollgate_analysis::history::{self, PastRun};
use rollout_core::{Decision, ExperimentState, ExperimentTemplateState, Rollout};
use serde_json::{Value, json};

use super::{Context, FIELD_MANAGER, reference};
use crate::Error;
use crate::cache::Cache;
use crate::workload::POD_TEMPLATE_HASH_LABEL;

pub use object::{Source, experiment};

pub use crate::experiment::experiment_resource;

/// The Experiments' watch cache (of packed objects, [`crate::cache`]),
/// filled only when the cluster has Argo's Experiment CRD: a Rollout
/// without an experiment step never waits for it.
#[derive(Clone)]
pub struct Experiments {
    /// The cache.
    pub cache: Cache<DynamicObject>,
}

impl Experiments {
    /// Whether the cache a Rollout needs is filled (asked without
    /// waiting): always, for a Rollout without an experiment step.
    pub fn ready_for(&self, rollout: &Rollout) -> bool {
        let uses = rollout
            .canary()
            .is_some_and(|c| c.steps.iter().any(|s| s.experiment().is_some()));
        !uses || super::filled(&self.cache)
    }

    /// The Experiments controlled by the Rollout with this uid, in its
    /// namespace (only those are unpacked).
    ///
    /// # Errors
    ///
    /// [`Error::Cache`] if one does not read back.
    pub fn owned(&self, namespace: &str, uid: &str) -> Result<Vec<ObservedExperiment>, Error> {
        let owned = crate::cache::select(&self.cache, |meta| {
            meta.namespace.as_deref() == Some(namespace)
                && meta
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| o.controller == Some(true) && o.uid == uid)
        })?;
        Ok(owned.iter().map(ObservedExperiment::of).collect())
    }
}

/// An Experiment of a Rollout as observed: what the engine and the
/// controller's writes need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedExperiment {
    /// The engine's view of it.
    pub state: ExperimentState,
    /// `status.phase` as written (empty without a status).
    pub phase: String,
    /// Its `rollouts-pod-template-hash` label.
    pub pod_hash: Option<String>,
    /// `metadata.creationTimestamp`, as the API server writes it.
    pub created: String,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
}

impl ObservedExperiment {
    /// Reads the fields leniently: an Experiment's status is its own
    /// reconciler's output.
    pub fn of(object: &DynamicObject) -> Self {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let status = object.data.get("status");
        let phase = text(status.and_then(|s| s.get("phase"))).unwrap_or_default();
        let templates = status
            .and_then(|s| s.get("templateStatuses"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|t| ExperimentTemplateState {
                name: text(t.get("name")).unwrap_or_default(),
                service_name: text(t.get("serviceName")).filter(|s| !s.is_empty()),
                pod_template_hash: text(t.get("podTemplateHash")).filter(|s| !s.is_empty()),
            })
            .collect();
        Self {
            state: ExperimentState {
                name: object.metadata.name.clone().unwrap_or_default(),
                phase: rollgate_analysis::types::parse_phase(&phase),
                message: text(status.and_then(|s| s.get("message"))).filter(|m| !m.is_empty()),
                terminate: object
                    .data
                    .pointer("/spec/terminate")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                templates,
            },
            phase,
            pod_hash: object
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(POD_TEMPLATE_HASH_LABEL))
                .cloned(),
            created: object
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.to_string())
                .unwrap_or_default(),
            deleting: object.metadata.deletion_timestamp.is_some(),
        }
    }
}

/// What the writes are about.
pub(super) struct Writes<'a> {
    /// The Rollout.
    pub rollout: &'a Rollout,
    /// Its Experiments, as observed before the decision.
    pub observed: &'a [ObservedExperiment],
    /// Its ReplicaSets, the current one first.
    pub replica_sets: &'a [ReplicaSet],
    /// The stable ReplicaSet's pod template hash.
    pub stable_hash: Option<&'a str>,
}

/// Creates, cancels and deletes Experiments for `decision`.
pub(super) async fn reconcile(
    ctx: &Context,
    writes: &Writes<'_>,
    decision: &Decision,
) -> Result<(), Error> {
    let rollout = writes.rollout;
    let namespace = rollout.metadata.namespace.clone().unwrap_or_default();
    let api: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &namespace, &experiment_resource());
    let decided = &decision.experiments;
    if let Some(request) = &decided.run
        && !writes.observed.iter().any(|e| e.state.name == request.name)
    {
        create(ctx, writes, &api, request).await?;
    }
    for name in &decided.cancel {
        terminate(&api, &namespace, name).await?;
    }
    let past: Vec<PastRun<'_>> = writes
        .observed
        .iter()
        .filter(|e| decided.past.contains(&e.state.name) && !e.deleting)
        .map(|e| PastRun {
            name: &e.state.name,
            pod_hash: e.pod_hash.as_deref(),
            phase: &e.phase,
            created: &e.created,
        })
        .collect();
    let replica_sets: BTreeMap<String, bool> = writes
        .replica_sets
        .iter()
        .filter_map(|rs| {
            let hash = rs.metadata.labels.as_ref()?.get(POD_TEMPLATE_HASH_LABEL)?;
            Some((hash.clone(), rs.metadata.deletion_timestamp.is_some()))
        })
        .collect();
    let limits = history::limits(rollout.spec.analysis.as_ref());
    for name in history::to_delete(&past, &replica_sets, limits) {
        delete(&api, &namespace, name).await?;
    }
    Ok(())
}

async fn create(
    ctx: &Context,
    writes: &Writes<'_>,
    api: &Api<DynamicObject>,
    request: &rollout_core::ExperimentRequest,
) -> Result<(), Error> {
    let rollout = writes.rollout;
    let namespace = rollout.metadata.namespace.clone().unwrap_or_default();
    let object_name = format!("experiment {namespace}/{}", request.name);
    let hash_of = |rs: &&ReplicaSet| {
        rs.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(POD_TEMPLATE_HASH_LABEL))
            .cloned()
    };
    let current = writes
        .replica_sets
        .iter()
        .find(|rs| hash_of(rs).as_deref() == Some(request.pod_template_hash.as_str()));
    let stable = writes.stable_hash.and_then(|h| {
        writes
            .replica_sets
            .iter()
            .find(|rs| hash_of(rs).as_deref() == Some(h))
    });
    let (Some(current), Some(stable), Some(stable_hash)) = (current, stable, writes.stable_hash)
    else {
        // The engine asks only once both exist; the next look has them.
        tracing::debug!(rollout = %rollout.object_name(), "the Experiment waits for its ReplicaSets");
        return Ok(());
    };
    let json = serde_json::to_value(rollout).unwrap_or_default();
    let source = Source {
        rollout,
        rollout_json: &json,
        current,
        stable,
        stable_hash,
    };
    let built = experiment(request, &source).map_err(|message| Error::Shape {
        object: format!("rollout {}", rollout.object_name()),
        message,
    })?;
    let object: DynamicObject = serde_json::from_value(built).map_err(|e| Error::Shape {
        object: object_name.clone(),
        message: e.to_string(),
    })?;
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    match api.create(&params, &object).await {
        Ok(_) => {
            tracing::info!(rollout = %rollout.object_name(), experiment = %request.name, "created the Experiment");
            ctx.recorder.record(
                &reference(rollout),
                false,
                "ExperimentCreated",
                format!("Created Experiment '{}'", request.name),
            );
            Ok(())
        }
        Err(kube::Error::Api(e)) if e.code == 409 => taken(api, &object, rollout).await,
        Err(e) => Err(Error::api(format!(
            "create {object_name} for rollout {}",
            rollout.object_name()
        ))(e)),
    }
}

/// The name of an Experiment to create is taken. As Argo's
/// `createExperimentWithCollisionHandling` reads it: an unfinished
/// Experiment of the same Rollout with the same spec (`terminate` aside)
/// is the one an earlier reconcile created; any other is an error (the
/// engine names the next one once the cache shows it finished).
async fn taken(
    api: &Api<DynamicObject>,
    wanted: &DynamicObject,
    rollout: &Rollout,
) -> Result<(), Error> {
    let name = wanted.metadata.name.clone().unwrap_or_default();
    let object = format!(
        "experiment {}/{name}",
        wanted.metadata.namespace.as_deref().unwrap_or_default()
    );
    let existing = api
        .get(&name)
        .await
        .map_err(Error::api(format!("read {object}")))?;
    let observed = ObservedExperiment::of(&existing);
    let controller = existing
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true));
    let without_terminate = |spec: Option<&Value>| {
        let mut spec = spec.cloned().unwrap_or(Value::Null);
        if let Some(map) = spec.as_object_mut() {
            map.remove("terminate");
        }
        spec
    };
    let ours = controller.map(|o| &o.uid) == rollout.metadata.uid.as_ref()
        && !observed.state.finished()
        && without_terminate(existing.data.get("spec"))
            == without_terminate(wanted.data.get("spec"));
    if ours {
        Ok(())
    } else {
        Err(Error::Shape {
            object,
            message: format!(
                "exists already as another Experiment than the one rollout {} asks for",
                rollout.object_name()
            ),
        })
    }
}

/// Argo's `experimentutil.Terminate`: `spec.terminate: true`, as a merge patch.
async fn terminate(api: &Api<DynamicObject>, namespace: &str, name: &str) -> Result<(), Error> {
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    let patch = Patch::Merge(json!({"spec": {"terminate": true}}));
    match api.patch(name, &params, &patch).await {
        Ok(_) => {
            tracing::info!(experiment = %format!("{namespace}/{name}"), "cancelled the Experiment");
            Ok(())
        }
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(Error::api(format!("cancel experiment {namespace}/{name}"))(
            e,
        )),
    }
}

/// Argo's `deleteExperiments`: one Experiment deleted (already gone is fine).
async fn delete(api: &Api<DynamicObject>, namespace: &str, name: &str) -> Result<(), Error> {
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => {
            tracing::info!(experiment = %format!("{namespace}/{name}"), "deleted the Experiment");
            Ok(())
        }
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(Error::api(format!("delete experiment {namespace}/{name}"))(
            e,
        )),
    }
}
