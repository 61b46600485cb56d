//! Which ReplicaSets a Rollout claims: Kubernetes' controller-reference
//! rules as Argo applies them (`ClaimReplicaSets` with the Rollout's
//! selector, in `getReplicaSetsForRollouts`).
//!
//! Of the ReplicaSets in the Rollout's namespace:
//! - one controlled by another owner is left alone;
//! - one controlled by the Rollout is kept while its labels match the
//!   Rollout's selector, and released otherwise (its controller reference
//!   removed), unless the Rollout is being deleted;
//! - an orphan (no controller reference) whose labels match the selector is
//!   adopted (the Rollout's controller reference added), unless the Rollout
//!   or the ReplicaSet is being deleted.
//!
//! An adopted ReplicaSet takes part like any of the Rollout's: found as the
//! current one by hash or template, scaled down as an old one. One without
//! the `rollouts-pod-template-hash` label (not made by a Rollout) is
//! adopted, but the engine does not see it, so it is not scaled down as
//! Argo would scale it.
//!
//! [`adopt_patch`] and [`release_patch`] are the strategic merge patches
//! Kubernetes' `ReplicaSetControllerRefManager` sends, both conditional on
//! the ReplicaSet's uid, so a ReplicaSet deleted and re-created under the
//! same name in between is not touched.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::{Selector, SelectorExt};
use rollout_core::Rollout;
use serde_json::{Value, json};

use super::WorkloadError;
use super::replica_set::owner_reference;

/// What becomes of one ReplicaSet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The Rollout's, and stays so.
    Keep,
    /// An orphan the Rollout takes.
    Adopt,
    /// The Rollout's, no longer matching: let go.
    Release,
    /// Not the Rollout's business.
    Ignore,
}

/// The Rollout's `spec.selector` as a selector to match labels with.
///
/// ```
/// use kube::core::SelectorExt;
/// use rollgate_controller::workload::claim::selector;
/// let sel = selector(Some(&serde_json::json!({"matchLabels": {"app": "web"},
///     "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["test"]}]}))).unwrap();
/// assert!(sel.matches(&[("app".to_string(), "web".to_string())].into()));
/// assert!(selector(Some(&serde_json::json!({"matchLabels": {"app": 1}}))).is_err());
/// ```
pub fn selector(spec_selector: Option<&Value>) -> Result<Selector, WorkloadError> {
    let shape = || WorkloadError::Shape {
        field: "spec.selector".into(),
        expected: "a label selector (matchLabels of strings, matchExpressions with key, operator and values)",
    };
    let Some(value) = spec_selector else {
        // Argo's `LabelSelectorAsSelector(nil)` selects nothing; validation
        // refuses a Rollout without a selector before this is asked.
        return Err(shape());
    };
    let parsed: LabelSelector = serde_json::from_value(value.clone()).map_err(|_| shape())?;
    Selector::try_from(parsed).map_err(|_| shape())
}

/// The claim of a Rollout (uid `uid`, deleted or not) on the ReplicaSet
/// whose metadata is `rs` (nothing else of it counts, so a watch cache's
/// packed ReplicaSets are claimed without reading them back).
pub fn claim(rs: &ObjectMeta, uid: &str, rollout_deleted: bool, selector: &Selector) -> Claim {
    let controller = rs
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true));
    let empty = BTreeMap::new();
    let matches = selector.matches(rs.labels.as_ref().unwrap_or(&empty));
    match controller {
        Some(owner) if owner.uid != uid => Claim::Ignore,
        Some(_) if matches => Claim::Keep,
        Some(_) if rollout_deleted => Claim::Ignore,
        Some(_) => Claim::Release,
        None if rollout_deleted || !matches => Claim::Ignore,
        None if rs.deletion_timestamp.is_some() => Claim::Ignore,
        None => Claim::Adopt,
    }
}

/// The patch that makes the Rollout `rs`'s controller.
///
/// ```
/// use rollgate_controller::workload::claim::adopt_patch;
/// let rollout = rollout_core::Rollout::from_value(serde_json::json!({
///     "metadata": {"name": "web", "uid": "u-1"}, "spec": {"strategy": {"canary": {}}}}), "web").unwrap();
/// let patch = adopt_patch(&rollout, "rs-uid");
/// assert_eq!(patch["metadata"]["uid"], "rs-uid");
/// assert_eq!(patch["metadata"]["ownerReferences"][0]["uid"], "u-1");
/// assert_eq!(patch["metadata"]["ownerReferences"][0]["controller"], true);
/// ```
pub fn adopt_patch(rollout: &Rollout, rs_uid: &str) -> Value {
    json!({"metadata": {"ownerReferences": [owner_reference(rollout)], "uid": rs_uid}})
}

/// The patch that removes the Rollout's reference from `rs`.
pub fn release_patch(rollout_uid: &str, rs_uid: &str) -> Value {
    json!({"metadata": {
        "ownerReferences": [{"$patch": "delete", "uid": rollout_uid}],
        "uid": rs_uid,
    }})
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::ReplicaSet;

    fn rs(labels: Value, owner: Option<&str>, deleting: bool) -> ReplicaSet {
        let mut metadata = json!({"name": "web-abc", "namespace": "shop", "uid": "rs-1",
                                  "labels": labels});
        if let Some(uid) = owner {
            metadata["ownerReferences"] = json!([{"apiVersion": "argoproj.io/v1alpha1",
                "kind": "Rollout", "name": "web", "uid": uid, "controller": true}]);
        }
        if deleting {
            metadata["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        serde_json::from_value(json!({"metadata": metadata, "spec": {"selector": {}}})).unwrap()
    }

    fn web() -> Selector {
        selector(Some(&json!({"matchLabels": {"app": "web"}}))).unwrap()
    }

    #[test]
    fn orphans_that_match_are_adopted() {
        let orphan = rs(
            json!({"app": "web", "rollouts-pod-template-hash": "abc"}),
            None,
            false,
        );
        assert_eq!(claim(&orphan.metadata, "u-1", false, &web()), Claim::Adopt);
        // Not while the Rollout or the ReplicaSet is being deleted, nor when it does not match.
        assert_eq!(claim(&orphan.metadata, "u-1", true, &web()), Claim::Ignore);
        let deleting = rs(json!({"app": "web"}), None, true);
        assert_eq!(
            claim(&deleting.metadata, "u-1", false, &web()),
            Claim::Ignore
        );
        let other = rs(json!({"app": "db"}), None, false);
        assert_eq!(claim(&other.metadata, "u-1", false, &web()), Claim::Ignore);
    }

    #[test]
    fn owned_replica_sets_are_kept_while_they_match_and_released_after() {
        let owned = rs(json!({"app": "web"}), Some("u-1"), false);
        assert_eq!(claim(&owned.metadata, "u-1", false, &web()), Claim::Keep);
        let relabelled = rs(json!({"app": "web-old"}), Some("u-1"), false);
        assert_eq!(
            claim(&relabelled.metadata, "u-1", false, &web()),
            Claim::Release
        );
        assert_eq!(
            claim(&relabelled.metadata, "u-1", true, &web()),
            Claim::Ignore
        );
    }

    #[test]
    fn another_controllers_replica_sets_are_left_alone() {
        let theirs = rs(json!({"app": "web"}), Some("u-2"), false);
        assert_eq!(claim(&theirs.metadata, "u-1", false, &web()), Claim::Ignore);
        // A Deployment's ReplicaSet matching the Rollout's selector too.
        let mut deployment_rs = rs(json!({"app": "web"}), None, false);
        deployment_rs.metadata.owner_references = serde_json::from_value(json!([
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": "d-1", "controller": true}
        ]))
        .unwrap();
        assert_eq!(
            claim(&deployment_rs.metadata, "u-1", false, &web()),
            Claim::Ignore
        );
    }

    #[test]
    fn the_release_patch_deletes_only_the_rollouts_reference() {
        assert_eq!(
            release_patch("u-1", "rs-1"),
            json!({"metadata": {"ownerReferences": [{"$patch": "delete", "uid": "u-1"}], "uid": "rs-1"}})
        );
    }

    #[test]
    fn a_selector_of_the_wrong_shape_names_the_field() {
        let err = selector(Some(
            &json!({"matchExpressions": [{"key": "a", "operator": "Near"}]}),
        ))
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("spec.selector: expected a label selector"),
            "{err}"
        );
    }
}
