//! Header and mirror routes are the rollout's only when `managedRoutes`
//! lists them.

use crate::Error;
use crate::context::ManagedRoute;

/// The kind of step that sets a managed route, and so the kind of the route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RouteStep {
    /// `setHeaderRoute` (the default: a managed route no step uses is removed as one).
    #[default]
    Header,
    /// `setMirrorRoute`.
    Mirror,
}

impl std::fmt::Display for RouteStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Header => "setHeaderRoute",
            Self::Mirror => "setMirrorRoute",
        })
    }
}

/// Refuses a header or mirror route (to set or to remove) whose `name` is
/// not in `managed` (`spec.strategy.canary.trafficRouting.managedRoutes`).
///
/// Routers remove managed routes by the names listed there, so a route
/// written under another name could never be removed; and removing by an
/// unlisted name could delete a rule of the user's. Argo Rollouts' own
/// validation refuses such rollouts; a router checks again because hosts
/// and callers may not validate. Call it before reading or writing anything.
///
/// ```
/// use router_core::{check_listed, ManagedRoute, RouteStep};
/// let managed = vec![ManagedRoute { name: "beta".into(), kind: RouteStep::Header }];
/// assert!(check_listed("default/web", RouteStep::Header, "beta", &managed).is_ok());
/// let err = check_listed("default/web", RouteStep::Mirror, "shadow", &managed).unwrap_err();
/// assert!(err.to_string().starts_with(
///     "rollout default/web: setMirrorRoute shadow: the route is not listed in \
///      spec.strategy.canary.trafficRouting.managedRoutes (beta)"), "{err}");
/// ```
pub fn check_listed(
    rollout: &str,
    step: RouteStep,
    name: &str,
    managed: &[ManagedRoute],
) -> Result<(), Error> {
    if managed.iter().any(|m| m.name == name) {
        return Ok(());
    }
    let listed = if managed.is_empty() {
        "it lists none".to_owned()
    } else {
        managed
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(Error::rollout_config(
        rollout,
        format!(
            "{step} {name}: the route is not listed in \
             spec.strategy.canary.trafficRouting.managedRoutes ({listed}); a route not listed \
             there could never be removed, so nothing was changed"
        ),
    ))
}
