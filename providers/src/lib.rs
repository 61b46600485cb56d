//! Argo Rollouts' Prometheus, web and Job metric providers, and the
//! embedded canary judge. Prometheus and web take one measurement of a
//! metric over HTTP(S) and return the value its conditions read; the
//! judge runs Prometheus range queries and judges them; the Job provider runs a Kubernetes Job and follows it
//! to its end. Each fails with an error naming the metric, the address
//! (or Job) and what failed.
//!
//! - [`PrometheusQuery`]: an instant query (`/api/v1/query`), or with
//!   `rangeQuery` a range query (`/api/v1/query_range`); a scalar is a
//!   number, a vector or a matrix an array of numbers (`result[0]`).
//! - [`WebRequest`]: a `GET`, `POST` or `PUT` whose JSON answer is read
//!   with a Kubernetes JSONPath (`{$.data.ok}`), or whose text is the value
//!   when it is not JSON.
//! - [`job::JobProvider`]: a Job from the metric's template; the
//!   measurement is in flight until the Job completes (`Successful`) or
//!   fails (`Failed`).
//! - [`judge::CanaryJudge`]: the embedded canary judge (`plugin:
//!   {rollgate/judge: ...}`): a range query per judge metric for the
//!   canary and for the baseline, judged by [`rollgate_judge`].
//! - [`Client`]: the HTTP(S) client both use (rustls; the system's CA
//!   certificates, or none for `insecure: true`); bodies are read up to
//!   [`MAX_BODY_BYTES`].
//!
//! Arguments (`{{args.NAME}}`) and Secrets are resolved by the caller
//! before a query or request is built; the providers refuse an argument
//! left unsubstituted. Evaluating `successCondition` / `failureCondition`
//! on the result is not theirs either.
#![warn(missing_docs)]

mod auth;
mod client;
mod config;
mod error;
pub mod job;
mod jsonpath;
pub mod judge;
mod prometheus;
mod value;
mod web;

pub use auth::Credentials;
pub use client::{Client, MAX_BODY_BYTES};
pub use error::{Error, Failure};
pub use jsonpath::{KubeJsonPath, MAX_JSON_PATH_BYTES, MAX_JSON_PATH_NESTING};
pub use prometheus::{DEFAULT_TIMEOUT as PROMETHEUS_DEFAULT_TIMEOUT, PrometheusQuery};
pub use value::{Measured, MetricResult, format_sample};
pub use web::{DEFAULT_TIMEOUT as WEB_DEFAULT_TIMEOUT, WebRequest};

/// The reading of a provider's answer without HTTP, for the fuzz targets in
/// `fuzz/` (feature `fuzzing`); not part of the API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    use crate::{Failure, KubeJsonPath, Measured};

    /// Prometheus' answer to an instant query, with HTTP status `status`.
    pub fn prometheus_answer(status: u16, body: &[u8]) -> Result<Measured, Failure> {
        crate::prometheus::response::measurement(status, body)
    }

    /// A web metric's successful answer read at `json_path`.
    pub fn web_answer(json_path: &KubeJsonPath, body: &[u8]) -> Result<Measured, Failure> {
        crate::web::read(json_path, body)
    }
}
