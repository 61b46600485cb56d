//! What a VirtualService or DestinationRule should become, as pure
//! functions of the object as read and a [`TrafficTarget`]: the write to
//! send, or `None` when nothing changes.
//!
//! [`plan_virtual_service`] is the one plan of a VirtualService: the
//! target's managed header and mirror routes and its weights, in one write.
//! [`plan_destination_rule`] points the DestinationRule's subsets at the
//! target's ReplicaSets. The objects are edited as JSON, so fields this
//! crate does not know (retries, timeouts, fault injection, fields of newer
//! Istio versions) are carried over untouched.

use json_patch::Patch;
use router_core::TrafficTarget;
use serde_json::Value;

use crate::Error;
use crate::config::{DestinationRuleRef, VirtualServiceRef};

mod managed;
mod patch;
mod select;
mod subsets;
mod weights;

pub use subsets::{HASH_LABEL, MANAGED_BY, plan_destination_rule};

/// Istio's weights add up to 100.
pub const TOTAL_WEIGHT: i64 = 100;

/// The rollout, as far as its VirtualServices are concerned.
#[derive(Debug, Clone, Copy)]
pub struct Rollout<'a> {
    /// `canaryService` (host-level splitting).
    pub canary_service: &'a str,
    /// `stableService`.
    pub stable_service: &'a str,
    /// `trafficRouting.managedRoutes`, in precedence order.
    pub managed_routes: &'a [String],
    /// Subset-level splitting.
    pub destination_rule: Option<&'a DestinationRuleRef>,
}

fn object_error(object: &Value, kind: &str, message: impl Into<String>) -> Error {
    Error::Object {
        object: format!(
            "{kind} {}/{}",
            object["metadata"]["namespace"].as_str().unwrap_or_default(),
            object["metadata"]["name"].as_str().unwrap_or_default()
        ),
        message: message.into(),
    }
}

fn vs_error(vs: &Value, message: impl Into<String>) -> Error {
    object_error(vs, "VirtualService", message)
}

/// Whether `host` names `service`: the part before the first dot
/// (`svc`, `svc.ns`, `svc.ns.svc.cluster.local`).
fn names_service(host: &str, service: &str) -> bool {
    !service.is_empty() && !host.starts_with('.') && host.split('.').next() == Some(service)
}

impl Rollout<'_> {
    fn is_canary(&self, destination: &Value) -> bool {
        let d = &destination["destination"];
        names_service(d["host"].as_str().unwrap_or_default(), self.canary_service)
            || self
                .destination_rule
                .is_some_and(|dr| d["subset"].as_str() == Some(dr.canary_subset_name.as_str()))
    }

    fn is_stable(&self, destination: &Value) -> bool {
        let d = &destination["destination"];
        names_service(d["host"].as_str().unwrap_or_default(), self.stable_service)
            || self
                .destination_rule
                .is_some_and(|dr| d["subset"].as_str() == Some(dr.stable_subset_name.as_str()))
    }

    fn is_additional_subset(&self, destination: &Value) -> bool {
        self.destination_rule.is_some_and(|dr| {
            destination["destination"]["subset"]
                .as_str()
                .is_some_and(|s| dr.additional_subset_names.iter().any(|a| a == s))
        })
    }

    fn is_managed(&self, route: &Value) -> bool {
        route["name"]
            .as_str()
            .is_some_and(|n| self.managed_routes.iter().any(|m| m == n))
    }
}

/// How a VirtualService is written.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Only weights change: this JSON patch, every weight it writes guarded
    /// by `test` operations on the route's name and the destination's host
    /// and subset.
    Weights(Patch),
    /// The routes change (a managed route set or removed, routes reordered,
    /// a destination added or dropped): this whole object, replaced with
    /// the `resourceVersion` it was read at.
    Replace(Value),
}

/// The one plan of a VirtualService: what `target` makes of `vs` (as read).
///
/// 1. Managed routes (`managedRoutes`, in order): each one the target sets
///    is built anew (a header route last, a mirror route first) and each one
///    it removes goes; header and mirror routes send to `canary_host` (the
///    DestinationRule's `spec.host` with subset-level splitting, else the
///    canary Service).
/// 2. Weights, when the target gives them: `canary_weight` (of 100) on the
///    canary and the rest on stable in every selected http, tls and tcp
///    route, and in the managed mirror routes (so a mirror route set in the
///    same target splits like the weighted route).
/// 3. The managed routes are put first, in `managedRoutes` order.
///
/// `None` when nothing changes (a target of hashes only never changes a
/// VirtualService); a [`Write::Weights`] patch when only weights change;
/// else a [`Write::Replace`].
///
/// # Errors
///
/// Argo Rollouts' errors for a VirtualService that cannot carry the target
/// (a route not found, the canary or stable destination missing from a
/// route, ...), naming the object; a route the target names that
/// `managedRoutes` does not list.
///
/// ```
/// use router_core::TrafficTarget;
/// use router_istio::{config::VirtualServiceRef, plan::{plan_virtual_service, Rollout, Write}};
/// let vs = serde_json::json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"http": [
///     {"route": [{"destination": {"host": "web-stable"}, "weight": 100},
///                {"destination": {"host": "web-canary"}, "weight": 0}]}]}});
/// let vs_ref: VirtualServiceRef = serde_json::from_value(serde_json::json!({"name": "web"})).unwrap();
/// let rollout = Rollout { canary_service: "web-canary", stable_service: "web-stable",
///     managed_routes: &[], destination_rule: None };
/// let target = TrafficTarget::weight(10, &[]);
/// let Some(Write::Weights(patch)) = plan_virtual_service(&vs, &vs_ref, &rollout, &target, "web-canary").unwrap()
/// else { panic!("a weight change is a guarded patch") };
/// let mut after = vs.clone();
/// json_patch::patch(&mut after, &patch).unwrap();
/// assert_eq!(after["spec"]["http"][0]["route"][0]["weight"], 90);
/// assert!(plan_virtual_service(&after, &vs_ref, &rollout, &target, "web-canary").unwrap().is_none());
/// ```
pub fn plan_virtual_service(
    vs: &Value,
    vs_ref: &VirtualServiceRef,
    rollout: &Rollout<'_>,
    target: &TrafficTarget,
    canary_host: &str,
) -> Result<Option<Write>, Error> {
    if target.canary_weight.is_none() && !target.touches_routes() {
        return Ok(None);
    }
    if let Some((step, name)) = target
        .named_routes()
        .into_iter()
        .find(|(_, name)| !rollout.managed_routes.iter().any(|m| m == name))
    {
        return Err(vs_error(
            vs,
            format!(
                "{step} {name}: the route is not listed in \
                 spec.strategy.canary.trafficRouting.managedRoutes"
            ),
        ));
    }
    let mut out = vs.clone();
    managed::set_routes(&mut out, vs_ref, rollout, target, canary_host)?;
    if let Some(weight) = target.canary_weight {
        weights::set_weights(&mut out, vs_ref, rollout, weight, &target.additional)?;
    }
    managed::order_routes(&mut out, rollout.managed_routes);
    if &out == vs {
        return Ok(None);
    }
    Ok(Some(match patch::weight_patch(vs, &out) {
        Some(patch) => Write::Weights(patch),
        None => Write::Replace(out),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_name_services_by_their_first_label() {
        assert!(names_service("web", "web"));
        assert!(names_service("web.ns.svc.cluster.local", "web"));
        assert!(!names_service("web-canary", "web"));
        assert!(!names_service(".web", "web"));
        assert!(!names_service("web", ""));
    }
}
