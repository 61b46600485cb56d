//! What the controller knows of AnalysisRuns, AnalysisTemplates and
//! ClusterAnalysisTemplates: three watch caches, the runs a Rollout owns as
//! the engine sees them, and templates read from the caches for
//! [`rollgate_analysis`].
//!
//! The caches are filled only when the cluster has Argo's analysis CRDs; a
//! Rollout without analysis never waits for them. The runs are measured by
//! [`crate::measure`] (whoever created them), and the engine acts on
//! their phase as Argo's controller does.

use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::reflector::ObjectRef;
use rollgate_analysis::{AnalysisTemplate, TemplateKind};
use rollout_core::{AnalysisPhase, AnalysisRunState, FieldError, Rollout};
use serde_json::Value;

use crate::cache::Cache;

/// The `AnalysisRun` resource.
pub fn run_resource() -> ApiResource {
    gvk("AnalysisRun")
}

/// The `AnalysisTemplate` resource.
pub fn template_resource() -> ApiResource {
    gvk("AnalysisTemplate")
}

/// The `ClusterAnalysisTemplate` resource.
pub fn cluster_template_resource() -> ApiResource {
    gvk("ClusterAnalysisTemplate")
}

fn gvk(kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("argoproj.io", "v1alpha1", kind))
}

/// The three watch caches (of packed objects, [`crate::cache`]).
#[derive(Clone)]
pub struct Caches {
    /// AnalysisRuns.
    pub runs: Cache<DynamicObject>,
    /// AnalysisTemplates.
    pub templates: Cache<DynamicObject>,
    /// ClusterAnalysisTemplates.
    pub cluster_templates: Cache<DynamicObject>,
}

impl Caches {
    /// Whether the caches a Rollout needs have been filled (asked without
    /// waiting, see [`crate::reconcile::Context`]): the runs and the
    /// AnalysisTemplates, and the ClusterAnalysisTemplates when it names
    /// one. Those are watched cluster-wide even with `--namespace`, as Argo
    /// watches them, which takes a cluster-wide grant; a controller bound
    /// in its namespace alone runs the Rollouts that name none.
    pub fn ready_for(&self, rollout: &Rollout) -> bool {
        let cluster = rollgate_analysis::validate::analyses(rollout)
            .iter()
            .flat_map(|(_, a)| &a.templates)
            .any(|r| TemplateKind::of(r) == TemplateKind::Cluster);
        self.ready(cluster)
    }

    /// Whether the runs and the AnalysisTemplates have been filled, and
    /// the ClusterAnalysisTemplates too when `cluster` (asked without
    /// waiting).
    pub fn ready(&self, cluster: bool) -> bool {
        use futures::FutureExt as _;
        let filled =
            |s: &Cache<DynamicObject>| matches!(s.wait_until_ready().now_or_never(), Some(Ok(())));
        filled(&self.runs)
            && filled(&self.templates)
            && (!cluster || filled(&self.cluster_templates))
    }

    /// The runs controlled by the Rollout with this uid, in its namespace
    /// (only those are unpacked).
    ///
    /// # Errors
    ///
    /// [`crate::Error::Cache`] if one does not read back.
    pub fn owned_runs(&self, namespace: &str, uid: &str) -> Result<Vec<ObservedRun>, crate::Error> {
        let runs = crate::cache::select(&self.runs, |run| {
            run.namespace.as_deref() == Some(namespace)
                && run
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| o.controller == Some(true) && o.uid == uid)
        })?;
        Ok(runs.iter().map(ObservedRun::of).collect())
    }

    /// The template of this kind and name (an AnalysisTemplate in
    /// `namespace`), read strictly: `Err` names the template and the field
    /// that does not read.
    pub fn template(
        &self,
        namespace: &str,
        kind: TemplateKind,
        name: &str,
    ) -> Result<Option<AnalysisTemplate>, rollgate_analysis::Error> {
        let found = match kind {
            TemplateKind::Namespaced => self
                .templates
                .get(&ObjectRef::new_with(name, template_resource()).within(namespace)),
            TemplateKind::Cluster => self
                .cluster_templates
                .get(&ObjectRef::new_with(name, cluster_template_resource())),
        };
        let Some(object) = found else {
            return Ok(None);
        };
        let object = object
            .unpack()
            .map_err(|e| rollgate_analysis::Error::Shape {
                object: format!("{} {name}", kind.as_str()),
                field: "(the watch cache's copy)".into(),
                message: e.to_string(),
            })?;
        let mut value = serde_json::to_value(&object).unwrap_or(Value::Null);
        if let Some(map) = value.as_object_mut() {
            map.insert("kind".into(), kind.as_str().into());
        }
        AnalysisTemplate::from_value(value).map(Some)
    }

    /// The first problem with the templates the Rollout references (see
    /// [`rollgate_analysis::validate::check_rollout`]).
    pub fn check(&self, rollout: &Rollout) -> Option<FieldError> {
        let namespace = rollout.metadata.namespace.clone().unwrap_or_default();
        let json = serde_json::to_value(rollout).unwrap_or(Value::Null);
        rollgate_analysis::validate::check_rollout(rollout, &json, &mut |kind, name: &str| {
            self.template(&namespace, kind, name)
        })
    }
}

/// An AnalysisRun of a Rollout as observed: what the engine and the
/// controller's writes need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedRun {
    /// Its name.
    pub name: String,
    /// `status.phase` as written (empty when it has no status yet).
    pub phase: String,
    /// `status.message`.
    pub message: Option<String>,
    /// `spec.terminate`.
    pub terminate: bool,
    /// Its `rollouts-pod-template-hash` label.
    pub pod_hash: Option<String>,
    /// `metadata.creationTimestamp`, as the API server writes it.
    pub created: String,
}

impl ObservedRun {
    /// Reads the fields leniently from the object: a run is someone else's
    /// output as much as ours.
    pub fn of(run: &DynamicObject) -> Self {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let status = run.data.get("status");
        Self {
            name: run.metadata.name.clone().unwrap_or_default(),
            phase: text(status.and_then(|s| s.get("phase"))).unwrap_or_default(),
            message: text(status.and_then(|s| s.get("message"))).filter(|m| !m.is_empty()),
            terminate: run
                .data
                .pointer("/spec/terminate")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            pod_hash: run
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(rollgate_analysis::args::POD_TEMPLATE_HASH_LABEL))
                .cloned(),
            created: run
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.to_string())
                .unwrap_or_default(),
        }
    }

    /// The phase; empty or unknown reads as `Pending`.
    pub fn phase(&self) -> AnalysisPhase {
        rollgate_analysis::types::parse_phase(&self.phase).unwrap_or(AnalysisPhase::Pending)
    }

    /// The engine's view of it.
    pub fn state(&self) -> AnalysisRunState {
        AnalysisRunState {
            name: self.name.clone(),
            phase: self.phase(),
            message: self.message.clone(),
        }
    }
}

/// What [`create_run`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// The run was created.
    Created,
    /// A run of that name exists and is the one wanted: controlled by the
    /// same owner, not completed, of the same spec (an earlier create the
    /// cache had not shown yet).
    Ours,
    /// A run of that name exists and is another one.
    Taken,
}

/// Creates `run` (controlled by the object of uid `owner_uid`), reading the
/// run of that name when it is taken, as Argo's
/// `CreateWithCollisionCounter` does: what to do with a name taken by
/// another run is the caller's (a Rollout's engine names the next run, an
/// Experiment tries `<name>.1`, `<name>.2`, ...).
///
/// # Errors
///
/// [`crate::Error::Api`] when the create or the read fails, naming the run.
pub async fn create_run(
    api: &kube::Api<DynamicObject>,
    run: &rollgate_analysis::AnalysisRun,
    owner_uid: &str,
) -> Result<Created, crate::Error> {
    let name = &run.metadata.name;
    let object = format!(
        "analysisrun {}/{name}",
        run.metadata.namespace.as_deref().unwrap_or_default()
    );
    let body: DynamicObject = serde_json::to_value(run)
        .and_then(serde_json::from_value)
        .map_err(|e| crate::Error::Shape {
            object: object.clone(),
            message: e.to_string(),
        })?;
    let params = kube::api::PostParams {
        field_manager: Some(crate::reconcile::FIELD_MANAGER.into()),
        ..Default::default()
    };
    match api.create(&params, &body).await {
        Ok(_) => return Ok(Created::Created),
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => return Err(crate::Error::api(format!("create {object}"))(e)),
    }
    let existing = api
        .get(name)
        .await
        .map_err(crate::Error::api(format!("read {object}")))?;
    let existing = serde_json::to_value(existing)
        .ok()
        .and_then(|v| rollgate_analysis::AnalysisRun::from_value(v).ok());
    let ours = existing.as_ref().is_some_and(|existing| {
        let controller = existing
            .metadata
            .owner_references
            .iter()
            .find(|o| o.controller == Some(true));
        controller.is_some_and(|o| o.uid == owner_uid)
            && !existing.phase().is_completed()
            && existing.spec.semantically_equal(&run.spec)
    });
    Ok(if ours { Created::Ours } else { Created::Taken })
}

/// Argo's `TerminateRun` (a Rollout's `cancelAnalysisRuns`, an
/// Experiment's runs as it ends): `spec.terminate: true`, as a merge patch;
/// a run already gone is fine.
///
/// # Errors
///
/// [`crate::Error::Api`] naming the run.
pub async fn terminate_run(
    api: &kube::Api<DynamicObject>,
    namespace: &str,
    name: &str,
) -> Result<(), crate::Error> {
    let params = kube::api::PatchParams {
        field_manager: Some(crate::reconcile::FIELD_MANAGER.into()),
        ..Default::default()
    };
    match api
        .patch(
            name,
            &params,
            &kube::api::Patch::Merge(serde_json::json!({"spec": {"terminate": true}})),
        )
        .await
    {
        Ok(_) => {
            tracing::info!(run = %format!("{namespace}/{name}"), "terminated the AnalysisRun");
            Ok(())
        }
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(crate::Error::api(format!(
            "terminate analysisrun {namespace}/{name}"
        ))(e)),
    }
}

/// Whether a Rollout (as JSON) has any analysis: step or background.
pub fn uses_analysis(rollout: &Rollout) -> bool {
    !rollgate_analysis::validate::analyses(rollout).is_empty()
}

/// Whether a Rollout (as its JSON from the watch) references the template
/// of this kind and name, directly: it is looked at again when the
/// template changes.
///
/// ```
/// use rollgate_analysis::TemplateKind;
/// use rollgate_controller::analysis::references;
/// let spec = serde_json::json!({"strategy": {"canary": {"analysis": {
///     "templates": [{"templateName": "rate", "clusterScope": true}]}}}});
/// assert!(references(&spec, TemplateKind::Cluster, "rate"));
/// assert!(!references(&spec, TemplateKind::Namespaced, "rate"));
/// ```
pub fn references(spec: &Value, kind: TemplateKind, name: &str) -> bool {
    let canary = spec.pointer("/strategy/canary");
    let refs = |analysis: Option<&Value>| {
        analysis
            .and_then(|a| a.get("templates"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|r| {
                r.get("templateName").and_then(Value::as_str) == Some(name)
                    && (r.get("clusterScope").and_then(Value::as_bool) == Some(true))
                        == (kind == TemplateKind::Cluster)
            })
    };
    let steps = canary
        .and_then(|c| c.get("steps"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|s| refs(s.get("analysis")));
    steps || refs(canary.and_then(|c| c.get("analysis")))
}
