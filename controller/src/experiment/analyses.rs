//! One analysis of an Experiment, pure: what to do with its AnalysisRun,
//! and the run itself, as Argo's `reconcileAnalysisRun`,
//! `ResolveAnalysisRunArgs` and `newAnalysisRun`
//! (`experiments/experiment.go`, `utils/template`) decide and build them.

use std::collections::BTreeMap;

use rollgate_analysis::AnalysisTemplate;
use rollgate_analysis::types::{API_VERSION, AnalysisRun, Argument, ObjectMeta, OwnerReference};
use rollout_core::{AnalysisPhase, Time};

use super::phase::{self, Event};
use super::spec::{AnalysisRunStatus, ExperimentAnalysis, ExperimentSpec, ExperimentStatus};
use crate::run::INSTANCE_LABEL;

/// What the run of an analysis is, as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedRun {
    /// `status.phase` (`None` before its first measurement).
    pub phase: Option<AnalysisPhase>,
    /// `status.message`.
    pub message: String,
    /// `spec.terminate`.
    pub terminate: bool,
}

/// What to do for one analysis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnalysisAction {
    /// Nothing to write; the status is as given.
    Status(AnalysisRunStatus),
    /// Create its run (the templates are available and it has none).
    Create,
    /// Read the run named in the status (the caller then calls [`follow`]).
    Follow(String),
}

/// Argo's `reconcileAnalysisRun`, up to the run's creation: before the
/// templates were available (at the start of this look) only the template
/// is checked (`template_missing`: Argo's words for why it is not there); a
/// run not created yet is created unless the Experiment is ending; a
/// completed one is left as recorded; otherwise the run is read.
pub fn analysis_action(
    analysis: &ExperimentAnalysis,
    old: &ExperimentStatus,
    terminating: bool,
    template_missing: Option<String>,
) -> AnalysisAction {
    let previous = old
        .analysis(&analysis.name)
        .cloned()
        .unwrap_or_else(|| AnalysisRunStatus {
            name: analysis.name.clone(),
            ..AnalysisRunStatus::default()
        });
    if old.available_at.is_none() {
        let mut status = previous;
        if let Some(missing) = template_missing {
            let kind = if analysis.is_cluster_scope() {
                "ClusterAnalysisTemplate"
            } else {
                "AnalysisTemplate"
            };
            status.phase = Some(AnalysisPhase::Error);
            status.message = format!(
                "{kind} verification failed for analysis '{}': {missing}",
                analysis.name
            );
        }
        return AnalysisAction::Status(status);
    }
    if previous.analysis_run.is_empty() {
        return if terminating {
            AnalysisAction::Status(previous)
        } else {
            AnalysisAction::Create
        };
    }
    if previous.phase.is_some_and(AnalysisPhase::is_completed) {
        return AnalysisAction::Status(previous);
    }
    AnalysisAction::Follow(previous.analysis_run)
}

/// What follows reading an analysis' run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Following {
    /// The status is this.
    Status(AnalysisRunStatus),
    /// Terminate the run (the Experiment is ending), with Argo's Event; the
    /// status stays as recorded.
    Terminate(Event),
}

/// The rest of Argo's `reconcileAnalysisRun`: a run that cannot be read is
/// an Error with the reason (`missing`); while the Experiment ends, a run
/// still going is terminated and the status left as it was; otherwise the
/// status takes the run's phase and message.
pub fn follow(
    analysis: &ExperimentAnalysis,
    previous: &AnalysisRunStatus,
    run: Result<&ObservedRun, String>,
    terminating: bool,
) -> Following {
    let mut status = previous.clone();
    let run = match run {
        Ok(run) => run,
        Err(missing) => {
            status.phase = Some(AnalysisPhase::Error);
            status.message = missing;
            return Following::Status(status);
        }
    };
    if terminating {
        if !run.phase.is_some_and(AnalysisPhase::is_completed) && !run.terminate {
            return Following::Terminate(Event {
                warning: false,
                reason: "AnalysisRunTerminating".into(),
                message: format!("Terminating {} ({})", analysis.name, previous.analysis_run),
            });
        }
        return Following::Status(status);
    }
    status.phase = run.phase;
    status.message.clone_from(&run.message);
    Following::Status(status)
}

/// Argo's deferred Event of `reconcileAnalysisRun`: `AnalysisRun<Phase>`,
/// "AnalysisRun 'NAME' transitioned from A -> B[: message]", a Warning for
/// Failed, Error and Inconclusive, when the phase changed to a set one.
/// Argo records it on the Experiment and, with an Experiment a Rollout
/// owns, as a Warning on the Rollout too.
pub fn phase_event(previous: &AnalysisRunStatus, new: &AnalysisRunStatus) -> Option<Event> {
    let phase = new.phase?;
    if previous.phase == Some(phase) {
        return None;
    }
    let mut message = format!(
        "AnalysisRun '{}' transitioned from {} -> {}",
        new.name,
        previous.phase.map_or("", AnalysisPhase::as_str),
        phase.as_str()
    );
    if !new.message.is_empty() {
        message = format!("{message}: {}", new.message);
    }
    Some(Event {
        warning: matches!(
            phase,
            AnalysisPhase::Failed | AnalysisPhase::Error | AnalysisPhase::Inconclusive
        ),
        reason: format!("AnalysisRun{}", phase.as_str()),
        message,
    })
}

/// What an Experiment's run arguments are resolved against.
#[derive(Debug, Clone, Copy)]
pub struct ArgContext<'a> {
    /// The Experiment's spec.
    pub spec: &'a ExperimentSpec,
    /// `status.availableAt` at the start of the look.
    pub available_at: Option<Time>,
    /// Each template's ReplicaSet: (template, ReplicaSet name, pod template hash).
    pub replica_sets: &'a [(String, String, String)],
}

/// Argo's `ResolveExperimentArgsValue` over one argument value:
/// `{{templates.NAME.podTemplateHash}}`, `{{templates.NAME.replicaset.name}}`,
/// `{{experiment.availableAt}}` and `{{experiment.finishedAt}}` (with a
/// duration); any other `{{...}}` is an error in Argo's words.
///
/// ```
/// use rollgate_controller::experiment::analyses::{ArgContext, resolve_value};
/// use rollgate_controller::experiment::spec::ExperimentSpec;
/// let spec = ExperimentSpec { duration: Some("1m".into()), ..Default::default() };
/// let rs = [("canary".to_owned(), "exp-canary".to_owned(), "6f7d".to_owned())];
/// let ctx = ArgContext { spec: &spec, available_at: "2026-12-02T06:00:00Z".parse().ok(), replica_sets: &rs };
/// assert_eq!(resolve_value("{{templates.canary.podTemplateHash}}", &ctx).unwrap(), "6f7d");
/// assert_eq!(resolve_value("{{ experiment.finishedAt }}", &ctx).unwrap(), "2026-12-02T06:01:00Z");
/// assert_eq!(resolve_value("{{args.x}}", &ctx).unwrap_err(), "failed to resolve {{args.x}}");
/// ```
pub fn resolve_value(text: &str, ctx: &ArgContext<'_>) -> Result<String, String> {
    let mut known: BTreeMap<String, String> = BTreeMap::new();
    if let Some(at) = ctx.available_at {
        known.insert("experiment.availableAt".into(), at.to_string());
        if let Some(duration) = phase::duration(ctx.spec) {
            known.insert("experiment.finishedAt".into(), (at + duration).to_string());
        }
    }
    for (template, name, hash) in ctx.replica_sets {
        known.insert(
            format!("templates.{template}.podTemplateHash"),
            hash.clone(),
        );
        known.insert(
            format!("templates.{template}.replicaset.name"),
            name.clone(),
        );
    }
    let mut out = String::new();
    let mut rest = text;
    let mut unresolved = None;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let tag = &after[..close];
        match known.get(tag.trim()) {
            Some(value) => out.push_str(value),
            None => unresolved = Some(format!("failed to resolve {{{{{tag}}}}}")),
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    unresolved.map_or(Ok(out), Err)
}

/// The arguments an analysis passes: each with its `value` resolved
/// ([`resolve_value`]); as in Argo, `valueFrom` is not passed on.
///
/// # Errors
///
/// The first value that does not resolve, in Argo's words.
pub fn resolve_args(args: &[Argument], ctx: &ArgContext<'_>) -> Result<Vec<Argument>, String> {
    args.iter()
        .map(|arg| {
            Ok(Argument {
                name: arg.name.clone(),
                value: arg
                    .value
                    .as_deref()
                    .map(|v| resolve_value(v, ctx))
                    .transpose()?,
                value_from: None,
            })
        })
        .collect()
}

/// The Experiment a run belongs to.
#[derive(Debug, Clone, Copy)]
pub struct RunOwner<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its namespace.
    pub namespace: &'a str,
    /// Its uid.
    pub uid: &'a str,
    /// Its labels (for the controller-instance id).
    pub labels: &'a BTreeMap<String, String>,
}

/// Argo's `newAnalysisRun`: `<experiment>-<analysis>`, labelled with the
/// Experiment's controller-instance id (when it has one) and
/// `analysisRunMetadata.labels`, annotated with its annotations,
/// controlled by the Experiment, of the spec the templates and the passed
/// arguments make ([`rollgate_analysis::run::spec_from_templates`]), with
/// the Experiment's `dryRun` and `measurementRetention` first.
///
/// # Errors
///
/// What [`rollgate_analysis::run::spec_from_templates`] finds wrong.
pub fn new_run(
    owner: &RunOwner<'_>,
    spec: &ExperimentSpec,
    analysis: &ExperimentAnalysis,
    args: &[Argument],
    templates: &[AnalysisTemplate],
) -> Result<AnalysisRun, rollgate_analysis::Error> {
    let run_spec = rollgate_analysis::run::spec_from_templates(
        args,
        templates,
        spec.dry_run.clone(),
        spec.measurement_retention.clone(),
    )?;
    let mut labels = BTreeMap::new();
    if let Some(id) = owner.labels.get(INSTANCE_LABEL).filter(|id| !id.is_empty()) {
        labels.insert(INSTANCE_LABEL.to_owned(), id.clone());
    }
    labels.extend(spec.analysis_run_metadata.labels.clone());
    Ok(AnalysisRun {
        api_version: API_VERSION.into(),
        kind: "AnalysisRun".into(),
        metadata: ObjectMeta {
            name: format!("{}-{}", owner.name, analysis.name),
            namespace: Some(owner.namespace.to_owned()),
            uid: None,
            labels,
            annotations: spec.analysis_run_metadata.annotations.clone(),
            owner_references: vec![OwnerReference {
                api_version: API_VERSION.into(),
                kind: "Experiment".into(),
                name: owner.name.to_owned(),
                uid: owner.uid.to_owned(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }],
        },
        spec: run_spec,
        status: None,
    })
}

#[cfg(test)]
#[path = "analyses_tests.rs"]
mod tests;
