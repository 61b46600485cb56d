//! Planning, without I/O: a route object as read from the API server, what
//! the rollout's context says about it ([`Routing`]) and a
//! [`TrafficTarget`], in; one guarded JSON patch (or "no change") out.
//!
//! [`plan`] is the one plan function: weights (with extra destinations),
//! the in-progress label and the whole managed-rule layout, for any
//! combination of aspects, in one patch. Its parts each have a module:
//! `weights` for the rollout's rules, `label` for the GitOps label,
//! `header` and `mirror` for the rules of one managed route, [`sticky`] for
//! the sticky session, `layout` for the managed rules in `managedRoutes`
//! order (the sticky cookie rules last) with their companion rules, and
//! `limits` for Gateway API's limits on rules and matches.
//!
//! Routes are handled as JSON so that fields this crate does not know (newer
//! Gateway API fields, implementation extensions) are never rewritten: a
//! plan only touches the backendRef weights it owns, the label and the rules
//! it manages. Every element a patch changes or removes is first `test`ed
//! for its identity (backendRef name, rule name), so a concurrent edit that
//! moved things makes the patch fail instead of overwriting someone else's
//! change.
//!
//! Managed rules are recognised by `rule.name` only: the name of a
//! `managedRoutes` entry or of one of the rollout's sticky cookie rules
//! (`rollgate-sticky-<namespace>.<name>-canary` and `-stable`, or the fixed
//! `rollgate-sticky-canary` and `rollgate-sticky-stable` of earlier
//! versions), or `<name>-<n>` for the copies made on multi-rule routes.
//! Nothing structural: a user's rule that happens to look like ours is
//! never touched, nor another rollout's sticky rules.

use json_patch::Patch;
use router_core::TrafficTarget;
use serde_json::Value;

use crate::config::RouteKind;
use crate::error::Error;

mod annotation;
mod header;
mod label;
mod layout;
mod limits;
mod mirror;
pub mod sticky;
mod view;
mod weights;

pub use limits::{MAX_MATCHES, MAX_MATCHES_PER_RULE, MAX_RULES};
use view::View;

/// Gateway API's largest backendRef weight.
pub const MAX_WEIGHT: i32 = 1_000_000;

/// The Services a rollout routes between, and the namespace they live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Services<'a> {
    /// `canaryService`.
    pub canary: &'a str,
    /// `stableService`.
    pub stable: &'a str,
    /// The rollout's namespace.
    pub namespace: &'a str,
}

/// A route object as read, and its kind.
#[derive(Debug, Clone, Copy)]
pub struct Route<'a> {
    /// The object as read (`apiVersion`, `metadata`, `spec`, `status`).
    pub object: &'a Value,
    /// Its kind.
    pub kind: RouteKind,
}

impl Route<'_> {
    /// `HTTPRoute <namespace>/<name>`, for messages.
    pub fn label(&self) -> String {
        format!(
            "{} {}/{}",
            self.kind.kind(),
            self.namespace(),
            self.object["metadata"]["name"].as_str().unwrap_or("")
        )
    }

    pub(crate) fn namespace(&self) -> &str {
        self.object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
    }
}

/// What the rollout's context and the router's config say about one route.
#[derive(Debug, Clone, Copy)]
pub struct Routing<'a> {
    /// The canary and stable Services.
    pub services: Services<'a>,
    /// `trafficRouting.maxTrafficWeight` in effect (100 when unset).
    pub max_weight: i32,
    /// `trafficRouting.managedRoutes` names, in precedence order.
    pub managed_routes: &'a [String],
    /// The GitOps label (`key`, `value`) set while the canary has traffic;
    /// `None`: the label is not managed.
    pub in_progress_label: Option<(&'a str, &'a str)>,
    /// The rollout, `<namespace>/<name>`: its entry among the rollouts
    /// holding the in-progress label on a route they share (the annotation
    /// of the label's key), the name of its sticky cookie rules and the key
    /// of its sticky session's record (see [`sticky`]); empty: none
    /// recorded, the label follows this rollout's weight alone and the
    /// sticky rules take the fixed names of earlier versions.
    pub rollout: &'a str,
    /// The rules the config names as the rollout's (`rules` on the route's
    /// entry, by `spec.rules[].name`); `None`: every rule outside the
    /// managed rules that sends traffic to both Services.
    pub rules: Option<&'a [String]>,
    /// Whether the route carries the managed header and mirror routes
    /// (`useHeaderRoutes`); when false its managed rules are left as they are.
    pub header_routes: bool,
    /// The Services of the extra destinations (experiments) as the weights
    /// were last applied (the Rollout's `status.canary.weights.additional`):
    /// their backendRefs are removed from the rollout's rules once they are
    /// no longer extra destinations.
    pub previous_additional: &'a [String],
    /// The port of each extra destination's Service (its port named `http`,
    /// else its first), for the backendRefs added for them.
    pub additional_ports: &'a [(String, i32)],
    /// The sticky session (`stickySession`) and how it is kept on this
    /// route; `None`: off.
    pub sticky: Option<Sticky<'a>>,
    /// The canary and stable pod template hashes (the Rollout's
    /// `status.currentPodHash` and `status.stableRS`): the sticky cookie's
    /// values.
    pub hashes: Hashes<'a>,
}

/// The pod template hashes that name the two versions (empty: not known).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hashes<'a> {
    /// The canary's (`status.currentPodHash`).
    pub canary: &'a str,
    /// The stable version's (`status.stableRS`).
    pub stable: &'a str,
}

/// A sticky session, as the plan keeps it (see [`sticky`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sticky<'a> {
    /// The cookie name (also the `sessionPersistence` session name, by
    /// which the router recognises its own `sessionPersistence`).
    pub cookie: &'a str,
    /// The cookie's (or session's) lifetime, in seconds.
    pub max_age: u32,
    /// `true`: the rollout's rules get `sessionPersistence`; `false`: the
    /// cookie rules. The router decides this from the config's `mode` and
    /// the HTTPRoute schema the API server serves.
    pub session_persistence: bool,
}

impl<'a> Routing<'a> {
    /// The routing of a route named without options: weights out of 100,
    /// no managed routes, no label, the both-Services rules, header routes on.
    ///
    /// ```
    /// use router_gatewayapi::plan::{Routing, Services};
    /// let services = Services { canary: "web-canary", stable: "web-stable", namespace: "default" };
    /// let routing = Routing::new(services);
    /// assert_eq!(routing.max_weight, 100);
    /// assert!(routing.in_progress_label.is_none() && routing.rules.is_none());
    /// ```
    pub fn new(services: Services<'a>) -> Self {
        Self {
            services,
            max_weight: rollout_core::spec::DEFAULT_MAX_TRAFFIC_WEIGHT,
            managed_routes: &[],
            in_progress_label: None,
            rollout: "",
            rules: None,
            header_routes: true,
            previous_additional: &[],
            additional_ports: &[],
            sticky: None,
            hashes: Hashes {
                canary: "",
                stable: "",
            },
        }
    }
}

/// The one plan: the guarded JSON patch that makes `route` carry `target`,
/// or `None` when it already does.
///
/// * **Weights** (when `target.canary_weight` is set): the canary gets its
///   weight of `max_weight`, extra destinations theirs, the stable Service
///   the rest, in the rollout's rules only (see [`Routing::rules`]). Every
///   other rule stays as its owner wrote it at every weight, 0 and 100
///   included: a rule whose only backend is the stable Service (say, one
///   matching a header and sending it to stable) is the user's. The
///   Gateway API plugin this router replaces sets the stable weight on
///   every backendRef named like the stable Service, which leaves such a
///   rule without a backend at canary weight 100; this router deliberately
///   does not.
/// * **The in-progress label** (when the weight is set and the label is
///   managed): on while the canary of this rollout, or of another rollout
///   sharing the route, has traffic; this rollout's entry in the holders
///   annotation added, or removed at weight 0, the label going with the
///   last holder.
/// * **The sticky session** (on HTTPRoutes, when the weight is set and
///   [`Routing::sticky`] is on): between weight 0 and full weight, the
///   rollout's rules carry `sessionPersistence`, or their canary and stable
///   backendRefs set a cookie naming their version's pod template hash and
///   cookie rules send the clients carrying it back there, and the route
///   records which; at 0 and full weight neither is left, nor once the
///   config no longer has it (what the record names is taken back, see
///   [`sticky`]).
/// * **Managed routes** (on HTTP and gRPC routes with header routes, when
///   the target touches them): per `managedRoutes` entry,
///   [`target.route(name)`](TrafficTarget::route) says keep its rules,
///   remove them, or set them (a header route: one copy of each of the
///   rollout's rules with the step's header conditions added, to the
///   canary; a mirror route: a copy of the first that sends to stable and
///   mirrors to the canary); then the managed rules are laid out at the end
///   of the route in `managedRoutes` order, each followed by its companion
///   rules over the routes listed after it, which make that order their
///   precedence (see "Managed routes" in the crate documentation). A
///   layout past Gateway API's limits (16 rules, 64 matches per rule, 128
///   in all) is refused.
///
/// # Errors
///
/// [`Error::Route`] when the route cannot carry the target (no rule of the
/// rollout's, a weight outside the range, a match Gateway API cannot
/// express, a rule the config names that the route lacks, a route the
/// target names that `managedRoutes` does not list); [`Error::Limit`] for a
/// layout past Gateway API's limits. Nothing is planned then.
///
/// ```
/// use router_core::TrafficTarget;
/// use router_gatewayapi::config::RouteKind;
/// use router_gatewayapi::plan::{plan, Route, Routing, Services};
/// let object = serde_json::json!({"metadata": {"name": "web", "namespace": "default"},
///     "spec": {"rules": [{"backendRefs": [{"name": "web-canary", "port": 80, "weight": 0},
///                                         {"name": "web-stable", "port": 80, "weight": 100}]},
///                        {"matches": [{"headers": [{"name": "x-beta", "value": "1"}]}],
///                         "backendRefs": [{"name": "web-stable", "port": 80, "weight": 1}]}]}});
/// let route = Route { object: &object, kind: RouteKind::Http };
/// let services = Services { canary: "web-canary", stable: "web-stable", namespace: "default" };
/// let routing = Routing::new(services);
/// let patch = plan(&route, &routing, &TrafficTarget::weight(50, &[])).unwrap().expect("a change");
/// let mut after = object.clone();
/// json_patch::patch(&mut after, &patch).unwrap();
/// assert_eq!(after["spec"]["rules"][0]["backendRefs"][0]["weight"], 50);
/// // The stable-only rule is the user's: untouched.
/// assert_eq!(after["spec"]["rules"][1], object["spec"]["rules"][1]);
/// // Already there: nothing to write.
/// let route = Route { object: &after, kind: RouteKind::Http };
/// assert!(plan(&route, &routing, &TrafficTarget::weight(50, &[])).unwrap().is_none());
/// ```
pub fn plan(
    route: &Route<'_>,
    routing: &Routing<'_>,
    target: &TrafficTarget,
) -> Result<Option<Patch>, Error> {
    let view = View::new(route, routing)?;
    if let Some((step, name)) = target
        .named_routes()
        .into_iter()
        .find(|(_, name)| !routing.managed_routes.iter().any(|m| m == name))
    {
        return Err(view.error(format!(
            "{step} {name}: the route is not listed in \
             spec.strategy.canary.trafficRouting.managedRoutes"
        )));
    }
    let mut ops = Vec::new();
    if let Some(weight) = target.canary_weight {
        // Before the weights, which may remove backendRefs: these address
        // rules and backendRefs by their index as read.
        ops.extend(sticky::persistence_ops(&view, weight)?);
        ops.extend(sticky::backend_ops(&view, weight)?);
        ops.extend(weights::ops(&view, weight, &target.additional)?);
        if let Some(label) = routing.in_progress_label {
            ops.extend(label::ops(
                route.object,
                label,
                routing.rollout,
                weight != 0,
            ));
        }
        if route.kind == RouteKind::Http {
            sticky::record_ops(&view, weight, &mut ops);
        }
    }
    let managed = routing.header_routes && route.kind.routes_requests() && target.touches_routes();
    let sticky = route.kind == RouteKind::Http
        && target.canary_weight.is_some()
        && (routing.sticky.is_some() || sticky::has_rules(&view));
    if managed || sticky {
        ops.extend(layout::ops(&view, target)?);
    }
    patch(ops)
}

fn patch(ops: Vec<Value>) -> Result<Option<Patch>, Error> {
    if ops.is_empty() {
        return Ok(None);
    }
    serde_json::from_value(Value::Array(ops))
        .map(Some)
        .map_err(|e| Error::Internal(format!("building a JSON patch: {e}")))
}

/// A JSON pointer token: `~` and `/` escaped.
fn pointer_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}
