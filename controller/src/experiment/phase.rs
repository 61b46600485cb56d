//! The Experiment-wide rules, pure: whether it is ending, how many pods a
//! template wants, its phase and message from its templates and runs, its
//! conditions, when to look again, and the spec checks; Argo's
//! `experiments/experiment.go` (`calculateStatus`, `assessTemplates`,
//! `assessAnalysisRuns`, `calculateEnqueueDuration`),
//! `experiments/conditions.go`, `utils/experiment` and
//! `utils/conditions/experiments.go`.
//!
//! Time is an input (`now`), in whole seconds as the status records it.

use std::time::Duration;

use rollgate_analysis::assess::is_worse;
use rollout_core::{AnalysisPhase, Time};
use serde_json::Value;

use super::spec::{
    Condition, DEFAULT_PROGRESS_DEADLINE_SECONDS, ExperimentSpec, ExperimentStatus, TemplateCode,
    TemplateSpec,
};

/// The message of an Experiment ended by its required runs.
pub const REQUIRED_ANALYSIS_COMPLETED: &str = "Required AnalysisRuns completed";
/// The condition type of a spec Argo refuses.
pub const INVALID_SPEC: &str = "InvalidSpec";
/// The condition type that follows the Experiment's progress.
pub const PROGRESSING: &str = "Progressing";

/// An Event to record on the Experiment (or its Rollout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// A Warning rather than a Normal event.
    pub warning: bool,
    /// Such as `TemplateRunning`.
    pub reason: String,
    /// In Argo's words.
    pub message: String,
}

/// `spec.duration` read as Go's `time.ParseDuration` reads it; `None` when
/// unset or unreadable (the spec check reports the latter).
pub fn duration(spec: &ExperimentSpec) -> Option<Duration> {
    let text = spec.duration.as_deref().filter(|d| !d.is_empty())?;
    let nanos = rollout_core::intstr::go_duration_nanos(text)?;
    u64::try_from(nanos).ok().map(Duration::from_nanos)
}

/// Argo's `PassedDurations`: whether the duration has passed since
/// `availableAt`, and the time left when it has not.
pub fn passed_duration(
    spec: &ExperimentSpec,
    status: &ExperimentStatus,
    now: Time,
) -> (bool, Duration) {
    let (Some(duration), Some(available)) = (duration(spec), status.available_at) else {
        return (false, Duration::ZERO);
    };
    let ends = available + duration;
    (now > ends, ends.saturating_since(now))
}

/// Argo's `HasRequiredAnalysisRuns`.
pub fn has_required_runs(spec: &ExperimentSpec) -> bool {
    spec.analyses.iter().any(|a| a.required_for_completion)
}

/// Argo's `RequiredAnalysisRunsSuccessful`: there is a required run and
/// every required run succeeded.
pub fn required_runs_successful(spec: &ExperimentSpec, status: &ExperimentStatus) -> bool {
    let required: Vec<_> = spec
        .analyses
        .iter()
        .filter(|a| a.required_for_completion)
        .collect();
    !required.is_empty()
        && required.iter().all(|a| {
            status
                .analysis(&a.name)
                .is_some_and(|s| s.phase == Some(AnalysisPhase::Successful))
        })
}

/// Argo's `IsTerminating`: `terminate`, a completed phase, a failed or
/// errored template, a failed, errored or inconclusive run, or every
/// required run successful.
pub fn is_terminating(spec: &ExperimentSpec, status: &ExperimentStatus) -> bool {
    spec.terminate
        || status.phase.is_some_and(AnalysisPhase::is_completed)
        || status
            .template_statuses
            .iter()
            .any(|t| matches!(t.status, Some(TemplateCode::Failed | TemplateCode::Error)))
        || status.analysis_runs.iter().any(|r| {
            matches!(
                r.phase,
                Some(AnalysisPhase::Failed | AnalysisPhase::Error | AnalysisPhase::Inconclusive)
            )
        })
        || required_runs_successful(spec, status)
}

/// Argo's `CalculateTemplateReplicasCount`: 0 once the Experiment ends or
/// the template completed, else `replicas` (default 1).
pub fn template_replicas(
    spec: &ExperimentSpec,
    status: &ExperimentStatus,
    template: &TemplateSpec,
) -> i32 {
    let completed = status
        .template(&template.name)
        .and_then(|t| t.status)
        .is_some_and(TemplateCode::is_completed);
    if is_terminating(spec, status) || completed {
        0
    } else {
        template.replicas_or_default()
    }
}

/// `progressDeadlineSeconds`, or Argo's default of 600.
pub fn progress_deadline_seconds(spec: &ExperimentSpec) -> i32 {
    spec.progress_deadline_seconds
        .unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECONDS)
}

/// Argo's `assessTemplates`: the worst template state as a phase, with its
/// message (a template without a status counts as Progressing).
fn assess_templates(spec: &ExperimentSpec, status: &ExperimentStatus) -> (AnalysisPhase, String) {
    let mut worst = Some(TemplateCode::Successful);
    let mut message = String::new();
    for template in &spec.templates {
        match status.template(&template.name) {
            None => {
                if TemplateCode::is_worse(worst, Some(TemplateCode::Progressing)) {
                    worst = Some(TemplateCode::Progressing);
                }
            }
            Some(t) => {
                if TemplateCode::is_worse(worst, t.status) {
                    worst = t.status;
                    message.clone_from(&t.message);
                }
            }
        }
    }
    let phase = match worst {
        Some(TemplateCode::Progressing) => AnalysisPhase::Pending,
        Some(TemplateCode::Failed) => AnalysisPhase::Failed,
        Some(TemplateCode::Error) => AnalysisPhase::Error,
        Some(TemplateCode::Successful) => AnalysisPhase::Successful,
        Some(TemplateCode::Running) | None => AnalysisPhase::Running,
    };
    (phase, message)
}

/// Rank of a run's phase in Argo's `IsWorse` (an unset phase ranks as the best).
fn run_is_worse(current: Option<AnalysisPhase>, new: Option<AnalysisPhase>) -> bool {
    match (current, new) {
        (_, None) => false,
        (None, Some(new)) => is_worse(AnalysisPhase::Successful, new),
        (Some(current), Some(new)) => is_worse(current, new),
    }
}

/// Argo's `assessAnalysisRuns`: the worst run phase (Successful without
/// runs), Pending read as Running; Successful with Argo's message once
/// every required run succeeded and none is worse than Running.
fn assess_runs(spec: &ExperimentSpec, status: &ExperimentStatus) -> (AnalysisPhase, String) {
    let mut worst = Some(AnalysisPhase::Successful);
    let mut message = String::new();
    for analysis in &spec.analyses {
        let run = status.analysis(&analysis.name);
        let phase = run.and_then(|r| r.phase);
        if run_is_worse(worst, phase) {
            worst = phase;
            message = run.map(|r| r.message.clone()).unwrap_or_default();
        }
    }
    if required_runs_successful(spec, status) && run_is_worse(worst, Some(AnalysisPhase::Running)) {
        return (
            AnalysisPhase::Successful,
            REQUIRED_ANALYSIS_COMPLETED.to_owned(),
        );
    }
    let worst = match worst {
        Some(AnalysisPhase::Pending) | None => AnalysisPhase::Running,
        Some(phase) => phase,
    };
    (worst, message)
}

/// Argo's `calculateStatus` and `calculateExperimentConditions`: the phase,
/// message, `availableAt` and conditions of `new` (the status with this
/// look's template and run statuses) against `old` (the status read).
pub fn calculate(
    name: &str,
    spec: &ExperimentSpec,
    old: &ExperimentStatus,
    mut new: ExperimentStatus,
    now: Time,
) -> ExperimentStatus {
    match new.phase {
        None => new.phase = Some(AnalysisPhase::Pending),
        Some(AnalysisPhase::Pending | AnalysisPhase::Running) => {
            let (templates, template_message) = assess_templates(spec, &new);
            let (runs, runs_message) = assess_runs(spec, &new);
            if templates == AnalysisPhase::Running && new.available_at.is_none() {
                new.available_at = Some(now);
            }
            let (phase, message) = if templates.is_completed() {
                let runs_decide = runs.is_completed() || has_required_runs(spec);
                if templates == AnalysisPhase::Successful && runs_decide {
                    (runs, runs_message)
                } else {
                    (templates, template_message)
                }
            } else if (runs.is_completed() && runs != AnalysisPhase::Successful)
                || required_runs_successful(spec, &new)
            {
                (runs, runs_message)
            } else {
                (templates, template_message)
            };
            new.phase = Some(phase);
            new.message = message;
        }
        Some(_) => {}
    }
    conditions(name, spec, old, new, now)
}

/// A condition written now.
fn condition(kind: &str, status: &str, reason: &str, message: String, now: Time) -> Condition {
    Condition {
        kind: kind.to_owned(),
        status: status.to_owned(),
        last_update_time: Some(now),
        last_transition_time: Some(now),
        reason: reason.to_owned(),
        message,
    }
}

/// Argo's `SetExperimentCondition`: nothing when one of the type has the
/// same status and reason; the transition time kept when the status is
/// the same.
pub fn set_condition(status: &mut ExperimentStatus, mut condition: Condition) {
    if let Some(current) = status.condition(&condition.kind) {
        if current.status == condition.status && current.reason == condition.reason {
            return;
        }
        if current.status == condition.status {
            condition.last_transition_time = current.last_transition_time;
        }
    }
    status.conditions.retain(|c| c.kind != condition.kind);
    status.conditions.push(condition);
}

/// Argo's `ExperimentProgressing`: a template status more, or any count changed.
fn progressing(old: &ExperimentStatus, new: &ExperimentStatus) -> bool {
    if old.template_statuses.len() < new.template_statuses.len() {
        return true;
    }
    old.template_statuses.iter().any(|o| {
        new.template(&o.name).is_some_and(|n| {
            (
                o.replicas,
                o.updated_replicas,
                o.ready_replicas,
                o.available_replicas,
            ) != (
                n.replicas,
                n.updated_replicas,
                n.ready_replicas,
                n.available_replicas,
            )
        })
    })
}

/// Go's `%q` of an object name (names have nothing to escape).
fn quoted(name: &str) -> String {
    format!("{name:?}")
}

fn conditions(
    name: &str,
    spec: &ExperimentSpec,
    old: &ExperimentStatus,
    mut new: ExperimentStatus,
    now: Time,
) -> ExperimentStatus {
    let previous = old.condition(INVALID_SPEC);
    if previous.is_some() && verify_spec(name, spec, previous, now).is_none() {
        new.conditions.retain(|c| c.kind != INVALID_SPEC);
    }
    if new.phase == Some(AnalysisPhase::Successful) {
        let message = format!(
            "Experiment {} has successfully ran and completed.",
            quoted(name)
        );
        set_condition(
            &mut new,
            condition(PROGRESSING, "False", "ExperimentCompleted", message, now),
        );
    } else if progressing(old, &new) {
        let message = format!("Experiment {} is progressing.", quoted(name));
        let mut fresh = condition(PROGRESSING, "True", "ReplicaSetUpdated", message, now);
        if let Some(current) = old.condition(PROGRESSING) {
            if current.status == "True" {
                fresh.last_transition_time = current.last_transition_time;
            }
            new.conditions.retain(|c| c.kind != PROGRESSING);
        }
        set_condition(&mut new, fresh);
    } else if old.available_at.is_some() && !passed_duration(spec, old, now).0 {
        let message = format!("Experiment {} is running.", quoted(name));
        set_condition(
            &mut new,
            condition(PROGRESSING, "True", "NewReplicaSetAvailable", message, now),
        );
    }
    new
}

/// Argo's `calculateEnqueueDuration`: when to look again, the earliest of
/// the end of the duration and the progress deadline of a template short
/// of its pods; `None` once the Experiment is ending.
pub fn requeue_after(spec: &ExperimentSpec, new: &ExperimentStatus, now: Time) -> Option<Duration> {
    if is_terminating(spec, new) {
        return None;
    }
    let mut candidate = None;
    if new.available_at.is_some() && duration(spec).is_some() {
        let (passed, left) = passed_duration(spec, new, now);
        if !passed {
            candidate = Some(left);
        }
    }
    let deadline = Duration::from_secs(u64::try_from(progress_deadline_seconds(spec)).unwrap_or(0));
    for template in &spec.templates {
        let Some(status) = new.template(&template.name) else {
            continue;
        };
        if !matches!(
            status.status,
            Some(TemplateCode::Progressing | TemplateCode::Running)
        ) {
            continue;
        }
        let desired = template_replicas(spec, new, template);
        if let (true, Some(since)) = (
            status.available_replicas != desired,
            status.last_transition_time,
        ) {
            let left = (since + deadline).saturating_since(now);
            if candidate.is_none_or(|c| left < c) {
                candidate = Some(left);
            }
        }
    }
    candidate
}

/// Argo's `VerifyExperimentSpec`, in its order and words: every template
/// has a selector, not an empty one, `minReadySeconds` within the progress
/// deadline, a name, and a name no other template has. Rollgate checks
/// `duration` too (Argo ignores one it cannot read, so such an Experiment
/// never ends by its duration). `previous` is the InvalidSpec condition
/// recorded: kept, with a new update time, when the message is the same.
pub fn verify_spec(
    name: &str,
    spec: &ExperimentSpec,
    previous: Option<&Condition>,
    now: Time,
) -> Option<Condition> {
    let message = spec_problem(name, spec)?;
    if let Some(previous) = previous.filter(|p| p.message == message) {
        let mut kept = previous.clone();
        kept.last_update_time = Some(now);
        return Some(kept);
    }
    Some(condition(INVALID_SPEC, "True", INVALID_SPEC, message, now))
}

fn spec_problem(name: &str, spec: &ExperimentSpec) -> Option<String> {
    let mut seen = std::collections::BTreeSet::new();
    for (i, template) in spec.templates.iter().enumerate() {
        let Some(selector) = template.selector.as_ref().filter(|s| !s.is_null()) else {
            return Some(format!(
                "Rollout has missing field '.Spec.Templates[{i}].Selector'"
            ));
        };
        if selects_everything(selector) {
            return Some(format!(
                "This experiment is selecting all pods at index {i}. A non-empty selector is required."
            ));
        }
        if template.min_ready_seconds > progress_deadline_seconds(spec) {
            return Some(format!(
                "MinReadySeconds cannot be longer than ProgressDeadlineSeconds. Check template index {i}"
            ));
        }
        if template.name.is_empty() {
            return Some(format!(
                "Experiment {name} has empty template name at index {i}"
            ));
        }
        if !seen.insert(template.name.as_str()) {
            return Some(format!(
                "Experiment {name} has repeated template name '{}' in templates",
                template.name
            ));
        }
    }
    if spec.duration.as_deref().is_some_and(|d| !d.is_empty()) && duration(spec).is_none() {
        return Some(format!(
            "spec.duration: expected a duration such as 30s or 1h, found {:?}",
            spec.duration.as_deref().unwrap_or_default()
        ));
    }
    None
}

/// A selector with neither `matchLabels` nor `matchExpressions` (Go's
/// deep equality with an empty `LabelSelector`).
fn selects_everything(selector: &Value) -> bool {
    ["matchLabels", "matchExpressions"]
        .iter()
        .all(|k| selector.get(k).is_none_or(Value::is_null))
}

/// Argo's `recordEvent` after a status write: `Experiment<Phase>`,
/// "Experiment transitioned from A -> B", a Warning for Error, Failed and
/// Inconclusive.
pub fn phase_event(old: &ExperimentStatus, new: &ExperimentStatus) -> Option<Event> {
    if old.phase == new.phase {
        return None;
    }
    let text = |p: Option<AnalysisPhase>| p.map_or("", AnalysisPhase::as_str);
    Some(Event {
        warning: matches!(
            new.phase,
            Some(AnalysisPhase::Error | AnalysisPhase::Failed | AnalysisPhase::Inconclusive)
        ),
        reason: format!("Experiment{}", text(new.phase)),
        message: format!(
            "Experiment transitioned from {} -> {}",
            text(old.phase),
            text(new.phase)
        ),
    })
}

#[cfg(test)]
#[path = "phase_tests.rs"]
mod tests;
