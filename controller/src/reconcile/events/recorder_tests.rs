//! The recorder's requests, exactly, against the mock API server.

use super::*;
use rollgate_testkit::mock_api::{self, MockApi, Seen, reply, status};
use serde_json::{Value, json};

fn rollout() -> ObjectReference {
    ObjectReference {
        api_version: Some("argoproj.io/v1alpha1".into()),
        kind: Some("Rollout".into()),
        name: Some("web".into()),
        namespace: Some("shop".into()),
        uid: Some("uid-web".into()),
        ..Default::default()
    }
}

/// The API server's answer to a write: the Event as sent or patched, at
/// resourceVersion `version`.
fn stored(seen: &Seen, base: &Value, version: &str) -> Value {
    let mut event = if base.is_object() {
        base.clone()
    } else {
        json!({})
    };
    if let (Value::Object(event), Value::Object(body)) = (&mut event, &seen.body) {
        for (key, value) in body {
            event.insert(key.clone(), value.clone());
        }
    }
    event["metadata"]["resourceVersion"] = json!(version);
    event
}

fn record(recorder: &Recorder, message: &str) {
    recorder.record(&rollout(), false, "RolloutStepCompleted", message.into());
}

#[tokio::test]
async fn an_identical_event_is_a_create_then_patches_of_its_count() {
    let (client, mut api) = MockApi::client();
    let recorder = Recorder::new(client, "rollgate-controller");
    let call = mock_api::spawn({
        let recorder = recorder.clone();
        async move {
            record(&recorder, "Rollout step 1/3 completed (setWeight: 20)");
            record(&recorder, "Rollout step 1/3 completed (setWeight: 20)");
            record(&recorder, "Rollout step 1/3 completed (setWeight: 20)");
        }
    });

    let created = api
        .next_with(|seen| reply(201, &stored(seen, &Value::Null, "11")))
        .await;
    assert_eq!(
        (created.method.as_str(), created.path.as_str()),
        ("POST", "/api/v1/namespaces/shop/events")
    );
    let body = &created.body;
    let name = body["metadata"]["name"].as_str().unwrap().to_owned();
    assert!(name.starts_with("web."), "{name}");
    assert_eq!(body["count"], 1);
    assert_eq!(body["reason"], "RolloutStepCompleted");
    assert_eq!(body["type"], "Normal");
    assert_eq!(body["source"], json!({"component": "rollgate-controller"}));
    assert_eq!(
        body["involvedObject"],
        serde_json::to_value(rollout()).unwrap()
    );
    assert_eq!(body["firstTimestamp"], body["lastTimestamp"]);

    let mut base = created.body.clone();
    for (count, version) in [(2, "12"), (3, "13")] {
        let patched = api
            .next_with(|seen| reply(200, &stored(seen, &base, version)))
            .await;
        assert_eq!(patched.method, "PATCH");
        assert_eq!(
            patched.path,
            format!("/api/v1/namespaces/shop/events/{name}")
        );
        assert_eq!(
            patched.content_type,
            "application/strategic-merge-patch+json"
        );
        let patch = patched.body.as_object().unwrap();
        assert_eq!(
            patch.keys().collect::<Vec<_>>(),
            ["count", "lastTimestamp", "message"]
        );
        assert_eq!(patch["count"], count);
        assert_eq!(
            patch["message"],
            "Rollout step 1/3 completed (setWeight: 20)"
        );
        base = stored(&patched, &base, version);
    }
    call.result().await;
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_patch_of_an_event_gone_creates_it_again_with_its_count() {
    let (client, mut api) = MockApi::client();
    let recorder = Recorder::new(client, "rollgate-controller");
    let call = mock_api::spawn({
        let recorder = recorder.clone();
        async move {
            record(&recorder, "paused");
            record(&recorder, "paused");
        }
    });
    let created = api
        .next_with(|seen| reply(201, &stored(seen, &Value::Null, "11")))
        .await;
    let name = created.body["metadata"]["name"].clone();
    let gone = status(404, "NotFound", "events \"web.1\" not found");
    let patched = api.next(reply(404, &gone)).await;
    assert_eq!(patched.method, "PATCH");
    let again = api
        .next_with(|seen| reply(201, &stored(seen, &Value::Null, "20")))
        .await;
    assert_eq!(
        (again.method.as_str(), again.path.as_str()),
        ("POST", "/api/v1/namespaces/shop/events")
    );
    assert_eq!(again.body["metadata"]["name"], name, "the same name");
    assert_eq!(again.body["metadata"].get("resourceVersion"), None);
    assert_eq!(again.body["count"], 2);
    assert_eq!(again.body["firstTimestamp"], created.body["firstTimestamp"]);
    call.result().await;
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_refused_write_is_logged_and_the_next_event_still_recorded() {
    let (client, mut api) = MockApi::client();
    let recorder = Recorder::new(client, "rollgate-controller");
    let call = mock_api::spawn({
        let recorder = recorder.clone();
        async move {
            record(&recorder, "first");
            record(&recorder, "second");
        }
    });
    let forbidden = status(403, "Forbidden", "events is forbidden");
    let refused = api.next(reply(403, &forbidden)).await;
    assert_eq!(refused.method, "POST");
    let next = api
        .next_with(|seen| reply(201, &stored(seen, &Value::Null, "11")))
        .await;
    assert_eq!(
        (next.method.as_str(), next.body["message"].as_str()),
        ("POST", Some("second"))
    );
    call.result().await;
    api.no_more_requests().await;
}

#[tokio::test]
async fn past_the_spam_filter_nothing_is_sent() {
    let (client, api) = MockApi::client();
    let served = api.serve(|seen| reply(201, &stored(seen, &Value::Null, "1")));
    let recorder = Recorder::new(client, "rollgate-controller");
    for n in 0..30 {
        recorder.record(&rollout(), false, &format!("Reason{n}"), "m".into());
    }
    recorder.flushed().await;
    let lines = served.lines();
    assert_eq!(lines.len(), 25, "{lines:?}");
    assert!(
        lines
            .iter()
            .all(|l| l == "POST /api/v1/namespaces/shop/events")
    );
}

#[tokio::test]
async fn recording_does_not_wait_for_the_api_server() {
    let (client, mut api) = MockApi::client();
    let recorder = Recorder::new(client, "rollgate-controller");
    // Nothing has been answered yet: each call returns at once.
    record(&recorder, "first");
    record(&recorder, "second");
    for message in ["first", "second"] {
        let created = api
            .next_with(|seen| reply(201, &stored(seen, &Value::Null, "11")))
            .await;
        assert_eq!(created.body["message"], message, "in the order recorded");
    }
    recorder.flushed().await;
    api.no_more_requests().await;
}

#[tokio::test]
async fn an_event_finding_its_queue_full_is_dropped() {
    let (client, api) = MockApi::client();
    let release = Arc::new(tokio::sync::Notify::new());
    let served = api.serve_async({
        let release = release.clone();
        move |seen| {
            let release = release.clone();
            let answer = reply(201, &stored(seen, &Value::Null, "1"));
            async move {
                release.notified().await;
                answer
            }
        }
    });
    let recorder = Recorder::with_queues(client, "rollgate-controller", 1, 1);
    record(&recorder, "being written");
    while served.lines().is_empty() {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    record(&recorder, "queued");
    record(&recorder, "dropped");
    release.notify_one();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    release.notify_one();
    recorder.flushed().await;
    let messages: Vec<Value> = served
        .requests()
        .iter()
        .map(|seen| seen.body["message"].clone())
        .collect();
    assert_eq!(messages, [json!("being written"), json!("queued")]);
}

#[tokio::test]
async fn one_objects_events_keep_their_order_while_others_are_written() {
    let (client, api) = MockApi::client();
    let served = api.serve(|seen| reply(201, &stored(seen, &Value::Null, "1")));
    let recorder = Recorder::new(client, "rollgate-controller");
    for n in 0..20 {
        let mut regarding = rollout();
        regarding.name = Some(format!("web-{}", n % 5));
        recorder.record(&regarding, false, "Step", format!("{n}"));
    }
    recorder.flushed().await;
    let requests = served.requests();
    assert_eq!(requests.len(), 20);
    for object in 0..5 {
        let name = format!("web-{object}");
        let order: Vec<u64> = requests
            .iter()
            .filter(|seen| seen.body["involvedObject"]["name"] == json!(name))
            .filter_map(|seen| seen.body["message"].as_str()?.parse().ok())
            .collect();
        assert_eq!(
            order,
            [object, object + 5, object + 10, object + 15],
            "{name}"
        );
    }
}
