//! The reconciler's requests, exactly, on a mock API server; the web
//! metric against a server of the test's on 127.0.0.1.

use std::sync::Arc;

use base64::Engine as _;
use kube::api::DynamicObject;
use rollgate_testkit::mock_api::{self, MockApi, reply, status as api_status};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// A server on 127.0.0.1 that answers every request with `status` and
/// `body`, and hands each request's head (request line and headers) to the
/// test.
async fn web_server(
    status: u16,
    body: &'static str,
) -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
            let answer = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    (address, rx)
}

fn run_object(spec: Value, status: Option<Value>) -> Arc<DynamicObject> {
    let mut object = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
        "metadata": {"name": "web-abc-2-1", "namespace": "shop", "uid": "run-uid",
                     "resourceVersion": "7"},
        "spec": spec,
    });
    if let Some(status) = status {
        object["status"] = status;
    }
    Arc::new(serde_json::from_value(object).unwrap())
}

fn measurer(client: kube::Client) -> Measurer {
    Measurer::new(
        client.clone(),
        Recorder::new(client, FIELD_MANAGER),
        Providers::default(),
        Arc::new(Metrics::new()),
        Arc::new(rollgate_analysis::isolation::InProcess),
    )
}

/// The object the API server returns after a merge patch: `patch` applied
/// to `object`, at resourceVersion `version`.
fn patched(object: &DynamicObject, patch: &Value, version: &str) -> Value {
    let mut value = serde_json::to_value(object).unwrap();
    merge(&mut value, patch);
    value["metadata"]["resourceVersion"] = json!(version);
    value
}

fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

fn event_reply(seen: &rollgate_testkit::mock_api::Seen) -> http::Response<kube::client::Body> {
    let mut event = seen.body.clone();
    event["metadata"]["resourceVersion"] = json!("1");
    reply(201, &event)
}

#[tokio::test]
async fn a_run_with_nothing_due_sends_no_request() {
    let (client, mut api) = MockApi::client();
    let measurer = measurer(client);
    let now = now().to_string();
    let spec = json!({"metrics": [{"name": "rate", "interval": "1h", "count": 3,
        "successCondition": "result > 0.9",
        "provider": {"web": {"url": "http://127.0.0.1:9/"}}}]});
    let status = json!({"phase": "Running", "startedAt": now,
        "metricResults": [{"name": "rate", "phase": "Running", "count": 1, "successful": 1,
            "consecutiveSuccess": 1,
            "measurements": [{"phase": "Successful", "value": "1", "startedAt": now, "finishedAt": now}]}],
        "runSummary": {"count": 1}, "dryRunSummary": {}});
    let action = reconcile(run_object(spec, Some(status)), &measurer)
        .await
        .unwrap();
    assert!(
        action == Action::requeue(Duration::from_secs(3600))
            || action == Action::requeue(Duration::from_secs(3599)),
        "{action:?}"
    );
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_completed_run_is_left_alone() {
    let (client, mut api) = MockApi::client();
    let status = json!({"phase": "Failed", "message": "done"});
    let action = reconcile(
        run_object(json!({"metrics": []}), Some(status)),
        &measurer(client),
    )
    .await
    .unwrap();
    assert_eq!(action, Action::await_change());
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_web_measurement_with_a_secret_is_recorded_redacted_then_the_events() {
    let (address, mut requests) = web_server(200, r#"{"data": {"rate": 0.5}}"#).await;
    let spec = json!({
        "args": [{"name": "token", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}},
                 {"name": "path", "value": "rate"}],
        "metrics": [{"name": "success-rate", "successCondition": "result > 0.9",
            "provider": {"web": {"url": format!("{address}/{{{{args.path}}}}?key={{{{args.token}}}}"),
                "headers": [{"key": "Authorization", "value": "Bearer {{args.token}}"}],
                "jsonPath": "{$.data.rate}"}}}]});
    let (client, mut api) = MockApi::client();
    let measurer = measurer(client);
    let object = run_object(spec, None);
    let call = mock_api::spawn({
        let object = object.clone();
        async move { reconcile(object, &measurer).await }
    });

    let secret = api
        .next(reply(
            200,
            &json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "api", "namespace": "shop"},
                "data": {"token": base64::engine::general_purpose::STANDARD.encode("t0psecret")}}),
        ))
        .await;
    assert_eq!(
        (secret.method.as_str(), secret.path.as_str()),
        ("GET", "/api/v1/namespaces/shop/secrets/api")
    );
    let write = api
        .next_with(|seen| reply(200, &patched(&object, &seen.body, "8")))
        .await;
    assert_eq!(write.method, "PATCH");
    assert_eq!(
        write.path,
        "/apis/argoproj.io/v1alpha1/namespaces/shop/analysisruns/web-abc-2-1"
    );
    assert_eq!(write.content_type, "application/merge-patch+json");
    let status = &write.body["status"];
    assert_eq!(
        write.body["metadata"],
        json!({"resourceVersion": "7"}),
        "written over the version read"
    );
    assert_eq!(write.body.as_object().unwrap().len(), 2, "{}", write.body);
    assert_eq!(status["phase"], "Failed");
    assert_eq!(
        status["message"],
        "Metric \"success-rate\" assessed Failed due to failed (1) > failureLimit (0) (values [0.5] against successCondition \"result > 0.9\")"
    );
    let result = &status["metricResults"][0];
    assert_eq!(
        (
            &result["name"],
            &result["phase"],
            &result["failed"],
            &result["count"]
        ),
        (
            &json!("success-rate"),
            &json!("Failed"),
            &json!(1),
            &json!(1)
        )
    );
    assert_eq!(result["measurements"][0]["value"], "0.5");
    assert_eq!(result["measurements"][0]["phase"], "Failed");
    assert!(status["startedAt"].is_string() && status["completedAt"].is_string());
    assert!(!write.body.to_string().contains("t0psecret"));
    // The request carried the Secret's value, where the metric put it.
    let head = requests.recv().await.unwrap();
    assert!(
        head.starts_with("GET /rate?key=t0psecret HTTP/1.1"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("authorization: bearer t0psecret"),
        "{head}"
    );

    let metric = api.next_with(event_reply).await;
    assert_eq!(metric.path, "/api/v1/namespaces/shop/events");
    assert_eq!(
        (
            &metric.body["reason"],
            &metric.body["message"],
            &metric.body["type"]
        ),
        (
            &json!("MetricFailed"),
            &json!("Metric 'success-rate' Completed. Result: Failed"),
            &json!("Warning")
        )
    );
    assert_eq!(metric.body["involvedObject"]["kind"], "AnalysisRun");
    assert_eq!(metric.body["involvedObject"]["uid"], "run-uid");
    let run = api.next_with(event_reply).await;
    assert_eq!(
        (&run.body["reason"], &run.body["message"]),
        (
            &json!("AnalysisRunFailed"),
            &json!("Analysis Completed. Result: Failed")
        )
    );
    assert_eq!(call.result().await.unwrap(), Action::await_change());
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_secret_in_an_error_message_is_redacted() {
    let (address, _requests) = web_server(500, r#"{"error": "no"}"#).await;
    let spec = json!({
        "args": [{"name": "token", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}}],
        "metrics": [{"name": "rate", "interval": "1m",
            "provider": {"web": {"url": format!("{address}/?key={{{{args.token}}}}")}}}]});
    let (client, mut api) = MockApi::client();
    let measurer = measurer(client);
    let object = run_object(spec, None);
    let call = mock_api::spawn({
        let object = object.clone();
        async move { reconcile(object, &measurer).await }
    });
    api.next(reply(
        200,
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "api"},
            "data": {"token": base64::engine::general_purpose::STANDARD.encode("t0psecret")}}),
    ))
    .await;
    let write = api
        .next_with(|seen| reply(200, &patched(&object, &seen.body, "8")))
        .await;
    let measurement = &write.body["status"]["metricResults"][0]["measurements"][0];
    assert_eq!(measurement["phase"], "Error");
    let message = measurement["message"].as_str().unwrap();
    assert!(message.contains("key=*****"), "{message}");
    assert!(
        message.contains("received non 2xx response code: 500"),
        "{message}"
    );
    assert!(!write.body.to_string().contains("t0psecret"));
    assert_eq!(write.body["status"]["phase"], "Running");
    // An error is measured again after Argo's 10 s.
    let action = call.result().await.unwrap();
    assert!(
        action == Action::requeue(Duration::from_secs(10))
            || action == Action::requeue(Duration::from_secs(9)),
        "{action:?}"
    );
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_missing_secret_ends_the_run_in_error_as_argo() {
    let spec = json!({
        "args": [{"name": "token", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}}],
        "metrics": [{"name": "rate", "provider": {"web": {"url": "http://127.0.0.1:9/{{args.token}}"}}}]});
    let (client, mut api) = MockApi::client();
    let measurer = measurer(client);
    let object = run_object(spec, None);
    let call = mock_api::spawn({
        let object = object.clone();
        async move { reconcile(object, &measurer).await }
    });
    api.next(reply(
        404,
        &api_status(404, "NotFound", "secrets \"api\" not found"),
    ))
    .await;
    let write = api
        .next_with(|seen| reply(200, &patched(&object, &seen.body, "8")))
        .await;
    assert_eq!(write.body["status"]["phase"], "Error");
    assert_eq!(
        write.body["status"]["message"],
        "Unable to resolve metric arguments: secrets \"api\" not found"
    );
    let event = api.next_with(event_reply).await;
    assert_eq!(event.body["reason"], "AnalysisRunError");
    assert_eq!(call.result().await.unwrap(), Action::await_change());
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_spec_that_does_not_read_ends_the_run_naming_the_field() {
    let spec = json!({"metrics": [{"name": "rate", "count": "three",
        "provider": {"web": {"url": "http://127.0.0.1:9/"}}, "sucessCondition": "result > 1"}]});
    let (client, mut api) = MockApi::client();
    let measurer = measurer(client);
    let object = run_object(spec, None);
    let call = mock_api::spawn({
        let object = object.clone();
        async move { reconcile(object, &measurer).await }
    });
    let write = api
        .next_with(|seen| reply(200, &patched(&object, &seen.body, "8")))
        .await;
    assert_eq!(write.body["status"]["phase"], "Error");
    let message = write.body["status"]["message"].as_str().unwrap();
    assert!(message.starts_with("Analysis spec invalid: "), "{message}");
    assert!(message.contains("spec.metrics[0]"), "{message}");
    api.next_with(event_reply).await;
    call.result().await.unwrap();
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_run_changed_meanwhile_is_not_overwritten() {
    let (address, _requests) = web_server(200, "1").await;
    let spec = json!({"metrics": [{"name": "rate",
        "provider": {"web": {"url": format!("{address}/")}}}]});
    let (client, mut api) = MockApi::client();
    let measurer = measurer(client);
    let object = run_object(spec, None);
    let call = mock_api::spawn({
        let object = object.clone();
        async move { reconcile(object, &measurer).await }
    });
    let write = api
        .next(reply(
            409,
            &api_status(409, "Conflict", "the object has been modified"),
        ))
        .await;
    assert_eq!(write.method, "PATCH");
    // No events for a status that was not written.
    call.result().await.unwrap();
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_run_our_write_has_not_reached_yet_is_not_measured_again() {
    let (address, _requests) = web_server(200, "1").await;
    let spec = json!({"metrics": [{"name": "rate", "interval": "1h",
        "provider": {"web": {"url": format!("{address}/")}}}]});
    let (client, mut api) = MockApi::client();
    let measurer = Arc::new(measurer(client));
    let object = run_object(spec, None);
    let call = mock_api::spawn({
        let (object, measurer) = (object.clone(), measurer.clone());
        async move { reconcile(object, &measurer).await }
    });
    api.next_with(|seen| reply(200, &patched(&object, &seen.body, "8")))
        .await;
    call.result().await.unwrap();
    // The cache still holds resourceVersion 7: nothing is done.
    let action = reconcile(object, &measurer).await.unwrap();
    assert_eq!(action, Action::await_change());
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_prometheus_metric_with_basic_auth_from_a_secret_records_its_resolved_query() {
    let (address, mut requests) = web_server(
        200,
        r#"{"status": "success", "warnings": ["partial response"], "data": {"resultType": "vector",
            "result": [{"metric": {}, "value": [1764669600, "0.8"]}]}}"#,
    )
    .await;
    let spec = json!({
        "args": [{"name": "hash", "value": "abc123"},
                 {"name": "password", "valueFrom": {"secretKeyRef": {"name": "prom", "key": "password"}}}],
        "metrics": [{"name": "success-rate", "successCondition": "result[0] >= 0.75",
            "provider": {"prometheus": {"address": address,
                "query": "sum(rate(ok{hash=\"{{args.hash}}\"}[1m]))",
                "authentication": {"basicAuth": {"username": "argo", "password": "{{args.password}}"}}}}}]});
    let (client, mut api) = MockApi::client();
    let measurer = measurer(client);
    let object = run_object(spec, None);
    let call = mock_api::spawn({
        let object = object.clone();
        async move { reconcile(object, &measurer).await }
    });
    api.next(reply(
        200,
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "prom"},
            "data": {"password": base64::engine::general_purpose::STANDARD.encode("pr0m-pw")}}),
    ))
    .await;
    let write = api
        .next_with(|seen| reply(200, &patched(&object, &seen.body, "8")))
        .await;
    let status = &write.body["status"];
    assert_eq!(status["phase"], "Successful");
    let result = &status["metricResults"][0];
    assert_eq!(
        result["metadata"],
        json!({"ResolvedPrometheusQuery": "sum(rate(ok{hash=\"abc123\"}[1m]))"})
    );
    assert_eq!(result["measurements"][0]["value"], "[0.8]");
    assert_eq!(
        result["measurements"][0]["metadata"],
        json!({"warnings": "\"partial response\""})
    );
    let head = requests.recv().await.unwrap();
    assert!(head.starts_with("POST /api/v1/query HTTP/1.1"), "{head}");
    let basic = base64::engine::general_purpose::STANDARD.encode("argo:pr0m-pw");
    assert!(
        head.to_ascii_lowercase().contains(&format!(
            "authorization: basic {}",
            basic.to_ascii_lowercase()
        )),
        "{head}"
    );
    assert_eq!(
        [
            api.next_with(event_reply).await,
            api.next_with(event_reply).await
        ]
        .map(|e| e.body["reason"].clone()),
        [json!("MetricSuccessful"), json!("AnalysisRunSuccessful")]
    );
    assert_eq!(call.result().await.unwrap(), Action::await_change());
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_terminated_run_ends_with_what_it_measured_and_measures_no_more() {
    let (client, mut api) = MockApi::client();
    let measurer = measurer(client);
    let now = now().to_string();
    let spec = json!({"terminate": true, "metrics": [{"name": "rate", "interval": "1s", "count": 3,
        "successCondition": "result > 0.9",
        "provider": {"web": {"url": "http://127.0.0.1:9/"}}}]});
    let status = json!({"phase": "Running", "startedAt": now,
        "metricResults": [{"name": "rate", "phase": "Running", "count": 1, "successful": 1,
            "consecutiveSuccess": 1,
            "measurements": [{"phase": "Successful", "value": "1", "startedAt": now, "finishedAt": now}]}]});
    let object = run_object(spec, Some(status));
    let call = mock_api::spawn({
        let object = object.clone();
        async move { reconcile(object, &measurer).await }
    });
    let write = api
        .next_with(|seen| reply(200, &patched(&object, &seen.body, "8")))
        .await;
    let status = &write.body["status"];
    assert_eq!(status["phase"], "Successful");
    assert_eq!(status["metricResults"][0]["phase"], "Successful");
    assert!(status["completedAt"].is_string());
    // The list goes whole (a merge patch replaces lists): it holds only the
    // measurement taken before, nothing new was measured.
    let measurements = status["metricResults"][0]["measurements"]
        .as_array()
        .unwrap();
    assert_eq!(measurements.len(), 1);
    assert_eq!(measurements[0]["value"], "1");
    assert_eq!(
        [
            api.next_with(event_reply).await,
            api.next_with(event_reply).await
        ]
        .map(|e| e.body["reason"].clone()),
        [json!("MetricSuccessful"), json!("AnalysisRunSuccessful")]
    );
    assert_eq!(call.result().await.unwrap(), Action::await_change());
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_completed_run_past_its_ttl_is_deleted_and_one_before_it_waits() {
    let spec = json!({"metrics": [], "ttlStrategy": {"secondsAfterCompletion": 30}});
    let status = |completed: &str| json!({"phase": "Successful", "startedAt": completed, "completedAt": completed});
    let (client, mut api) = MockApi::client();
    let measurer = measurer(client);
    let recent = run_object(spec.clone(), Some(status(&now().to_string())));
    let action = reconcile(recent, &measurer).await.unwrap();
    assert!(
        action == Action::requeue(Duration::from_secs(31))
            || action == Action::requeue(Duration::from_secs(30)),
        "{action:?}"
    );
    api.no_more_requests().await;

    let old = run_object(spec, Some(status("2026-01-01T00:00:00Z")));
    let call = mock_api::spawn(async move { reconcile(old, &measurer).await });
    let delete = api
        .next(reply(200, &api_status(200, "Success", "deleted")))
        .await;
    assert_eq!(
        (delete.method.as_str(), delete.path.as_str()),
        (
            "DELETE",
            "/apis/argoproj.io/v1alpha1/namespaces/shop/analysisruns/web-abc-2-1"
        )
    );
    assert_eq!(call.result().await.unwrap(), Action::await_change());
    api.no_more_requests().await;
}
