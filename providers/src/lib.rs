//! Argo Rollouts' Prometheus and web metric providers: each takes one
//! measurement of a metric over HTTP(S) and returns the value its
//! conditions read, or an error naming the metric, the address and what
//! failed.
//!
//! - [`PrometheusQuery`]: an instant query (`/api/v1/query`); a scalar is a
//!   number, a vector an array of numbers (`result[0]`).
//! - [`WebRequest`]: a `GET`, `POST` or `PUT` whose JSON answer is read
//!   with a Kubernetes JSONPath (`{$.data.ok}`), or whose text is the value
//!   when it is not JSON.
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
mod jsonpath;
mod prometheus;
mod value;
mod web;

pub use auth::Credentials;
pub use client::{Client, MAX_BODY_BYTES};
pub use error::{Error, Failure};
pub use jsonpath::KubeJsonPath;
pub use prometheus::{DEFAULT_TIMEOUT as PROMETHEUS_DEFAULT_TIMEOUT, PrometheusQuery};
pub use value::{Measured, MetricResult, format_sample};
pub use web::{DEFAULT_TIMEOUT as WEB_DEFAULT_TIMEOUT, WebRequest};
