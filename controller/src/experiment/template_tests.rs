//! A template's decisions against the cases of Argo's
//! `experiments/experiment_test.go` (scale-down delay, Services, progress
//! deadline).

use super::*;
use crate::experiment::spec::TemplateService;

const NOW: u64 = 1_800_000_000;

fn now() -> Time {
    Time::from_unix_seconds(NOW)
}

fn ago(seconds: u64) -> Time {
    Time::from_unix_seconds(NOW - seconds)
}

fn rs(available: i32) -> ObservedReplicaSet {
    ObservedReplicaSet {
        name: "foo-bar".into(),
        spec_replicas: 1,
        replicas: available,
        ready_replicas: available,
        available_replicas: available,
        pod_template_hash: "6f7d".into(),
        scale_down_deadline: None,
    }
}

fn with_service(name: Option<&str>) -> TemplateSpec {
    TemplateSpec {
        name: "bar".into(),
        service: Some(TemplateService {
            name: name.map(Into::into),
        }),
        ..TemplateSpec::default()
    }
}

fn assessment(desired: i32) -> Assessment {
    Assessment {
        desired,
        passed_duration: false,
        terminating: false,
        deadline_seconds: 600,
        now: now(),
    }
}

/// Argo's `TestServiceNameSet`, `TestDeleteOutdatedService`,
/// `TestDeleteServiceIfServiceFieldNil` and `TestScaleDownRSWhenSvcNotDeleted`.
#[test]
fn a_service_follows_the_template() {
    let running = rs(1);
    assert_eq!(
        service_action(&with_service(None), 1, &running, true, None),
        ServiceAction::Create("foo-bar".into())
    );
    assert_eq!(
        service_action(&with_service(Some("preview")), 1, &running, true, None),
        ServiceAction::Create("preview".into())
    );
    // No ports, no Service (Argo's TestServiceInheritPortsFromRS).
    assert_eq!(
        service_action(&with_service(None), 1, &running, false, None),
        ServiceAction::Keep
    );
    assert_eq!(
        service_action(&with_service(None), 1, &running, true, Some("foo-bar")),
        ServiceAction::Keep
    );
    // Ending: kept while pods are available, deleted once none is.
    assert_eq!(
        service_action(&with_service(None), 0, &running, true, Some("foo-bar")),
        ServiceAction::Keep
    );
    assert_eq!(
        service_action(&with_service(None), 0, &rs(0), true, Some("foo-bar")),
        ServiceAction::Delete
    );
    // A template without `service` has none.
    let plain = TemplateSpec {
        name: "bar".into(),
        ..TemplateSpec::default()
    };
    assert_eq!(
        service_action(&plain, 1, &running, true, Some("foo-bar")),
        ServiceAction::Delete
    );
    assert_eq!(
        service_action(&plain, 1, &running, true, None),
        ServiceAction::Keep
    );
}

/// Argo's `TestAddScaleDownDelayToRS`, `TestRemoveScaleDownDelayFromRS`
/// and `TestScaleDownRSAfterFinish`.
#[test]
fn an_ended_template_is_scaled_down_after_the_delay() {
    let mut observed = rs(1);
    assert_eq!(
        deadline_action(30, &observed, now()),
        DeadlineAction::Set(Time::from_unix_seconds(NOW + 30))
    );
    assert_eq!(deadline_action(0, &observed, now()), DeadlineAction::Keep);
    observed.scale_down_deadline = Some(Time::from_unix_seconds(NOW + 30).to_string());
    assert_eq!(deadline_action(30, &observed, now()), DeadlineAction::Keep);
    assert_eq!(deadline_action(0, &observed, now()), DeadlineAction::Remove);
    // Before the deadline: kept at the template's replicas, woken then.
    assert_eq!(
        scale_target(0, 2, &observed, now()),
        Ok((2, Some(Duration::from_secs(30))))
    );
    // After it: scaled to 0.
    observed.scale_down_deadline = Some(ago(1).to_string());
    assert_eq!(scale_target(0, 2, &observed, now()), Ok((0, None)));
    // Scaling up is never delayed.
    assert_eq!(scale_target(2, 2, &observed, now()), Ok((2, None)));
    observed.scale_down_deadline = Some("tomorrow".into());
    assert_eq!(
        scale_target(0, 2, &observed, now()),
        Err(UnreadableDeadline("foo-bar".into()))
    );
    assert_eq!(
        scaled_message("foo-bar", 1, 0),
        "Scaled down ReplicaSet foo-bar from 1 to 0"
    );
}

#[test]
fn available_pods_make_a_running_template_with_an_event() {
    let previous = TemplateStatus {
        name: "bar".into(),
        status: Some(TemplateCode::Progressing),
        last_transition_time: Some(ago(5)),
        ..TemplateStatus::default()
    };
    let (status, event) = finish(
        "bar",
        &previous,
        previous.clone(),
        Some(&rs(1)),
        assessment(1),
    );
    assert_eq!(status.status, Some(TemplateCode::Running));
    assert_eq!(
        (
            status.replicas,
            status.updated_replicas,
            status.ready_replicas,
            status.available_replicas
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(status.last_transition_time, Some(now()));
    assert_eq!(
        event,
        Some(Event {
            warning: false,
            reason: "TemplateRunning".into(),
            message: "Template 'bar' transitioned from Progressing -> Running".into(),
        })
    );
}

/// Argo's `TestSuccessAfterDurationPasses`.
#[test]
fn a_template_succeeds_when_the_duration_passed_or_the_experiment_ends() {
    let previous = TemplateStatus {
        name: "bar".into(),
        status: Some(TemplateCode::Running),
        ..TemplateStatus::default()
    };
    let passed = Assessment {
        passed_duration: true,
        ..assessment(1)
    };
    let (status, _) = finish("bar", &previous, previous.clone(), Some(&rs(1)), passed);
    assert_eq!(status.status, Some(TemplateCode::Successful));
    let ending = Assessment {
        terminating: true,
        ..assessment(0)
    };
    let (status, event) = finish("bar", &previous, previous.clone(), Some(&rs(1)), ending);
    assert_eq!(status.status, Some(TemplateCode::Successful));
    assert_eq!(event.unwrap().reason, "TemplateSuccessful");
}

/// Argo's `TestEnterTimeoutDegradedState`: past the progress deadline from
/// the last transition, the template fails, with Argo's message.
#[test]
fn a_template_short_of_pods_past_its_deadline_fails() {
    let previous = TemplateStatus {
        name: "bar".into(),
        status: Some(TemplateCode::Progressing),
        last_transition_time: Some(ago(31)),
        ..TemplateStatus::default()
    };
    let short = Assessment {
        deadline_seconds: 30,
        ..assessment(1)
    };
    let (status, event) = finish("bar", &previous, previous.clone(), Some(&rs(0)), short);
    assert_eq!(status.status, Some(TemplateCode::Failed));
    assert_eq!(
        status.message,
        "Template 'bar' exceeded its progressDeadlineSeconds (30)"
    );
    let event = event.unwrap();
    assert!(event.warning);
    assert_eq!(
        event.message,
        "Template 'bar' transitioned from Progressing -> Failed: Template 'bar' exceeded its progressDeadlineSeconds (30)"
    );
    // Within it: still progressing.
    let within = Assessment {
        deadline_seconds: 60,
        ..assessment(1)
    };
    let (status, event) = finish("bar", &previous, previous.clone(), Some(&rs(0)), within);
    assert_eq!(status.status, Some(TemplateCode::Progressing));
    assert_eq!(event, None);
}

#[test]
fn a_completed_template_stays_completed() {
    let previous = TemplateStatus {
        name: "bar".into(),
        status: Some(TemplateCode::Error),
        message: "Failed to create ReplicaSet for template 'bar': forbidden".into(),
        ..TemplateStatus::default()
    };
    let (status, event) = finish("bar", &previous, previous.clone(), None, assessment(1));
    assert_eq!(status.status, Some(TemplateCode::Error));
    assert_eq!(event, None);
}
