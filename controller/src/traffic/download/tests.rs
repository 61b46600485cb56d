use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;

use super::*;
use crate::traffic::registry::sha256_hex;
use crate::traffic::test_server::serve;

const PLUGIN: &[u8] = b"#!/bin/sh\necho plugin\n";

fn server() -> Router {
    Router::new()
        .route("/bin/plugin", get(|| async { PLUGIN }))
        .route(
            "/bin/moved",
            get(|| async { Redirect::temporary("plugin") }),
        )
        .route(
            "/moved-away",
            get(|| async { Redirect::permanent("/bin/moved") }),
        )
        .route("/loop", get(|| async { Redirect::temporary("/loop") }))
        .route(
            "/no-location",
            get(|| async { StatusCode::FOUND.into_response() }),
        )
        .route(
            "/missing",
            get(|| async { (StatusCode::NOT_FOUND, "no such plugin") }),
        )
        .route("/big", get(|| async { vec![7u8; 4096] }))
        .route(
            "/big-streamed",
            get(|| async {
                let chunks = (0..8).map(|_| Ok::<_, std::io::Error>(vec![7u8; 1024]));
                Body::from_stream(futures::stream::iter(chunks))
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                PLUGIN
            }),
        )
        .route(
            "/private",
            get(|headers: axum::http::HeaderMap| async move {
                let bearer = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
                let teams = headers.get_all("x-team").iter().count();
                if bearer == Some(b"Bearer t0ken") && teams == 2 {
                    PLUGIN.into_response()
                } else {
                    StatusCode::UNAUTHORIZED.into_response()
                }
            }),
        )
        .route(
            "/private-moved",
            get(|| async { Redirect::temporary("/private") }),
        )
        .route(
            "/typed",
            get(|| async { ([(header::CONTENT_TYPE, "application/octet-stream")], PLUGIN) }),
        )
}

async fn fetch_to(
    url: &str,
    limits: Limits,
) -> (Result<Downloaded, DownloadError>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let result = download(url, &dir.path().join("plugin"), &limits, &HeaderMap::new()).await;
    (result, dir)
}

#[tokio::test]
async fn the_body_is_written_to_a_new_file_only_its_owner_may_run() {
    let base = serve(server()).await;
    let (result, dir) = fetch_to(&format!("{base}/typed"), Limits::default()).await;
    let downloaded = result.unwrap();
    assert_eq!(downloaded.sha256, sha256_hex(PLUGIN));
    assert_eq!(downloaded.bytes, PLUGIN.len() as u64);
    let path = dir.path().join("plugin");
    assert_eq!(std::fs::read(&path).unwrap(), PLUGIN);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{mode:o}");
    // The file must be new: an existing one is not overwritten.
    let err = download(
        &format!("{base}/typed"),
        &path,
        &Limits::default(),
        &HeaderMap::new(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, DownloadError::File { .. }), "{err}");
}

#[tokio::test]
async fn redirects_are_followed_relative_or_absolute_up_to_ten() {
    let base = serve(server()).await;
    let (result, _dir) = fetch_to(&format!("{base}/moved-away"), Limits::default()).await;
    assert_eq!(result.unwrap().sha256, sha256_hex(PLUGIN));
    let (result, _dir) = fetch_to(&format!("{base}/loop"), Limits::default()).await;
    assert_eq!(
        result.unwrap_err().to_string(),
        format!("GET {base}/loop: more than 10 redirects")
    );
    let (result, _dir) = fetch_to(&format!("{base}/no-location"), Limits::default()).await;
    assert_eq!(
        result.unwrap_err().to_string(),
        format!("GET {base}/no-location: answered 302 Found without a usable Location header")
    );
}

#[tokio::test]
async fn a_status_outside_2xx_is_a_failure_naming_the_url() {
    let base = serve(server()).await;
    let (result, _dir) = fetch_to(&format!("{base}/missing"), Limits::default()).await;
    assert_eq!(
        result.unwrap_err().to_string(),
        format!("GET {base}/missing answered 404 Not Found")
    );
}

#[tokio::test]
async fn a_body_over_the_size_limit_is_refused_declared_or_streamed() {
    let base = serve(server()).await;
    let small = Limits {
        max_bytes: 2048,
        ..Limits::default()
    };
    for path in ["/big", "/big-streamed"] {
        let (result, _dir) = fetch_to(&format!("{base}{path}"), small).await;
        assert_eq!(
            result.unwrap_err().to_string(),
            "the file is larger than the limit of 2048 bytes",
            "{path}"
        );
    }
    let exact = Limits {
        max_bytes: 4096,
        ..Limits::default()
    };
    let (result, _dir) = fetch_to(&format!("{base}/big"), exact).await;
    assert_eq!(result.unwrap().bytes, 4096);
}

#[tokio::test]
async fn a_download_that_takes_too_long_is_abandoned() {
    let base = serve(server()).await;
    let quick = Limits {
        timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let (result, _dir) = fetch_to(&format!("{base}/slow"), quick).await;
    assert_eq!(
        result.unwrap_err().to_string(),
        "the download did not finish within 300ms"
    );
}

#[tokio::test]
async fn nothing_listening_is_a_request_failure_naming_the_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for scheme in ["http", "https"] {
        let url = format!("{scheme}://127.0.0.1:{port}/plugin");
        let (result, _dir) = fetch_to(&url, Limits::default()).await;
        let message = result.unwrap_err().to_string();
        assert!(
            message.starts_with(&format!("GET {url} failed: ")),
            "{message}"
        );
        assert!(message.to_lowercase().contains("connect"), "{message}");
    }
}

#[tokio::test]
async fn https_is_refused_by_a_server_speaking_plain_http() {
    let base = serve(server()).await;
    let url = format!("{}/bin/plugin", base.replace("http://", "https://"));
    let (result, _dir) = fetch_to(&url, Limits::default()).await;
    let message = result.unwrap_err().to_string();
    assert!(
        message.starts_with(&format!("GET {url} failed: ")),
        "{message}"
    );
}

#[tokio::test]
async fn a_location_that_is_not_a_url_is_refused_before_any_request() {
    let (result, _dir) = fetch_to("http://127.0.0.1:9/a plugin", Limits::default()).await;
    assert_eq!(
        result.unwrap_err().to_string(),
        "not a valid URL: invalid uri character"
    );
}

#[test]
fn a_relative_location_resolves_against_the_directory_of_the_url() {
    let from: Uri = "http://127.0.0.1:8080/releases/v1/plugin".parse().unwrap();
    let target = |location: &str| {
        redirect_target(&from, Some(&HeaderValue::from_str(location).unwrap()))
            .map(|u| u.to_string())
    };
    assert_eq!(
        target("plugin-linux").as_deref(),
        Some("http://127.0.0.1:8080/releases/v1/plugin-linux")
    );
    assert_eq!(
        target("/assets/1?sig=x").as_deref(),
        Some("http://127.0.0.1:8080/assets/1?sig=x")
    );
    assert_eq!(
        target("https://127.0.0.2/other").as_deref(),
        Some("https://127.0.0.2/other")
    );
    assert_eq!(redirect_target(&from, None), None);
}

fn credentials() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("Bearer t0ken"),
    );
    headers.append("x-team", HeaderValue::from_static("payments"));
    headers.append("x-team", HeaderValue::from_static("platform"));
    headers
}

#[tokio::test]
async fn the_callers_headers_go_with_the_request_and_its_redirects_on_the_same_host() {
    let base = serve(server()).await;
    let dir = tempfile::tempdir().unwrap();
    let to = |name: &str| dir.path().join(name);
    let err = download(
        &format!("{base}/private"),
        &to("a"),
        &Limits::default(),
        &HeaderMap::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("GET {base}/private answered 401 Unauthorized")
    );
    for (path, file) in [("/private", "b"), ("/private-moved", "c")] {
        let downloaded = download(
            &format!("{base}{path}"),
            &to(file),
            &Limits::default(),
            &credentials(),
        )
        .await
        .unwrap();
        assert_eq!(downloaded.sha256, sha256_hex(PLUGIN), "{path}");
    }
}

#[test]
fn credentials_are_dropped_on_a_redirect_to_another_host_as_go_drops_them() {
    let first: Uri = "https://releases.example.test/plugin".parse().unwrap();
    let sent = |to: &str| headers_for(&credentials(), &first, &to.parse().unwrap());
    for same in [
        "https://releases.example.test/v2/plugin",
        "http://RELEASES.example.test:8443/plugin",
        "https://cdn.releases.example.test/plugin",
    ] {
        assert_eq!(sent(same), credentials(), "{same}");
    }
    for other in [
        "https://example.test/plugin",
        "https://objects.storage.test/plugin",
    ] {
        let headers = sent(other);
        assert!(headers.get(header::AUTHORIZATION).is_none(), "{other}");
        assert_eq!(headers.get_all("x-team").iter().count(), 2, "{other}");
    }
}
