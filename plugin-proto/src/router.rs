//! The [`TrafficRouter`] contract and the rollout every call is about.

use async_trait::async_trait;
use rollout_core::Rollout;
use rollout_core::spec::{SetHeaderRoute, SetMirrorRoute};
use rollout_core::status::WeightDestination;
use serde_json::Value;

use crate::error::Error;

/// What a traffic router needs to know about the rollout a call is about.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RolloutContext {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace` (`default` when unset).
    pub namespace: String,
    /// `canary.canaryService`.
    pub canary_service: String,
    /// `canary.stableService`.
    pub stable_service: String,
    /// `trafficRouting.managedRoutes`, in precedence order.
    pub managed_routes: Vec<String>,
    /// `trafficRouting.maxTrafficWeight` (100 when unset).
    pub max_traffic_weight: i32,
    /// The key under `trafficRouting.plugins` the config was read from.
    pub plugin_name: String,
    /// This router's configuration: `trafficRouting.plugins[plugin_name]`.
    pub config: Value,
    /// The whole Rollout, for routers that need more than the above.
    pub rollout: Value,
}

impl RolloutContext {
    /// The context for the router configured under `plugin_name` in the
    /// rollout's `trafficRouting.plugins`.
    ///
    /// ```
    /// use plugin_proto::RolloutContext;
    /// use rollout_core::Rollout;
    /// let rollout = Rollout::from_value(serde_json::json!({
    ///     "metadata": {"name": "web", "namespace": "shop"},
    ///     "spec": {"strategy": {"canary": {"canaryService": "web-canary", "stableService": "web-stable",
    ///         "trafficRouting": {"plugins": {"rollgate/gatewayapi": {"httpRoute": "web"}}}}}}
    /// }), "web.yaml").unwrap();
    /// let ctx = RolloutContext::new(&rollout, "rollgate/gatewayapi").unwrap();
    /// assert_eq!(ctx.config["httpRoute"], "web");
    /// assert_eq!(ctx.max_traffic_weight, 100);
    /// assert!(RolloutContext::new(&rollout, "rollgate/nginx").is_err());
    /// ```
    pub fn new(rollout: &Rollout, plugin_name: &str) -> Result<Self, Error> {
        let object = rollout.object_name();
        let config_error = |message: String| Error::Config {
            rollout: object.clone(),
            message,
        };
        let canary = rollout.canary().ok_or_else(|| {
            config_error("spec.strategy.canary: traffic routing needs the canary strategy".into())
        })?;
        let routing = canary
            .traffic_routing
            .as_ref()
            .ok_or_else(|| config_error("spec.strategy.canary.trafficRouting: not set".into()))?;
        let config = routing.plugins.get(plugin_name).cloned().ok_or_else(|| {
            config_error(format!(
                "spec.strategy.canary.trafficRouting.plugins: no entry {plugin_name:?}"
            ))
        })?;
        Ok(Self {
            name: rollout.metadata.name.clone(),
            namespace: rollout
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
            canary_service: canary.canary_service.clone().unwrap_or_default(),
            stable_service: canary.stable_service.clone().unwrap_or_default(),
            managed_routes: canary.managed_routes().map(str::to_owned).collect(),
            max_traffic_weight: canary.max_weight(),
            plugin_name: plugin_name.to_owned(),
            config,
            rollout: serde_json::to_value(rollout).unwrap_or(Value::Null),
        })
    }

    /// `<namespace>/<name>`, for messages.
    pub fn object_name(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// The router's answer to "is the weight in place?".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verified {
    /// The data plane carries the weight.
    Verified,
    /// Not yet: the rollout waits and asks again.
    NotVerified,
    /// The router cannot tell; the rollout does not wait.
    NotImplemented,
}

impl Verified {
    /// As rollout-core's `Observations::traffic_verified`.
    pub fn as_observation(self) -> Option<bool> {
        match self {
            Self::Verified => Some(true),
            Self::NotVerified => Some(false),
            Self::NotImplemented => None,
        }
    }
}

/// A traffic router: makes a data plane follow the desired traffic.
///
/// Implementations must be idempotent and cheap: a controller calls
/// `set_weight` (and the route calls) on every reconcile, so a call that
/// changes nothing should make no write. `set_header_route` and
/// `set_mirror_route` with an empty match remove that named route.
/// Use [`crate::apply_traffic`] rather than calling these one by one.
#[async_trait]
pub trait TrafficRouter: Send + Sync {
    /// Prepares the router; called once before other calls (and again after
    /// a plugin process restarts).
    async fn init(&self) -> Result<(), Error>;

    /// The router's name, e.g. `rollgate/gatewayapi`.
    async fn name(&self) -> Result<String, Error>;

    /// Sends `weight` (of `max_traffic_weight`) to the canary, `additional`
    /// to extra destinations, the rest to stable.
    async fn set_weight(
        &self,
        rollout: &RolloutContext,
        weight: i32,
        additional: &[WeightDestination],
    ) -> Result<(), Error>;

    /// Sets the named managed header route (empty match: removes it).
    async fn set_header_route(
        &self,
        rollout: &RolloutContext,
        route: &SetHeaderRoute,
    ) -> Result<(), Error>;

    /// Sets the named managed mirror route (empty match: removes it).
    async fn set_mirror_route(
        &self,
        rollout: &RolloutContext,
        route: &SetMirrorRoute,
    ) -> Result<(), Error>;

    /// Whether `weight` is in place in the data plane.
    async fn verify_weight(
        &self,
        rollout: &RolloutContext,
        weight: i32,
        additional: &[WeightDestination],
    ) -> Result<Verified, Error>;

    /// Points the canary and stable destinations at these ReplicaSets
    /// (a no-op for routers that route to Services).
    async fn update_hash(
        &self,
        rollout: &RolloutContext,
        canary_hash: &str,
        stable_hash: &str,
        additional: &[WeightDestination],
    ) -> Result<(), Error>;

    /// Removes every managed route this router added for the rollout.
    async fn remove_managed_routes(&self, rollout: &RolloutContext) -> Result<(), Error>;
}
