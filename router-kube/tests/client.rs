//! The user agent reaches the server, through a mock service (tower-test)
//! and through a client built from a config to a listener on loopback; API
//! failures read as one line, of the kind their status code (or the lack
//! of an answer) says.

use std::time::Duration;

use http::{Request, Response};
use kube::api::{Api, DynamicObject};
use kube::client::Body;
use router_core::ErrorKind;
use router_kube::client::{
    LazyClient, UserAgent, client_from_config, client_with_service, request_error,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower_test::mock;

fn agent() -> UserAgent {
    UserAgent::new("rollgate-test", "1.2.3").unwrap()
}

fn secrets(client: kube::Client) -> Api<DynamicObject> {
    let resource = kube::api::ApiResource::erase::<k8s_openapi::api::core::v1::Secret>(&());
    Api::namespaced_with(client, "default", &resource)
}

#[tokio::test]
async fn the_user_agent_is_on_every_request_through_a_mock_service() {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = client_with_service(service, "default", &agent());
    let call = tokio::spawn(async move { secrets(client).get_opt("x").await });
    let (request, send) = tokio::time::timeout(Duration::from_secs(2), handle.next_request())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        request
            .headers()
            .get_all("user-agent")
            .iter()
            .collect::<Vec<_>>(),
        ["rollgate-test/1.2.3"]
    );
    let not_found = serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
        "reason": "NotFound", "message": "secrets \"x\" not found", "code": 404});
    send.send_response(
        Response::builder()
            .status(404)
            .body(Body::from(serde_json::to_vec(&not_found).unwrap()))
            .unwrap(),
    );
    assert!(call.await.unwrap().unwrap().is_none());
}

/// Accepts one HTTP request on loopback, answers 404, returns its head.
async fn one_request(listener: tokio::net::TcpListener) -> String {
    let (mut socket, _) = listener.accept().await.unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = socket.read(&mut buf).await.unwrap();
        assert!(n > 0, "the client closed before sending a request");
        head.extend_from_slice(&buf[..n]);
    }
    let body = br#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Forbidden","message":"secrets \"x\" is forbidden:\nUser \"y\" cannot get it","code":403}"#;
    let response = format!(
        "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    socket.write_all(response.as_bytes()).await.unwrap();
    socket.write_all(body).await.unwrap();
    String::from_utf8_lossy(&head).into_owned()
}

#[tokio::test]
async fn a_client_from_a_config_sends_the_user_agent_and_errors_are_one_line() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(one_request(listener));
    let config = kube::Config::new(url.parse().unwrap());
    let lazy = LazyClient::from_config(config.clone(), agent());
    assert!(!lazy.is_connected());
    let client = lazy.get().await.unwrap();
    assert!(lazy.is_connected());
    let err = secrets(client).get("x").await.unwrap_err();
    let head = server.await.unwrap().to_lowercase();
    assert!(
        head.lines().any(|l| l == "user-agent: rollgate-test/1.2.3"),
        "{head}"
    );
    assert_eq!(
        request_error("Secret default/x", &err).to_string(),
        "Secret default/x: 403 Forbidden: secrets \"x\" is forbidden: User \"y\" cannot get it"
    );
    assert_eq!(
        request_error("Secret default/x", &err).kind(),
        ErrorKind::Forbidden
    );
    // The same construction, directly.
    client_from_config(config, &agent()).unwrap();
}

#[tokio::test]
async fn no_answer_is_one_line_too() {
    // A port nothing listens on (bound, then closed).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = client_from_config(kube::Config::new(url.parse().unwrap()), &agent()).unwrap();
    let err = secrets(client).get("x").await.unwrap_err();
    let message = request_error("Secret default/x", &err).to_string();
    assert!(
        message.starts_with("Secret default/x: no answer from the API server: "),
        "{message}"
    );
    assert!(!message.contains('\n'), "{message}");
    assert_eq!(
        request_error("Secret default/x", &err).kind(),
        ErrorKind::Unavailable
    );
}

#[tokio::test]
async fn an_api_server_that_does_not_answer_in_time_is_a_timeout() {
    // Accepts the connection, then never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(socket);
    });
    let mut config = kube::Config::new(url.parse().unwrap());
    config.read_timeout = Some(Duration::from_millis(200));
    let client = client_from_config(config, &agent()).unwrap();
    let err = secrets(client).get("x").await.unwrap_err();
    let err = request_error("Secret default/x", &err);
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    held.abort();
}

#[test]
fn api_errors_take_the_kind_of_their_status_code() {
    let cases = [
        (403, "Forbidden", ErrorKind::Forbidden),
        (404, "NotFound", ErrorKind::NotFound),
        (409, "Conflict", ErrorKind::Conflict),
        (422, "Invalid", ErrorKind::Invalid),
        (500, "InternalError", ErrorKind::Unavailable),
        (503, "ServiceUnavailable", ErrorKind::Unavailable),
        (504, "Timeout", ErrorKind::Timeout),
    ];
    for (code, reason, kind) in cases {
        let status = kube::core::Status::failure("it failed", reason).with_code(code);
        let err = request_error("HTTPRoute shop/web", &kube::Error::Api(Box::new(status)));
        assert_eq!(err.kind(), kind, "{code}");
        assert_eq!(
            err.to_string(),
            format!("HTTPRoute shop/web: {code} {reason}: it failed")
        );
    }
}
