//! Downloading one file over `http://` or `https://`, as Argo Rollouts
//! downloads plugin binaries: a GET that follows redirects (at most 10, as
//! Go's default client does), any status outside 2xx a failure, the body
//! written to a new file that only its owner may read, write and run
//! (mode 0700, Argo's). Unlike Argo's download, which has neither, the
//! size of the body is bounded and the whole download has a deadline
//! ([`Limits`]).
//!
//! The caller's request headers go with every request; on a redirect to
//! a host that is neither the first request's host nor one of its
//! subdomains, `Authorization`, `WWW-Authenticate`, `Cookie` and `Cookie2`
//! are dropped, as Go's client drops them for Argo.
//!
//! `https://` is verified against the system's CA certificates (rustls,
//! no OpenSSL).

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::io::AsyncWriteExt as _;

/// How many redirects a download follows (Go's `http.Client` default).
pub const MAX_REDIRECTS: usize = 10;

/// The bounds of one download.
///
/// ```
/// use rollgate_controller::traffic::download::Limits;
/// let limits = Limits::default();
/// assert_eq!(limits.max_bytes, 512 * 1024 * 1024);
/// assert_eq!(limits.timeout, std::time::Duration::from_secs(300));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest body accepted, in bytes (512 MiB by default: plugin
    /// binaries are tens of megabytes).
    pub max_bytes: u64,
    /// How long the whole download may take, redirects included (5
    /// minutes by default).
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 512 * 1024 * 1024,
            timeout: Duration::from_secs(300),
        }
    }
}

/// What a finished download wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// The SHA-256 of the body, in lowercase hexadecimal.
    pub sha256: String,
    /// The body's length in bytes.
    pub bytes: u64,
}

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The location is not an `http://` or `https://` URL.
    #[error("expected an http:// or https:// URL")]
    NotHttp,
    /// The location cannot be read as a URL.
    #[error("not a valid URL: {0}")]
    InvalidUrl(String),
    /// No CA certificates to verify an `https://` server with.
    #[error("cannot load the system's CA certificates to verify {url}: {message}")]
    Certificates {
        /// The URL asked for.
        url: String,
        /// Why.
        message: String,
    },
    /// The request could not be sent or its answer not read.
    #[error("GET {url} failed: {message}")]
    Request {
        /// The URL asked for.
        url: String,
        /// Why, with its causes.
        message: String,
    },
    /// The server answered with a status outside 2xx.
    #[error("GET {url} answered {status}")]
    Status {
        /// The URL asked for.
        url: String,
        /// The status, with its reason.
        status: String,
    },
    /// A redirect without a usable `Location`, or too many redirects.
    #[error("GET {url}: {message}")]
    Redirect {
        /// The URL that redirected.
        url: String,
        /// What is wrong with it.
        message: String,
    },
    /// The body is larger than [`Limits::max_bytes`].
    #[error("the file is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The download did not finish within [`Limits::timeout`].
    #[error("the download did not finish within {}", humantime::format_duration(*.timeout))]
    TimedOut {
        /// The limit.
        timeout: Duration,
    },
    /// The file could not be written.
    #[error("cannot write {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
}

/// Downloads `url` into a new file at `to` (which must not exist), within
/// `limits`, sending `headers`, and returns the body's SHA-256 and length.
/// On failure the file may be left partly written: the caller removes it.
///
/// # Errors
///
/// See [`DownloadError`].
pub async fn download(
    url: &str,
    to: &Path,
    limits: &Limits,
    headers: &HeaderMap,
) -> Result<Downloaded, DownloadError> {
    let started = Instant::now();
    let result = tokio::time::timeout(limits.timeout, fetch(url, to, limits, headers)).await;
    let downloaded = result.map_err(|_| DownloadError::TimedOut {
        timeout: limits.timeout,
    })??;
    tracing::debug!(%url, bytes = downloaded.bytes, elapsed = ?started.elapsed(), "downloaded");
    Ok(downloaded)
}

async fn fetch(
    url: &str,
    to: &Path,
    limits: &Limits,
    headers: &HeaderMap,
) -> Result<Downloaded, DownloadError> {
    let first: Uri = url
        .parse()
        .map_err(|e: http::uri::InvalidUri| DownloadError::InvalidUrl(e.to_string()))?;
    let mut uri = first.clone();
    let mut redirects = 0;
    let response = loop {
        let response = get(&uri, &headers_for(headers, &first, &uri)).await?;
        if !response.status().is_redirection() || response.status() == StatusCode::NOT_MODIFIED {
            break response;
        }
        redirects += 1;
        if redirects > MAX_REDIRECTS {
            return Err(DownloadError::Redirect {
                url: uri.to_string(),
                message: format!("more than {MAX_REDIRECTS} redirects"),
            });
        }
        uri = redirect_target(&uri, response.headers().get(http::header::LOCATION)).ok_or_else(
            || DownloadError::Redirect {
                url: uri.to_string(),
                message: format!(
                    "answered {} without a usable Location header",
                    status_text(response.status())
                ),
            },
        )?;
    };
    if !response.status().is_success() {
        return Err(DownloadError::Status {
            url: uri.to_string(),
            status: status_text(response.status()),
        });
    }
    let declared = response
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limits.max_bytes) {
        return Err(DownloadError::TooLarge {
            limit: limits.max_bytes,
        });
    }
    write_body(&uri, response.into_body(), to, limits.max_bytes).await
}

/// The headers that go to `to` when the download started at `first`: all
/// of `headers`, less the credentials when `to`'s host is neither
/// `first`'s nor one of its subdomains (Go's `shouldCopyHeaderOnRedirect`).
fn headers_for(headers: &HeaderMap, first: &Uri, to: &Uri) -> HeaderMap {
    const CREDENTIALS: [&str; 4] = ["authorization", "www-authenticate", "cookie", "cookie2"];
    let host = |uri: &Uri| uri.host().unwrap_or_default().to_ascii_lowercase();
    let (first, to) = (host(first), host(to));
    let trusted = to == first || to.ends_with(&format!(".{first}"));
    let mut sent = headers.clone();
    if !trusted {
        for name in CREDENTIALS {
            sent.remove(HeaderName::from_static(name));
        }
    }
    sent
}

/// One GET of `uri` with `headers` (no redirect followed).
async fn get(uri: &Uri, headers: &HeaderMap) -> Result<Response<Incoming>, DownloadError> {
    let request_error = |e: &dyn std::error::Error| DownloadError::Request {
        url: uri.to_string(),
        message: causes(e),
    };
    let mut request = Request::get(uri.clone())
        .body(Empty::<Bytes>::new())
        .map_err(|e| request_error(&e))?;
    let sent = request.headers_mut();
    sent.extend(headers.iter().map(|(k, v)| (k.clone(), v.clone())));
    sent.entry(http::header::USER_AGENT)
        .or_insert(HeaderValue::from_static(concat!(
            "rollgate-controller/",
            env!("CARGO_PKG_VERSION")
        )));
    match uri.scheme_str() {
        Some("http") => {
            let client = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
            client.request(request).await.map_err(|e| request_error(&e))
        }
        Some("https") => {
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_native_roots()
                .map_err(|e| DownloadError::Certificates {
                    url: uri.to_string(),
                    message: e.to_string(),
                })?
                .https_only()
                .enable_http1()
                .build();
            let client = Client::builder(TokioExecutor::new()).build(connector);
            client.request(request).await.map_err(|e| request_error(&e))
        }
        _ => Err(DownloadError::NotHttp),
    }
}

/// Writes `body` to a new file at `to`, mode 0700, hashing it on the way.
async fn write_body(
    uri: &Uri,
    mut body: Incoming,
    to: &Path,
    max_bytes: u64,
) -> Result<Downloaded, DownloadError> {
    let file_error = |source| DownloadError::File {
        path: to.display().to_string(),
        source,
    };
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o700)
        .open(to)
        .await
        .map_err(file_error)?;
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let mut bytes = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| DownloadError::Request {
            url: uri.to_string(),
            message: causes(&e),
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        bytes = bytes.saturating_add(data.len() as u64);
        if bytes > max_bytes {
            return Err(DownloadError::TooLarge { limit: max_bytes });
        }
        digest.update(&data);
        file.write_all(&data).await.map_err(file_error)?;
    }
    file.flush().await.map_err(file_error)?;
    file.sync_all().await.map_err(file_error)?;
    Ok(Downloaded {
        sha256: super::registry::hex(digest.finish().as_ref()),
        bytes,
    })
}

/// Where a redirect from `from` goes: its `Location`, absolute or relative
/// to `from`.
fn redirect_target(from: &Uri, location: Option<&HeaderValue>) -> Option<Uri> {
    let location = location?.to_str().ok()?;
    let target: Uri = location.parse().ok()?;
    if target.scheme().is_some() {
        return Some(target);
    }
    let path = if location.starts_with('/') {
        location.to_owned()
    } else {
        let base = from.path();
        let directory = &base[..base.rfind('/').map_or(0, |i| i + 1)];
        format!("{directory}{location}")
    };
    Uri::builder()
        .scheme(from.scheme()?.clone())
        .authority(from.authority()?.clone())
        .path_and_query(path)
        .build()
        .ok()
}

fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// An error and its causes, as one line.
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        next = cause.source();
    }
    text
}

#[cfg(test)]
mod tests;
