//! The web provider against a local server on 127.0.0.1 (plain and TLS):
//! the exact request it sends and how it reads each kind of answer.

mod common;

use std::time::Duration;

use common::{Reply, Server};
use rollgate_analysis::types::{Authentication, BasicAuthConfig, WebMetric, WebMetricHeader};
use rollgate_providers::{Client, Credentials, Failure, MetricResult, WebRequest};
use serde_json::json;

fn header(key: &str, value: &str) -> WebMetricHeader {
    WebMetricHeader {
        key: key.into(),
        value: value.into(),
    }
}

#[tokio::test]
async fn a_get_sends_the_headers_and_reads_the_json_path() {
    let server = Server::start(|_| Reply::json(200, r#"{"data":{"ok":true,"rate":0.99}}"#)).await;
    let spec = WebMetric {
        url: server.url("/api/checks?service=checkout&window=5m"),
        headers: vec![
            header("X-Team", "payments"),
            header("Accept", "application/json"),
        ],
        json_path: Some("{$.data.rate}".into()),
        ..Default::default()
    };
    let request =
        WebRequest::new("error-rate", &spec, Some(Credentials::Bearer("abc".into()))).unwrap();
    let measured = request.measure(&Client::new()).await.unwrap();
    assert_eq!(measured.result, MetricResult::Json(json!(0.99)));
    assert_eq!(measured.value, "0.99");

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "GET");
    assert_eq!(r.target, "/api/checks?service=checkout&window=5m");
    assert_eq!(r.header("x-team"), Some("payments"));
    assert_eq!(r.header("accept"), Some("application/json"));
    assert_eq!(r.header("authorization"), Some("Bearer abc"));
    assert_eq!(r.header("content-type"), None);
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn a_post_with_json_body_sends_it_as_json() {
    let server = Server::start(|_| Reply::json(200, r#"{"verdict":"pass"}"#)).await;
    let spec = WebMetric {
        method: Some("POST".into()),
        url: server.url("/judge"),
        headers: vec![header("Content-Type", "text/plain")],
        json_body: Some(json!({"canary": "abc123", "threshold": 0.95})),
        json_path: Some("{.verdict}".into()),
        ..Default::default()
    };
    let measured = WebRequest::new("judge", &spec, None)
        .unwrap()
        .measure(&Client::new())
        .await
        .unwrap();
    assert_eq!(measured.result, MetricResult::Json(json!("pass")));
    assert_eq!(measured.value, r#""pass""#);
    let r = &server.requests()[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.target, "/judge");
    // jsonBody's Content-Type replaces the one of `headers`, as in Argo.
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body_text(), r#"{"canary":"abc123","threshold":0.95}"#);
}

#[tokio::test]
async fn a_put_with_a_text_body_and_basic_auth() {
    let server = Server::start(|_| Reply::text(200, "healthy")).await;
    let spec = WebMetric {
        method: Some("PUT".into()),
        url: server.url("/probe"),
        headers: vec![header("Content-Type", "text/csv")],
        body: Some("a,b\n1,2\n".into()),
        authentication: Some(Authentication {
            basic_auth: Some(BasicAuthConfig {
                username: Some("u".into()),
                password: Some("p".into()),
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let measured = WebRequest::new("probe", &spec, None)
        .unwrap()
        .measure(&Client::new())
        .await
        .unwrap();
    // Not JSON: the body is the value, as text.
    assert_eq!(measured.result, MetricResult::Text("healthy".into()));
    assert_eq!(measured.value, "healthy");
    let r = &server.requests()[0];
    assert_eq!(r.method, "PUT");
    assert_eq!(r.header("content-type"), Some("text/csv"));
    assert_eq!(r.header("authorization"), Some("Basic dTpw"));
    assert_eq!(r.body_text(), "a,b\n1,2\n");
}

#[tokio::test]
async fn a_status_outside_2xx_is_argos_error_with_the_url() {
    let server = Server::start(|_| Reply::text(503, "overloaded")).await;
    let spec = WebMetric {
        url: server.url("/health"),
        ..Default::default()
    };
    let error = WebRequest::new("health", &spec, None)
        .unwrap()
        .measure(&Client::new())
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "metric \"health\" ({}): received non 2xx response code: 503 (overloaded)",
            server.url("/health")
        )
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_naming_it() {
    let huge = "x".repeat(rollgate_providers::MAX_BODY_BYTES + 1);
    let server = Server::start(move |_| Reply::text(200, &huge)).await;
    let spec = WebMetric {
        url: server.url("/big"),
        ..Default::default()
    };
    let error = WebRequest::new("big", &spec, None)
        .unwrap()
        .measure(&Client::new())
        .await
        .unwrap_err();
    assert!(
        matches!(error.failure, Failure::BodyTooLarge { limit } if limit == 4 << 20),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .ends_with("the response's body is larger than 4194304 bytes"),
        "{error}"
    );
}

#[tokio::test]
async fn a_slow_server_is_a_timeout_error() {
    let server = Server::start(|_| Reply {
        delay: Duration::from_secs(5),
        ..Reply::json(200, "{}")
    })
    .await;
    let spec = WebMetric {
        url: server.url("/slow"),
        timeout_seconds: Some(1),
        ..Default::default()
    };
    let error = WebRequest::new("slow", &spec, None)
        .unwrap()
        .measure(&Client::new())
        .await
        .unwrap_err();
    assert!(
        matches!(error.failure, Failure::Timeout(t) if t == Duration::from_secs(1)),
        "{error}"
    );
}

#[tokio::test]
async fn a_self_signed_server_needs_insecure() {
    let server = Server::start_tls(|_| Reply::json(200, r#"{"ok":1}"#)).await;
    let spec = WebMetric {
        url: server.https_url("/tls"),
        json_path: Some("{$.ok}".into()),
        ..Default::default()
    };
    let client = Client::new();
    let error = WebRequest::new("tls", &spec, None)
        .unwrap()
        .measure(&client)
        .await
        .unwrap_err();
    assert!(matches!(error.failure, Failure::Request(_)), "{error}");
    assert!(
        error
            .to_string()
            .contains("invalid peer certificate: UnknownIssuer (the server's certificate is not trusted by the system's CA certificates; insecure: true skips the check)"),
        "{error}"
    );

    let insecure = WebMetric {
        insecure: Some(true),
        ..spec
    };
    let measured = WebRequest::new("tls", &insecure, None)
        .unwrap()
        .measure(&client)
        .await
        .unwrap();
    assert_eq!(measured.result, MetricResult::Json(json!(1)));
    assert_eq!(server.requests().len(), 1);
    assert_eq!(server.requests()[0].target, "/tls");
}
