//! `spec.workloadRef`: a Rollout that takes its pod template (and, without
//! a selector of its own, its selector) from an `apps/v1` Deployment, as
//! Argo's `informerBasedTemplateResolver` resolves it.
//!
//! [`resolve`] turns such a Rollout into one with `spec.template` (and
//! `spec.selector`) filled in from the Deployment as the watch cache holds
//! it, so that everything after it (validation, the pod template hash, the
//! ReplicaSet) reads a Rollout with a template, exactly as for a Rollout
//! that writes its own. The template is the Deployment's `spec.template` as
//! JSON, so the same pod template gives the same hash whichever of the two
//! it comes from (Argo likewise hashes the resolved `spec.template` with the
//! one `ComputePodTemplateHash`).
//!
//! What Argo refuses, this refuses with Argo's message, as `InvalidSpec` at
//! `spec.workloadRef`: a Rollout with both a workload reference and a
//! template with labels or annotations, a kind Argo does not resolve, an
//! API version the cluster does not serve, and a Deployment that does not
//! exist. Argo prints the reference as a Go struct in that message
//! (`v1alpha1.ObjectRef{APIVersion:"apps/v1", ...}`); this prints the same
//! fields under the Rollout's own field names
//! (`{apiVersion: "apps/v1", kind: "Deployment", ...}`), a deliberate
//! difference: the rest of the message is Argo's.
//!
//! Two deliberate differences: a `ReplicaSet` or `PodTemplate` reference
//! (which Argo resolves too) gets `Unsupported`, and a `scaleDown` other than
//! `never`, `onsuccess` or `progressively` is invalid (Argo treats any other
//! value, such as a mistyped `onSuccess`, as `never` without a word).
//!
//! [`deployment_scale`] is Argo's `scaleDown` arithmetic: `onsuccess`
//! scales the Deployment to 0 once the Rollout is Healthy on its first
//! revision; `progressively` scales it to `spec.replicas − readyReplicas`
//! while the Rollout's first ReplicaSet comes up, and to 0 once the Rollout
//! is Healthy; `never` (the default) leaves the Deployment alone.

use k8s_openapi::api::apps::v1::Deployment;
use rollout_core::{FieldError, Rollout};
use serde_json::Value;

/// The annotation Argo records the referenced workload's
/// `metadata.generation` in, on the Rollout.
pub const WORKLOAD_GENERATION_ANNOTATION: &str = "rollout.argoproj.io/workload-generation";

/// `spec.workloadRef.scaleDown`: what becomes of the referenced Deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleDown {
    /// Left alone (the default, also for an empty value).
    Never,
    /// Scaled to 0 once the Rollout is Healthy on its first revision.
    OnSuccess,
    /// Scaled down as the Rollout's first ReplicaSet becomes ready.
    Progressively,
}

/// The Deployment a Rollout's template was resolved from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referenced {
    /// The Deployment's name (in the Rollout's namespace).
    pub name: String,
    /// What becomes of it.
    pub scale_down: ScaleDown,
    /// Its `metadata.generation`: the Rollout's
    /// `status.workloadObservedGeneration` and workload-generation annotation.
    pub generation: i64,
    /// Its `spec.replicas` (1 when unset, as the API server defaults it).
    pub replicas: i32,
}

/// Why a Rollout's workload reference cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// Argo's `InvalidSpec` message for the reference (without the
    /// `The Rollout "<name>" is invalid: ` prefix).
    #[error("{0}")]
    Invalid(String),
    /// What Argo resolves and this controller does not yet.
    #[error("{0}")]
    Unsupported(FieldError),
}

/// The Rollout with its template (and selector) resolved from the
/// Deployment `deployment` returns for a name, and the Deployment's
/// particulars; a Rollout without `workloadRef` comes back as it is, with
/// `None`. The resolved Rollout has no `workloadRef` any more: it reads as
/// a Rollout with its own template.
///
/// ```
/// use rollgate_controller::workload::reference::{resolve, ScaleDown};
/// let rollout = rollout_core::Rollout::from_value(serde_json::json!({
///     "metadata": {"name": "web", "namespace": "shop"},
///     "spec": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
///                              "scaleDown": "onsuccess"},
///              "strategy": {"canary": {}}}}), "web").unwrap();
/// let deployment = serde_json::from_value(serde_json::json!({
///     "metadata": {"name": "web", "namespace": "shop", "generation": 4},
///     "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
///              "template": {"metadata": {"labels": {"app": "web"}},
///                           "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}})).unwrap();
/// let (resolved, referenced) = resolve(rollout, |_| Some(deployment)).unwrap();
/// assert_eq!(resolved.spec.template.unwrap()["metadata"]["labels"]["app"], "web");
/// assert_eq!(resolved.spec.selector.unwrap()["matchLabels"]["app"], "web");
/// let referenced = referenced.unwrap();
/// assert_eq!((referenced.scale_down, referenced.generation), (ScaleDown::OnSuccess, 4));
/// ```
pub fn resolve(
    mut rollout: Rollout,
    deployment: impl FnOnce(&str) -> Option<Deployment>,
) -> Result<(Rollout, Option<Referenced>), ReferenceError> {
    let Some(reference) = rollout.spec.workload_ref.take() else {
        return Ok((rollout, None));
    };
    let api_version = reference.api_version.clone().unwrap_or_default();
    let kind = reference.kind.clone().unwrap_or_default();
    let name = reference.name.clone().unwrap_or_default();
    let scale_down_text = reference.scale_down.clone().unwrap_or_default();
    let invalid = |problem: &str| {
        ReferenceError::Invalid(format!(
            "spec.workloadRef: Invalid value: {{apiVersion: {}, kind: {}, name: {}, scaleDown: {}}}: {problem}",
            quoted(&api_version),
            quoted(&kind),
            quoted(&name),
            quoted(&scale_down_text),
        ))
    };
    if !template_is_empty(rollout.spec.template.as_ref()) {
        return Err(invalid(
            "template must be empty for workload reference rollout",
        ));
    }
    let (group, version) = match api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version.as_str()),
    };
    match (group, kind.as_str()) {
        ("apps", "Deployment") => {}
        ("apps", "ReplicaSet") | ("", "PodTemplate") => {
            return Err(ReferenceError::Unsupported(FieldError::new(
                "spec.workloadRef.kind",
                format!(
                    "a {kind} as the workload is not run by rollgate-controller yet (only an apps/v1 Deployment)"
                ),
            )));
        }
        _ => {
            return Err(invalid(&format!(
                "workload of type {group}/{kind} is not supported"
            )));
        }
    }
    if version != "v1" {
        return Err(invalid(&format!(
            "the server could not find the requested resource, GroupVersion {} not found",
            quoted(&api_version)
        )));
    }
    let scale_down = match scale_down_text.as_str() {
        "" | "never" => ScaleDown::Never,
        "onsuccess" => ScaleDown::OnSuccess,
        "progressively" => ScaleDown::Progressively,
        other => {
            return Err(ReferenceError::Invalid(format!(
                "spec.workloadRef.scaleDown: {}: expected never, onsuccess or progressively",
                quoted(other)
            )));
        }
    };
    let Some(found) = deployment(&name) else {
        return Err(invalid(&format!(
            "deployments.apps {} not found",
            quoted(&name)
        )));
    };
    let spec = found.spec.unwrap_or_default();
    rollout.spec.template = Some(serde_json::to_value(&spec.template).unwrap_or(Value::Null));
    if rollout.spec.selector.is_none() {
        rollout.spec.selector = serde_json::to_value(&spec.selector).ok();
    }
    let referenced = Referenced {
        name,
        scale_down,
        generation: found.metadata.generation.unwrap_or(0),
        replicas: spec.replicas.unwrap_or(1),
    };
    Ok((rollout, Some(referenced)))
}

/// Argo's `EmptyTemplate`: no labels and no annotations.
fn template_is_empty(template: Option<&Value>) -> bool {
    let non_empty = |key: &str| {
        template
            .and_then(|t| t.pointer(&format!("/metadata/{key}")))
            .and_then(Value::as_object)
            .is_some_and(|o| !o.is_empty())
    };
    !non_empty("labels") && !non_empty("annotations")
}

/// A string in double quotes, escaped as JSON.
fn quoted(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// What [`deployment_scale`] reads of a reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScaleDownInputs<'a> {
    /// The Rollout's `status.phase` as read (before this reconcile's write).
    pub live_phase: Option<&'a str>,
    /// The Rollout's `status.readyReplicas` as read.
    pub live_ready_replicas: i32,
    /// The Rollout's `spec.replicas`, if set.
    pub rollout_replicas: Option<i32>,
    /// The revision of the current ReplicaSet (the Rollout's revision).
    pub revision: u64,
    /// The current ReplicaSet's `spec.replicas` before this reconcile scaled it.
    pub current_replicas_before: i32,
    /// Its `spec.replicas` as this reconcile scales it.
    pub current_replicas_after: i32,
    /// This reconcile's decision makes the current ReplicaSet the stable one.
    pub fully_promoted: bool,
}

/// The `spec.replicas` the Deployment is scaled to this reconcile, or
/// `None` to leave it alone (Argo's `scaleDown` handling, in
/// `reconcileNewReplicaSet` for `progressively` and `promoteStable` for
/// `onsuccess`). Both act only on the Rollout's first revision: a Rollout
/// that has moved past it never touches the Deployment again, as in Argo.
///
/// ```
/// use rollgate_controller::workload::reference::{deployment_scale, ScaleDown, ScaleDownInputs};
/// let mut inputs = ScaleDownInputs {
///     live_phase: Some("Progressing"), live_ready_replicas: 2, rollout_replicas: Some(5),
///     revision: 1, current_replicas_before: 5, current_replicas_after: 5, fully_promoted: false,
/// };
/// assert_eq!(deployment_scale(ScaleDown::Progressively, &inputs), Some(3));
/// assert_eq!(deployment_scale(ScaleDown::OnSuccess, &inputs), None);
/// inputs.live_phase = Some("Healthy");
/// inputs.fully_promoted = true;
/// assert_eq!(deployment_scale(ScaleDown::OnSuccess, &inputs), Some(0));
/// assert_eq!(deployment_scale(ScaleDown::Never, &inputs), None);
/// ```
pub fn deployment_scale(scale_down: ScaleDown, inputs: &ScaleDownInputs<'_>) -> Option<i32> {
    if inputs.revision != 1 {
        return None;
    }
    let healthy = inputs.live_phase == Some("Healthy");
    match scale_down {
        ScaleDown::Never => None,
        ScaleDown::OnSuccess => (healthy && inputs.fully_promoted).then_some(0),
        ScaleDown::Progressively => {
            if healthy {
                return Some(0);
            }
            let replicas = inputs.rollout_replicas?;
            let shrinking = inputs.current_replicas_before > inputs.current_replicas_after;
            (inputs.live_ready_replicas > 0 || shrinking)
                .then(|| (replicas - inputs.live_ready_replicas).max(0))
        }
    }
}

#[cfg(test)]
mod tests;
