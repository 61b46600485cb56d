//! Whether a canary Ingress as read already is what this router would
//! apply, and whether it is this rollout's to change.

use std::collections::BTreeSet;

use serde_json::Value;

use super::header::HEADER_ROUTE_ANNOTATION;
use super::{FIELD_MANAGER, Plan, Rollout, ingress_label};
use crate::Error;

/// Annotation keys that `manager` owns on `object`, from its `managedFields`
/// (empty when the object was read without them, as from a watch cache).
pub fn owned_annotations(object: &Value, manager: &str) -> BTreeSet<String> {
    object["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["manager"] == manager)
        .filter_map(|m| m["fieldsV1"]["f:metadata"]["f:annotations"].as_object())
        .flat_map(|fields| fields.keys())
        .filter_map(|k| k.strip_prefix("f:").map(str::to_owned))
        .collect()
}

/// Refuses a canary Ingress that is not this rollout's: controlled by
/// another object, or (when the rollout's UID is unknown) controlled by
/// nothing and never written by this router.
pub(super) fn check_owner(existing: &Value, rollout: &Rollout<'_>) -> Result<(), Error> {
    let name = existing["metadata"]["name"].as_str().unwrap_or_default();
    let controller = existing["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["controller"] == true);
    let ours = match (rollout.uid, controller) {
        (Some(uid), Some(c)) => c["uid"].as_str() == Some(uid),
        (Some(_), None) => false,
        (None, Some(c)) => c["kind"] == "Rollout" && c["name"].as_str() == Some(rollout.name),
        (None, None) => existing["metadata"]["managedFields"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|m| m["manager"] == FIELD_MANAGER),
    };
    if ours {
        Ok(())
    } else {
        Err(Error::Ingress {
            ingress: ingress_label(rollout.namespace, name),
            message: format!("canary ingress `{name}` controlled by different object"),
        })
    }
}

/// Whether to apply `desired` (what [`canary_ingress`](super::canary_ingress)
/// built) over `existing`, the canary Ingress as read, if it exists.
///
/// Unchanged when every annotation wanted is there with its value, no
/// annotation this router applied before is to be dropped, the owner
/// reference is in place and the class, TLS and rules are equal. Fields
/// others added are not compared: they are not ours and an apply leaves
/// them alone.
///
/// Which annotations this router applied before comes from the object's
/// `managedFields` when it was read with them, and in any case from
/// [`HEADER_ROUTE_ANNOTATION`], which only this router writes: a header
/// route removed is always noticed. Read without `managedFields` (from a
/// watch cache), an annotation dropped from `additionalIngressAnnotations`
/// or `canaryIngressAnnotations` is removed by the next apply another
/// change causes, not by one of its own.
///
/// # Errors
///
/// The canary Ingress is not this rollout's (see the module docs).
///
/// ```
/// use router_nginx::plan::{changes, Plan, Rollout};
/// let rollout = Rollout { name: "web", namespace: "default", uid: None,
///     canary_service: "web-canary", stable_service: "web-stable", max_traffic_weight: None,
///     promoted: false };
/// let desired = serde_json::json!({"metadata": {"name": "web-web-canary",
///     "annotations": {"nginx.ingress.kubernetes.io/canary-weight": "10"}}, "spec": {"rules": []}});
/// assert!(matches!(changes(None, desired.clone(), &rollout).unwrap(), Plan::Apply(_)));
/// ```
pub fn changes(
    existing: Option<&Value>,
    desired: Value,
    rollout: &Rollout<'_>,
) -> Result<Plan, Error> {
    let Some(existing) = existing else {
        return Ok(Plan::Apply(desired));
    };
    check_owner(existing, rollout)?;
    let want = desired["metadata"]["annotations"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let have = &existing["metadata"]["annotations"];
    let mut applied_before = owned_annotations(existing, FIELD_MANAGER);
    if !have[HEADER_ROUTE_ANNOTATION].is_null() {
        applied_before.insert(HEADER_ROUTE_ANNOTATION.to_owned());
    }
    let annotations_differ = want.iter().any(|(k, v)| &have[k] != v)
        || applied_before.iter().any(|k| !want.contains_key(k));
    let owner_missing = desired["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|want| {
            !existing["metadata"]["ownerReferences"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|have| have["uid"] == want["uid"])
        });
    let spec_differs = ["ingressClassName", "tls", "rules"]
        .iter()
        .any(|f| desired["spec"][f] != existing["spec"][f]);
    Ok(if annotations_differ || owner_missing || spec_differs {
        Plan::Apply(desired)
    } else {
        Plan::Unchanged
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn owned_annotations_come_from_our_apply_only() {
        let object = json!({"metadata": {"managedFields": [
            {"manager": FIELD_MANAGER, "operation": "Apply", "fieldsV1": {"f:metadata": {"f:annotations": {
                "f:nginx.ingress.kubernetes.io/canary": {}, "f:rollgate.dev/header-route": {}}}}},
            {"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:metadata": {"f:annotations": {
                "f:example.com/team": {}}}}}
        ]}});
        assert_eq!(
            owned_annotations(&object, FIELD_MANAGER),
            BTreeSet::from([
                "nginx.ingress.kubernetes.io/canary".to_owned(),
                "rollgate.dev/header-route".to_owned()
            ])
        );
    }

    /// Read from a watch cache (no managedFields), a header route in place
    /// that is no longer wanted is still noticed.
    #[test]
    fn a_header_route_to_drop_is_noticed_without_managed_fields() {
        let rollout = Rollout {
            name: "web",
            namespace: "ns",
            uid: None,
            canary_service: "c",
            stable_service: "s",
            max_traffic_weight: None,
            promoted: false,
        };
        let desired = json!({"metadata": {"annotations": {"a/canary": "true"}}, "spec": {}});
        let existing = json!({"metadata": {"name": "web-web-canary",
            "ownerReferences": [{"kind": "Rollout", "name": "web", "controller": true}],
            "annotations": {"a/canary": "true", HEADER_ROUTE_ANNOTATION: "beta"}}, "spec": {}});
        assert!(matches!(
            changes(Some(&existing), desired, &rollout).unwrap(),
            Plan::Apply(_)
        ));
    }
}
