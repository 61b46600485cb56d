//! Argo Rollouts' messages, word for word, so that a problem reads the same
//! here as in Argo's `InvalidSpec` condition and `kubectl argo rollouts lint`.

pub(super) const NON_NEGATIVE: &str = "must be greater than or equal to 0";
pub(super) const DEADLINE_AFTER_MIN_READY: &str = "must be greater than minReadySeconds";
pub(super) const MISSING_SELECTOR: &str = "Rollout has missing field '.spec.selector'";
pub(super) const EMPTY_SELECTOR: &str = "empty selector is invalid for deployment";
pub(super) const SELECTOR_MISMATCH: &str = "`selector` does not match template `labels`";
pub(super) const TEMPLATE_WITH_WORKLOAD_REF: &str =
    "template must be empty for workload reference rollout";
pub(super) const MISSING_STRATEGY: &str =
    "Rollout has missing field '.spec.strategy.canary or .spec.strategy.blueGreen'";
pub(super) const MULTIPLE_STRATEGIES: &str = "Multiple Strategies can not be listed";
pub(super) const DUPLICATED_SERVICES_BLUE_GREEN: &str = "This rollout uses the same service for the active and preview services, but two different services are required.";
pub(super) const SCALE_DOWN_LIMIT_ABOVE_HISTORY: &str =
    "This rollout's revision history limit can not be smaller than the rollout's scale down limit";
pub(super) const ANTI_AFFINITY_ONE_OF: &str = "AntiAffinity must have exactly one strategy listed";
pub(super) const ANTI_AFFINITY_WEIGHT: &str = "AntiAffinity weight must be between 1-100";
pub(super) const SURGE_AND_UNAVAILABLE_ZERO: &str =
    "MaxSurge and MaxUnavailable both can not be zero";
pub(super) const DUPLICATED_SERVICES_CANARY: &str = "This rollout uses the same service for the stable and canary services, but two different services are required.";
pub(super) const PING_PONG_ROUTERS: &str =
    "Ping-pong feature works with the ALB, Istio, and plugin-based traffic routers only";
pub(super) const PING_PONG_REQUIRED: &str =
    "Ping service and Pong service must to be set to use Ping-Pong feature";
pub(super) const DUPLICATED_PING_PONG: &str = "This rollout uses the same service for the ping and pong services, but two different services are required.";
pub(super) const ALB_ROOT_SERVICE: &str =
    "Root service field is required for the configuration with ALB and ping-pong feature enabled";
pub(super) const SERVICES_FOR_TRAFFIC_ROUTING: &str =
    "Canary service and Stable service must to be set to use Traffic Routing";
pub(super) const SCALE_DOWN_DELAY_NEEDS_ROUTING: &str =
    "Canary scaleDownDelaySeconds can only be used with traffic routing";
pub(super) const DYNAMIC_STABLE_SCALE_NEEDS_ROUTING: &str =
    "Canary dynamicStableScale can only be used with traffic routing";
pub(super) const DYNAMIC_STABLE_SCALE_WITH_DELAY: &str =
    "Canary dynamicStableScale cannot be used with scaleDownDelaySeconds";
pub(super) const MAX_WEIGHT_ROUTERS: &str =
    "Canary maxTrafficWeight in traffic routing only supported in Nginx and Plugins";
pub(super) const INVALID_DURATION: &str = "Duration needs to be greater than 0";
pub(super) const SET_CANARY_SCALE_NEEDS_ROUTING: &str =
    "SetCanaryScale requires TrafficRouting to be set";
pub(super) const HEADER_ROUTE_ROUTERS: &str =
    "SetHeaderRoute requires TrafficRouting, supports Istio and ALB and Apisix";
pub(super) const MIRROR_ROUTE_ROUTERS: &str =
    "SetMirrorRoute requires TrafficRouting, supports Istio and Plugins";
pub(super) const STRING_MATCH_MULTIPLE: &str =
    "StringMatch match value must have exactly one of the following: exact, regex, prefix";
pub(super) const STRING_MATCH_MISSING: &str =
    "StringMatch value missed, match value must have one of the following: exact, regex, prefix";
pub(super) const ALB_EXACT_ONLY: &str =
    "SetHeaderRoute match value invalid. ALB supports 'exact' value only";
pub(super) const MISSING_MANAGED_ROUTES: &str =
    "Rollout has missing field 'spec.strategy.canary.trafficRouting.managedRoutes'";
pub(super) const ROUTE_NOT_IN_MANAGED_ROUTES: &str =
    "Steps define a route that does not exist in spec.strategy.canary.trafficRouting.managedRoutes";
pub(super) const EXPERIMENT_WEIGHT_NEEDS_ROUTING: &str =
    "Experiment template weight cannot be set unless TrafficRouting is enabled";
pub(super) const EXPERIMENT_WEIGHT_ROUTERS: &str = "Experiment template weight is only available for TrafficRouting with SMI, ALB, Istio and Plugins at this time";
pub(super) const INVALID_ANALYSIS_ARGS: &str =
    "Analyses arguments must refer to valid object metadata supported by downwardAPI";
pub(super) const NGINX_INGRESS_BOTH: &str =
    "Either StableIngress or StableIngresses must be configured. Both are configured.";
pub(super) const NGINX_INGRESS_NEITHER: &str =
    "Either StableIngress or StableIngresses must be configured. Neither are configured.";
pub(super) const ALB_INGRESS_BOTH: &str =
    "Either Ingress or Ingresses must be configured. Both are configured.";
pub(super) const ALB_INGRESS_NEITHER: &str =
    "Either Ingress or Ingresses must be configured. Neither are configured.";
pub(super) const ISTIO_VIRTUAL_SERVICES: &str =
    "either VirtualService or VirtualServices must be configured";
