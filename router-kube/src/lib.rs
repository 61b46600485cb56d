//! The Kubernetes applier every Rollgate router shares.
//!
//! A router names its objects and plans a write for each from the object
//! as read; the applier does the rest, the same way for every router:
//!
//! * [`client`]: the one way a router builds its Kubernetes client
//!   (identified by a `User-Agent` such as `rollgate-gatewayapi/0.1.0`, so
//!   that audit logs and API priority and fairness can tell the routers
//!   apart), built lazily on first use; [`client::request_error`], an API
//!   request's failure as one line naming the object, the status code and
//!   the server's message; and [`client::KubeRouter`], the constructors of a
//!   router on an [`Applier`].
//! * [`Applier`]: reads ([`Applier::get`], [`Applier::list`]) from a watch
//!   cache that is on by default (one kube-runtime watcher per resource and
//!   namespace, objects kept as LZ4-compressed JSON without managed
//!   fields), and [`Applier::converge`]: read, plan, at most one [`Write`]
//!   (a guarded JSON patch, a server-side apply, a replace at the version
//!   read, a create or a delete, optionally after a dry-run preflight),
//!   retried from a fresh read on a conflict or a failed guard.
//! * [`ApplierOptions`]: a [`RequestLimit`] (QPS and burst) on every request
//!   and the cache switch; with the `cli` feature, `ApplierArgs`, the flags
//!   `--qps`, `--burst` and `--no-watch-cache` every plugin binary takes.
//! * [`metrics`]: the applier's Prometheus metrics (API requests by
//!   object and verb, watch cache sizes), on with
//!   [`Applier::with_metrics`]; the plugin binaries serve them with
//!   `--metrics-addr`.
//! * [`RouteNamespaces`]: the namespaces besides the rollout's own that a
//!   router on an applier may touch (`--route-namespaces`), checked by
//!   each router where its config names a namespace.
//! * [`Progress`]: which objects a call has written, so that an error on a
//!   later one says so.
//! * [`CompressedJson`] and [`Packed`]: objects kept as LZ4-compressed JSON
//!   text, the applier's cache entries and, as [`Packed`], what a
//!   kube-runtime reflector store can hold in place of parsed objects (the
//!   controller's watch caches).
//!
//! ```no_run
//! use json_patch::Patch;
//! use kube::api::ApiResource;
//! use router_kube::client::{LazyClient, UserAgent};
//! use router_kube::{Applier, ObjectRef, Progress, Write};
//!
//! # async fn example() -> Result<(), router_core::Error> {
//! let agent = UserAgent::new("rollgate-example", "0.1.0")?;
//! let applier = Applier::new(LazyClient::from_environment(agent));
//! let config_maps = ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&());
//! let mut progress = Progress::new();
//! for name in ["a", "b"] {
//!     let object = ObjectRef::new(&config_maps, "shop", name);
//!     let result = applier
//!         .converge(&object, |current| {
//!             let Some(current) = current else { return Ok(None) };
//!             if current["data"]["weight"] == "30" {
//!                 return Ok(None);
//!             }
//!             let patch: Patch = serde_json::from_value(serde_json::json!([
//!                 {"op": "test", "path": "/data/weight", "value": current["data"]["weight"]},
//!                 {"op": "replace", "path": "/data/weight", "value": "30"}
//!             ]))
//!             .expect("a JSON patch");
//!             Ok(Some(Write::guarded_patch(patch)))
//!         })
//!         .await;
//!     progress.track(&object, result)?;
//! }
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod applier;
mod cache;
pub mod client;
mod error;
mod limit;
pub mod metrics;
mod namespaces;
mod object;
mod options;
mod packed;
mod progress;
mod write;

pub use applier::{Applier, WRITE_ATTEMPTS};
pub use cache::{CachedObject, LIST_PAGE_SIZE, REFUSED_PAUSE_FIRST, REFUSED_PAUSE_MAX};
pub use error::Error;
pub use namespaces::RouteNamespaces;
pub use object::ObjectRef;
#[cfg(feature = "cli")]
pub use options::ApplierArgs;
pub use options::{ApplierOptions, Qps, RequestLimit};
pub use packed::{CompressedJson, LAST_APPLIED_ANNOTATION, Packed};
pub use progress::Progress;
pub use write::{Outcome, Write};
