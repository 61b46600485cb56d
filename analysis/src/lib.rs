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
//! - [`brackets`]: the brackets of text from outside matched before a
//!   backtracking parser sees it (conditions, web metrics' `jsonPath`).
//! - [`condition`]: `successCondition` and `failureCondition` in Argo's
//!   expression language, and the phase of one measured value.
//! - [`assess`]: measurements recorded, and the phases of metrics and of
//!   the run assessed from them, with the run's message.
//! - [`evaluate`]: one step of a run, [`evaluate::decide`]: the
//!   measurements due now, the phases, and when to look again.
//! - [`in_flight`]: measurements that take time (a Job): recorded
//!   `Running`, then resumed or stopped until the provider says how they
//!   ended; [`retention`]: which metrics `decide` trimmed, so that such a
//!   provider collects its objects to the same limit.
//! - [`isolation`]: where conditions are evaluated ([`isolation::Evaluator`]),
//!   and the request and answer that carry an evaluation to a child process
//!   with its own memory and time limits.
//!
//! Taking the measurements (the providers) is left to the caller: nothing
//! here does I/O or reads a clock.
#![warn(missing_docs)]

pub mod args;
pub mod assess;
pub mod brackets;
pub mod condition;
mod error;
pub mod evaluate;
pub mod history;
pub mod in_flight;
pub mod isolation;
pub mod merge;
pub mod parse;
pub mod retention;
pub mod run;
pub mod types;
pub mod validate;

pub use error::Error;
pub use types::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate, TemplateKind};
