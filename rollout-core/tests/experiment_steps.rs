//! `experiment` steps as Argo's `reconcileExperiments`,
//! `completedCurrentCanaryStep` and `calculateWeightDestinationsFromExperiment`
//! run them; the cases follow Argo's `rollout/experiment_test.go` and the
//! experiment case of `rollout/trafficrouting_test.go`.
//!
//! The Rollout `web` updates from ReplicaSet `old` (revision 1, stable) to
//! `new` (revision 2); its steps are `setWeight: 10`, an experiment with a
//! weighted canary template and an unweighted stable one, `setWeight: 20`.

use rollout_core::steps::step_hash;
use rollout_core::{
    AnalysisPhase, Decision, ExperimentState, ExperimentTemplateState, Observations,
    ReplicaSetState, Rollout, Time, decide,
};
use serde_json::{Value, json};

const NAME: &str = "web-new-2-1";

fn steps() -> Value {
    json!([
        {"setWeight": 10},
        {"experiment": {"duration": "1m", "templates": [
            {"name": "canary-preview", "specRef": "canary", "replicas": 1, "weight": 5},
            {"name": "baseline", "specRef": "stable", "replicas": 1}]}},
        {"setWeight": 20}
    ])
}

/// The Rollout at step `index` with `extra` merged into its status.
fn rollout(index: i64, extra: Value) -> Rollout {
    let mut r = Rollout::from_value(
        json!({"metadata": {"name": "web", "namespace": "shop", "generation": 1,
                "annotations": {"rollout.argoproj.io/revision": "2"}},
            "spec": {"replicas": 10, "strategy": {"canary": {
                "canaryService": "web-canary", "stableService": "web-stable",
                "trafficRouting": {"plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "web"}}},
                "steps": steps()}}}}),
        "web.yaml",
    )
    .unwrap();
    let hash = step_hash(&r.canary().unwrap().steps);
    let mut status = json!({"stableRS": "old", "currentPodHash": "new", "currentStepIndex": index,
        "currentStepHash": hash, "observedGeneration": "1",
        "canary": {"weights": {
            "canary": {"weight": 10, "podTemplateHash": "new", "serviceName": "web-canary"},
            "stable": {"weight": 90, "podTemplateHash": "old", "serviceName": "web-stable"}}}});
    merge(&mut status, extra);
    r.status = Some(serde_json::from_value(status).unwrap());
    r
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

fn rs(hash: &str, revision: u64, replicas: i32) -> ReplicaSetState {
    ReplicaSetState {
        pod_template_hash: hash.into(),
        revision,
        spec_replicas: replicas,
        replicas,
        ready_replicas: replicas,
        available_replicas: replicas,
        ..Default::default()
    }
}

fn experiment(name: &str, phase: Option<AnalysisPhase>) -> ExperimentState {
    ExperimentState {
        name: name.into(),
        phase,
        message: phase
            .filter(|p| *p == AnalysisPhase::Failed)
            .map(|_| "metric \"errors\" assessed Failed".into()),
        terminate: false,
        templates: vec![
            ExperimentTemplateState {
                name: "canary-preview".into(),
                service_name: Some("web-new-2-1-canary-preview".into()),
                pod_template_hash: Some("prev".into()),
            },
            ExperimentTemplateState {
                name: "baseline".into(),
                service_name: None,
                pod_template_hash: Some("base".into()),
            },
        ],
    }
}

fn seen(experiments: Vec<ExperimentState>) -> Observations {
    Observations {
        current_pod_hash: "new".into(),
        replica_sets: vec![rs("old", 1, 10), rs("new", 2, 1)],
        experiments,
        ..Default::default()
    }
}

fn decided(r: &Rollout, seen: &Observations) -> Decision {
    decide(r, seen, Time::from_unix_seconds(1_000)).unwrap()
}

fn current(d: &Decision) -> Option<&str> {
    d.status.canary.current_experiment.as_deref()
}

#[test]
fn the_step_asks_for_its_experiment_named_as_argo_names_it() {
    // TestRolloutCreateExperiment: nothing observed yet.
    let d = decided(&rollout(1, json!({})), &seen(vec![]));
    let run = d.experiments.run.as_ref().expect("an Experiment to create");
    assert_eq!(run.name, NAME);
    assert_eq!(run.step_index, 1);
    assert_eq!(run.revision, 2);
    assert_eq!(run.pod_template_hash, "new");
    assert_eq!(run.step.templates.len(), 2);
    assert_eq!(run.step.duration.as_deref(), Some("1m"));
    assert_eq!(current(&d), Some(NAME));
    assert_eq!(d.status.current_step_index, Some(1));
    assert!(d.experiments.cancel.is_empty());
}

#[test]
fn no_experiment_before_the_stable_replica_set_exists() {
    // TestRolloutDoNotCreateExperimentWithoutStableRS.
    let mut seen = seen(vec![]);
    seen.replica_sets.retain(|rs| rs.pod_template_hash != "old");
    let d = decided(&rollout(1, json!({})), &seen);
    assert_eq!(d.experiments.run, None);
    assert_eq!(current(&d), None);
}

#[test]
fn a_running_experiment_holds_the_step() {
    // TestRolloutExperimentProcessingDoNothing.
    let r = rollout(1, json!({"canary": {"currentExperiment": NAME}}));
    let d = decided(
        &r,
        &seen(vec![experiment(NAME, Some(AnalysisPhase::Running))]),
    );
    assert_eq!(d.status.current_step_index, Some(1));
    assert_eq!(current(&d), Some(NAME));
    assert!(d.experiments.cancel.is_empty() && d.experiments.past.is_empty());
}

#[test]
fn a_successful_experiment_completes_the_step() {
    // TestRolloutExperimentFinishedIncrementStep: the step advances and
    // currentExperiment is cleared.
    let r = rollout(1, json!({"canary": {"currentExperiment": NAME}}));
    let d = decided(
        &r,
        &seen(vec![experiment(NAME, Some(AnalysisPhase::Successful))]),
    );
    assert_eq!(d.status.current_step_index, Some(2));
    assert_eq!(current(&d), None);
    assert_eq!(d.experiments.run, None);
    assert!(
        d.events
            .iter()
            .any(|e| e.reason == "RolloutStepCompleted" && e.message.contains("2/3")),
        "{:?}",
        d.events
    );
}

#[test]
fn a_failed_experiment_aborts_with_its_message() {
    // TestAbortRolloutAfterFailedExperiment.
    let r = rollout(1, json!({"canary": {"currentExperiment": NAME}}));
    let d = decided(
        &r,
        &seen(vec![experiment(NAME, Some(AnalysisPhase::Failed))]),
    );
    assert!(d.status.abort);
    let progressing = d
        .status
        .conditions
        .iter()
        .find(|c| c.kind.as_str() == "Progressing")
        .unwrap();
    assert_eq!(
        progressing.message,
        "Rollout aborted update to revision 2: Experiment analysis phase is error/failed: metric \"errors\" assessed Failed"
    );
    assert_eq!(current(&d), None);
    // The failed Experiment has finished: nothing to cancel.
    assert!(d.experiments.cancel.is_empty());
    // An Error without a message: Argo's words alone.
    let mut errored = experiment(NAME, Some(AnalysisPhase::Error));
    errored.message = None;
    let d = decided(&r, &seen(vec![errored]));
    assert!(
        d.status.conditions.iter().any(|c| c.message
            == "Rollout aborted update to revision 2: Experiment analysis phase is error/failed"),
        "{:?}",
        d.status.conditions
    );
}

#[test]
fn an_inconclusive_experiment_pauses() {
    // TestPauseRolloutAfterInconclusiveExperiment.
    let r = rollout(1, json!({"canary": {"currentExperiment": NAME}}));
    let d = decided(
        &r,
        &seen(vec![experiment(NAME, Some(AnalysisPhase::Inconclusive))]),
    );
    let reasons: Vec<&str> = d
        .status
        .pause_conditions
        .iter()
        .map(|c| c.reason.as_str())
        .collect();
    assert_eq!(reasons, ["InconclusiveExperiment"]);
    assert!(d.status.controller_pause);
    assert_eq!(d.status.current_step_index, Some(1));
    assert_eq!(current(&d), None);
}

#[test]
fn an_experiment_of_an_earlier_step_is_cancelled() {
    // TestRolloutExperimentScaleDownExperimentFromPreviousStep: the
    // experiment step was skipped (promote) while its Experiment ran.
    let r = rollout(2, json!({"canary": {"currentExperiment": NAME}}));
    let d = decided(
        &r,
        &seen(vec![experiment(NAME, Some(AnalysisPhase::Running))]),
    );
    assert_eq!(d.experiments.cancel, [NAME]);
    assert_eq!(d.experiments.past, [NAME]);
    assert_eq!(d.experiments.run, None);
    assert_eq!(current(&d), None);
}

#[test]
fn an_extra_experiment_is_cancelled_and_the_current_one_kept() {
    // TestRolloutExperimentScaleDownExtraExperiment.
    let r = rollout(1, json!({"canary": {"currentExperiment": NAME}}));
    let d = decided(
        &r,
        &seen(vec![
            experiment(NAME, Some(AnalysisPhase::Running)),
            experiment("extra", Some(AnalysisPhase::Pending)),
            experiment("done", Some(AnalysisPhase::Successful)),
            ExperimentState {
                terminate: true,
                ..experiment("stopping", Some(AnalysisPhase::Running))
            },
        ]),
    );
    assert_eq!(d.experiments.cancel, ["extra"]);
    assert_eq!(d.experiments.past, ["extra", "done", "stopping"]);
    assert_eq!(current(&d), Some(NAME));
}

#[test]
fn abort_and_promote_full_cancel_every_experiment() {
    // TestCancelExperimentWhenAborted.
    let observed = seen(vec![
        experiment(NAME, Some(AnalysisPhase::Running)),
        experiment("older", None),
    ]);
    for extra in [json!({"abort": true}), json!({"promoteFull": true})] {
        let mut status = json!({"canary": {"currentExperiment": NAME}});
        merge(&mut status, extra.clone());
        let d = decided(&rollout(1, status), &observed);
        assert_eq!(d.experiments.cancel, [NAME, "older"], "{extra}");
        assert_eq!(d.experiments.run, None, "{extra}");
        assert!(d.experiments.past.is_empty(), "{extra}");
        assert_eq!(current(&d), None, "{extra}");
    }
}

#[test]
fn a_finished_experiment_of_the_same_name_is_not_taken_over() {
    // TestCreateExperimentWithCollision: the name is taken by a finished
    // Experiment (a retried update), so the next name is used.
    let d = decided(
        &rollout(1, json!({})),
        &seen(vec![experiment(NAME, Some(AnalysisPhase::Failed))]),
    );
    assert_eq!(d.experiments.run.as_ref().unwrap().name, "web-new-2-1-1");
    assert_eq!(current(&d), Some("web-new-2-1-1"));
    // TestCreateExperimentWithCollisionAndSemanticEquality: an unfinished
    // one of that name is ours, created by an earlier pass.
    let d = decided(
        &rollout(1, json!({})),
        &seen(vec![experiment(NAME, Some(AnalysisPhase::Running))]),
    );
    assert_eq!(d.experiments.run.as_ref().unwrap().name, NAME);
    assert_eq!(current(&d), Some(NAME));
}

#[test]
fn nothing_changes_while_paused_for_an_inconclusive_analysis() {
    let r = rollout(
        1,
        json!({"canary": {"currentExperiment": NAME}, "controllerPause": true,
            "pauseConditions": [{"reason": "InconclusiveAnalysisRun", "startTime": "1970-01-01T00:10:00Z"}]}),
    );
    let d = decided(
        &r,
        &seen(vec![
            experiment(NAME, Some(AnalysisPhase::Running)),
            experiment("extra", Some(AnalysisPhase::Running)),
        ]),
    );
    assert!(d.experiments.cancel.is_empty());
    assert_eq!(d.experiments.run, None);
}

/// An additional destination: weight, Service, pod template hash.
type Destination = (i32, Option<String>, Option<String>);

/// The weights sent to the router.
fn weights(d: &Decision) -> (i32, i32, Vec<Destination>) {
    let t = d.traffic.as_ref().expect("traffic routing");
    (
        t.canary.weight,
        t.stable.weight,
        t.additional
            .iter()
            .map(|a| {
                (
                    a.weight,
                    a.service_name.clone(),
                    a.pod_template_hash.clone(),
                )
            })
            .collect(),
    )
}

#[test]
fn a_running_experiment_adds_its_weighted_templates_as_destinations() {
    // TestRolloutWithExperimentStep: "Experiment Running - WeightDestination
    // created": only the weighted template, with the Service and hash of its
    // template status; the stable side gives up its weight.
    let r = rollout(1, json!({"canary": {"currentExperiment": NAME}}));
    let d = decided(
        &r,
        &seen(vec![experiment(NAME, Some(AnalysisPhase::Running))]),
    );
    assert_eq!(
        weights(&d),
        (
            10,
            85,
            vec![(
                5,
                Some("web-new-2-1-canary-preview".into()),
                Some("prev".into())
            )]
        )
    );
    // Recorded in the status as Argo records them.
    let recorded = d.status.canary.weights.as_ref().unwrap();
    assert_eq!(recorded.additional.len(), 1);
    assert_eq!(recorded.stable.weight, 85);
}

#[test]
fn a_pending_experiment_adds_no_destination() {
    // "Experiment Pending - no WeightDestination created".
    let r = rollout(1, json!({"canary": {"currentExperiment": NAME}}));
    for phase in [None, Some(AnalysisPhase::Pending)] {
        let d = decided(&r, &seen(vec![experiment(NAME, phase)]));
        assert_eq!(weights(&d), (10, 90, vec![]), "{phase:?}");
    }
}

#[test]
fn the_destinations_follow_the_recorded_experiment_through_later_steps() {
    // Argo reads the experiment step in effect (the nearest at or before
    // the index) and the Experiment recorded as current: after a promote
    // past the step, one more pass routes it while it is cancelled.
    let r = rollout(2, json!({"canary": {"currentExperiment": NAME}}));
    let d = decided(
        &r,
        &seen(vec![experiment(NAME, Some(AnalysisPhase::Running))]),
    );
    assert_eq!(weights(&d).2.len(), 1);
    assert_eq!(d.experiments.cancel, [NAME]);
    // Not once the update is aborted.
    let r = rollout(
        1,
        json!({"abort": true, "canary": {"currentExperiment": NAME}}),
    );
    let d = decided(
        &r,
        &seen(vec![experiment(NAME, Some(AnalysisPhase::Running))]),
    );
    assert!(weights(&d).2.is_empty());
}

#[test]
fn the_progress_deadline_does_not_run_at_an_experiment_step() {
    // Argo's isIndefiniteStep: an experiment may run longer than
    // progressDeadlineSeconds (600 s by default).
    let r = rollout(
        1,
        json!({"canary": {"currentExperiment": NAME},
            "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                "message": "ReplicaSet \"web-new\" is progressing.",
                "lastUpdateTime": "1970-01-01T00:00:00Z", "lastTransitionTime": "1970-01-01T00:00:00Z"}]}),
    );
    let d = decided(
        &r,
        &seen(vec![experiment(NAME, Some(AnalysisPhase::Running))]),
    );
    let progressing = d
        .status
        .conditions
        .iter()
        .find(|c| c.kind.as_str() == "Progressing")
        .unwrap();
    assert_ne!(progressing.reason.as_str(), "ProgressDeadlineExceeded");
}
