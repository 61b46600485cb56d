//! Which of a Rollout's ReplicaSets runs its current pod template.
//!
//! As Argo's `FindNewReplicaSet`: first the ReplicaSet whose
//! `rollouts-pod-template-hash` label is the template's hash
//! ([`current_by_hash`]); failing that, the first ReplicaSet (oldest first)
//! whose pod template equals the Rollout's, ignoring the hash label, the
//! injected canary/stable metadata, the injected anti-affinity term and the
//! deprecated `serviceAccount` field ([`current_by_template`]).
//!
//! The second step is what adopts a ReplicaSet created by Argo's controller,
//! whose hash is computed differently (see [`super::hash`]): moving a
//! Rollout from Argo's controller to this one does not redeploy it. Live
//! templates have been defaulted by the API server (`imagePullPolicy`,
//! `terminationMessagePath`, `restartPolicy`, ...); the desired template must
//! be compared in its defaulted form too, which the controller obtains from
//! the API server itself (a dry-run create of the ReplicaSet) rather than by
//! re-implementing Kubernetes' defaulting. Argo defaults in-process with the
//! Kubernetes libraries it was built with; asking the server gives the
//! defaults of the cluster's own version.

use k8s_openapi::api::apps::v1::ReplicaSet;
use rollout_core::spec::AntiAffinity;
use serde_json::Value;

use super::ephemeral::{self, PodMetadata};
use super::{POD_TEMPLATE_HASH_LABEL, semantic};

/// The ReplicaSet labelled with `hash`, the oldest if several are.
pub fn current_by_hash<'a>(replica_sets: &[&'a ReplicaSet], hash: &str) -> Option<&'a ReplicaSet> {
    oldest_first(replica_sets).into_iter().find(|rs| {
        rs.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(POD_TEMPLATE_HASH_LABEL))
            .is_some_and(|h| h == hash)
    })
}

/// The oldest ReplicaSet whose pod template equals `desired`, a template in
/// the API server's defaulted form made comparable by [`comparable_template`];
/// `anti_affinity` is the Rollout's (see [`super::anti_affinity::strategy`]),
/// whose injected term is not part of the comparison.
pub fn current_by_template<'a>(
    replica_sets: &[&'a ReplicaSet],
    desired: &Value,
    anti_affinity: Option<&AntiAffinity>,
) -> Option<&'a ReplicaSet> {
    oldest_first(replica_sets).into_iter().find(|rs| {
        live_template(rs, anti_affinity).is_some_and(|live| semantic::equal(&live, desired))
    })
}

/// A pod template made comparable: without the hash label and the
/// deprecated `spec.serviceAccount` (which the API server fills in from
/// `serviceAccountName` on one side only; Argo ignores it too).
pub fn comparable_template(mut template: Value) -> Value {
    if let Some(labels) = template
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(POD_TEMPLATE_HASH_LABEL);
    }
    if let Some(spec) = template.pointer_mut("/spec").and_then(Value::as_object_mut) {
        spec.remove("serviceAccount");
    }
    template
}

/// A live ReplicaSet's pod template without what Argo injects into it: the
/// ephemeral metadata its annotation records and the anti-affinity term,
/// then made comparable.
fn live_template(rs: &ReplicaSet, anti_affinity: Option<&AntiAffinity>) -> Option<Value> {
    let mut template = serde_json::to_value(&rs.spec.as_ref()?.template).ok()?;
    let recorded = PodMetadata::recorded(rs.metadata.annotations.as_ref());
    ephemeral::sync(&mut template, recorded.as_ref(), None);
    super::anti_affinity::remove(&mut template, anti_affinity);
    Some(comparable_template(template))
}

fn oldest_first<'a>(replica_sets: &[&'a ReplicaSet]) -> Vec<&'a ReplicaSet> {
    let mut sorted = replica_sets.to_vec();
    sorted.sort_by(|a, b| {
        (&a.metadata.creation_timestamp, &a.metadata.name)
            .cmp(&(&b.metadata.creation_timestamp, &b.metadata.name))
    });
    sorted
}
