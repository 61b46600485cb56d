//! The canary and stable Services of a basic canary: their
//! `rollouts-pod-template-hash` selector follows the ReplicaSets, as Argo's
//! `reconcileStableAndCanaryService` / `ensureSVCTargets` do.
//!
//! - `stableService` selects the stable ReplicaSet; `canaryService` the
//!   current one, or the stable one after an abort (no traffic routing).
//! - A selector is switched only to a ReplicaSet with at least one available
//!   pod; a Service not yet managed by the Rollout (no
//!   `argo-rollouts.argoproj.io/managed-by-rollouts` annotation) is adopted
//!   only once the ReplicaSet is fully available, and gets the annotation.
//! - A referenced Service must exist, select only labels of the pod template
//!   (besides the hash) and not be managed by another Rollout; otherwise the
//!   Rollout is invalid, with Argo's messages.

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Service;
use rollout_core::{FieldError, Rollout};
use serde_json::{Value, json};

use crate::workload::POD_TEMPLATE_HASH_LABEL;

/// The annotation naming the Rollout that manages a Service.
pub const MANAGED_BY_ANNOTATION: &str = "argo-rollouts.argoproj.io/managed-by-rollouts";

/// A Service the Rollout names, and the field that names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reference<'a> {
    /// `spec.strategy.canary.stableService` or `...canaryService`.
    pub field: &'static str,
    /// The Service's name.
    pub name: &'a str,
    /// Whether it is the stable Service.
    pub stable: bool,
}

/// The Services a canary Rollout names, stable first.
pub fn references(rollout: &Rollout) -> Vec<Reference<'_>> {
    let Some(canary) = rollout.canary() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(name) = canary.stable_service.as_deref().filter(|n| !n.is_empty()) {
        out.push(Reference {
            field: "spec.strategy.canary.stableService",
            name,
            stable: true,
        });
    }
    if let Some(name) = canary.canary_service.as_deref().filter(|n| !n.is_empty()) {
        out.push(Reference {
            field: "spec.strategy.canary.canaryService",
            name,
            stable: false,
        });
    }
    out
}

/// Argo's checks of a referenced Service (`ValidateService`, and the
/// not-found error of `getReferencedService`).
pub fn validate(
    rollout: &Rollout,
    reference: Reference<'_>,
    service: Option<&Service>,
) -> Option<FieldError> {
    let name = reference.name;
    let Some(service) = service else {
        return Some(FieldError::new(
            reference.field,
            format!("services \"{name}\" not found"),
        ));
    };
    let template_labels = rollout
        .spec
        .template
        .as_ref()
        .and_then(|t| t.pointer("/metadata/labels"))
        .and_then(Value::as_object);
    let selector = service.spec.as_ref().and_then(|s| s.selector.as_ref());
    let mut keys: Vec<&String> = selector.into_iter().flat_map(|s| s.keys()).collect();
    keys.sort();
    for key in keys {
        if key == POD_TEMPLATE_HASH_LABEL {
            continue;
        }
        let want = selector.and_then(|s| s.get(key));
        let have = template_labels
            .and_then(|l| l.get(key))
            .and_then(Value::as_str);
        if have != want.map(String::as_str) {
            return Some(FieldError::new(
                reference.field,
                format!("Service \"{name}\" has unmatch label \"{key}\" in rollout"),
            ));
        }
    }
    match managed_by(service) {
        Some(owner) if owner != rollout.metadata.name => Some(FieldError::new(
            reference.field,
            format!("Service \"{name}\" is managed by another Rollout"),
        )),
        _ => None,
    }
}

fn managed_by(service: &Service) -> Option<&str> {
    service
        .metadata
        .annotations
        .as_ref()?
        .get(MANAGED_BY_ANNOTATION)
        .map(String::as_str)
}

fn hash_of(rs: &ReplicaSet) -> Option<&str> {
    rs.metadata
        .labels
        .as_ref()?
        .get(POD_TEMPLATE_HASH_LABEL)
        .map(String::as_str)
}

/// The selector switch for `service` to select `rs`, as a merge patch (with
/// the managed-by annotation on adoption), and the hash selected before; or
/// `None` when it already selects it or `rs` is not available enough yet.
pub fn switch(rollout: &Rollout, service: &Service, rs: &ReplicaSet) -> Option<(Value, String)> {
    let desired = hash_of(rs)?;
    let current = service
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .and_then(|s| s.get(POD_TEMPLATE_HASH_LABEL))
        .cloned()
        .unwrap_or_default();
    if current == desired {
        return None;
    }
    let spec_replicas = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let available = rs
        .status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0);
    let managed = managed_by(service).is_some();
    // Adopting a Service: only onto a fully available ReplicaSet.
    let fully_available = spec_replicas != 0 && available != 0 && spec_replicas <= available;
    if !managed && !fully_available {
        return None;
    }
    if available == 0 {
        return None;
    }
    let mut patch = json!({"spec": {"selector": {POD_TEMPLATE_HASH_LABEL: desired}}});
    if !managed {
        patch["metadata"] = json!({"annotations": {MANAGED_BY_ANNOTATION: rollout.metadata.name}});
    }
    Some((patch, current))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout() -> Rollout {
        Rollout::from_value(
            json!({"metadata": {"name": "web"},
                   "spec": {"template": {"metadata": {"labels": {"app": "web"}}},
                            "strategy": {"canary": {"stableService": "web-stable", "canaryService": "web-canary"}}}}),
            "web",
        )
        .unwrap()
    }

    fn service(selector: Value, managed_by: Option<&str>) -> Service {
        let annotations = managed_by.map_or(json!({}), |m| json!({MANAGED_BY_ANNOTATION: m}));
        serde_json::from_value(
            json!({"metadata": {"name": "web-stable", "annotations": annotations},
                                      "spec": {"selector": selector}}),
        )
        .unwrap()
    }

    fn replica_set(hash: &str, replicas: i32, available: i32) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": format!("web-{hash}"), "labels": {POD_TEMPLATE_HASH_LABEL: hash}},
            "spec": {"replicas": replicas, "selector": {}},
            "status": {"replicas": replicas, "availableReplicas": available}}))
        .unwrap()
    }

    #[test]
    fn services_are_checked_with_argos_messages() {
        let ro = rollout();
        let refs = references(&ro);
        assert_eq!(
            refs.iter().map(|r| r.name).collect::<Vec<_>>(),
            ["web-stable", "web-canary"]
        );
        assert_eq!(
            validate(&ro, refs[0], None).unwrap().to_string(),
            "spec.strategy.canary.stableService: services \"web-stable\" not found"
        );
        let other = service(json!({"app": "shop"}), None);
        assert_eq!(
            validate(&ro, refs[0], Some(&other)).unwrap().message,
            "Service \"web-stable\" has unmatch label \"app\" in rollout"
        );
        let taken = service(json!({"app": "web"}), Some("shop"));
        assert_eq!(
            validate(&ro, refs[0], Some(&taken)).unwrap().message,
            "Service \"web-stable\" is managed by another Rollout"
        );
        let fine = service(
            json!({"app": "web", POD_TEMPLATE_HASH_LABEL: "x"}),
            Some("web"),
        );
        assert_eq!(validate(&ro, refs[0], Some(&fine)), None);
    }

    #[test]
    fn a_service_is_adopted_only_onto_a_fully_available_replica_set() {
        let ro = rollout();
        let fresh = service(json!({"app": "web"}), None);
        assert_eq!(switch(&ro, &fresh, &replica_set("h1", 3, 2)), None);
        let (patch, before) = switch(&ro, &fresh, &replica_set("h1", 3, 3)).unwrap();
        assert_eq!(before, "");
        assert_eq!(
            patch,
            json!({"spec": {"selector": {POD_TEMPLATE_HASH_LABEL: "h1"}},
                   "metadata": {"annotations": {MANAGED_BY_ANNOTATION: "web"}}})
        );
    }

    #[test]
    fn a_managed_service_follows_any_available_replica_set_and_is_left_alone_when_it_does() {
        let ro = rollout();
        let managed = service(
            json!({"app": "web", POD_TEMPLATE_HASH_LABEL: "h1"}),
            Some("web"),
        );
        assert_eq!(switch(&ro, &managed, &replica_set("h1", 3, 3)), None);
        assert_eq!(switch(&ro, &managed, &replica_set("h2", 3, 0)), None);
        let (patch, before) = switch(&ro, &managed, &replica_set("h2", 3, 1)).unwrap();
        assert_eq!(before, "h1");
        assert_eq!(
            patch,
            json!({"spec": {"selector": {POD_TEMPLATE_HASH_LABEL: "h2"}}})
        );
    }
}
