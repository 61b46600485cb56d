//! The ReplicaSet of a pod template, as Argo's controller writes it.
//!
//! A new ReplicaSet ([`desired_replica_set`], Argo's `createDesiredReplicaSet`)
//! is named `<rollout>-<hash>`, is controlled by the Rollout, carries the
//! template's labels plus `rollouts-pod-template-hash` (in its labels, its
//! template's labels and its selector), the Rollout's `minReadySeconds`, zero
//! replicas (the decision scales it), and the annotations of
//! `SetNewReplicaSetAnnotations`: the Rollout's own annotations except
//! `kubectl.kubernetes.io/last-applied-configuration`, the revision
//! annotations, `desired-replicas` and `notified.notifications.argoproj.io`;
//! `revision` = the highest revision among the other ReplicaSets + 1; and
//! `desired-replicas` = the Rollout's `spec.replicas`.
//!
//! An existing current ReplicaSet is kept in line the same way
//! ([`sync_current_replica_set`], Argo's `syncReplicaSetRevision`): the
//! Rollout's annotations copied, the revision raised to the highest other
//! revision + 1 when it is lower (going back to an older template makes its
//! ReplicaSet the newest revision), the previous revision appended to
//! `revision-history`, `minReadySeconds` kept equal to the Rollout's, and
//! the injected anti-affinity term kept naming the current stable
//! ReplicaSet ([`super::anti_affinity`]).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::ReplicaSet;
use rollout_core::{ReplicaSetTarget, Rollout};
use serde_json::{Map, Value, json};

use super::anti_affinity;
use super::ephemeral::{self, PodMetadata};
use super::{
    DESIRED_REPLICAS_ANNOTATION, POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION, SCALE_DOWN_DEADLINE_ANNOTATION, WorkloadError,
};

/// Annotations of a Rollout that are not copied to its ReplicaSets.
const NOT_COPIED: [&str; 5] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
    DESIRED_REPLICAS_ANNOTATION,
    "notified.notifications.argoproj.io",
];

/// The revision annotation of a ReplicaSet: `Some(0)` when absent (as Argo
/// counts it), `None` when it is not a number (Argo skips those).
pub fn replica_set_revision(rs: &ReplicaSet) -> Option<u64> {
    match rs
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(REVISION_ANNOTATION))
    {
        None => Some(0),
        Some(v) => v.parse().ok(),
    }
}

/// The highest revision among `replica_sets` (0 for none), Argo's `MaxRevision`.
pub fn max_revision<'a>(replica_sets: impl IntoIterator<Item = &'a ReplicaSet>) -> u64 {
    replica_sets
        .into_iter()
        .filter_map(replica_set_revision)
        .max()
        .unwrap_or(0)
}

/// The ReplicaSet to create for `template` (hash `hash`), as a JSON object
/// ready for the API server, at revision `revision`, with `ephemeral` (the
/// canary or stable metadata, see [`ephemeral_metadata_for_new`]) injected.
///
/// ```
/// use rollgate_controller::workload::desired_replica_set;
/// let rollout = rollout_core::Rollout::from_value(serde_json::json!({
///     "metadata": {"name": "web", "namespace": "shop", "uid": "u-1"},
///     "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
///              "template": {"metadata": {"labels": {"app": "web"}},
///                           "spec": {"containers": [{"name": "web", "image": "nginx"}]}},
///              "strategy": {"canary": {}}}}), "web").unwrap();
/// let template = rollout.spec.template.as_ref().unwrap();
/// let rs = desired_replica_set(&rollout, template, "abc", 1, None).unwrap();
/// assert_eq!(rs["metadata"]["name"], "web-abc");
/// assert_eq!(rs["spec"]["replicas"], 0);
/// assert_eq!(rs["spec"]["selector"]["matchLabels"]["rollouts-pod-template-hash"], "abc");
/// assert_eq!(rs["metadata"]["annotations"]["rollout.argoproj.io/desired-replicas"], "3");
/// ```
pub fn desired_replica_set(
    rollout: &Rollout,
    template: &Value,
    hash: &str,
    revision: u64,
    ephemeral: Option<&PodMetadata>,
) -> Result<Value, WorkloadError> {
    let mut template = template.clone();
    add_label(&mut template, "spec.template.metadata.labels", hash)?;
    // The ReplicaSet's own labels are the template's, without the injected metadata.
    let labels = template["metadata"]["labels"].clone();
    if let Some(metadata) = ephemeral {
        ephemeral::sync(&mut template, None, Some(metadata));
    }

    let mut selector = rollout.spec.selector.clone().unwrap_or_else(|| json!({}));
    if !selector.is_object() {
        return Err(WorkloadError::Shape {
            field: "spec.selector".into(),
            expected: "a label selector (matchLabels, matchExpressions)",
        });
    }
    let match_labels = selector
        .as_object_mut()
        .map(|s| s.entry("matchLabels").or_insert_with(|| json!({})));
    match match_labels {
        Some(Value::Object(m)) => {
            m.insert(POD_TEMPLATE_HASH_LABEL.into(), hash.into());
        }
        _ => {
            return Err(WorkloadError::Shape {
                field: "spec.selector.matchLabels".into(),
                expected: "a map of strings",
            });
        }
    }

    let mut annotations: BTreeMap<String, String> = copied_annotations(rollout).collect();
    annotations.insert(REVISION_ANNOTATION.into(), revision.to_string());
    annotations.insert(
        DESIRED_REPLICAS_ANNOTATION.into(),
        rollout.replicas().to_string(),
    );
    if let Some(metadata) = ephemeral.filter(|m| !m.labels.is_empty() || !m.annotations.is_empty())
    {
        annotations.insert(
            super::EPHEMERAL_METADATA_ANNOTATION.into(),
            metadata.to_annotation(),
        );
    }

    let mut spec = Map::new();
    spec.insert("replicas".into(), json!(0));
    spec.insert("selector".into(), selector);
    spec.insert("template".into(), template);
    if let Some(seconds) = rollout.spec.min_ready_seconds.filter(|s| *s != 0) {
        spec.insert("minReadySeconds".into(), json!(seconds));
    }
    Ok(json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": rollout_core::conditions::replica_set_name(rollout, hash),
            "namespace": rollout.metadata.namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner_reference(rollout)],
        },
        "spec": spec,
    }))
}

/// The controller reference a Rollout's ReplicaSets carry.
pub fn owner_reference(rollout: &Rollout) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "name": rollout.metadata.name,
        "uid": rollout.metadata.uid.clone().unwrap_or_default(),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// The metadata Argo injects into a new ReplicaSet: the canary's
/// `canaryMetadata` (blue-green: `previewMetadata`) when a stable
/// ReplicaSet other than this one exists (an update), else `stableMetadata`
/// (blue-green: `activeMetadata`; a first deploy: this ReplicaSet becomes
/// the stable one).
pub fn ephemeral_metadata_for_new(
    rollout: &Rollout,
    stable_exists: bool,
) -> Result<Option<PodMetadata>, WorkloadError> {
    let (value, field) = match (rollout.canary(), rollout.blue_green(), stable_exists) {
        (Some(canary), _, true) => (
            &canary.canary_metadata,
            "spec.strategy.canary.canaryMetadata",
        ),
        (Some(canary), _, false) => (
            &canary.stable_metadata,
            "spec.strategy.canary.stableMetadata",
        ),
        (None, Some(bg), true) => (
            &bg.preview_metadata,
            "spec.strategy.blueGreen.previewMetadata",
        ),
        (None, Some(bg), false) => (
            &bg.active_metadata,
            "spec.strategy.blueGreen.activeMetadata",
        ),
        (None, None, _) => return Ok(None),
    };
    value
        .as_ref()
        .map(|v| PodMetadata::from_value(v, field))
        .transpose()
}

/// The merge patch that brings an existing current ReplicaSet in line with
/// its Rollout (see the module documentation), or `None` when it already is.
///
/// Unlike Argo, `revision-history` only grows when the revision changes:
/// Argo also appends the unchanged revision whenever a copied annotation of
/// the Rollout changes, which records the same revision twice.
pub fn sync_current_replica_set(
    rollout: &Rollout,
    rs: &ReplicaSet,
    max_other_revision: u64,
) -> Option<Value> {
    let live = rs.metadata.annotations.clone().unwrap_or_default();
    let mut changed: BTreeMap<String, String> = copied_annotations(rollout)
        .filter(|(k, v)| live.get(k) != Some(v))
        .collect();
    let new_revision = max_other_revision + 1;
    let old = live.get(REVISION_ANNOTATION);
    match old.map(|o| o.parse::<u64>()) {
        // Not a number: Argo leaves the revision alone.
        Some(Err(_)) => {}
        Some(Ok(old_revision)) if old_revision >= new_revision => {}
        parsed => {
            changed.insert(REVISION_ANNOTATION.into(), new_revision.to_string());
            if let (Some(old), Some(Ok(_))) = (old, parsed) {
                let history = match live.get(REVISION_HISTORY_ANNOTATION) {
                    Some(h) if !h.is_empty() => format!("{h},{old}"),
                    _ => old.clone(),
                };
                changed.insert(REVISION_HISTORY_ANNOTATION.into(), history);
            }
        }
    }
    let min_ready = rollout.spec.min_ready_seconds.unwrap_or(0);
    let min_ready_changed = rs
        .spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0)
        != min_ready;
    let hash = rs
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(POD_TEMPLATE_HASH_LABEL))
        .cloned()
        .unwrap_or_default();
    let live_template = rs
        .spec
        .as_ref()
        .and_then(|s| serde_json::to_value(&s.template).ok())
        .unwrap_or(Value::Null);
    let affinity_changed = anti_affinity::needs_update(&live_template, rollout, &hash);
    if changed.is_empty() && !min_ready_changed && !affinity_changed {
        return None;
    }
    let mut patch = json!({});
    if !changed.is_empty() {
        patch["metadata"] = json!({"annotations": changed});
    }
    if min_ready_changed {
        patch["spec"]["minReadySeconds"] = json!(min_ready);
    }
    // As Argo, any update of the ReplicaSet also sets its affinity to the
    // template's own plus the term against the current stable ReplicaSet.
    let live_affinity = live_template
        .pointer("/spec/affinity")
        .cloned()
        .unwrap_or(Value::Null);
    let desired_affinity = anti_affinity::affinity(rollout, &hash).unwrap_or(Value::Null);
    if let Some(affinity) = crate::reconcile::status::merge_diff(&live_affinity, &desired_affinity)
    {
        patch["spec"]["template"] = json!({"spec": {"affinity": affinity}});
    }
    Some(patch)
}

fn copied_annotations(rollout: &Rollout) -> impl Iterator<Item = (String, String)> + '_ {
    rollout
        .metadata
        .annotations
        .iter()
        .filter(|(k, _)| !NOT_COPIED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
}

/// Adds the hash label to `template.metadata.labels`.
fn add_label(template: &mut Value, field: &str, hash: &str) -> Result<(), WorkloadError> {
    let shape = || WorkloadError::Shape {
        field: field.into(),
        expected: "a map of strings",
    };
    let obj = template.as_object_mut().ok_or_else(shape)?;
    let meta = obj.entry("metadata").or_insert_with(|| json!({}));
    let meta = meta.as_object_mut().ok_or(WorkloadError::Shape {
        field: "spec.template.metadata".into(),
        expected: "an object",
    })?;
    let labels = meta.entry("labels").or_insert_with(|| json!({}));
    if labels.is_null() {
        *labels = json!({});
    }
    labels
        .as_object_mut()
        .ok_or_else(shape)?
        .insert(POD_TEMPLATE_HASH_LABEL.into(), hash.into());
    Ok(())
}

/// The merge patch that scales `rs` to `target` (Argo's `scaleReplicaSet`):
/// `spec.replicas`, the `desired-replicas` annotation (the Rollout's
/// `spec.replicas`) and the `scale-down-deadline` annotation the decision
/// asks for (removed when it asks for none). `None` when all three already
/// match: an unchanged ReplicaSet costs no write.
pub fn scale_patch(
    rs: &ReplicaSet,
    target: &ReplicaSetTarget,
    rollout_replicas: i32,
) -> Option<Value> {
    let annotations = rs.metadata.annotations.clone().unwrap_or_default();
    let mut patch = json!({});
    let size = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    if size != target.replicas {
        patch["spec"] = json!({"replicas": target.replicas});
    }
    let mut changed = serde_json::Map::new();
    let desired = rollout_replicas.to_string();
    if annotations.get(DESIRED_REPLICAS_ANNOTATION) != Some(&desired) {
        changed.insert(DESIRED_REPLICAS_ANNOTATION.into(), desired.into());
    }
    let deadline = target.scale_down_deadline.map(|t| t.to_string());
    match (annotations.get(SCALE_DOWN_DEADLINE_ANNOTATION), deadline) {
        (Some(live), Some(want)) if *live == want => {}
        (None, None) => {}
        (_, Some(want)) => {
            changed.insert(SCALE_DOWN_DEADLINE_ANNOTATION.into(), want.into());
        }
        (Some(_), None) => {
            changed.insert(SCALE_DOWN_DEADLINE_ANNOTATION.into(), Value::Null);
        }
    }
    if !changed.is_empty() {
        patch["metadata"] = json!({"annotations": changed});
    }
    (patch != json!({})).then_some(patch)
}

#[cfg(test)]
mod tests;
