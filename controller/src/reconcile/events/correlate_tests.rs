//! The correlator's decisions, at times the tests choose.

use super::*;
use k8s_openapi::api::core::v1::{EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::json;

const START: i64 = 1_800_000_000;

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(START + seconds).unwrap()
}

fn event(name: &str, kind: &str, reason: &str, message: &str, now: Timestamp) -> Event {
    let mut event = Event {
        involved_object: ObjectReference {
            api_version: Some("argoproj.io/v1alpha1".into()),
            kind: Some("Rollout".into()),
            name: Some(name.into()),
            namespace: Some("shop".into()),
            uid: Some(format!("uid-{name}")),
            ..Default::default()
        },
        reason: Some(reason.into()),
        message: Some(message.into()),
        type_: Some(kind.into()),
        source: Some(EventSource {
            component: Some("rollgate-controller".into()),
            host: None,
        }),
        count: Some(1),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        ..Default::default()
    };
    event.metadata = ObjectMeta {
        name: Some(event_name(&event, now)),
        namespace: Some("shop".into()),
        ..Default::default()
    };
    event
}

/// Correlates and, as the API server would, stores what is written.
fn record(correlator: &mut Correlator, event: Event, now: Timestamp) -> Correlated {
    let correlated = correlator.correlate(event, now);
    match &correlated {
        Correlated::Create(event) | Correlated::Patch { event, .. } => {
            let mut stored = event.clone();
            stored.metadata.resource_version = Some("7".into());
            correlator.written(&stored);
        }
        Correlated::Skip => {}
    }
    correlated
}

/// Asserts that `event`, recorded at `now`, is written as a new Event.
fn assert_created(correlator: &mut Correlator, event: Event, now: Timestamp) {
    let correlated = record(correlator, event, now);
    assert!(
        matches!(correlated, Correlated::Create(_)),
        "{correlated:?}"
    );
}

fn step(correlator: &mut Correlator, message: &str, seconds: i64) -> Correlated {
    let now = at(seconds);
    record(
        correlator,
        event("web", "Normal", "RolloutStepCompleted", message, now),
        now,
    )
}

fn created_message(correlated: &Correlated) -> &str {
    match correlated {
        Correlated::Create(event) => event.message.as_deref().unwrap(),
        other => panic!("expected a create, got {other:?}"),
    }
}

#[test]
fn an_identical_event_patches_the_count_last_timestamp_and_message() {
    let mut correlator = Correlator::default();
    let first = step(&mut correlator, "Step 1 done", 0);
    let Correlated::Create(created) = &first else {
        panic!("{first:?}")
    };
    assert_eq!(created.count, Some(1));
    let name = created.metadata.name.clone().unwrap();
    assert!(name.starts_with("web."), "{name}");

    for (count, seconds) in [(2, 30), (3, 7200)] {
        let Correlated::Patch { event, patch } = step(&mut correlator, "Step 1 done", seconds)
        else {
            panic!("a patch")
        };
        assert_eq!(
            patch,
            json!({"count": count, "lastTimestamp": Time(at(seconds)),
                   "message": "Step 1 done"})
        );
        assert_eq!(event.metadata.name.as_deref(), Some(name.as_str()));
        assert_eq!(event.metadata.resource_version.as_deref(), Some("7"));
        assert_eq!(event.first_timestamp, Some(Time(at(0))), "the first stays");
        assert_eq!(event.count, Some(count));
    }
}

#[test]
fn events_differing_in_object_type_or_reason_are_not_identical() {
    let mut correlator = Correlator::default();
    let now = at(0);
    for (name, kind, reason) in [
        ("web", "Normal", "RolloutPaused"),
        ("api", "Normal", "RolloutPaused"),
        ("web", "Warning", "RolloutPaused"),
        ("web", "Normal", "RolloutResumed"),
    ] {
        assert_created(&mut correlator, event(name, kind, reason, "m", now), now);
    }
}

#[test]
fn the_tenth_distinct_message_within_ten_minutes_is_combined_and_later_ones_patch_it() {
    let mut correlator = Correlator::default();
    for n in 1..=9 {
        let correlated = step(&mut correlator, &format!("Step {n} done"), n * 60);
        assert_eq!(created_message(&correlated), format!("Step {n} done"));
    }
    let tenth = step(&mut correlator, "Step 10 done", 600);
    assert_eq!(
        created_message(&tenth),
        "(combined from similar events): Step 10 done"
    );
    let Correlated::Create(combined) = &tenth else {
        unreachable!()
    };
    let Correlated::Patch { event, patch } = step(&mut correlator, "Step 11 done", 660) else {
        panic!("a patch of the combined event")
    };
    assert_eq!(event.metadata.name, combined.metadata.name);
    assert_eq!(
        patch,
        json!({"count": 2, "lastTimestamp": Time(at(660)),
               "message": "(combined from similar events): Step 11 done"})
    );
    // A message still counted is itself again: "Step 9 done" patches its
    // own Event (the oldest, "Step 1 done", was forgotten to make room).
    let Correlated::Patch { patch, .. } = step(&mut correlator, "Step 9 done", 700) else {
        panic!("a patch")
    };
    assert_eq!(patch["message"], "Step 9 done");
    assert_eq!(patch["count"], 2);
}

#[test]
fn similar_events_further_apart_than_ten_minutes_start_the_count_again() {
    let mut correlator = Correlator::default();
    // Each 601 s after the last: never ten in the window.
    for n in 0..12 {
        let correlated = step(&mut correlator, &format!("Step {n} done"), n * 601);
        assert_eq!(created_message(&correlated), format!("Step {n} done"));
    }
    // The window slides: one every 599 s keeps the count going.
    let mut correlator = Correlator::default();
    let messages: Vec<String> = (0..10)
        .map(|n| created_message(&step(&mut correlator, &format!("Step {n}"), n * 599)).to_owned())
        .collect();
    assert_eq!(messages[9], "(combined from similar events): Step 9");
}

#[test]
fn an_object_gets_25_events_at_once_then_one_every_five_minutes() {
    let mut correlator = Correlator::default();
    let mut accepted = 0;
    for n in 0..30 {
        // Different reasons: never combined, each its own Event.
        let now = at(0);
        let e = event("web", "Normal", &format!("Reason{n}"), "m", now);
        if !matches!(record(&mut correlator, e, now), Correlated::Skip) {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 25);
    let later = |correlator: &mut Correlator, seconds: i64, reason: &str| {
        let now = at(seconds);
        record(correlator, event("web", "Normal", reason, "m", now), now)
    };
    // Distinct reasons again: a dropped event is still counted, so the same
    // one would come back as a patch.
    assert_eq!(later(&mut correlator, 298, "Late1"), Correlated::Skip);
    assert!(matches!(
        later(&mut correlator, 301, "Late2"),
        Correlated::Create(_)
    ));
    assert_eq!(later(&mut correlator, 302, "Late3"), Correlated::Skip);
    // Another object, or a Warning on the same one, has its own bucket.
    let now = at(0);
    for (name, kind) in [("api", "Normal"), ("web", "Warning")] {
        assert_created(&mut correlator, event(name, kind, "R", "m", now), now);
    }
}

#[test]
fn a_dropped_event_still_counts_toward_the_next_patch() {
    let mut correlator = Correlator::default();
    for n in 0..25 {
        let now = at(0);
        record(
            &mut correlator,
            event("web", "Normal", &format!("R{n}"), "m", now),
            now,
        );
    }
    // R0 again, twice: both dropped, yet counted.
    for _ in 0..2 {
        let now = at(1);
        let e = event("web", "Normal", "R0", "m", now);
        assert_eq!(record(&mut correlator, e, now), Correlated::Skip);
    }
    let now = at(400);
    let Correlated::Patch { patch, .. } =
        record(&mut correlator, event("web", "Normal", "R0", "m", now), now)
    else {
        panic!("a patch")
    };
    assert_eq!(patch["count"], 4);
}

#[test]
fn memory_is_bounded_by_the_cache_size() {
    let mut correlator = Correlator::with_capacity(NonZeroUsize::new(2).unwrap());
    let now = at(0);
    for name in ["a", "b", "c"] {
        record(&mut correlator, event(name, "Normal", "R", "m", now), now);
    }
    assert_eq!(correlator.observations.len(), 2);
    assert_eq!(correlator.aggregates.len(), 2);
    assert_eq!(correlator.spam.len(), 2);
    // "a" was evicted: the same event again is a new Event.
    let again = record(&mut correlator, event("a", "Normal", "R", "m", now), now);
    assert!(matches!(again, Correlated::Create(_)), "{again:?}");
}

#[test]
fn keys_keep_their_parts_apart() {
    // Object "ab" in namespace "c" and object "a" in namespace "bc" join to
    // the same text; they are different objects, so neither event repeats
    // the other.
    let mut correlator = Correlator::default();
    let now = at(0);
    let mut first = event("ab", "Normal", "R", "m", now);
    first.involved_object.namespace = Some("c".into());
    let mut second = event("a", "Normal", "R", "m", now);
    second.involved_object.namespace = Some("bc".into());
    assert_created(&mut correlator, first, now);
    assert_created(&mut correlator, second, now);
    // A missing part is an empty one, as in client-go: an Event read back
    // without a field that was sent empty is still the same event.
    let mut hostless = event("web", "Normal", "R", "m", now);
    let mut empty_host = hostless.clone();
    hostless.source.as_mut().unwrap().host = None;
    empty_host.source.as_mut().unwrap().host = Some(String::new());
    assert_created(&mut correlator, hostless, now);
    let again = record(&mut correlator, empty_host, now);
    assert!(matches!(again, Correlated::Patch { .. }), "{again:?}");
}

#[test]
fn a_message_is_counted_once_however_often_it_comes() {
    let mut correlator = Correlator::default();
    for second in 0..20 {
        let message = format!("step {}", second % (AGGREGATE_MAX_EVENTS as i64 - 1));
        let correlated = step(&mut correlator, &message, second);
        assert!(
            !matches!(&correlated, Correlated::Create(e) | Correlated::Patch { event: e, .. }
                if e.message.as_deref().unwrap_or_default().starts_with(COMBINED_PREFIX)),
            "nine distinct messages never combine: {correlated:?}"
        );
    }
}

#[test]
fn the_message_forgotten_at_ten_is_the_least_recently_seen() {
    let mut correlator = Correlator::default();
    let combined = |c: &Correlated| match c {
        Correlated::Create(e) | Correlated::Patch { event: e, .. } => e
            .message
            .as_deref()
            .unwrap_or_default()
            .starts_with(COMBINED_PREFIX),
        Correlated::Skip => false,
    };
    for n in 1..=9 {
        step(&mut correlator, &format!("Step {n} done"), n);
    }
    // "Step 1" seen again, then a tenth message: "Step 2" is forgotten.
    step(&mut correlator, "Step 1 done", 10);
    assert!(combined(&step(&mut correlator, "Step 10 done", 11)));
    assert!(!combined(&step(&mut correlator, "Step 1 done", 12)));
    assert!(combined(&step(&mut correlator, "Step 2 done", 13)));
}
