//! The controller's writes for AnalysisRuns, as Argo's
//! `reconcileAnalysisRuns` makes them:
//!
//! - every run the decision asks for that does not exist is created
//!   ([`rollgate_analysis::run::new_run`] over the templates in the watch
//!   caches); one that exists already (a cache behind our own create) is
//!   left as it is;
//! - every other run the Rollout controls that has not completed gets
//!   `spec.terminate: true` (promotion, abort, a new revision, a step
//!   passed), once;
//! - when a current run's phase changes, Argo's event:
//!   `AnalysisRun<Phase>`, `Step Analysis Run '<name>' Status New:
//!   '<phase>' Previous: '<phase>'` (`Background`, `PrePromotion` and
//!   `PostPromotion` for the other kinds; a warning for Failed and Error).
//!
//! - of the runs that are not current, those beyond the Rollout's
//!   `analysis.successfulRunHistoryLimit` / `unsuccessfulRunHistoryLimit`
//!   (5 each) and those of ReplicaSets that are gone are deleted
//!   ([`rollgate_analysis::history`]).

use std::collections::BTreeMap;

use kube::api::{Api, DeleteParams, DynamicObject};
use rollgate_analysis::history::{self, PastRun};
use rollgate_analysis::merge::resolve_templates;
use rollgate_analysis::run::{RunSource, analysis_field, new_run};
use rollout_core::status::RolloutAnalysisRunStatus;
use rollout_core::{AnalysisKind, Decision, Rollout, RolloutStatus};

use super::{Context, reference};
use crate::Error;
use crate::analysis::{Created, ObservedRun, run_resource};

/// What the writes are about.
pub(super) struct Runs<'a> {
    /// The Rollout.
    pub rollout: &'a Rollout,
    /// The runs it controls, as observed before the decision.
    pub observed: &'a [ObservedRun],
    /// The stable ReplicaSet's pod template hash.
    pub stable_hash: Option<&'a str>,
    /// The current ReplicaSet's pod template hash.
    pub current_hash: &'a str,
    /// The pod template hash of each of its ReplicaSets, and whether it is
    /// being deleted.
    pub replica_sets: BTreeMap<String, bool>,
}

/// Creates and terminates runs for `decision`, and records the events of
/// the current runs' phase changes against `previous` (the status before
/// the decision).
pub(super) async fn reconcile(
    ctx: &Context,
    runs: &Runs<'_>,
    decision: &Decision,
    previous: Option<&RolloutStatus>,
) -> Result<(), Error> {
    let rollout = runs.rollout;
    let namespace = rollout.metadata.namespace.clone().unwrap_or_default();
    let api: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &namespace, &run_resource());
    let wanted: Vec<&str> = decision
        .analysis_runs
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    for request in &decision.analysis_runs {
        if !runs.observed.iter().any(|r| r.name == request.name) {
            create(ctx, runs, &api, request).await?;
        }
    }
    let past: Vec<&ObservedRun> = runs
        .observed
        .iter()
        .filter(|r| !wanted.contains(&r.name.as_str()))
        .collect();
    for run in &past {
        if !run.terminate && !run.phase().is_completed() {
            crate::analysis::terminate_run(&api, &namespace, &run.name).await?;
        }
    }
    let past: Vec<PastRun<'_>> = past
        .iter()
        .map(|r| PastRun {
            name: &r.name,
            pod_hash: r.pod_hash.as_deref(),
            phase: &r.phase,
            created: &r.created,
        })
        .collect();
    let limits = history::limits(rollout.spec.analysis.as_ref());
    for name in history::to_delete(&past, &runs.replica_sets, limits) {
        delete(&api, &namespace, name).await?;
    }
    let (before_bg, now_bg) = (previous.map(|s| &s.blue_green), &decision.status.blue_green);
    let previous = previous.map(|s| &s.canary);
    let current = &decision.status.canary;
    // Argo's order: post-promotion, pre-promotion, step, background.
    for (label, before, now) in [
        (
            "PostPromotion",
            before_bg.and_then(|b| b.post_promotion_analysis_run_status.as_ref()),
            now_bg.post_promotion_analysis_run_status.as_ref(),
        ),
        (
            "PrePromotion",
            before_bg.and_then(|b| b.pre_promotion_analysis_run_status.as_ref()),
            now_bg.pre_promotion_analysis_run_status.as_ref(),
        ),
        (
            "Step",
            previous.and_then(|c| c.current_step_analysis_run_status.as_ref()),
            current.current_step_analysis_run_status.as_ref(),
        ),
        (
            "Background",
            previous.and_then(|c| c.current_background_analysis_run_status.as_ref()),
            current.current_background_analysis_run_status.as_ref(),
        ),
    ] {
        // The run the decision records, or the one recorded before (a
        // decision that aborts may no longer record it).
        let Some(run) = now
            .or(before)
            .and_then(|n| runs.observed.iter().find(|r| r.name == n.name))
        else {
            continue;
        };
        if let Some((warning, reason, message)) = phase_event(label, before, run) {
            ctx.recorder
                .record(&reference(rollout), warning, &reason, message);
        }
    }
    Ok(())
}

/// Argo's `emitAnalysisRunStatusChanges`: an event when the run has a
/// phase and it is new, or differs from the one recorded for the same run.
fn phase_event(
    label: &str,
    before: Option<&RolloutAnalysisRunStatus>,
    run: &ObservedRun,
) -> Option<(bool, String, String)> {
    if run.phase.is_empty() {
        return None;
    }
    let previous = match before {
        None => "NoPreviousStatus",
        Some(b) if b.name == run.name && b.status != run.phase => b.status.as_str(),
        Some(_) => return None,
    };
    let warning = matches!(run.phase.as_str(), "Failed" | "Error");
    Some((
        warning,
        format!("AnalysisRun{}", run.phase),
        format!(
            "{label} Analysis Run '{}' Status New: '{}' Previous: '{previous}'",
            run.name, run.phase
        ),
    ))
}

async fn create(
    ctx: &Context,
    runs: &Runs<'_>,
    api: &Api<DynamicObject>,
    request: &rollout_core::AnalysisRunRequest,
) -> Result<(), Error> {
    let rollout = runs.rollout;
    let namespace = rollout.metadata.namespace.clone().unwrap_or_default();
    let failed = |source| Error::Analysis {
        rollout: rollout.object_name(),
        source: Box::new(source),
    };
    let field = format!("{}.templates", analysis_field(request.kind));
    let templates = resolve_templates(&request.spec.templates, &field, &mut |kind, name: &str| {
        ctx.analysis.template(&namespace, kind, name)
    })
    .map_err(failed)?;
    let json = serde_json::to_value(rollout).unwrap_or_default();
    let source = RunSource {
        rollout,
        rollout_json: &json,
        stable_hash: runs.stable_hash,
        latest_hash: runs.current_hash,
    };
    let run = new_run(request, &templates, &source).map_err(failed)?;
    let uid = rollout.metadata.uid.clone().unwrap_or_default();
    match crate::analysis::create_run(api, &run, &uid).await? {
        Created::Created => {
            let what = match request.kind {
                AnalysisKind::Step(i) => format!("for step {i}"),
                AnalysisKind::Background => "in the background".to_owned(),
                AnalysisKind::PrePromotion => "before promotion".to_owned(),
                AnalysisKind::PostPromotion => "after promotion".to_owned(),
            };
            tracing::info!(rollout = %rollout.object_name(), run = %request.name, "created the AnalysisRun {what}");
            Ok(())
        }
        Created::Ours => Ok(()),
        // As Argo's `CreateWithCollisionCounter` reads it, a run of the same
        // Rollout and spec that has not completed is the one an earlier
        // reconcile created; any other is an error, and the Rollout is looked
        // at again once the cache holds that run, so that the engine names
        // the next run after it (`.1`, `.2`, ...).
        Created::Taken => Err(Error::Shape {
            object: format!("analysisrun {namespace}/{}", request.name),
            message: format!(
                "exists already as another run than the one rollout {} asks for; trying again with the next name",
                rollout.object_name()
            ),
        }),
    }
}

/// Argo's `deleteAnalysisRuns`: one run deleted (already gone is fine).
async fn delete(api: &Api<DynamicObject>, namespace: &str, name: &str) -> Result<(), Error> {
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => {
            tracing::info!(run = %format!("{namespace}/{name}"), "deleted the AnalysisRun");
            Ok(())
        }
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(Error::api(format!("delete analysisrun {namespace}/{name}"))(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(name: &str, phase: &str) -> ObservedRun {
        ObservedRun {
            name: name.into(),
            phase: phase.into(),
            message: None,
            terminate: false,
            pod_hash: Some("abc".into()),
            created: String::new(),
        }
    }

    fn recorded(name: &str, status: &str) -> RolloutAnalysisRunStatus {
        RolloutAnalysisRunStatus {
            name: name.into(),
            status: status.into(),
            message: None,
        }
    }

    #[test]
    fn a_phase_change_is_worded_as_argo_words_it() {
        let before = recorded("web-abc-2-1", "Running");
        assert_eq!(
            phase_event("Step", Some(&before), &observed("web-abc-2-1", "Failed")),
            Some((
                true,
                "AnalysisRunFailed".into(),
                "Step Analysis Run 'web-abc-2-1' Status New: 'Failed' Previous: 'Running'".into()
            ))
        );
        assert_eq!(
            phase_event("Background", None, &observed("web-abc-2", "Running")),
            Some((
                false,
                "AnalysisRunRunning".into(),
                "Background Analysis Run 'web-abc-2' Status New: 'Running' Previous: 'NoPreviousStatus'".into()
            ))
        );
    }

    #[test]
    fn no_event_without_a_change() {
        let before = recorded("web-abc-2-1", "Running");
        assert_eq!(
            phase_event("Step", Some(&before), &observed("web-abc-2-1", "Running")),
            None
        );
        // A run with no status yet, or another run than the one recorded.
        assert_eq!(
            phase_event("Step", None, &observed("web-abc-2-1", "")),
            None
        );
        assert_eq!(
            phase_event("Step", Some(&before), &observed("web-abc-2-3", "Running")),
            None
        );
    }
}
