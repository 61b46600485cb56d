//! The web provider: one HTTP request per measurement, its JSON answer
//! read with the metric's `jsonPath`, as Argo's web metric provider does.

use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, Uri};
use rollgate_analysis::types::WebMetric;
use serde_json::Value;

use crate::auth::Credentials;
use crate::client::{Client, Exchange};
use crate::config;
use crate::error::{Error, Failure, excerpt};
use crate::jsonpath::KubeJsonPath;
use crate::value::{Measured, MetricResult};

/// Argo's timeout when `timeoutSeconds` is unset or not positive: 10
/// seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A metric's web request, checked and ready to send.
#[derive(Debug, Clone)]
pub struct WebRequest {
    metric: String,
    method: Method,
    url: Uri,
    headers: http::HeaderMap,
    body: Bytes,
    timeout: Duration,
    insecure: bool,
    json_path: KubeJsonPath,
}

impl WebRequest {
    /// Checks `provider.web` of the metric named `metric`, with Argo's
    /// rules:
    ///
    /// - `method` is `GET` (the default), `POST` or `PUT`;
    /// - `body` and `jsonBody` exclude each other, and neither goes with
    ///   `GET`; `jsonBody` is sent as JSON with `Content-Type:
    ///   application/json` (replacing a `Content-Type` of `headers`);
    /// - `timeoutSeconds` unset or not positive means 10 seconds;
    /// - `jsonPath` is a Kubernetes JSONPath, `{$}` when unset.
    ///
    /// `url`, `headers` and `body` arrive with their arguments substituted
    /// by the caller. `credentials` are the caller's, resolved from
    /// Secrets; without them `authentication.basicAuth` is used. Argo's web
    /// provider ignores `basicAuth`; Rollgate sends it, since a metric that
    /// sets it means it. `authentication.oauth2` is not supported yet and
    /// is refused.
    ///
    /// ```
    /// use rollgate_analysis::types::WebMetric;
    /// use rollgate_providers::WebRequest;
    ///
    /// let spec = WebMetric {
    ///     url: "http://checks.default/health".into(),
    ///     json_path: Some("{$.data.ok}".into()),
    ///     ..Default::default()
    /// };
    /// assert!(WebRequest::new("health", &spec, None).is_ok());
    /// let spec = WebMetric { body: Some("x".into()), ..spec };
    /// let error = WebRequest::new("health", &spec, None).unwrap_err();
    /// assert!(error.to_string().contains("can only be used with POST or PUT"));
    /// ```
    pub fn new(
        metric: &str,
        spec: &WebMetric,
        credentials: Option<Credentials>,
    ) -> Result<Self, Error> {
        let fail = |failure| Error {
            metric: metric.to_owned(),
            address: spec.url.clone(),
            failure,
        };
        let config_error = |field: &str, problem: &str| {
            fail(Failure::Config {
                field: field.to_owned(),
                problem: problem.to_owned(),
            })
        };
        let method = match spec.method.as_deref().unwrap_or_default() {
            "" | "GET" => Method::GET,
            "POST" => Method::POST,
            "PUT" => Method::PUT,
            other => {
                return Err(config_error(
                    "provider.web.method",
                    &format!("expected GET, POST or PUT, not {other:?}"),
                ));
            }
        };
        if spec.url.is_empty() {
            return Err(config_error("provider.web.url", "expected a URL"));
        }
        config::substituted(&spec.url, "provider.web.url").map_err(fail)?;
        let url = config::url(&spec.url, "provider.web.url").map_err(fail)?;
        let text_body = spec.body.as_deref().filter(|b| !b.is_empty());
        if text_body.is_some() && spec.json_body.is_some() {
            return Err(config_error(
                "provider.web.body",
                "use either Body or JSONBody; both cannot exists for WebMetric payload",
            ));
        }
        if (text_body.is_some() || spec.json_body.is_some()) && method == Method::GET {
            return Err(config_error(
                "provider.web.method",
                "Body/JSONBody can only be used with POST or PUT WebMetric Method types",
            ));
        }
        let from_spec =
            Credentials::from_authentication(spec.authentication.as_ref(), "web").map_err(fail)?;
        let credentials = credentials.or(from_spec);
        let mut headers =
            config::headers(&spec.headers, credentials.as_ref(), "provider.web.headers")
                .map_err(fail)?;
        let body = match (text_body, &spec.json_body) {
            (Some(text), _) => {
                config::substituted(text, "provider.web.body").map_err(fail)?;
                Bytes::from(text.to_owned())
            }
            (None, Some(json)) => {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Bytes::from(json.to_string())
            }
            (None, None) => Bytes::new(),
        };
        let timeout = match spec.timeout_seconds {
            Some(seconds) if seconds > 0 => Duration::from_secs(seconds.unsigned_abs()),
            _ => DEFAULT_TIMEOUT,
        };
        let json_path = KubeJsonPath::parse(
            spec.json_path
                .as_deref()
                .filter(|p| !p.is_empty())
                .unwrap_or(KubeJsonPath::WHOLE_DOCUMENT),
        )
        .map_err(fail)?;
        Ok(Self {
            metric: metric.to_owned(),
            method,
            url,
            headers,
            body,
            timeout,
            insecure: spec.insecure.unwrap_or(false),
            json_path,
        })
    }

    /// The timeout over the whole request.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends the request and returns what its answer measured: a status
    /// outside 2xx is an error; a JSON body is read with `jsonPath` (the
    /// first value found; none is Argo's "produced no value" error); a body
    /// that is not JSON is the value itself, as text.
    pub async fn measure(&self, client: &Client) -> Result<Measured, Error> {
        let fail = |failure| Error {
            metric: self.metric.clone(),
            address: self.url.to_string(),
            failure,
        };
        let exchange = Exchange {
            method: self.method.clone(),
            uri: self.url.clone(),
            headers: self.headers.clone(),
            body: self.body.clone(),
        };
        let answer = client
            .send(exchange, self.insecure, self.timeout)
            .await
            .map_err(fail)?;
        if !answer.status.is_success() {
            return Err(fail(Failure::Status {
                status: answer.status.as_u16(),
                excerpt: excerpt(&answer.body, 200),
            }));
        }
        read(&self.json_path, &answer.body).map_err(fail)
    }
}

/// A successful answer's body read at `json_path`: the first value found,
/// or the body itself as text when it is not JSON.
pub(crate) fn read(json_path: &KubeJsonPath, body: &[u8]) -> Result<Measured, Failure> {
    let Ok(document) = serde_json::from_slice::<Value>(body) else {
        let text = String::from_utf8_lossy(body).into_owned();
        return Ok(Measured {
            result: MetricResult::Text(text.clone()),
            value: text,
            warnings: Vec::new(),
        });
    };
    let found = json_path
        .first(&document)
        .ok_or_else(|| Failure::NoValue(json_path.as_str().to_owned()))?;
    let found = as_go_numbers(found.clone());
    Ok(Measured {
        value: found.to_string(),
        result: MetricResult::Json(found),
        warnings: Vec::new(),
    })
}

/// Go reads every JSON number as a float and writes an integral one
/// without a fraction (`1.0` comes back as `1`): the same here, for
/// numbers a float holds exactly.
fn as_go_numbers(value: Value) -> Value {
    match value {
        Value::Number(n) if n.is_f64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 =>
            {
                #[allow(clippy::cast_possible_truncation)]
                Value::from(f as i64)
            }
            _ => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(as_go_numbers).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, as_go_numbers(v)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn request(json_path: Option<&str>) -> WebRequest {
        let spec = WebMetric {
            url: "http://127.0.0.1:1/".into(),
            json_path: json_path.map(str::to_owned),
            ..Default::default()
        };
        WebRequest::new("m", &spec, None).unwrap()
    }

    #[test]
    fn json_is_read_with_the_path_and_written_as_json() {
        let m = read(
            &request(Some("{$.data.ok}")).json_path,
            br#"{"data":{"ok":"yes"}}"#,
        )
        .unwrap();
        assert_eq!(m.result, MetricResult::Json(json!("yes")));
        assert_eq!(m.value, r#""yes""#);
        let m = read(&request(None).json_path, br#"{"b":1.0,"a":[2.5]}"#).unwrap();
        assert_eq!(m.value, r#"{"a":[2.5],"b":1}"#);
    }

    #[test]
    fn a_body_that_is_not_json_is_the_value() {
        let m = read(&request(Some("{$.data.ok}")).json_path, b"all good\n").unwrap();
        assert_eq!(m.result, MetricResult::Text("all good\n".into()));
        assert_eq!(m.value, "all good\n");
    }

    #[test]
    fn a_path_that_finds_nothing_is_argos_no_value_error() {
        let e = read(&request(Some("{$.data.ok}")).json_path, br#"{"data":{}}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"result of web metric produced no value (jsonPath "{$.data.ok}")"#
        );
    }

    #[test]
    fn argos_rules_on_method_and_body() {
        let base = WebMetric {
            url: "http://127.0.0.1:1/".into(),
            ..Default::default()
        };
        let cases = [
            (
                WebMetric {
                    method: Some("DELETE".into()),
                    ..base.clone()
                },
                r#"provider.web.method: expected GET, POST or PUT, not "DELETE""#,
            ),
            (
                WebMetric {
                    method: Some("POST".into()),
                    body: Some("a".into()),
                    json_body: Some(json!({})),
                    ..base.clone()
                },
                "provider.web.body: use either Body or JSONBody",
            ),
            (
                WebMetric {
                    json_body: Some(json!({})),
                    ..base.clone()
                },
                "provider.web.method: Body/JSONBody can only be used with POST or PUT",
            ),
            (
                WebMetric {
                    url: "checks/health".into(),
                    ..base.clone()
                },
                "provider.web.url: \"checks/health\" is not a URL",
            ),
            (
                WebMetric {
                    url: "http://{{args.host}}/".into(),
                    ..base.clone()
                },
                "provider.web.url: {{args.host}} was not substituted",
            ),
        ];
        for (spec, expected) in cases {
            let error = WebRequest::new("health", &spec, None)
                .unwrap_err()
                .to_string();
            assert!(error.starts_with("metric \"health\" ("), "{error}");
            assert!(error.contains(expected), "{error}\nexpected {expected}");
        }
    }

    #[test]
    fn timeout_is_argos_default_unless_positive() {
        for (seconds, expected) in [(None, 10), (Some(0), 10), (Some(-3), 10), (Some(2), 2)] {
            let spec = WebMetric {
                url: "http://127.0.0.1:1/".into(),
                timeout_seconds: seconds,
                ..Default::default()
            };
            let timeout = WebRequest::new("m", &spec, None).unwrap().timeout();
            assert_eq!(timeout, Duration::from_secs(expected));
        }
    }
}
