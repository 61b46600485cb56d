//! The providers' error: which metric, which address, what failed.

use std::time::Duration;

use thiserror::Error;

/// A measurement that could not be taken. Its text is what an AnalysisRun's
/// measurement message shows: the metric, the address asked and the failure.
#[derive(Debug, Error)]
#[error("metric {metric:?} ({address}): {failure}")]
pub struct Error {
    /// The metric's name.
    pub metric: String,
    /// The URL asked, or the configured address when the request was never
    /// sent.
    pub address: String,
    /// What failed.
    pub failure: Failure,
}

/// What failed while measuring.
#[derive(Debug, Error)]
pub enum Failure {
    /// A field of the metric's provider is missing or holds a wrong value.
    #[error("{field}: {problem}")]
    Config {
        /// The field path, such as `provider.prometheus.timeout`.
        field: String,
        /// What was expected.
        problem: String,
    },
    /// The request could not be sent or its response not read.
    #[error("the request failed: {0}")]
    Request(String),
    /// No complete response within the metric's timeout.
    #[error("no response within {}s", .0.as_secs_f64())]
    Timeout(Duration),
    /// The response's body is larger than the providers accept.
    #[error("the response's body is larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A status code outside 2xx (Argo's words for the web provider).
    #[error("received non 2xx response code: {status}{}", excerpt_suffix(.excerpt))]
    Status {
        /// The status code.
        status: u16,
        /// The start of the body, for the reader.
        excerpt: String,
    },
    /// Prometheus answered with `"status": "error"`.
    #[error("{error_type}: {error}")]
    Prometheus {
        /// `errorType`, such as `bad_data`.
        error_type: String,
        /// `error`, Prometheus' message.
        error: String,
    },
    /// Prometheus' answer is not in the shape of its HTTP API.
    #[error("the response is not a Prometheus API response: {0}")]
    PrometheusResponse(String),
    /// A result type the conditions cannot read (Argo's words).
    #[error("Prometheus metric type not supported (result type {0:?})")]
    UnsupportedResultType(String),
    /// A query of the judge failed.
    #[error("{field} (judge metric {judge_metric:?}, the {side}'s query): {failure}")]
    JudgeQuery {
        /// The query's field path, such as
        /// `provider.plugin["rollgate/judge"].metrics[0].query`.
        field: String,
        /// The judge metric's name.
        judge_metric: String,
        /// `canary` or `baseline`.
        side: &'static str,
        /// What failed.
        failure: Box<Self>,
    },
    /// No judge metric has samples for both the canary and the baseline.
    #[error("no data to judge: {0}")]
    NoData(String),
    /// The judge refused the samples.
    #[error("the judge refused the samples: {0}")]
    Judge(String),
    /// `jsonPath` does not parse.
    #[error("provider.web.jsonPath: {path:?} is not a JSONPath such as {{$.data.ok}}: {problem}")]
    JsonPath {
        /// The path as written.
        path: String,
        /// Why it does not parse.
        problem: String,
    },
    /// `jsonPath` found nothing in the response (Argo's words).
    #[error("result of web metric produced no value (jsonPath {0:?})")]
    NoValue(String),
    /// The API server refused or failed a request about a metric's Job, in
    /// its words (for a Job it will not create: the field and the rule).
    #[error("{action}: {message}")]
    Kubernetes {
        /// What was asked, such as `creating the Job`.
        action: &'static str,
        /// The API server's message, or why no answer came.
        message: String,
    },
    /// A Job measurement in flight that does not say which Job it follows
    /// (Argo's words).
    #[error("job metadata reference missing")]
    MissingJobReference,
    /// A Job of the measurement's name exists and is not the run's.
    #[error(
        "a Job of this name already exists and is not this AnalysisRun's (its owner's uid is {owner:?})"
    )]
    NotOwned {
        /// The uid the Job names as its owner (empty when none).
        owner: String,
    },
}

fn excerpt_suffix(excerpt: &str) -> String {
    if excerpt.is_empty() {
        String::new()
    } else {
        format!(" ({excerpt})")
    }
}

/// At most `max` characters of `body`, on one line, for error messages.
pub(crate) fn excerpt(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match one_line.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &one_line[..end]),
        None => one_line,
    }
}
