//! [`RolloutContext`]: what a traffic router knows about the rollout a call
//! is about, typed. Routers read these fields only; whoever builds the
//! context (a controller from rollout-core's [`Rollout`], a plugin server
//! from its wire form or from Argo's call) derives them once.

use rollout_core::Rollout;
use serde_json::Value;

use crate::Error;
use crate::managed::RouteStep;
use crate::target::{Hashes, TrafficTarget};

/// A route named in `trafficRouting.managedRoutes`, with its kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ManagedRoute {
    /// `managedRoutes[].name`.
    pub name: String,
    /// [`RouteStep::Mirror`] when a `setMirrorRoute` step uses the name,
    /// else [`RouteStep::Header`] (a `setHeaderRoute` step, or no step).
    pub kind: RouteStep,
}

impl ManagedRoute {
    /// A header route named `name`.
    pub fn header(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind: RouteStep::Header,
        }
    }

    /// A mirror route named `name`.
    pub fn mirror(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind: RouteStep::Mirror,
        }
    }
}

/// What a traffic router needs to know about the rollout a call is about.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RolloutContext {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace` (`default` when unset).
    pub namespace: String,
    /// `metadata.uid`, when known (owner references need it).
    pub uid: Option<String>,
    /// `canary.canaryService`; with `canary.pingPong` and neither Service
    /// named, the ping-pong Service in the canary's role (Argo's
    /// `GetStableAndCanaryServices`, see [`rollout_core::pingpong`]).
    pub canary_service: String,
    /// `canary.stableService`, or the ping-pong Service in the stable role.
    pub stable_service: String,
    /// `trafficRouting.managedRoutes`, in precedence order, with their kinds.
    pub managed_routes: Vec<ManagedRoute>,
    /// `trafficRouting.maxTrafficWeight` as set; see
    /// [`RolloutContext::max_weight`] for the value in effect.
    pub max_traffic_weight: Option<i32>,
    /// Whether the rollout is fully promoted: its stable ReplicaSet is the
    /// current one (`status.stableRS == status.currentPodHash`).
    pub promoted: bool,
    /// Whether the rollout is aborted (`status.abort`).
    pub aborted: bool,
    /// The key under `trafficRouting.plugins` the config was read from.
    pub plugin_name: String,
    /// This router's own configuration: `trafficRouting.plugins[plugin_name]`.
    pub config: Value,
    /// The Services of the extra destinations (experiments) as the weights
    /// were last applied (`status.canary.weights.additional`), so that a
    /// router can remove what it added for one that is no longer an extra
    /// destination, as Argo's plugins read them.
    pub previous_additional: Vec<String>,
    /// The rollout's ReplicaSets by pod template hash: the canary is the
    /// current one (`status.currentPodHash`), the stable one
    /// `status.stableRS` (empty: not known yet). Routers that tell clients
    /// which version served them (a sticky-session cookie) name versions by
    /// these hashes, so that a version that no longer exists matches nothing.
    pub hashes: Hashes,
}

impl RolloutContext {
    /// The context for the router configured under `plugin_name` in the
    /// rollout's `trafficRouting.plugins`: every field read from `rollout`,
    /// the kinds of the managed routes from its steps.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when the rollout has
    /// no canary strategy, no `trafficRouting`, or no entry `plugin_name`.
    ///
    /// ```
    /// use router_core::{RolloutContext, RouteStep};
    /// use rollout_core::Rollout;
    /// let rollout = Rollout::from_value(serde_json::json!({
    ///     "metadata": {"name": "web", "namespace": "shop", "uid": "u-1"},
    ///     "spec": {"strategy": {"canary": {"canaryService": "web-canary", "stableService": "web-stable",
    ///         "steps": [{"setMirrorRoute": {"name": "shadow", "percentage": 10}}],
    ///         "trafficRouting": {"managedRoutes": [{"name": "beta"}, {"name": "shadow"}],
    ///             "plugins": {"rollgate/gatewayapi": {"httpRoute": "web"}}}}}},
    ///     "status": {"stableRS": "abc", "currentPodHash": "abc"}
    /// }), "web.yaml").unwrap();
    /// let ctx = RolloutContext::new(&rollout, "rollgate/gatewayapi").unwrap();
    /// assert_eq!(ctx.config["httpRoute"], "web");
    /// assert_eq!(ctx.uid.as_deref(), Some("u-1"));
    /// assert_eq!(ctx.managed_routes[0].kind, RouteStep::Header);
    /// assert_eq!(ctx.managed_routes[1].kind, RouteStep::Mirror);
    /// assert_eq!((ctx.max_traffic_weight, ctx.max_weight()), (None, 100));
    /// assert!(ctx.promoted && !ctx.aborted);
    /// assert!(RolloutContext::new(&rollout, "rollgate/nginx").is_err());
    /// ```
    pub fn new(rollout: &Rollout, plugin_name: &str) -> Result<Self, Error> {
        let object = rollout.object_name();
        let canary = rollout.canary().ok_or_else(|| {
            Error::rollout_config(
                &object,
                "spec.strategy.canary: traffic routing needs the canary strategy",
            )
        })?;
        let routing = canary.traffic_routing.as_ref().ok_or_else(|| {
            Error::rollout_config(&object, "spec.strategy.canary.trafficRouting: not set")
        })?;
        let config = routing.plugins.get(plugin_name).cloned().ok_or_else(|| {
            Error::rollout_config(
                &object,
                format!("spec.strategy.canary.trafficRouting.plugins: no entry {plugin_name:?}"),
            )
        })?;
        let status = rollout.status.as_ref();
        let named = |s: &Option<String>| s.clone().filter(|n| !n.is_empty());
        let (stable_service, canary_service) = match (
            named(&canary.stable_service),
            named(&canary.canary_service),
            &canary.ping_pong,
        ) {
            (None, None, Some(pp)) => {
                let side = status.and_then(|s| s.canary.stable_ping_pong);
                let (stable, canary) = rollout_core::pingpong::services(pp, side);
                (stable.to_owned(), canary.to_owned())
            }
            (stable, canary, _) => (stable.unwrap_or_default(), canary.unwrap_or_default()),
        };
        Ok(Self {
            name: rollout.metadata.name.clone(),
            namespace: rollout
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
            uid: rollout.metadata.uid.clone().filter(|u| !u.is_empty()),
            canary_service,
            stable_service,
            managed_routes: canary
                .managed_routes()
                .map(|name| ManagedRoute {
                    name: name.to_owned(),
                    kind: if rollout_core::steps::sets_mirror_route(&canary.steps, name) {
                        RouteStep::Mirror
                    } else {
                        RouteStep::Header
                    },
                })
                .collect(),
            max_traffic_weight: routing.max_traffic_weight,
            promoted: status.is_some_and(|s| {
                s.stable_rs.as_deref().is_some_and(|stable| {
                    !stable.is_empty() && s.current_pod_hash.as_deref() == Some(stable)
                })
            }),
            aborted: status.is_some_and(|s| s.abort),
            plugin_name: plugin_name.to_owned(),
            config,
            previous_additional: status
                .and_then(|s| s.canary.weights.as_ref())
                .map(|w| {
                    w.additional
                        .iter()
                        .filter_map(|d| d.service_name.clone())
                        .filter(|n| !n.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            hashes: Hashes {
                canary: status
                    .and_then(|s| s.current_pod_hash.clone())
                    .unwrap_or_default(),
                stable: status.and_then(|s| s.stable_rs.clone()).unwrap_or_default(),
            },
        })
    }

    /// `<namespace>/<name>`, for messages.
    pub fn object_name(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// [`check_listed`](crate::check_listed) for this rollout: a
    /// `setHeaderRoute` or `setMirrorRoute` named `name` is refused, before
    /// anything is read or written, unless `managedRoutes` lists it.
    pub fn require_listed(&self, step: RouteStep, name: &str) -> Result<(), Error> {
        crate::check_listed(&self.object_name(), step, name, &self.managed_routes)
    }

    /// Refuses `target`, before anything is read or written, when it names a
    /// route `managedRoutes` does not list (see [`require_listed`](Self::require_listed)).
    pub fn require_listed_routes(&self, target: &TrafficTarget) -> Result<(), Error> {
        target
            .named_routes()
            .into_iter()
            .try_for_each(|(step, name)| self.require_listed(step, name))
    }

    /// The `maxTrafficWeight` in effect: as set, else 100.
    pub fn max_weight(&self) -> i32 {
        self.max_traffic_weight
            .unwrap_or(rollout_core::spec::DEFAULT_MAX_TRAFFIC_WEIGHT)
    }

    /// The names of the managed routes, in precedence order.
    pub fn managed_route_names(&self) -> impl Iterator<Item = &str> {
        self.managed_routes.iter().map(|r| r.name.as_str())
    }
}
