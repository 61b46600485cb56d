//! A Rollout's workload: its pod template, the template's hash, the
//! ReplicaSet that runs it, and which existing ReplicaSet is the current one.
//!
//! Everything here is pure: it reads a Rollout (as
//! [`rollout_core::Rollout`]) and ReplicaSets (as the watch cache holds them)
//! and returns values or merge patches. The controller does the I/O.
//!
//! - [`hash`]: the pod template hash ([`pod_template_hash`]);
//! - [`replica_set`]: the ReplicaSet to create ([`desired_replica_set`]) and
//!   the annotations an existing current ReplicaSet must carry
//!   ([`sync_current_replica_set`]), as Argo's `createDesiredReplicaSet` and
//!   `syncReplicaSetRevision` write them;
//! - [`ephemeral`]: `canaryMetadata` / `stableMetadata` injected into a
//!   ReplicaSet's pod template, and taken out again for comparison;
//! - [`history`]: the old ReplicaSets `revisionHistoryLimit` deletes;
//! - [`matching`]: finding the current ReplicaSet, by hash label first and
//!   then by template equality, so that ReplicaSets created by Argo's
//!   controller are adopted instead of redeployed;
//! - [`reference`](mod@reference): `spec.workloadRef`, the template taken from a
//!   Deployment, and what `scaleDown` does to it;
//! - [`anti_affinity`]: the anti-affinity term injected against the stable
//!   ReplicaSet's pods;
//! - [`claim`]: orphaned ReplicaSets adopted, and the Rollout's own
//!   released when they no longer match its selector.

pub mod anti_affinity;
pub mod claim;
pub mod ephemeral;
pub mod hash;
pub mod history;
pub mod matching;
pub mod reference;
pub mod replica_set;
mod semantic;

use rollout_core::Rollout;
use serde_json::Value;

pub use hash::pod_template_hash;
pub use matching::{comparable_template, current_by_hash, current_by_template};
pub use replica_set::{
    desired_replica_set, max_revision, replica_set_revision, scale_patch, sync_current_replica_set,
};

/// The label that ties a ReplicaSet and its pods to one pod template.
pub use rollout_core::spec::POD_TEMPLATE_HASH_LABEL;
/// The revision of a ReplicaSet (and of the Rollout).
pub const REVISION_ANNOTATION: &str = rollout_core::spec::REVISION_ANNOTATION;
/// The revisions a ReplicaSet had before, comma-separated.
pub const REVISION_HISTORY_ANNOTATION: &str = "rollout.argoproj.io/revision-history";
/// `spec.replicas` of the Rollout when the ReplicaSet was last scaled.
pub const DESIRED_REPLICAS_ANNOTATION: &str = "rollout.argoproj.io/desired-replicas";
/// The canary or stable metadata injected into a ReplicaSet's pod template (JSON).
pub const EPHEMERAL_METADATA_ANNOTATION: &str = "rollout.argoproj.io/ephemeral-metadata";
/// When a ReplicaSet kept for a delay is scaled down (RFC 3339).
pub const SCALE_DOWN_DEADLINE_ANNOTATION: &str = "scale-down-deadline";

/// What makes a Rollout's workload unusable, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkloadError {
    /// `spec.workloadRef` is set and has not been resolved
    /// ([`reference::resolve`] fills `spec.template` in from the workload).
    #[error("spec.workloadRef: the referenced workload's pod template has not been read yet")]
    Unresolved,
    /// Neither `spec.template` nor `spec.workloadRef`.
    #[error("spec.template: required: the pod template of the Rollout's pods")]
    MissingTemplate,
    /// A field has the wrong shape.
    #[error("{field}: expected {expected}")]
    Shape {
        /// The field path, such as `spec.selector.matchLabels`.
        field: String,
        /// What it should be, in words.
        expected: &'static str,
    },
}

/// The pod template of a Rollout (`spec.template`).
///
/// A Rollout with `spec.workloadRef` has its template once
/// [`reference::resolve`] has read it from the Deployment; before that
/// there is none ([`WorkloadError::Unresolved`]).
///
/// ```
/// use rollgate_controller::workload::{pod_template, WorkloadError};
/// let rollout = rollout_core::Rollout::from_value(serde_json::json!({
///     "metadata": {"name": "web"},
///     "spec": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
///              "strategy": {"canary": {}}}}), "web").unwrap();
/// assert_eq!(pod_template(&rollout), Err(WorkloadError::Unresolved));
/// ```
pub fn pod_template(rollout: &Rollout) -> Result<&Value, WorkloadError> {
    if rollout.spec.workload_ref.is_some() {
        return Err(WorkloadError::Unresolved);
    }
    match &rollout.spec.template {
        None => Err(WorkloadError::MissingTemplate),
        Some(t) if t.is_object() => Ok(t),
        Some(_) => Err(WorkloadError::Shape {
            field: "spec.template".into(),
            expected: "an object (a pod template with metadata and spec)",
        }),
    }
}
