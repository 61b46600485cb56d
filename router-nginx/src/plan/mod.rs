//! The canary Ingress as a pure function of the stable Ingress, the canary
//! Ingress as read and a [`TrafficTarget`], and the decision whether to
//! write it: [`plan`], the one plan function of this router.
//!
//! The canary Ingress is built fresh from the stable Ingress on every call,
//! as Argo Rollouts builds it ([`canary_ingress`]). Its weight and header
//! route are the target's where it gives them and the canary Ingress's as
//! read where it leaves them as they are, so one apply carries every aspect
//! a target changes.
//!
//! It is written with server-side apply under [`FIELD_MANAGER`], so the
//! fields we set are ours and everything else on the object (annotations
//! and labels others add) is left alone; [`changes`] says when nothing
//! would change so that no request is sent.

use router_core::{RouteTarget, TrafficTarget};
use serde_json::Value;

use crate::Error;
use crate::config::Config;

mod compare;
mod header;
mod ingress;
mod name;

pub use compare::{changes, owned_annotations};
pub use header::{HEADER_ROUTE_ANNOTATION, HeaderRoute, HeaderValue, in_effect, requested};
pub use ingress::{Desired, canary_ingress};
pub use name::canary_ingress_name;

/// The field manager of our server-side applies.
pub const FIELD_MANAGER: &str = "rollgate-nginx";

/// The rollout, as far as the canary Ingress is concerned.
#[derive(Debug, Clone, Copy)]
pub struct Rollout<'a> {
    /// Rollout name.
    pub name: &'a str,
    /// Rollout (and Ingress) namespace.
    pub namespace: &'a str,
    /// The Rollout's UID, when known: the canary Ingress gets an owner
    /// reference to it, and one controlled by another object is refused.
    pub uid: Option<&'a str>,
    /// `canaryService`.
    pub canary_service: &'a str,
    /// `stableService`.
    pub stable_service: &'a str,
    /// `trafficRouting.maxTrafficWeight`, when set (emitted as `canary-weight-total`).
    pub max_traffic_weight: Option<i32>,
    /// Whether the rollout is fully promoted (its stable ReplicaSet is the
    /// current one): with `deleteCanaryIngressOnCompletion`, weight 0 then
    /// deletes the canary Ingress.
    pub promoted: bool,
}

impl Rollout<'_> {
    /// `<namespace>/<name>`, for messages.
    pub fn label(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Refuses a rollout whose canary and stable Services are not both set
    /// or are the same: NGINX routing splits traffic between the two.
    ///
    /// # Errors
    ///
    /// [`Error::Config`], naming both fields.
    pub fn check_services(&self) -> Result<(), Error> {
        if self.canary_service.is_empty()
            || self.stable_service.is_empty()
            || self.canary_service == self.stable_service
        {
            return Err(Error::Config {
                rollout: self.label(),
                message: format!(
                    "canaryService {:?} and stableService {:?} must both be set and differ for \
                     NGINX routing",
                    self.canary_service, self.stable_service
                ),
            });
        }
        Ok(())
    }
}

fn ingress_label(namespace: &str, name: &str) -> String {
    format!("Ingress {namespace}/{name}")
}

fn annotation<'v>(object: &'v Value, key: &str) -> Option<&'v str> {
    object["metadata"]["annotations"][key].as_str()
}

/// The `canary-weight` a canary Ingress carries.
pub fn current_weight(canary: &Value, config: &Config) -> Option<i32> {
    annotation(canary, &config.annotation("canary-weight"))?
        .parse()
        .ok()
}

/// What to do with one canary Ingress.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// It already is as desired: send nothing.
    Unchanged,
    /// Server-side apply this object (the fields we own).
    Apply(Value),
    /// Delete it.
    Delete,
}

/// Where Argo reports a weighted experiment template.
pub const EXPERIMENT_WEIGHT_FIELD: &str =
    "spec.strategy.canary.steps[].experiment.templates[].weight";

/// Argo's message for an experiment template `weight` under a router that
/// cannot send traffic to extra destinations (`trafficRouting.nginx`).
pub const EXPERIMENT_WEIGHT_REFUSED: &str = "Experiment template weight is only available for \
     TrafficRouting with SMI, ALB, Istio and Plugins at this time";

/// Refuses what no canary Ingress can carry, from the target alone, so a
/// router calls it before any I/O: what [`check_two_way`] refuses, and
/// header routes [`requested`] refuses. Returns the header route the
/// target sets.
///
/// # Errors
///
/// [`Error::Unsupported`], naming the step and why.
pub fn check(target: &TrafficTarget, rollout: &str) -> Result<Option<HeaderRoute>, Error> {
    check_two_way(target, rollout, "ingress-nginx canary Ingresses")?;
    requested(target, rollout)
}

/// Refuses, from the target alone, what a split between the canary and
/// stable Services only cannot carry: a mirror route (removing one is
/// fine) and experiment destinations (a template with a `weight`, 0
/// included, as Argo refuses it under its own NGINX router). `carrier`
/// names what splits the traffic, in the plural, for the message.
///
/// # Errors
///
/// [`Error::Unsupported`], naming the step and why.
pub fn check_two_way(target: &TrafficTarget, rollout: &str, carrier: &str) -> Result<(), Error> {
    let unsupported = |message: String| Error::Unsupported {
        rollout: rollout.to_owned(),
        message,
    };
    for (_, name) in target.named_routes() {
        if let RouteTarget::Mirror(_) = target.route(name) {
            return Err(unsupported(format!(
                "setMirrorRoute {name}: not supported by {carrier} (they cannot mirror traffic; \
                 use the Istio or Gateway API router)"
            )));
        }
    }
    if target.canary_weight.is_some()
        && let Some(extra) = target.additional.first()
    {
        // Argo refuses a template `weight` (any, 0 included) under its own
        // NGINX router when it validates the Rollout; as a plugin, the same
        // refusal comes here, with Argo's words.
        let service = extra.service_name.as_deref().unwrap_or("(no Service)");
        return Err(unsupported(format!(
            "{EXPERIMENT_WEIGHT_FIELD}: {EXPERIMENT_WEIGHT_REFUSED} (experiment destination \
             {service} has weight {}: {carrier} split traffic between the canary and stable \
             Services only)",
            extra.weight
        )));
    }
    Ok(())
}

/// The one plan of this router: what `target` makes of the canary Ingress
/// of `stable` (the stable Ingress as read), given `existing`, the canary
/// Ingress as read (`None`: it does not exist).
///
/// - The weight is the target's, or the one the canary Ingress carries (0
///   when it has none); the header route is the target's where it names it,
///   else the one in place (see [`in_effect`]).
/// - With `deleteCanaryIngressOnCompletion`, a target of weight 0 on a
///   fully promoted rollout deletes the canary Ingress, and once it is gone
///   a target that sets no weight and no header route leaves it gone.
/// - A canary Ingress that does not exist is created only by a target that
///   gives a weight or sets a header route: removing routes from nothing
///   changes nothing.
///
/// # Errors
///
/// Those of [`check`], [`canary_ingress`] and [`changes`], and a header
/// route set while another stays in place.
///
/// ```
/// use router_core::TrafficTarget;
/// use router_nginx::config::Config;
/// use router_nginx::plan::{plan, Plan, Rollout};
/// let rollout = Rollout { name: "web", namespace: "default", uid: None,
///     canary_service: "web-canary", stable_service: "web-stable", max_traffic_weight: None,
///     promoted: false };
/// let config = Config::parse(&serde_json::json!({"stableIngress": "web"}), "default/web").unwrap();
/// let stable = serde_json::json!({"metadata": {"name": "web"}, "spec": {"rules": [{"http": {"paths": [
///     {"path": "/", "backend": {"service": {"name": "web-stable", "port": {"number": 80}}}}]}}]}});
/// let Plan::Apply(canary) = plan(&stable, None, &rollout, &config, &TrafficTarget::weight(20, &[])).unwrap()
/// else { panic!("a new canary Ingress") };
/// assert_eq!(canary["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"], "20");
/// assert_eq!(canary["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"], "web-canary");
/// ```
pub fn plan(
    stable: &Value,
    existing: Option<&Value>,
    rollout: &Rollout<'_>,
    config: &Config,
    target: &TrafficTarget,
) -> Result<Plan, Error> {
    let requested = check(target, &rollout.label())?;
    let completed = config.delete_on_completion && rollout.promoted;
    if completed && target.canary_weight == Some(0) {
        return match existing {
            None => Ok(Plan::Unchanged),
            Some(existing) => {
                compare::check_owner(existing, rollout)?;
                Ok(Plan::Delete)
            }
        };
    }
    if existing.is_none() && target.canary_weight.is_none() && requested.is_none() {
        return Ok(Plan::Unchanged);
    }
    let canary_name = canary_ingress_name(
        rollout.name,
        stable["metadata"]["name"].as_str().unwrap_or_default(),
    );
    let current = existing.and_then(|c| HeaderRoute::current(c, config));
    let header = in_effect(current, requested, target, &rollout.label(), &canary_name)?;
    let weight = target
        .canary_weight
        .or_else(|| existing.and_then(|c| current_weight(c, config)))
        .unwrap_or(0);
    let desired = canary_ingress(
        stable,
        rollout,
        config,
        &Desired {
            weight,
            header: header.as_ref(),
        },
    )?;
    changes(existing, desired, rollout)
}

/// Whether the canary Ingress as stored (`canary`, if it exists) carries
/// `weight`: `canary: "true"`, `canary-weight` and the weight total. Once a
/// fully promoted rollout's canary Ingress is deleted (with
/// `deleteCanaryIngressOnCompletion`), weight 0 is verified by its absence.
pub fn verified(
    canary: Option<&Value>,
    rollout: &Rollout<'_>,
    config: &Config,
    weight: i32,
) -> bool {
    match canary {
        None => weight == 0 && config.delete_on_completion && rollout.promoted,
        Some(c) => {
            annotation(c, &config.annotation("canary")) == Some("true")
                && current_weight(c, config) == Some(weight)
                && annotation(c, &config.annotation("canary-weight-total")).map(str::to_owned)
                    == rollout.max_traffic_weight.map(|t| t.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollout_core::spec::{HeaderMatch, SetHeaderRoute, StringMatch};
    use router_core::Routes;
    use serde_json::json;

    fn rollout() -> Rollout<'static> {
        Rollout {
            name: "web",
            namespace: "ns",
            uid: None,
            canary_service: "web-canary",
            stable_service: "web-stable",
            max_traffic_weight: None,
            promoted: false,
        }
    }

    fn stable() -> Value {
        json!({"metadata": {"name": "web", "namespace": "ns"}, "spec": {"rules": [{"http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web-stable", "port": {"number": 80}}}}]}}]}})
    }

    fn beta() -> SetHeaderRoute {
        SetHeaderRoute {
            name: "beta".into(),
            matches: vec![HeaderMatch {
                header_name: "x-beta".into(),
                header_value: StringMatch {
                    exact: Some("1".into()),
                    ..Default::default()
                },
            }],
        }
    }

    /// The canary Ingress as stored after applying `plan`'s object.
    fn stored(planned: Plan) -> Value {
        let Plan::Apply(mut object) = planned else {
            panic!("expected an apply, got {planned:?}");
        };
        object["metadata"]["managedFields"] = json!([{"manager": FIELD_MANAGER}]);
        object
    }

    #[test]
    fn weight_and_header_route_in_one_plan() {
        let config = Config::parse(&json!({"stableIngress": "web"}), "ns/web").unwrap();
        let target = TrafficTarget {
            canary_weight: Some(30),
            routes: Routes::Exactly {
                header: vec![beta()],
                mirror: Vec::new(),
            },
            ..Default::default()
        };
        let canary = stored(plan(&stable(), None, &rollout(), &config, &target).unwrap());
        let a = &canary["metadata"]["annotations"];
        assert_eq!(a["nginx.ingress.kubernetes.io/canary-weight"], "30");
        assert_eq!(a["nginx.ingress.kubernetes.io/canary-by-header-value"], "1");
        assert_eq!(
            plan(&stable(), Some(&canary), &rollout(), &config, &target).unwrap(),
            Plan::Unchanged
        );
        // A weight alone keeps the header route; a removal keeps the weight.
        let weight_only = TrafficTarget::weight(50, &[]);
        let after =
            stored(plan(&stable(), Some(&canary), &rollout(), &config, &weight_only).unwrap());
        assert_eq!(
            after["metadata"]["annotations"][HEADER_ROUTE_ANNOTATION],
            "beta"
        );
        let removal = TrafficTarget::no_managed_routes();
        let after = stored(plan(&stable(), Some(&after), &rollout(), &config, &removal).unwrap());
        assert_eq!(
            after["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"],
            "50"
        );
        assert!(after["metadata"]["annotations"][HEADER_ROUTE_ANNOTATION].is_null());
        assert!(verified(Some(&after), &rollout(), &config, 50));
        assert!(!verified(Some(&after), &rollout(), &config, 10));
    }

    #[test]
    fn removing_routes_from_no_canary_ingress_creates_nothing() {
        let config = Config::parse(&json!({"stableIngress": "web"}), "ns/web").unwrap();
        let removal = TrafficTarget::no_managed_routes();
        assert_eq!(
            plan(&stable(), None, &rollout(), &config, &removal).unwrap(),
            Plan::Unchanged
        );
    }

    #[test]
    fn mirror_routes_and_weighted_experiments_are_refused_from_the_target_alone() {
        let mirror = rollout_core::spec::SetMirrorRoute {
            name: "shadow".into(),
            matches: vec![Default::default()],
            percentage: Some(10),
        };
        let err = check(&TrafficTarget::mirror_route(mirror), "ns/web").unwrap_err();
        assert!(
            err.to_string()
                .contains("setMirrorRoute shadow: not supported"),
            "{err}"
        );
        let removal = rollout_core::spec::SetMirrorRoute {
            name: "shadow".into(),
            ..Default::default()
        };
        assert!(check(&TrafficTarget::mirror_route(removal), "ns/web").is_ok());
        let extra: rollout_core::status::WeightDestination = serde_json::from_value(json!({
            "serviceName": "exp", "podTemplateHash": "abc", "weight": 10
        }))
        .unwrap();
        let err = check(
            &TrafficTarget::weight(20, std::slice::from_ref(&extra)),
            "ns/web",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains(&format!(
                "{EXPERIMENT_WEIGHT_FIELD}: {EXPERIMENT_WEIGHT_REFUSED} (experiment destination exp has weight 10"
            )),
            "{err}"
        );
        // A weight of 0 is refused too, as Argo refuses any template weight.
        let zero = rollout_core::status::WeightDestination {
            weight: 0,
            ..extra.clone()
        };
        assert!(check(&TrafficTarget::weight(20, &[zero]), "ns/web").is_err());
        // Hashes carry the experiments too, and are nothing to NGINX.
        assert!(check(&TrafficTarget::hashes("a", "b", &[extra]), "ns/web").is_ok());
    }
}
