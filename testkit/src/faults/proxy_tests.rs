//! The proxy on loopback, in front of a small HTTP server standing in for
//! kube-apiserver: each fault, switched at run time.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Fault, Proxy};

/// An upstream on 127.0.0.1: `/api` answers `{"ok":true}`, and with
/// `watch=true` a stream of one line every 100 ms that never ends.
async fn upstream() -> (kube::Config, tokio::task::JoinHandle<()>) {
    let app = Router::new()
        .route(
            "/whoami",
            get(|headers: axum::http::HeaderMap| async move {
                headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("none")
                    .to_owned()
            }),
        )
        .route(
            "/api",
            get(|query: axum::extract::RawQuery| async move {
                if query.0.as_deref() == Some("watch=true") {
                    let lines = futures::stream::unfold(0u64, |n| async move {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Some((Ok::<_, std::io::Error>(format!("{{\"n\":{n}}}\n")), n + 1))
                    });
                    Body::from_stream(lines)
                } else {
                    Body::from("{\"ok\":true}")
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    let mut config = kube::Config::new(url.parse().unwrap());
    config.auth_info.token = Some(secrecy::SecretString::from("proxy-token"));
    (config, task)
}

/// One request through the proxy on a fresh connection: the whole answer
/// as text, or the I/O error that ended it.
async fn request(proxy: &Proxy, path: &str) -> std::io::Result<String> {
    send(proxy, path, "Authorization: Bearer t\r\n").await
}

/// [`request`] with `headers` (each ending in CRLF).
async fn send(proxy: &Proxy, path: &str, headers: &str) -> std::io::Result<String> {
    let port = proxy
        .url()
        .rsplit(':')
        .next()
        .unwrap()
        .parse::<u16>()
        .unwrap();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test]
async fn requests_pass_unless_a_fault_is_set() {
    let (config, _server) = upstream().await;
    let proxy = Proxy::start(config).await;
    let answer = request(&proxy, "/api").await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("{\"ok\":true}"), "{answer}");
    assert_eq!(proxy.stats().requests, 1);
    assert_eq!(proxy.stats().faulted, 0);
}

#[tokio::test]
async fn a_request_keeps_its_credentials_and_one_without_gets_the_proxys() {
    let (config, _server) = upstream().await;
    let proxy = Proxy::start(config).await;
    let own = request(&proxy, "/whoami").await.unwrap();
    assert!(own.ends_with("\r\n\r\nBearer t"), "{own}");
    let none = send(&proxy, "/whoami", "").await.unwrap();
    assert!(none.ends_with("\r\n\r\nBearer proxy-token"), "{none}");
}

#[tokio::test]
async fn server_errors_and_too_many_requests_answer_with_a_status() {
    let (config, _server) = upstream().await;
    let proxy = Proxy::start(config).await;
    proxy.set(Fault::ServerError { one_in: 1 });
    let answer = request(&proxy, "/api").await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("\"kind\":\"Status\""), "{answer}");
    assert!(answer.contains("\"code\":503"), "{answer}");

    proxy.set(Fault::TooManyRequests {
        retry_after_seconds: 2,
        one_in: 2,
    });
    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(request(&proxy, "/api").await.unwrap());
    }
    let limited: Vec<&String> = answers
        .iter()
        .filter(|a| a.starts_with("HTTP/1.1 429"))
        .collect();
    assert_eq!(limited.len(), 2, "one in two: {answers:?}");
    assert!(
        limited[0]
            .to_ascii_lowercase()
            .contains("retry-after: 2\r\n"),
        "{}",
        limited[0]
    );
    assert!(
        limited[0].contains("\"retryAfterSeconds\":2"),
        "{}",
        limited[0]
    );
    assert_eq!(
        answers
            .iter()
            .filter(|a| a.starts_with("HTTP/1.1 200"))
            .count(),
        2
    );

    proxy.set(Fault::Pass);
    assert!(
        request(&proxy, "/api")
            .await
            .unwrap()
            .starts_with("HTTP/1.1 200")
    );
    assert_eq!(proxy.stats().faulted, 3);
}

#[tokio::test]
async fn latency_delays_each_request() {
    let (config, _server) = upstream().await;
    let proxy = Proxy::start(config).await;
    proxy.set(Fault::Latency(Duration::from_millis(300)));
    let started = Instant::now();
    let answer = request(&proxy, "/api").await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn watches_are_ended_after_the_set_time_and_at_once_when_the_fault_is_set() {
    let (config, _server) = upstream().await;
    let proxy = Proxy::start(config).await;
    proxy.set(Fault::DropWatches {
        after: Duration::from_millis(350),
    });
    let started = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(10), request(&proxy, "/api?watch=true"))
        .await
        .expect("the watch ends")
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(350));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains("{\"n\":0}"),
        "events before the cut: {answer}"
    );
    // Ended cleanly: the last chunk of a chunked body is there.
    assert!(answer.ends_with("0\r\n\r\n"), "{answer:?}");
    // A plain request is not cut.
    assert!(
        request(&proxy, "/api")
            .await
            .unwrap()
            .ends_with("{\"ok\":true}")
    );

    // A watch open before the fault ends when it is set.
    proxy.set(Fault::Pass);
    let open = {
        let url = proxy.url();
        let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
        tokio::spawn(async move {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            stream
                .write_all(b"GET /api?watch=true HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).await.map(|_| answer)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!open.is_finished(), "the watch runs while no fault is set");
    proxy.set(Fault::DropWatches {
        after: Duration::from_secs(3600),
    });
    let answer = tokio::time::timeout(Duration::from_secs(5), open)
        .await
        .expect("the open watch ends at once")
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&answer).contains("{\"n\":0}"));
}

#[tokio::test]
async fn resets_cut_the_connection_without_an_answer() {
    let (config, _server) = upstream().await;
    let proxy = Proxy::start(config).await;
    proxy.set(Fault::Reset { one_in: 1 });
    match request(&proxy, "/api").await {
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
        Ok(answer) => assert!(answer.is_empty(), "no answer: {answer}"),
    }
    proxy.set(Fault::Pass);
    assert!(
        request(&proxy, "/api")
            .await
            .unwrap()
            .starts_with("HTTP/1.1 200")
    );
}

#[tokio::test]
async fn the_kubeconfig_points_at_the_proxy_and_keeps_the_credentials() {
    let (config, _server) = upstream().await;
    let proxy = Proxy::start(config).await;
    let dir = std::env::temp_dir().join(format!("proxy-kubeconfig-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join("config");
    std::fs::write(
        &source,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1', certificate-authority-data: eA==}\n\
         users:\n- name: u\n  user: {token: secret}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n",
    )
    .unwrap();
    let file = proxy.kubeconfig_from(&source);
    let written: serde_json::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(written["clusters"][0]["cluster"]["server"], proxy.url());
    assert_eq!(written["users"][0]["user"]["token"], "secret");
    drop(proxy);
    assert!(!file.exists(), "removed with the proxy");
    std::fs::remove_dir_all(dir).unwrap();
}
