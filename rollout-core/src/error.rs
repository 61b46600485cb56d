//! The one error type of this crate.

use std::fmt;

/// A problem with one field of a Rollout: where it is and what was expected.
///
/// ```
/// use rollout_core::FieldError;
/// let e = FieldError::new("spec.strategy.canary.steps[2].setWeight", "150 is above maxTrafficWeight 100");
/// assert_eq!(e.to_string(), "spec.strategy.canary.steps[2].setWeight: 150 is above maxTrafficWeight 100");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field path, as in `spec.strategy.canary.steps[2].setWeight`.
    pub path: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl FieldError {
    /// A field error at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for FieldError {}

/// A problem located in a file: `FILE:LINE: namespace/name: field.path: message`,
/// the one format every error about an input file takes. Parts that are not
/// known are left out (a YAML syntax error has no object or field yet).
///
/// ```
/// use rollout_core::{Diagnostic, FieldError};
/// let d = Diagnostic {
///     file: "web.yaml".into(),
///     line: Some(14),
///     object: Some("default/web".into()),
///     field: FieldError::new("spec.strategy.canary.steps[2].setWeight", "150 is above maxTrafficWeight 100"),
/// };
/// assert_eq!(
///     d.to_string(),
///     "web.yaml:14: default/web: spec.strategy.canary.steps[2].setWeight: 150 is above maxTrafficWeight 100"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file (or `-` for standard input, or another name for the source).
    pub file: String,
    /// The 1-based line of the offending field, when known.
    pub line: Option<usize>,
    /// `<namespace>/<name>` of the object, when known.
    pub object: Option<String>,
    /// The field and what is wrong with it (an empty path for the object
    /// or the file as a whole).
    pub field: FieldError,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(object) = &self.object {
            write!(f, ": {object}")?;
        }
        write!(f, ": {}", self.field)
    }
}

impl std::error::Error for Diagnostic {}

/// Everything that can go wrong in this crate. Nothing here panics on input
/// from outside; every variant names the object and field concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The document is not a Rollout of the expected shape (unknown field,
    /// wrong type, a step whose actions Argo does not allow together, ...).
    #[error("{object}: {field}")]
    Parse {
        /// What was being read: a file name or `rollout <ns>/<name>`.
        object: String,
        /// The offending field.
        field: FieldError,
    },
    /// The Rollout parsed but breaks a rule Argo Rollouts enforces (what the
    /// engine does not run yet is [`Error::Unsupported`]).
    #[error("rollout {object} is invalid: {}", join(.errors))]
    Invalid {
        /// `<namespace>/<name>` of the rollout.
        object: String,
        /// Every problem found, in field order.
        errors: Vec<FieldError>,
    },
    /// The Rollout is valid but uses a strategy the engine does not run.
    #[error("rollout {object}: {field}")]
    Unsupported {
        /// `<namespace>/<name>` of the rollout.
        object: String,
        /// The field that asks for it.
        field: FieldError,
    },
}

fn join(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
