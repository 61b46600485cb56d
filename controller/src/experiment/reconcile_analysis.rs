//! One analysis of a look at an Experiment: its AnalysisRun created,
//! followed or terminated as the rules of [`super::analyses`] decide, and
//! its status.

use kube::api::{Api, DynamicObject};
use rollgate_analysis::TemplateKind;
use rollout_core::AnalysisPhase;

use super::analyses::{self, AnalysisAction, ArgContext, Following, ObservedRun, RunOwner};
use super::spec::{self, AnalysisRunStatus};
use super::{Look, RUN_NAME_ATTEMPTS};
use crate::analysis::Created;

/// Argo's `reconcileAnalysisRun` (see [`super::analyses`]): the analysis' status.
pub(super) async fn reconcile_analysis(
    look: &Look<'_>,
    analysis: &spec::ExperimentAnalysis,
    replica_sets: &[(String, String, String)],
) -> AnalysisRunStatus {
    let previous = look
        .old
        .analysis(&analysis.name)
        .cloned()
        .unwrap_or_else(|| AnalysisRunStatus {
            name: analysis.name.clone(),
            ..AnalysisRunStatus::default()
        });
    let kind = if analysis.is_cluster_scope() {
        TemplateKind::Cluster
    } else {
        TemplateKind::Namespaced
    };
    let missing = match look.old.available_at {
        None => template_missing(look, kind, &analysis.template_name).await,
        Some(_) => None,
    };
    let status = match analyses::analysis_action(analysis, look.old, look.terminating, missing) {
        AnalysisAction::Status(status) => status,
        AnalysisAction::Create => {
            let mut status = previous.clone();
            match create_run(look, analysis, replica_sets).await {
                Ok(name) => {
                    tracing::info!(experiment = look.owner.name, run = %name, "created the AnalysisRun");
                    status.phase = Some(AnalysisPhase::Pending);
                    status.analysis_run = name;
                }
                Err(message) => {
                    tracing::warn!(experiment = look.owner.name, analysis = %analysis.name, %message, "could not create the AnalysisRun");
                    status.phase = Some(AnalysisPhase::Error);
                    status.message = format!(
                        "Failed to create AnalysisRun for analysis '{}': {message}",
                        analysis.name
                    );
                }
            }
            status
        }
        AnalysisAction::Follow(run) => {
            let observed = observe_run(look, &run).await;
            match analyses::follow(
                analysis,
                &previous,
                observed.as_ref().map_err(Clone::clone),
                look.terminating,
            ) {
                Following::Status(status) => status,
                Following::Terminate(event) => {
                    look.record(event).await;
                    let api: Api<DynamicObject> = Api::namespaced_with(
                        look.r.client.clone(),
                        look.owner.namespace,
                        &crate::analysis::run_resource(),
                    );
                    let mut status = previous.clone();
                    if let Err(e) =
                        crate::analysis::terminate_run(&api, look.owner.namespace, &run).await
                    {
                        status.phase = Some(AnalysisPhase::Error);
                        status.message = e.to_string();
                    }
                    status
                }
            }
        }
    };
    if let Some(event) = analyses::phase_event(&previous, &status) {
        if let Some(rollout) = &look.rollout {
            look.r
                .recorder
                .record(rollout, true, &event.reason, event.message.clone());
        }
        look.record(event).await;
    }
    status
}

/// Why the template an analysis names is not there (Argo's
/// `verifyAnalysisTemplate`), in the API server's words; `None` when it is.
/// The cache is asked first, then the API server (a template created just
/// before the Experiment may not be in the cache yet).
async fn template_missing(look: &Look<'_>, kind: TemplateKind, name: &str) -> Option<String> {
    match look.r.analysis.template(look.owner.namespace, kind, name) {
        Ok(Some(_)) => return None,
        Ok(None) => {}
        Err(e) => return Some(e.to_string()),
    }
    let api: Api<DynamicObject> = match kind {
        TemplateKind::Namespaced => Api::namespaced_with(
            look.r.client.clone(),
            look.owner.namespace,
            &crate::analysis::template_resource(),
        ),
        TemplateKind::Cluster => Api::all_with(
            look.r.client.clone(),
            &crate::analysis::cluster_template_resource(),
        ),
    };
    match api.get(name).await {
        Ok(_) => None,
        Err(kube::Error::Api(e)) => Some(e.message),
        Err(e) => Some(e.to_string()),
    }
}

/// A run as observed: from the cache, else from the API server (a run the
/// cache has not shown yet); `Err` in the API server's words.
async fn observe_run(look: &Look<'_>, name: &str) -> Result<ObservedRun, String> {
    let key = kube::runtime::reflector::ObjectRef::new_with(name, crate::analysis::run_resource())
        .within(look.owner.namespace);
    let cached = crate::cache::get(&look.r.analysis.runs, &key)
        .ok()
        .flatten();
    let object = match cached {
        Some(object) => object,
        None => {
            let api: Api<DynamicObject> = Api::namespaced_with(
                look.r.client.clone(),
                look.owner.namespace,
                &crate::analysis::run_resource(),
            );
            api.get(name).await.map_err(|e| match e {
                kube::Error::Api(e) => e.message,
                e => e.to_string(),
            })?
        }
    };
    let run = crate::analysis::ObservedRun::of(&object);
    Ok(ObservedRun {
        phase: rollgate_analysis::types::parse_phase(&run.phase),
        message: run.message.unwrap_or_default(),
        terminate: run.terminate,
    })
}

/// Builds and creates an analysis' run (Argo's `createAnalysisRun`): the
/// name it got, or the reason it was not created.
async fn create_run(
    look: &Look<'_>,
    analysis: &spec::ExperimentAnalysis,
    replica_sets: &[(String, String, String)],
) -> Result<String, String> {
    let ctx = ArgContext {
        spec: look.spec,
        available_at: look.old.available_at,
        replica_sets,
    };
    let args = analyses::resolve_args(&analysis.args, &ctx)?;
    let refs: Vec<rollout_core::spec::AnalysisTemplateRef> = serde_json::from_value(
        serde_json::json!([{"templateName": analysis.template_name, "clusterScope": analysis.is_cluster_scope()}]),
    )
    .map_err(|e| e.to_string())?;
    let namespace = look.owner.namespace;
    let field = format!("analysis '{}'", analysis.name);
    let templates =
        rollgate_analysis::merge::resolve_templates(&refs, &field, &mut |kind, name: &str| {
            look.r.analysis.template(namespace, kind, name)
        })
        .map_err(|e| e.to_string())?;
    let owner = RunOwner {
        name: look.owner.name,
        namespace,
        uid: look.owner.uid,
        labels: look.labels,
    };
    let mut run = analyses::new_run(&owner, look.spec, analysis, &args, &templates)
        .map_err(|e| e.to_string())?;
    let base = run.metadata.name.clone();
    let api: Api<DynamicObject> = Api::namespaced_with(
        look.r.client.clone(),
        namespace,
        &crate::analysis::run_resource(),
    );
    for attempt in 0..RUN_NAME_ATTEMPTS {
        if attempt > 0 {
            run.metadata.name = format!("{base}.{attempt}");
        }
        match crate::analysis::create_run(&api, &run, look.owner.uid).await {
            Ok(Created::Created | Created::Ours) => return Ok(run.metadata.name),
            Ok(Created::Taken) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Err(format!(
        "the names {base} to {base}.{} are taken by other runs",
        RUN_NAME_ATTEMPTS - 1
    ))
}
