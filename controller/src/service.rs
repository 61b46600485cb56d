//! The Services of a canary: their `rollouts-pod-template-hash` selector
//! follows the ReplicaSets, as Argo's `reconcilePingAndPongService`,
//! `reconcileStableAndCanaryService` and `ensureSVCTargets` do. The active
//! and preview Services of a blue-green Rollout are validated the same way;
//! the engine decides their selectors ([`rollout_core::Decision::services`])
//! and [`select`] writes them as Argo's `switchServiceSelector` does.
//!
//! - `stableService` selects the stable ReplicaSet; `canaryService` the
//!   current one, or the stable one after an abort (no traffic routing).
//! - With `pingPong`, while an update is in progress (the status's stable
//!   and current hashes differ), the ping-pong Service in the canary's role
//!   ([`rollout_core::pingpong::services`]) selects the current ReplicaSet
//!   at once, whatever its availability; the one in the stable role is left
//!   as it is (it selected those pods when it was the canary's).
//! - Otherwise a selector is switched only to a ReplicaSet with at least
//!   one available pod; a Service not yet managed by the Rollout (no
//!   `argo-rollouts.argoproj.io/managed-by-rollouts` annotation) is adopted
//!   only once the ReplicaSet is fully available. Either way it gets the
//!   annotation.
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

/// What a Service the Rollout names is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `stableService`.
    Stable,
    /// `canaryService`.
    Canary,
    /// `pingPong.pingService` or `pingPong.pongService`: the roles alternate
    /// (see [`rollout_core::pingpong`]).
    PingPong,
    /// `blueGreen.activeService`.
    Active,
    /// `blueGreen.previewService`.
    Preview,
}

/// A Service the Rollout names, and the field that names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reference<'a> {
    /// `spec.strategy.canary.stableService`, `...canaryService`,
    /// `...pingPong.pingService`, `...pingPong.pongService`,
    /// `spec.strategy.blueGreen.activeService` or `...previewService`.
    pub field: &'static str,
    /// The Service's name.
    pub name: &'a str,
    /// What it is for.
    pub role: Role,
}

/// The Services a Rollout names, in Argo's order: stable, canary, ping,
/// pong; for blue-green, active and preview.
pub fn references(rollout: &Rollout) -> Vec<Reference<'_>> {
    let Some(canary) = rollout.canary() else {
        let Some(bg) = rollout.blue_green() else {
            return Vec::new();
        };
        return [
            (
                "spec.strategy.blueGreen.activeService",
                Some(bg.active_service.as_str()),
                Role::Active,
            ),
            (
                "spec.strategy.blueGreen.previewService",
                bg.preview_service.as_deref(),
                Role::Preview,
            ),
        ]
        .into_iter()
        .filter_map(|(field, name, role)| {
            let name = name.filter(|n| !n.is_empty())?;
            Some(Reference { field, name, role })
        })
        .collect();
    };
    let ping_pong = canary.ping_pong.as_ref();
    [
        (
            "spec.strategy.canary.stableService",
            canary.stable_service.as_deref(),
            Role::Stable,
        ),
        (
            "spec.strategy.canary.canaryService",
            canary.canary_service.as_deref(),
            Role::Canary,
        ),
        (
            "spec.strategy.canary.pingPong.pingService",
            ping_pong.map(|p| p.ping_service.as_str()),
            Role::PingPong,
        ),
        (
            "spec.strategy.canary.pingPong.pongService",
            ping_pong.map(|p| p.pong_service.as_str()),
            Role::PingPong,
        ),
    ]
    .into_iter()
    .filter_map(|(field, name, role)| {
        let name = name.filter(|n| !n.is_empty())?;
        Some(Reference { field, name, role })
    })
    .collect()
}

/// With `pingPong`, while an update is in progress, the ping-pong Service
/// in the canary's role; `None` otherwise (Argo's
/// `reconcilePingAndPongService`: a Rollout is fully promoted when its
/// status's stable and current hashes are equal, unset ones included).
pub fn ping_pong_canary(rollout: &Rollout) -> Option<&str> {
    let spec = rollout.canary()?.ping_pong.as_ref()?;
    let status = rollout.status.as_ref();
    let stable = status.and_then(|s| s.stable_rs.as_deref()).unwrap_or("");
    let current = status
        .and_then(|s| s.current_pod_hash.as_deref())
        .unwrap_or("");
    if stable == current {
        return None;
    }
    let side = status.and_then(|s| s.canary.stable_ping_pong);
    let (_, canary) = rollout_core::pingpong::services(spec, side);
    Some(canary).filter(|n| !n.is_empty())
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

/// The pod template hash `service`'s selector carries, if any.
pub fn selected_hash(service: &Service) -> Option<&str> {
    service
        .spec
        .as_ref()?
        .selector
        .as_ref()?
        .get(POD_TEMPLATE_HASH_LABEL)
        .map(String::as_str)
}

/// Argo's `switchServiceSelector`, for a selector the engine decided: the
/// merge patch that makes `service` select `hash` and, when it is not
/// managed by a Rollout yet, annotates it as the Rollout's; with the hash
/// it selected before (empty if none). `None` when it already selects
/// `hash` and carries the annotation: an unchanged Service costs no request.
///
/// ```
/// use rollgate_controller::service::{select, MANAGED_BY_ANNOTATION};
/// let rollout = rollout_core::Rollout::from_value(serde_json::json!({
///     "metadata": {"name": "web"},
///     "spec": {"strategy": {"blueGreen": {"activeService": "web"}}}}), "web").unwrap();
/// let service = serde_json::from_value(serde_json::json!({
///     "metadata": {"name": "web", "annotations": {MANAGED_BY_ANNOTATION: "web"}},
///     "spec": {"selector": {"app": "web", "rollouts-pod-template-hash": "old"}}})).unwrap();
/// assert_eq!(select(&rollout, &service, "old"), None);
/// let (patch, before) = select(&rollout, &service, "new").unwrap();
/// assert_eq!(before, "old");
/// assert_eq!(patch, serde_json::json!({"spec": {"selector": {"rollouts-pod-template-hash": "new"}}}));
/// ```
pub fn select(rollout: &Rollout, service: &Service, hash: &str) -> Option<(Value, String)> {
    let current = selected_hash(service).unwrap_or_default().to_owned();
    let managed = managed_by(service).is_some();
    if current == hash && managed {
        return None;
    }
    let mut patch = json!({"spec": {"selector": {POD_TEMPLATE_HASH_LABEL: hash}}});
    if !managed {
        patch["metadata"] = json!({"annotations": {MANAGED_BY_ANNOTATION: rollout.metadata.name}});
    }
    Some((patch, current))
}

/// Whether a selector switch waits for the ReplicaSet's pods (Argo's
/// `checkRsAvailability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// At least one available pod, all of them to adopt a Service.
    Checked,
    /// At once (the ping-pong Service in the canary's role).
    Unchecked,
}

/// The selector switch for `service` to select `rs`, as a merge patch (with
/// the managed-by annotation on adoption), and the hash selected before; or
/// `None` when it already selects it or, with [`Availability::Checked`],
/// `rs` is not available enough yet.
pub fn switch(
    rollout: &Rollout,
    service: &Service,
    rs: &ReplicaSet,
    availability: Availability,
) -> Option<(Value, String)> {
    let desired = hash_of(rs)?;
    let current = selected_hash(service).unwrap_or_default().to_owned();
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
    if availability == Availability::Checked {
        // Adopting a Service: only onto a fully available ReplicaSet.
        let fully_available = spec_replicas != 0 && available != 0 && spec_replicas <= available;
        if (!managed && !fully_available) || available == 0 {
            return None;
        }
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
        assert_eq!(
            switch(&ro, &fresh, &replica_set("h1", 3, 2), Availability::Checked),
            None
        );
        let (patch, before) =
            switch(&ro, &fresh, &replica_set("h1", 3, 3), Availability::Checked).unwrap();
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
        assert_eq!(
            switch(
                &ro,
                &managed,
                &replica_set("h1", 3, 3),
                Availability::Checked
            ),
            None
        );
        assert_eq!(
            switch(
                &ro,
                &managed,
                &replica_set("h2", 3, 0),
                Availability::Checked
            ),
            None
        );
        let (patch, before) = switch(
            &ro,
            &managed,
            &replica_set("h2", 3, 1),
            Availability::Checked,
        )
        .unwrap();
        assert_eq!(before, "h1");
        assert_eq!(
            patch,
            json!({"spec": {"selector": {POD_TEMPLATE_HASH_LABEL: "h2"}}})
        );
    }

    #[test]
    fn blue_green_services_are_named_and_switched_as_argo_switches_them() {
        let ro = Rollout::from_value(
            json!({"metadata": {"name": "web"},
                   "spec": {"template": {"metadata": {"labels": {"app": "web"}}},
                            "strategy": {"blueGreen": {"activeService": "web",
                                                       "previewService": "web-preview"}}}}),
            "web",
        )
        .unwrap();
        let refs = references(&ro);
        assert_eq!(
            refs.iter()
                .map(|r| (r.field, r.name, r.role))
                .collect::<Vec<_>>(),
            [
                ("spec.strategy.blueGreen.activeService", "web", Role::Active),
                (
                    "spec.strategy.blueGreen.previewService",
                    "web-preview",
                    Role::Preview
                )
            ]
        );
        assert_eq!(
            validate(&ro, refs[1], None).unwrap().to_string(),
            "spec.strategy.blueGreen.previewService: services \"web-preview\" not found"
        );
        // A Service not managed yet is annotated even when it selects the hash already.
        let unmanaged = service(json!({"app": "web", POD_TEMPLATE_HASH_LABEL: "h1"}), None);
        let (patch, before) = select(&ro, &unmanaged, "h1").unwrap();
        assert_eq!(before, "h1");
        assert_eq!(
            patch,
            json!({"spec": {"selector": {POD_TEMPLATE_HASH_LABEL: "h1"}},
                   "metadata": {"annotations": {MANAGED_BY_ANNOTATION: "web"}}})
        );
        let fresh = service(json!({"app": "web"}), None);
        assert_eq!(select(&ro, &fresh, "h1").unwrap().1, "");
    }

    fn ping_pong(status: Value) -> Rollout {
        Rollout::from_value(
            json!({"metadata": {"name": "web"},
                   "spec": {"template": {"metadata": {"labels": {"app": "web"}}},
                            "strategy": {"canary": {
                                "pingPong": {"pingService": "web-ping", "pongService": "web-pong"},
                                "trafficRouting": {"istio": {"virtualService": {"name": "web"}}}}}},
                   "status": status}),
            "web",
        )
        .unwrap()
    }

    #[test]
    fn the_ping_pong_service_in_the_canary_role_follows_an_update_at_once() {
        let first = ping_pong(json!({}));
        let refs = references(&first);
        assert_eq!(
            refs.iter().map(|r| (r.field, r.name)).collect::<Vec<_>>(),
            [
                ("spec.strategy.canary.pingPong.pingService", "web-ping"),
                ("spec.strategy.canary.pingPong.pongService", "web-pong")
            ]
        );
        assert_eq!(
            ping_pong_canary(&first),
            None,
            "nothing to do before any status"
        );
        let settled = ping_pong(json!({"stableRS": "h1", "currentPodHash": "h1",
                                       "canary": {"stablePingPong": "ping"}}));
        assert_eq!(ping_pong_canary(&settled), None, "fully promoted");
        let updating = ping_pong(json!({"stableRS": "h1", "currentPodHash": "h2",
                                        "canary": {"stablePingPong": "ping"}}));
        assert_eq!(ping_pong_canary(&updating), Some("web-pong"));
        let next = ping_pong(json!({"stableRS": "h2", "currentPodHash": "h3",
                                    "canary": {"stablePingPong": "pong"}}));
        assert_eq!(ping_pong_canary(&next), Some("web-ping"));
        // At once: no pod of the new ReplicaSet needs to be available, and
        // a Service not yet managed is adopted with the annotation.
        let fresh = service(json!({"app": "web"}), None);
        let (patch, before) = switch(
            &updating,
            &fresh,
            &replica_set("h2", 3, 0),
            Availability::Unchecked,
        )
        .unwrap();
        assert_eq!(before, "");
        assert_eq!(
            patch,
            json!({"spec": {"selector": {POD_TEMPLATE_HASH_LABEL: "h2"}},
                   "metadata": {"annotations": {MANAGED_BY_ANNOTATION: "web"}}})
        );
    }
}
