//! The writes a plan can ask for, and how each becomes a request.

use std::sync::Arc;

use kube::api::{
    DeleteParams, DynamicObject, Patch, PatchParams, PostParams, Preconditions, Resource as _,
};
use router_core::Error;
use serde_json::Value;

use crate::object::{ObjectRef, resource_version};

/// What [`Applier::converge`](crate::Applier::converge) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The plan had nothing to change (or the object to delete was gone).
    Unchanged,
    /// One write was made.
    Written,
}

/// A check of what a write would store, before it is stored.
type Preflight = Arc<dyn Fn(&Value) -> Result<(), Error> + Send + Sync>;

/// One write to one object, as a plan chooses it.
///
/// Each strategy guards against writing over a change the plan did not
/// see: the guarded patch by its `test` operations, the replace and the
/// delete by the `resourceVersion` the object was read at; a server-side
/// apply owns the fields it sets. When the guard fails, the applier reads
/// the object again from the API server and plans again.
#[derive(Clone)]
pub struct Write {
    pub(crate) strategy: Strategy,
    pub(crate) preflight: Option<Preflight>,
}

#[derive(Debug, Clone)]
pub(crate) enum Strategy {
    GuardedPatch(json_patch::Patch),
    Apply {
        object: Value,
        field_manager: String,
    },
    Replace(Value),
    Create(Value),
    Delete,
}

impl std::fmt::Debug for Write {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Write")
            .field("strategy", &self.strategy)
            .field("preflight", &self.preflight.is_some())
            .finish()
    }
}

impl Write {
    fn of(strategy: Strategy) -> Self {
        Self {
            strategy,
            preflight: None,
        }
    }

    /// A JSON patch (RFC 6902) whose `test` operations guard every element
    /// it changes: when someone else changed one since the read, the API
    /// server refuses the patch (422, "test failed") and the applier reads
    /// again and plans again. A patch with no operations writes nothing.
    pub fn guarded_patch(patch: json_patch::Patch) -> Self {
        Self::of(Strategy::GuardedPatch(patch))
    }

    /// A server-side apply of `object` (the fields `field_manager` owns),
    /// forced: the fields it sets are taken over from other managers.
    pub fn apply(object: Value, field_manager: impl Into<String>) -> Self {
        Self::of(Strategy::Apply {
            object,
            field_manager: field_manager.into(),
        })
    }

    /// A replace (PUT) of the whole object, carrying the `resourceVersion`
    /// it was read at (set by the applier): a change since the read makes
    /// it fail with 409, and the applier reads again and plans again.
    pub fn replace(object: Value) -> Self {
        Self::of(Strategy::Replace(object))
    }

    /// A create (POST). When the object exists by then (409), the applier
    /// reads it and plans again.
    pub fn create(object: Value) -> Self {
        Self::of(Strategy::Create(object))
    }

    /// A delete, on the condition that the object is still as it was read
    /// (its `resourceVersion`); an object already gone is
    /// [`Outcome::Unchanged`].
    pub fn delete() -> Self {
        Self::of(Strategy::Delete)
    }

    /// The same write, first sent as a server-side dry run: `check` gets the
    /// object as the API server would store it, and an error aborts the
    /// write with nothing written (e.g. when the server drops a field the
    /// plan relies on).
    #[must_use]
    pub fn with_preflight(
        mut self,
        check: impl Fn(&Value) -> Result<(), Error> + Send + Sync + 'static,
    ) -> Self {
        self.preflight = Some(Arc::new(check));
        self
    }

    /// Whether the write changes nothing and needs no request.
    pub(crate) fn is_empty(&self) -> bool {
        matches!(&self.strategy, Strategy::GuardedPatch(patch) if patch.0.is_empty())
    }

    /// The request that makes this write on `object`, which was read as
    /// `current`; a dry run when `dry_run`.
    pub(crate) fn request(
        &self,
        object: &ObjectRef,
        current: Option<&Value>,
        dry_run: bool,
    ) -> Result<http::Request<Vec<u8>>, Error> {
        let url = DynamicObject::url_path(&object.resource, object.namespace());
        let request = kube::core::Request::new(url);
        let name = object.name.as_str();
        let built = match &self.strategy {
            Strategy::GuardedPatch(patch) => {
                let params = PatchParams {
                    dry_run,
                    ..PatchParams::default()
                };
                request.patch(name, &params, &Patch::Json::<()>(patch.clone()))
            }
            Strategy::Apply {
                object: body,
                field_manager,
            } => {
                let mut params = PatchParams::apply(field_manager).force();
                params.dry_run = dry_run;
                request.patch(name, &params, &Patch::Apply(body))
            }
            Strategy::Replace(body) => {
                let version = current.and_then(resource_version).ok_or_else(|| {
                    Error::internal(format!(
                        "{}: a replace needs the object as read, with its resourceVersion \
                         (plan a create for an object that does not exist)",
                        object.label()
                    ))
                })?;
                let mut body = body.clone();
                body["metadata"]["resourceVersion"] = Value::from(version);
                request.replace(name, &post_params(dry_run), json_bytes(&body)?)
            }
            Strategy::Create(body) => request.create(&post_params(dry_run), json_bytes(body)?),
            Strategy::Delete => {
                let preconditions = current.map(|current| Preconditions {
                    resource_version: resource_version(current).map(str::to_owned),
                    uid: current["metadata"]["uid"].as_str().map(str::to_owned),
                });
                let params = DeleteParams {
                    dry_run,
                    preconditions,
                    ..DeleteParams::default()
                };
                request.delete(name, &params)
            }
        };
        built.map_err(|e| {
            Error::internal(format!("{}: cannot build the request: {e}", object.label()))
        })
    }
}

/// `body` as the bytes of a request.
fn json_bytes(body: &Value) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(body).map_err(|e| Error::internal(format!("a write's body: {e}")))
}

fn post_params(dry_run: bool) -> PostParams {
    PostParams {
        dry_run,
        field_manager: None,
    }
}
