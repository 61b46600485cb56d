//! What the engine needs to know about a Rollout's ReplicaSets.
//!
//! The ReplicaSets come from the controller's watch cache (a reflector over
//! a ReplicaSet watch), never from a list per reconcile; this module picks
//! the Rollout's own (controlled by its uid) and turns each into a
//! [`rollout_core::ReplicaSetState`]. The pods of those ReplicaSets are
//! listed only while a restart (`spec.restartAt`) is pending, and each
//! becomes a [`rollout_core::PodState`] ([`pod_state`]).

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use rollout_core::{PodState, ReplicaSetState, Time};

use crate::workload::{POD_TEMPLATE_HASH_LABEL, SCALE_DOWN_DEADLINE_ANNOTATION};

/// Whether `rs` is controlled by the Rollout with this uid.
pub fn owned_by(rs: &ReplicaSet, uid: &str) -> bool {
    rs.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && o.uid == uid && o.kind == "Rollout")
}

/// The engine's view of one ReplicaSet. A ReplicaSet without the
/// `rollouts-pod-template-hash` label is not one of a Rollout's and gives
/// `None`; a revision or deadline that is not readable counts as absent (as
/// Argo reads them).
///
/// ```
/// use rollgate_controller::observe::replica_set_state;
/// let rs = serde_json::from_value(serde_json::json!({
///     "metadata": {"name": "web-abc", "labels": {"rollouts-pod-template-hash": "abc"},
///                  "annotations": {"rollout.argoproj.io/revision": "3",
///                                  "scale-down-deadline": "2026-11-22T05:00:30Z"}},
///     "spec": {"replicas": 2, "selector": {}},
///     "status": {"replicas": 2, "readyReplicas": 2, "availableReplicas": 1}})).unwrap();
/// let state = replica_set_state(&rs).unwrap();
/// assert_eq!((state.revision, state.spec_replicas, state.available_replicas), (3, 2, 1));
/// assert_eq!(state.scale_down_deadline.unwrap().to_string(), "2026-11-22T05:00:30Z");
/// ```
pub fn replica_set_state(rs: &ReplicaSet) -> Option<ReplicaSetState> {
    let hash = rs.metadata.labels.as_ref()?.get(POD_TEMPLATE_HASH_LABEL)?;
    let annotations = rs.metadata.annotations.as_ref();
    let annotation = |key: &str| annotations.and_then(|a| a.get(key));
    let status = rs.status.as_ref();
    Some(ReplicaSetState {
        pod_template_hash: hash.clone(),
        revision: crate::workload::replica_set_revision(rs).unwrap_or(0),
        // The API server defaults spec.replicas to 1.
        spec_replicas: rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
        replicas: status.map_or(0, |s| s.replicas),
        ready_replicas: status.and_then(|s| s.ready_replicas).unwrap_or(0),
        available_replicas: status.and_then(|s| s.available_replicas).unwrap_or(0),
        scale_down_deadline: annotation(SCALE_DOWN_DEADLINE_ANNOTATION)
            .and_then(|t| t.parse::<Time>().ok()),
        // rollbackWindow orders ReplicaSets by it, as Argo does.
        created: rs.metadata.creation_timestamp.as_ref().and_then(time),
    })
}

/// The engine's view of one pod, if one of `replica_sets` controls it:
/// the `rollouts-pod-template-hash` of that ReplicaSet, its creation time,
/// since when it is Ready (the `Ready` condition's `lastTransitionTime` while
/// it is `True`) and whether it is terminating. Any other pod, and a pod
/// without a readable creation time, gives `None` (Argo lists the pods whose
/// owner is one of the Rollout's ReplicaSets).
///
/// ```
/// use rollgate_controller::observe::pod_state;
/// let rs = serde_json::from_value(serde_json::json!({
///     "metadata": {"name": "web-abc", "uid": "rs-1", "labels": {"rollouts-pod-template-hash": "abc"}},
///     "spec": {"selector": {}}})).unwrap();
/// let pod = serde_json::from_value(serde_json::json!({
///     "metadata": {"name": "web-abc-x", "creationTimestamp": "2026-11-22T05:00:00Z",
///                  "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
///                                       "name": "web-abc", "uid": "rs-1", "controller": true}]},
///     "status": {"conditions": [{"type": "Ready", "status": "True",
///                                "lastTransitionTime": "2026-11-22T05:00:05Z"}]}})).unwrap();
/// let state = pod_state(&pod, &[&rs]).unwrap();
/// assert_eq!((state.name.as_str(), state.pod_template_hash.as_str()), ("web-abc-x", "abc"));
/// assert_eq!(state.ready_since.unwrap().to_string(), "2026-11-22T05:00:05Z");
/// assert!(!state.terminating);
/// ```
pub fn pod_state(pod: &Pod, replica_sets: &[&ReplicaSet]) -> Option<PodState> {
    let owner = replica_sets.iter().find(|rs| {
        pod.metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| Some(&o.uid) == rs.metadata.uid.as_ref())
    })?;
    let hash = owner
        .metadata
        .labels
        .as_ref()?
        .get(POD_TEMPLATE_HASH_LABEL)?;
    let ready_since = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .find(|c| c.type_ == "Ready" && c.status == "True")
        .and_then(|c| c.last_transition_time.as_ref())
        .and_then(time);
    Some(PodState {
        name: pod.metadata.name.clone()?,
        pod_template_hash: hash.clone(),
        created: pod.metadata.creation_timestamp.as_ref().and_then(time)?,
        ready_since,
        terminating: pod.metadata.deletion_timestamp.is_some(),
    })
}

/// A Kubernetes timestamp as the engine's [`Time`].
fn time(t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> Option<Time> {
    serde_json::to_value(t).ok()?.as_str()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rs(uid: &str, hash: &str) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": format!("web-{hash}"), "uid": uid,
                         "labels": {POD_TEMPLATE_HASH_LABEL: hash}},
            "spec": {"selector": {}}}))
        .unwrap()
    }

    fn pod(owner: &str, extra: serde_json::Value) -> Pod {
        let mut pod = json!({
            "metadata": {"name": "web-x", "creationTimestamp": "2026-11-22T05:00:00Z",
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                              "name": "web", "uid": owner, "controller": true}]}});
        for (k, v) in extra.as_object().unwrap() {
            pod[k] = v.clone();
        }
        serde_json::from_value(pod).unwrap()
    }

    #[test]
    fn a_pod_of_another_owner_is_not_the_rollouts() {
        let (a, b) = (rs("uid-a", "aaa"), rs("uid-b", "bbb"));
        assert!(pod_state(&pod("uid-z", json!({})), &[&a, &b]).is_none());
        let state = pod_state(&pod("uid-b", json!({})), &[&a, &b]).unwrap();
        assert_eq!(state.pod_template_hash, "bbb", "the owner's hash");
    }

    #[test]
    fn readiness_and_termination_are_read_from_the_pod() {
        let owner = rs("uid-a", "aaa");
        let not_ready = pod(
            "uid-a",
            json!({"status": {"conditions": [{"type": "Ready", "status": "False",
                "lastTransitionTime": "2026-11-22T05:00:05Z"}]}}),
        );
        let state = pod_state(&not_ready, &[&owner]).unwrap();
        assert_eq!(state.ready_since, None);
        assert_eq!(state.created.to_string(), "2026-11-22T05:00:00Z");
        let mut going = pod("uid-a", json!({}));
        going.metadata.deletion_timestamp = going.metadata.creation_timestamp.clone();
        assert!(pod_state(&going, &[&owner]).unwrap().terminating);
    }
}
