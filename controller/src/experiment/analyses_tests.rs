//! An analysis' decisions and run against the cases of Argo's
//! `experiments/analysisrun_test.go`.

use super::*;
use rollgate_analysis::AnalysisTemplate;

fn analysis(name: &str) -> ExperimentAnalysis {
    ExperimentAnalysis {
        name: name.into(),
        template_name: name.into(),
        ..ExperimentAnalysis::default()
    }
}

fn available() -> ExperimentStatus {
    ExperimentStatus {
        phase: Some(AnalysisPhase::Running),
        available_at: Some(Time::from_unix_seconds(1_800_000_000)),
        ..ExperimentStatus::default()
    }
}

fn recorded(run: &str, phase: Option<AnalysisPhase>) -> AnalysisRunStatus {
    AnalysisRunStatus {
        name: "success-rate".into(),
        analysis_run: run.into(),
        phase,
        message: String::new(),
    }
}

/// Argo's `TestDontStartAnalysisRunIfNotAvailable`,
/// `TestAnalysisTemplateNotExists` and `TestClusterAnalysisTemplateNotExists`.
#[test]
fn before_the_templates_are_available_only_the_template_is_checked() {
    let waiting = ExperimentStatus::default();
    assert_eq!(
        analysis_action(&analysis("success-rate"), &waiting, false, None),
        AnalysisAction::Status(AnalysisRunStatus {
            name: "success-rate".into(),
            ..AnalysisRunStatus::default()
        })
    );
    let missing = "analysistemplate.argoproj.io \"success-rate\" not found".to_owned();
    let AnalysisAction::Status(status) =
        analysis_action(&analysis("success-rate"), &waiting, false, Some(missing))
    else {
        panic!("expected a status");
    };
    assert_eq!(status.phase, Some(AnalysisPhase::Error));
    assert_eq!(
        status.message,
        "AnalysisTemplate verification failed for analysis 'success-rate': analysistemplate.argoproj.io \"success-rate\" not found"
    );
    let mut cluster = analysis("success-rate");
    cluster.cluster_scope = Some(true);
    let AnalysisAction::Status(status) =
        analysis_action(&cluster, &waiting, false, Some("gone".into()))
    else {
        panic!("expected a status");
    };
    assert!(
        status
            .message
            .starts_with("ClusterAnalysisTemplate verification failed")
    );
}

/// Argo's `TestCreateAnalysisRunWhenAvailable` and, ending, no run is created.
#[test]
fn a_run_is_created_once_available_unless_ending() {
    assert_eq!(
        analysis_action(&analysis("success-rate"), &available(), false, None),
        AnalysisAction::Create
    );
    assert!(matches!(
        analysis_action(&analysis("success-rate"), &available(), true, None),
        AnalysisAction::Status(_)
    ));
    let mut status = available();
    status.analysis_runs = vec![recorded("foo-success-rate", Some(AnalysisPhase::Running))];
    assert_eq!(
        analysis_action(&analysis("success-rate"), &status, false, None),
        AnalysisAction::Follow("foo-success-rate".into())
    );
    status.analysis_runs = vec![recorded(
        "foo-success-rate",
        Some(AnalysisPhase::Successful),
    )];
    assert!(matches!(
        analysis_action(&analysis("success-rate"), &status, false, None),
        AnalysisAction::Status(s) if s.phase == Some(AnalysisPhase::Successful)
    ));
}

/// Argo's `TestAnalysisRunSuccessful` and `TestTerminateAnalysisRuns`.
#[test]
fn a_run_is_followed_and_terminated_when_the_experiment_ends() {
    let previous = recorded("foo-success-rate", Some(AnalysisPhase::Running));
    let run = ObservedRun {
        phase: Some(AnalysisPhase::Successful),
        message: "done".into(),
        terminate: false,
    };
    assert_eq!(
        follow(&analysis("success-rate"), &previous, Ok(&run), false),
        Following::Status(AnalysisRunStatus {
            phase: Some(AnalysisPhase::Successful),
            message: "done".into(),
            ..previous.clone()
        })
    );
    let going = ObservedRun {
        phase: Some(AnalysisPhase::Running),
        message: String::new(),
        terminate: false,
    };
    assert_eq!(
        follow(&analysis("success-rate"), &previous, Ok(&going), true),
        Following::Terminate(Event {
            warning: false,
            reason: "AnalysisRunTerminating".into(),
            message: "Terminating success-rate (foo-success-rate)".into(),
        })
    );
    let asked = ObservedRun {
        terminate: true,
        ..going
    };
    assert_eq!(
        follow(&analysis("success-rate"), &previous, Ok(&asked), true),
        Following::Status(previous.clone())
    );
    let gone = follow(
        &analysis("success-rate"),
        &previous,
        Err("analysisruns.argoproj.io \"foo-success-rate\" not found".into()),
        false,
    );
    assert!(matches!(gone, Following::Status(s) if s.phase == Some(AnalysisPhase::Error)));
}

#[test]
fn a_run_phase_change_is_an_event() {
    let before = recorded("foo-success-rate", Some(AnalysisPhase::Running));
    let mut after = before.clone();
    after.phase = Some(AnalysisPhase::Failed);
    after.message = "Metric \"rate\" assessed Failed".into();
    assert_eq!(
        phase_event(&before, &after),
        Some(Event {
            warning: true,
            reason: "AnalysisRunFailed".into(),
            message: "AnalysisRun 'success-rate' transitioned from Running -> Failed: Metric \"rate\" assessed Failed".into(),
        })
    );
    assert_eq!(phase_event(&before, &before), None);
    assert_eq!(phase_event(&before, &recorded("x", None)), None);
}

/// Argo's `TestCreateAnalysisRunWithArg` and `TestAnalysisRunFailToResolveArg`.
#[test]
fn argument_values_resolve_from_the_templates_and_times() {
    let spec = ExperimentSpec::default();
    let rs = [(
        "baseline".to_owned(),
        "foo-baseline".to_owned(),
        "5c4b".to_owned(),
    )];
    let ctx = ArgContext {
        spec: &spec,
        available_at: None,
        replica_sets: &rs,
    };
    let args = [Argument {
        name: "rs".into(),
        value: Some(
            "{{templates.baseline.replicaset.name}}/{{templates.baseline.podTemplateHash}}".into(),
        ),
        value_from: None,
    }];
    assert_eq!(
        resolve_args(&args, &ctx).unwrap()[0].value.as_deref(),
        Some("foo-baseline/5c4b")
    );
    let unknown = [Argument {
        name: "rs".into(),
        value: Some("{{templates.canary.podTemplateHash}}".into()),
        value_from: None,
    }];
    assert_eq!(
        resolve_args(&unknown, &ctx).unwrap_err(),
        "failed to resolve {{templates.canary.podTemplateHash}}"
    );
    // Not available yet: no times.
    assert!(resolve_value("{{experiment.availableAt}}", &ctx).is_err());
}

/// Argo's `TestCreateAnalysisRunWithInstanceID` and
/// `TestCreateAnalysisRunWithMetadataAndDryRun`.
#[test]
fn the_run_is_named_labelled_and_owned_as_argos() {
    let mut spec = ExperimentSpec::default();
    spec.analysis_run_metadata
        .labels
        .insert("team".into(), "shop".into());
    spec.analysis_run_metadata
        .annotations
        .insert("note".into(), "exp".into());
    spec.dry_run = serde_json::from_value(serde_json::json!([{"metricName": "ok"}])).unwrap();
    let template = AnalysisTemplate::from_value(serde_json::json!({
        "kind": "AnalysisTemplate", "metadata": {"name": "success-rate"},
        "spec": {"args": [{"name": "hash"}], "metrics": [{"name": "ok",
            "provider": {"web": {"url": "http://127.0.0.1/{{args.hash}}"}}}]}}))
    .unwrap();
    let labels = BTreeMap::from([(INSTANCE_LABEL.to_owned(), "blue".to_owned())]);
    let owner = RunOwner {
        name: "foo",
        namespace: "shop",
        uid: "u-1",
        labels: &labels,
    };
    let args = [Argument {
        name: "hash".into(),
        value: Some("5c4b".into()),
        value_from: None,
    }];
    let run = new_run(
        &owner,
        &spec,
        &analysis("success-rate"),
        &args,
        std::slice::from_ref(&template),
    )
    .unwrap();
    assert_eq!(run.metadata.name, "foo-success-rate");
    assert_eq!(run.metadata.labels[INSTANCE_LABEL], "blue");
    assert_eq!(run.metadata.labels["team"], "shop");
    assert_eq!(run.metadata.annotations["note"], "exp");
    assert_eq!(run.metadata.owner_references[0].kind, "Experiment");
    assert_eq!(run.metadata.owner_references[0].uid, "u-1");
    assert_eq!(run.spec.args[0].value.as_deref(), Some("5c4b"));
    assert_eq!(run.spec.dry_run[0].metric_name, "ok");
    // An argument the template needs and nobody passes.
    let err = new_run(&owner, &spec, &analysis("success-rate"), &[], &[template]).unwrap_err();
    assert!(err.to_string().contains("args.hash"), "{err}");
}
