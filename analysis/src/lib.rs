//! Argo Rollouts' analysis objects, without I/O: what a Rollout's
//! controller needs to create the AnalysisRuns the engine asks for.
//!
//! - [`types`]: AnalysisTemplate, ClusterAnalysisTemplate and AnalysisRun
//!   with Argo's field names; [`parse`] reads them strictly on `spec` and
//!   leniently on `status`, naming the object and field of any problem.
//! - [`args`]: the arguments a Rollout passes (`value`,
//!   `valueFrom.podTemplateHashValue`, `valueFrom.fieldRef`).
//! - [`merge`]: several templates (and the ones they include) as one run
//!   spec, as Argo merges them.
//! - [`validate`]: Argo's rules for the metrics of the templates a Rollout
//!   references.
//! - [`run`]: the AnalysisRun for one of the engine's
//!   [`rollout_core::AnalysisRunRequest`]s: name, labels, annotations,
//!   owner, spec.
//! - [`history`]: which completed runs are deleted beyond the Rollout's
//!   history limits.
//!
//! Measuring the metrics (providers, conditions, a run's phase from its
//! measurements) is not part of this crate yet: a run created from it stays
//! `Pending` until a controller that measures writes its status.
#![warn(missing_docs)]

pub mod args;
pub mod assess;
pub mod condition;
mod error;
pub mod evaluate;
pub mod history;
pub mod merge;
pub mod parse;
pub mod run;
pub mod types;
pub mod validate;

pub use error::Error;
pub use types::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate, TemplateKind};
