//! The HTTP(S) client both providers send their requests with: rustls with
//! the system's CA certificates, or no verification at all for a metric's
//! `insecure: true`; a timeout over the whole exchange; a bounded body.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::error::Failure;

/// The largest response body a provider reads: 4 MiB. A Prometheus answer
/// to a well-formed analysis query is a few hundred bytes; anything near
/// this is a query returning far more series than a condition can read.
pub const MAX_BODY_BYTES: usize = 4 << 20;

type Connector = HttpsConnector<HttpConnector>;

/// One HTTP exchange, built by a provider.
#[derive(Debug, Clone)]
pub(crate) struct Exchange {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// A response read in full.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
}

/// The client the providers share: one connection pool that verifies
/// certificates against the system's CA certificates, one that does not
/// (for `insecure: true`). Create one per runtime and reuse it.
#[derive(Debug, Clone)]
pub struct Client {
    verified: Result<HyperClient<Connector, Full<Bytes>>, String>,
    unverified: HyperClient<Connector, Full<Bytes>>,
}

impl Client {
    /// A client with the system's CA certificates. When none can be loaded,
    /// `http` addresses and `insecure: true` metrics still work, and a
    /// verified `https` request fails with the reason.
    pub fn new() -> Self {
        let verified = HttpsConnectorBuilder::new()
            .with_native_roots()
            .map(|builder| builder.https_or_http().enable_http1().build())
            .map(pool)
            .map_err(|e| format!("the system's CA certificates could not be loaded: {e}"));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("ring supports rustls' default protocol versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(
                provider.signature_verification_algorithms,
            )))
            .with_no_client_auth();
        let unverified = pool(
            HttpsConnectorBuilder::new()
                .with_tls_config(tls)
                .https_or_http()
                .enable_http1()
                .build(),
        );
        Self {
            verified,
            unverified,
        }
    }

    /// Sends `exchange` and reads its response within `timeout`, reading at
    /// most [`MAX_BODY_BYTES`] of body.
    pub(crate) async fn send(
        &self,
        exchange: Exchange,
        insecure: bool,
        timeout: Duration,
    ) -> Result<Answer, Failure> {
        // Plain `http` never reaches the TLS configuration: it goes through
        // either pool, so it works without the system's certificates.
        let client = if insecure || exchange.uri.scheme_str() == Some("http") {
            &self.unverified
        } else {
            self.verified
                .as_ref()
                .map_err(|e| Failure::Request(e.clone()))?
        };
        let mut request = Request::builder()
            .method(exchange.method)
            .uri(exchange.uri)
            .body(Full::new(exchange.body))
            .map_err(|e| Failure::Request(e.to_string()))?;
        *request.headers_mut() = exchange.headers;
        let round_trip = async {
            let response = client
                .request(request)
                .await
                .map_err(|e| Failure::Request(with_hint(causes(&e))))?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
                .collect()
                .await
                .map_err(|e| {
                    if e.downcast_ref::<LengthLimitError>().is_some() {
                        Failure::BodyTooLarge {
                            limit: MAX_BODY_BYTES,
                        }
                    } else {
                        Failure::Request(causes(e.as_ref()))
                    }
                })?
                .to_bytes();
            Ok(Answer { status, body })
        };
        tokio::time::timeout(timeout, round_trip)
            .await
            .map_err(|_| Failure::Timeout(timeout))?
    }
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

fn pool(connector: Connector) -> HyperClient<Connector, Full<Bytes>> {
    HyperClient::builder(TokioExecutor::new()).build(connector)
}

/// An error and its causes on one line ("client error (Connect): tcp
/// connect error: Connection refused").
fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

/// A certificate the system does not trust gets a word on what to do.
fn with_hint(message: String) -> String {
    if message.contains("invalid peer certificate") {
        format!(
            "{message} (the server's certificate is not trusted by the system's CA certificates; insecure: true skips the check)"
        )
    } else {
        message
    }
}

/// `insecure: true`: any server certificate is accepted, as Go's
/// `InsecureSkipVerify` does; the handshake's signatures are still checked,
/// so the connection is encrypted to whoever holds the certificate's key.
#[derive(Debug)]
struct AnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}
