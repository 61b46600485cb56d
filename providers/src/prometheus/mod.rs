//! The Prometheus provider: one query per measurement, an instant query
//! (`/api/v1/query`) or, with `rangeQuery`, a range query
//! (`/api/v1/query_range`), as Argo's provider sends them through
//! Prometheus' Go client.
//!
//! The query arrives with its `{{args.NAME}}` already substituted by the
//! caller (the controller, which resolves arguments and Secrets); an
//! argument left in it is refused rather than sent.

mod range;
pub(crate) mod response;

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, StatusCode, Uri};
use rollgate_analysis::types::PrometheusMetric;

use crate::auth::Credentials;
use crate::client::{Client, Exchange};
use crate::config;
use crate::error::{Error, Failure};
use crate::value::Measured;
use range::{Range, unix_seconds};

/// Argo's timeout when `timeout` is not set: 30 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A metric's Prometheus query, checked and ready to send.
#[derive(Debug, Clone)]
pub struct PrometheusQuery {
    metric: String,
    endpoint: Uri,
    query: String,
    timeout: Duration,
    insecure: bool,
    headers: http::HeaderMap,
    range: Option<Range>,
}

impl PrometheusQuery {
    /// Checks `provider.prometheus` of the metric named `metric`.
    ///
    /// - `address` falls back to `default_address` (Argo's
    ///   `ARGO_ROLLOUTS_PROMETHEUS_ADDRESS`, read by the caller); one of
    ///   them must be an `http` or `https` URL.
    /// - `query` is required, with its arguments substituted.
    /// - `timeout` is whole seconds, 30 when unset. Argo refuses a negative
    ///   one; Rollgate refuses 0 too, where Argo would give every query no
    ///   time at all and record an error each time.
    /// - `credentials` are the caller's, resolved from Secrets; without
    ///   them, `authentication.basicAuth` (after substitution) is used, with
    ///   Argo's rule that a username needs a password and the reverse.
    /// - `rangeQuery` makes it a range query: `start` and `end` are
    ///   expressions yielding a time (`now() - duration("5m")`), `step` a
    ///   duration such as `1m`; all three are required.
    /// - `authentication.oauth2` and `authentication.sigv4` are not
    ///   supported yet and are refused, not ignored.
    ///
    /// ```
    /// use rollgate_analysis::types::PrometheusMetric;
    /// use rollgate_providers::PrometheusQuery;
    ///
    /// let spec = PrometheusMetric {
    ///     address: Some("http://prometheus.monitoring:9090".into()),
    ///     query: Some("sum(up)".into()),
    ///     ..Default::default()
    /// };
    /// assert!(PrometheusQuery::new("success-rate", &spec, None, None).is_ok());
    /// let spec = PrometheusMetric { timeout: Some(-1), ..spec };
    /// let error = PrometheusQuery::new("success-rate", &spec, None, None).unwrap_err();
    /// assert!(error.to_string().contains("provider.prometheus.timeout"));
    /// ```
    pub fn new(
        metric: &str,
        spec: &PrometheusMetric,
        credentials: Option<Credentials>,
        default_address: Option<&str>,
    ) -> Result<Self, Error> {
        let address = spec
            .address
            .as_deref()
            .filter(|a| !a.is_empty())
            .or(default_address.filter(|a| !a.is_empty()));
        let fail = |failure| Error {
            metric: metric.to_owned(),
            address: address.unwrap_or("no address").to_owned(),
            failure,
        };
        let address = address.ok_or_else(|| {
            fail(Failure::Config {
                field: "provider.prometheus.address".to_owned(),
                problem: "prometheus address is not configured: expected a URL such as http://prometheus.monitoring:9090".to_owned(),
            })
        })?;
        config::substituted(address, "provider.prometheus.address").map_err(fail)?;
        let base = config::url(address, "provider.prometheus.address").map_err(fail)?;
        let range = spec
            .range_query
            .as_ref()
            .map(Range::new)
            .transpose()
            .map_err(fail)?;
        let path = if range.is_some() {
            "/api/v1/query_range"
        } else {
            "/api/v1/query"
        };
        let endpoint = endpoint(&base, path).map_err(fail)?;
        let query = spec.query.as_deref().unwrap_or_default();
        if query.trim().is_empty() {
            return Err(fail(Failure::Config {
                field: "provider.prometheus.query".to_owned(),
                problem: "expected a PromQL query".to_owned(),
            }));
        }
        config::substituted(query, "provider.prometheus.query").map_err(fail)?;
        let timeout = match spec.timeout {
            None => DEFAULT_TIMEOUT,
            Some(seconds) if seconds > 0 => Duration::from_secs(seconds.unsigned_abs()),
            Some(seconds) => {
                return Err(fail(Failure::Config {
                    field: "provider.prometheus.timeout".to_owned(),
                    problem: format!("expected a positive number of seconds, not {seconds}"),
                }));
            }
        };
        let from_spec =
            Credentials::from_authentication(spec.authentication.as_ref(), "prometheus")
                .map_err(fail)?;
        let credentials = credentials.or(from_spec);
        let headers = config::headers(
            &spec.headers,
            credentials.as_ref(),
            "provider.prometheus.headers",
        )
        .map_err(fail)?;
        Ok(Self {
            metric: metric.to_owned(),
            endpoint,
            query: query.to_owned(),
            timeout,
            insecure: spec.insecure.unwrap_or(false),
            headers,
            range,
        })
    }

    /// The URL queried: the address with `/api/v1/query` (or
    /// `/api/v1/query_range`) after its path.
    pub fn endpoint(&self) -> &Uri {
        &self.endpoint
    }

    /// The timeout over the whole request.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs the query at `now` and returns what Prometheus measured.
    ///
    /// As Prometheus' Go client: a `POST` with the form `query=...&time=...`
    /// (`time` in Unix seconds), or for a range query
    /// `end=...&query=...&start=...&step=...` (times in Unix seconds, `step`
    /// in seconds); a server that answers `405 Method Not Allowed` is asked
    /// again with a `GET` and the same parameters in the URL. A range
    /// query's answer is a matrix: `result` holds every value of every
    /// series, series after series, as Argo reads it.
    pub async fn measure(&self, client: &Client, now: SystemTime) -> Result<Measured, Error> {
        let fail = |failure| Error {
            metric: self.metric.clone(),
            address: self.endpoint.to_string(),
            failure,
        };
        let form = self.form(now).map_err(fail)?;
        let mut headers = self.headers.clone();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let post = Exchange {
            method: Method::POST,
            uri: self.endpoint.clone(),
            headers,
            body: Bytes::from(form.clone()),
        };
        let mut answer = client
            .send(post, self.insecure, self.timeout)
            .await
            .map_err(fail)?;
        if answer.status == StatusCode::METHOD_NOT_ALLOWED {
            let get = Exchange {
                method: Method::GET,
                uri: with_query(&self.endpoint, &form).map_err(fail)?,
                headers: self.headers.clone(),
                body: Bytes::new(),
            };
            answer = client
                .send(get, self.insecure, self.timeout)
                .await
                .map_err(fail)?;
        }
        response::measurement(answer.status.as_u16(), &answer.body).map_err(fail)
    }

    /// The parameters, URL-encoded in the order Go's `url.Values` encodes
    /// them (by name): `query=...&time=...`, or
    /// `end=...&query=...&start=...&step=...`.
    fn form(&self, now: SystemTime) -> Result<String, Failure> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        match &self.range {
            None => form
                .append_pair("query", &self.query)
                .append_pair("time", &unix_seconds(now)),
            Some(range) => {
                let window = range.window(now)?;
                form.append_pair("end", &unix_seconds(window.end))
                    .append_pair("query", &self.query)
                    .append_pair("start", &unix_seconds(window.start))
                    .append_pair("step", &format!("{}", window.step.as_secs_f64()))
            }
        };
        Ok(form.finish())
    }
}

/// `address` + `path`, joined as Go's `path.Join` joins them.
fn endpoint(base: &Uri, api: &str) -> Result<Uri, Failure> {
    let path = base.path().trim_end_matches('/');
    let text = format!(
        "{}://{}{path}{api}",
        base.scheme_str().unwrap_or("http"),
        base.authority().map_or("", |a| a.as_str()),
    );
    text.parse().map_err(|_| Failure::Config {
        field: "provider.prometheus.address".to_owned(),
        problem: format!("{base} with {api} after it is not a URL"),
    })
}

fn with_query(endpoint: &Uri, form: &str) -> Result<Uri, Failure> {
    format!("{endpoint}?{form}")
        .parse()
        .map_err(|e: http::uri::InvalidUri| Failure::Request(e.to_string()))
}
