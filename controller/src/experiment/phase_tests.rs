//! The Experiment-wide rules against the cases of Argo's
//! `experiments/experiment_test.go`, `analysisrun_test.go`,
//! `conditions_test.go` and `utils/experiment/experiment_test.go`.

use super::*;
use crate::experiment::spec::{AnalysisRunStatus, ExperimentAnalysis, TemplateStatus};

const NOW: u64 = 1_800_000_000;

fn now() -> Time {
    Time::from_unix_seconds(NOW)
}

fn ago(seconds: u64) -> Time {
    Time::from_unix_seconds(NOW - seconds)
}

fn template(name: &str) -> TemplateSpec {
    serde_json::from_value(serde_json::json!({
        "name": name, "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}}
    }))
    .unwrap()
}

fn spec(templates: &[&str], duration: Option<&str>) -> ExperimentSpec {
    ExperimentSpec {
        templates: templates.iter().map(|t| template(t)).collect(),
        duration: duration.map(Into::into),
        ..ExperimentSpec::default()
    }
}

fn analysis(name: &str, required: bool) -> ExperimentAnalysis {
    ExperimentAnalysis {
        name: name.into(),
        template_name: name.into(),
        required_for_completion: required,
        ..ExperimentAnalysis::default()
    }
}

fn template_status(name: &str, code: TemplateCode, available: i32) -> TemplateStatus {
    TemplateStatus {
        name: name.into(),
        status: Some(code),
        replicas: available,
        updated_replicas: available,
        ready_replicas: available,
        available_replicas: available,
        ..TemplateStatus::default()
    }
}

fn run_status(name: &str, phase: AnalysisPhase) -> AnalysisRunStatus {
    AnalysisRunStatus {
        name: name.into(),
        analysis_run: format!("exp-{name}"),
        phase: Some(phase),
        message: String::new(),
    }
}

#[test]
fn a_new_experiment_becomes_pending_and_nothing_else() {
    let spec = spec(&["bar"], None);
    let new = calculate(
        "foo",
        &spec,
        &ExperimentStatus::default(),
        ExperimentStatus::default(),
        now(),
    );
    assert_eq!(new.phase, Some(AnalysisPhase::Pending));
    assert_eq!(new.available_at, None);
}

#[test]
fn running_templates_set_available_at_once() {
    let spec = spec(&["bar"], Some("60s"));
    let old = ExperimentStatus {
        phase: Some(AnalysisPhase::Pending),
        ..ExperimentStatus::default()
    };
    let mut new = old.clone();
    new.template_statuses = vec![template_status("bar", TemplateCode::Running, 1)];
    let new = calculate("foo", &spec, &old, new, now());
    assert_eq!(new.phase, Some(AnalysisPhase::Running));
    assert_eq!(new.available_at, Some(now()));
    // The Progressing condition follows the counts that changed.
    let progressing = new.condition(PROGRESSING).unwrap();
    assert_eq!(
        (
            progressing.status.as_str(),
            progressing.reason.as_str(),
            progressing.message.as_str()
        ),
        (
            "True",
            "ReplicaSetUpdated",
            "Experiment \"foo\" is progressing."
        )
    );
}

#[test]
fn the_duration_passes_strictly_after_it_ends() {
    let spec = spec(&["bar"], Some("60s"));
    let status = |at| ExperimentStatus {
        available_at: Some(at),
        ..ExperimentStatus::default()
    };
    assert_eq!(
        passed_duration(&spec, &status(ago(30)), now()),
        (false, Duration::from_secs(30))
    );
    assert!(!passed_duration(&spec, &status(ago(60)), now()).0);
    assert!(passed_duration(&spec, &status(ago(61)), now()).0);
    // No duration, or not available yet: never.
    assert!(!passed_duration(&ExperimentSpec::default(), &status(ago(6000)), now()).0);
    assert!(!passed_duration(&spec, &ExperimentStatus::default(), now()).0);
}

#[test]
fn successful_templates_make_a_successful_experiment_with_argos_condition() {
    let spec = spec(&["bar", "baz"], Some("60s"));
    let old = ExperimentStatus {
        phase: Some(AnalysisPhase::Running),
        available_at: Some(ago(61)),
        template_statuses: vec![
            template_status("bar", TemplateCode::Running, 1),
            template_status("baz", TemplateCode::Running, 1),
        ],
        ..ExperimentStatus::default()
    };
    let mut new = old.clone();
    new.template_statuses = vec![
        template_status("bar", TemplateCode::Successful, 1),
        template_status("baz", TemplateCode::Successful, 1),
    ];
    let new = calculate("foo", &spec, &old, new, now());
    assert_eq!(new.phase, Some(AnalysisPhase::Successful));
    let c = new.condition(PROGRESSING).unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_str(), c.message.as_str()),
        (
            "False",
            "ExperimentCompleted",
            "Experiment \"foo\" has successfully ran and completed."
        )
    );
}

#[test]
fn the_worst_template_decides_with_its_message() {
    let spec = spec(&["bar", "baz"], None);
    let old = ExperimentStatus {
        phase: Some(AnalysisPhase::Running),
        ..ExperimentStatus::default()
    };
    let mut new = old.clone();
    let mut failed = template_status("baz", TemplateCode::Failed, 0);
    failed.message = "Template 'baz' exceeded its progressDeadlineSeconds (600)".into();
    new.template_statuses = vec![template_status("bar", TemplateCode::Running, 1), failed];
    let new = calculate("foo", &spec, &old, new, now());
    assert_eq!(new.phase, Some(AnalysisPhase::Failed));
    assert_eq!(
        new.message,
        "Template 'baz' exceeded its progressDeadlineSeconds (600)"
    );
}

/// Argo's `TestAssessAnalysisRunStatusesAfterTemplateSuccess`: successful
/// templates with required runs defer to the runs.
#[test]
fn successful_templates_defer_to_required_runs() {
    let mut spec = spec(&["bar"], Some("60s"));
    spec.analyses = vec![analysis("success-rate", true), analysis("latency", true)];
    for (first, second, expected) in [
        (
            AnalysisPhase::Successful,
            AnalysisPhase::Successful,
            AnalysisPhase::Successful,
        ),
        (
            AnalysisPhase::Failed,
            AnalysisPhase::Successful,
            AnalysisPhase::Failed,
        ),
        (
            AnalysisPhase::Successful,
            AnalysisPhase::Failed,
            AnalysisPhase::Failed,
        ),
        (
            AnalysisPhase::Running,
            AnalysisPhase::Successful,
            AnalysisPhase::Running,
        ),
        (
            AnalysisPhase::Inconclusive,
            AnalysisPhase::Error,
            AnalysisPhase::Error,
        ),
    ] {
        let old = ExperimentStatus {
            phase: Some(AnalysisPhase::Running),
            available_at: Some(ago(61)),
            template_statuses: vec![template_status("bar", TemplateCode::Successful, 0)],
            ..ExperimentStatus::default()
        };
        let mut new = old.clone();
        new.analysis_runs = vec![
            run_status("success-rate", first),
            run_status("latency", second),
        ];
        let new = calculate("foo", &spec, &old, new, now());
        assert_eq!(new.phase, Some(expected), "{first:?}, {second:?}");
    }
}

/// Argo's `TestFailExperimentWhenAnalysisFails`: a failed run fails the
/// Experiment while its templates still run.
#[test]
fn a_failed_run_fails_a_running_experiment() {
    let mut spec = spec(&["bar"], Some("5m"));
    spec.analyses = vec![analysis("success-rate", false)];
    let old = ExperimentStatus {
        phase: Some(AnalysisPhase::Running),
        available_at: Some(ago(60)),
        template_statuses: vec![template_status("bar", TemplateCode::Running, 1)],
        ..ExperimentStatus::default()
    };
    let mut new = old.clone();
    let mut run = run_status("success-rate", AnalysisPhase::Failed);
    run.message = "Metric \"rate\" assessed Failed".into();
    new.analysis_runs = vec![run];
    let new = calculate("foo", &spec, &old, new, now());
    assert_eq!(new.phase, Some(AnalysisPhase::Failed));
    assert_eq!(new.message, "Metric \"rate\" assessed Failed");
    assert!(is_terminating(&spec, &new));
}

/// Argo's `TestCompleteExperimentOnSuccessfulRequiredAnalysisRun` and
/// `TestDoNotCompleteExperimentWithRemainingRequiredAnalysisRun`.
#[test]
fn required_runs_end_the_experiment_when_all_succeed() {
    let mut spec = spec(&["bar"], None);
    spec.analyses = vec![
        analysis("success-rate", true),
        analysis("success-rate-2", true),
    ];
    let old = ExperimentStatus {
        phase: Some(AnalysisPhase::Running),
        available_at: Some(ago(60)),
        template_statuses: vec![template_status("bar", TemplateCode::Running, 1)],
        ..ExperimentStatus::default()
    };
    let mut new = old.clone();
    new.analysis_runs = vec![
        run_status("success-rate", AnalysisPhase::Successful),
        run_status("success-rate-2", AnalysisPhase::Running),
    ];
    let still = calculate("foo", &spec, &old, new.clone(), now());
    assert_eq!(still.phase, Some(AnalysisPhase::Running));
    assert!(!is_terminating(&spec, &still));
    new.analysis_runs[1].phase = Some(AnalysisPhase::Successful);
    let done = calculate("foo", &spec, &old, new, now());
    assert_eq!(done.phase, Some(AnalysisPhase::Successful));
    assert_eq!(done.message, REQUIRED_ANALYSIS_COMPLETED);
    assert!(is_terminating(&spec, &done));
}

/// Argo's `TestCompleteExperimentWithNoRequiredAnalysis`: without required
/// runs, successful templates end it even while a run goes on.
#[test]
fn runs_not_required_do_not_hold_a_successful_experiment() {
    let mut spec = spec(&["bar"], Some("60s"));
    spec.analyses = vec![analysis("success-rate", false)];
    let old = ExperimentStatus {
        phase: Some(AnalysisPhase::Running),
        available_at: Some(ago(61)),
        ..ExperimentStatus::default()
    };
    let mut new = old.clone();
    new.template_statuses = vec![template_status("bar", TemplateCode::Successful, 0)];
    new.analysis_runs = vec![run_status("success-rate", AnalysisPhase::Running)];
    let new = calculate("foo", &spec, &old, new, now());
    assert_eq!(new.phase, Some(AnalysisPhase::Successful));
}

/// Argo's `TestIsTerminating` and `TestCalculateTemplateReplicasCount`.
#[test]
fn what_ends_an_experiment_and_the_replicas_it_wants() {
    let mut spec = spec(&["bar"], None);
    spec.templates[0].replicas = Some(3);
    let running = ExperimentStatus {
        phase: Some(AnalysisPhase::Running),
        ..ExperimentStatus::default()
    };
    assert!(!is_terminating(&spec, &running));
    assert_eq!(template_replicas(&spec, &running, &spec.templates[0]), 3);
    let mut terminated = spec.clone();
    terminated.terminate = true;
    assert!(is_terminating(&terminated, &running));
    assert_eq!(
        template_replicas(&terminated, &running, &terminated.templates[0]),
        0
    );
    let mut errored = running.clone();
    errored.template_statuses = vec![template_status("other", TemplateCode::Error, 0)];
    assert!(is_terminating(&spec, &errored));
    let mut inconclusive = running.clone();
    inconclusive.analysis_runs = vec![run_status("a", AnalysisPhase::Inconclusive)];
    assert!(is_terminating(&spec, &inconclusive));
    let mut finished = running.clone();
    finished.template_statuses = vec![template_status("bar", TemplateCode::Successful, 3)];
    assert!(!is_terminating(&spec, &finished));
    assert_eq!(template_replicas(&spec, &finished, &spec.templates[0]), 0);
    // The default is one pod.
    spec.templates[0].replicas = None;
    assert_eq!(template_replicas(&spec, &running, &spec.templates[0]), 1);
}

/// Argo's `TestTemplateIsWorse`.
#[test]
fn template_states_rank_as_argos() {
    use TemplateCode::*;
    assert!(TemplateCode::is_worse(Some(Successful), Some(Running)));
    assert!(TemplateCode::is_worse(Some(Running), Some(Progressing)));
    assert!(TemplateCode::is_worse(Some(Progressing), Some(Error)));
    assert!(TemplateCode::is_worse(Some(Error), Some(Failed)));
    assert!(!TemplateCode::is_worse(Some(Failed), Some(Successful)));
    assert!(!TemplateCode::is_worse(None, Some(Successful)));
}

/// Argo's `TestRequeueAfterDuration`, `TestDontRequeueWithoutDuration` and
/// `TestRequeueAfterProgressDeadlineSeconds`.
#[test]
fn it_wakes_at_the_end_of_the_duration_or_a_progress_deadline() {
    let with_duration = spec(&["bar"], Some("30s"));
    let mut status = ExperimentStatus {
        phase: Some(AnalysisPhase::Running),
        available_at: Some(ago(10)),
        template_statuses: vec![template_status("bar", TemplateCode::Running, 1)],
        ..ExperimentStatus::default()
    };
    assert_eq!(
        requeue_after(&with_duration, &status, now()),
        Some(Duration::from_secs(20))
    );
    assert_eq!(requeue_after(&spec(&["bar"], None), &status, now()), None);
    // A template short of its pods: its deadline, when sooner.
    let mut deadline = spec(&["bar"], None);
    deadline.progress_deadline_seconds = Some(30);
    status.template_statuses[0] = TemplateStatus {
        last_transition_time: Some(ago(10)),
        ..template_status("bar", TemplateCode::Progressing, 0)
    };
    assert_eq!(
        requeue_after(&deadline, &status, now()),
        Some(Duration::from_secs(20))
    );
    // Ending: no wake.
    deadline.terminate = true;
    assert_eq!(requeue_after(&deadline, &status, now()), None);
}

/// Argo's `VerifyExperimentSpec` cases, in its words.
#[test]
fn an_invalid_spec_gets_argos_condition() {
    let message = |spec: &ExperimentSpec| {
        verify_spec("foo", spec, None, now()).map(|c| (c.reason, c.message))
    };
    let mut s = spec(&["bar", "bar"], None);
    assert_eq!(
        message(&s),
        Some((
            "InvalidSpec".into(),
            "Experiment foo has repeated template name 'bar' in templates".into()
        ))
    );
    s.templates[1].name = String::new();
    assert_eq!(
        message(&s).unwrap().1,
        "Experiment foo has empty template name at index 1"
    );
    s.templates[1].selector = None;
    assert_eq!(
        message(&s).unwrap().1,
        "Rollout has missing field '.Spec.Templates[1].Selector'"
    );
    s.templates[1].selector = Some(serde_json::json!({}));
    assert_eq!(
        message(&s).unwrap().1,
        "This experiment is selecting all pods at index 1. A non-empty selector is required."
    );
    let mut slow = spec(&["bar"], None);
    slow.templates[0].min_ready_seconds = 601;
    assert_eq!(
        message(&slow).unwrap().1,
        "MinReadySeconds cannot be longer than ProgressDeadlineSeconds. Check template index 0"
    );
    // Rollgate's own: a duration that is not one.
    let bad = spec(&["bar"], Some("soon"));
    assert_eq!(
        message(&bad).unwrap().1,
        "spec.duration: expected a duration such as 30s or 1h, found \"soon\""
    );
    assert_eq!(message(&spec(&["bar"], Some("20s"))), None);
    // The same problem keeps its transition time.
    let first = verify_spec("foo", &bad, None, ago(100)).unwrap();
    let again = verify_spec("foo", &bad, Some(&first), now()).unwrap();
    assert_eq!(again.last_transition_time, Some(ago(100)));
    assert_eq!(again.last_update_time, Some(now()));
}

#[test]
fn a_phase_change_is_an_event_in_argos_words() {
    let old = ExperimentStatus {
        phase: Some(AnalysisPhase::Running),
        ..ExperimentStatus::default()
    };
    let new = ExperimentStatus {
        phase: Some(AnalysisPhase::Failed),
        ..ExperimentStatus::default()
    };
    assert_eq!(
        phase_event(&old, &new),
        Some(Event {
            warning: true,
            reason: "ExperimentFailed".into(),
            message: "Experiment transitioned from Running -> Failed".into(),
        })
    );
    assert_eq!(phase_event(&new, &new), None);
    let first = phase_event(&ExperimentStatus::default(), &old).unwrap();
    assert_eq!(first.message, "Experiment transitioned from  -> Running");
    assert!(!first.warning);
}

/// Argo's `TestUpdateProgressingLastUpdateTime`: a change of counts keeps
/// the Progressing condition's transition time and renews its update time.
#[test]
fn progress_renews_the_condition_but_keeps_its_transition() {
    let spec = spec(&["bar"], None);
    let mut old = ExperimentStatus {
        phase: Some(AnalysisPhase::Pending),
        template_statuses: vec![template_status("bar", TemplateCode::Progressing, 0)],
        ..ExperimentStatus::default()
    };
    old.conditions = vec![Condition {
        kind: PROGRESSING.into(),
        status: "True".into(),
        last_update_time: Some(ago(50)),
        last_transition_time: Some(ago(50)),
        reason: "ReplicaSetUpdated".into(),
        message: "Experiment \"foo\" is progressing.".into(),
    }];
    let mut new = old.clone();
    new.template_statuses[0].replicas = 1;
    let new = calculate("foo", &spec, &old, new, now());
    let c = new.condition(PROGRESSING).unwrap();
    assert_eq!(c.last_transition_time, Some(ago(50)));
    assert_eq!(c.last_update_time, Some(now()));
}
