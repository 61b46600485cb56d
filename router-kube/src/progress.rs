//! Partial progress over several objects: what a failure leaves behind.

use router_core::Error;

use crate::object::ObjectRef;
use crate::write::Outcome;

/// The objects a router has written so far in one call, so that an error
/// on a later object can say which were already updated (the next call
/// converges the rest).
///
/// ```
/// use kube::api::ApiResource;
/// use router_core::Error;
/// use router_kube::{ObjectRef, Outcome, Progress};
/// let routes = ApiResource {
///     group: "gateway.networking.k8s.io".into(),
///     version: "v1".into(),
///     api_version: "gateway.networking.k8s.io/v1".into(),
///     kind: "HTTPRoute".into(),
///     plural: "httproutes".into(),
/// };
/// let mut progress = Progress::new();
/// progress.track(&ObjectRef::new(&routes, "shop", "a"), Ok(Outcome::Written)).unwrap();
/// progress.track(&ObjectRef::new(&routes, "shop", "b"), Ok(Outcome::Unchanged)).unwrap();
/// progress.track(&ObjectRef::new(&routes, "shop", "c"), Ok(Outcome::Written)).unwrap();
/// let err = progress
///     .track(&ObjectRef::new(&routes, "shop", "d"), Err(Error::conflict("HTTPRoute shop/d: 409 Conflict")))
///     .unwrap_err();
/// assert_eq!(err.to_string(),
///     "HTTPRoute shop/d: 409 Conflict (already updated: HTTPRoute shop/a, HTTPRoute shop/c)");
/// assert_eq!(err.kind(), router_core::ErrorKind::Conflict);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    written: Vec<String>,
}

impl Progress {
    /// Nothing written yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `object`'s outcome (remembered when it was written).
    pub fn record(&mut self, object: &ObjectRef, outcome: Outcome) {
        if outcome == Outcome::Written {
            self.written.push(object.label());
        }
    }

    /// The labels of the objects written so far, in order.
    pub fn written(&self) -> &[String] {
        &self.written
    }

    /// `error`, saying which objects were already written (unchanged when
    /// none was); of the same kind.
    pub fn error(&self, error: Error) -> Error {
        if self.written.is_empty() {
            return error;
        }
        Error::new(
            error.kind(),
            format!("{error} (already updated: {})", self.written.join(", ")),
        )
    }

    /// Records the result of converging `object`: its outcome when it
    /// succeeded, else the error with what was already written.
    ///
    /// # Errors
    ///
    /// `result`'s error, through [`Progress::error`].
    pub fn track(
        &mut self,
        object: &ObjectRef,
        result: Result<Outcome, Error>,
    ) -> Result<Outcome, Error> {
        match result {
            Ok(outcome) => {
                self.record(object, outcome);
                Ok(outcome)
            }
            Err(error) => Err(self.error(error)),
        }
    }
}
