//! The judge's errors.

use thiserror::Error;

/// A configuration that cannot be used, naming where it came from, the field
/// and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{object}: {}{message}", if path.is_empty() { String::new() } else { format!("{path}: ") })]
pub struct ConfigError {
    /// The source, as the caller named it (a file, a template).
    pub object: String,
    /// The field path, such as `metrics[0].direction`; empty for the whole.
    pub path: String,
    /// What is wrong, in plain words.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(object: &str, path: String, message: String) -> Self {
        Self {
            object: object.to_owned(),
            path,
            message,
        }
    }
}

/// Samples that do not fit the configuration they are judged by.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JudgeError {
    /// Samples were given for a metric the configuration does not have.
    #[error("samples for \"{0}\", which is not a metric of the judge's configuration")]
    UnknownMetric(String),
    /// A metric of the configuration got no samples (pass empty ones for no data).
    #[error("no samples for the metric \"{0}\" (pass empty samples when a query returned no data)")]
    MissingSamples(String),
    /// Two sets of samples for one metric.
    #[error("samples for the metric \"{0}\" are given twice")]
    DuplicateSamples(String),
}
