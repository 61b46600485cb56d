//! [`TrafficTarget`]: what one call asks a router to make the data plane
//! carry.
//!
//! The primary form is the whole [`DesiredTraffic`] rollout-core decided
//! ([`TrafficTarget::desired`]): weights with extra destinations, every
//! header and mirror route in effect, every other managed route removed.
//! Argo Rollouts' per-aspect calls (`SetWeight`, `SetHeaderRoute`,
//! `SetMirrorRoute`, `UpdateHash`, `RemoveManagedRoutes`) are targets too:
//! one aspect given, every other aspect left as the data plane carries it
//! ([`TrafficTarget::weight`], [`TrafficTarget::header_route`], ...). So a
//! router has one plan function, objects as read plus a target in, writes
//! out, whichever form the caller speaks.

use rollout_core::DesiredTraffic;
use rollout_core::spec::{SetHeaderRoute, SetMirrorRoute};
use rollout_core::status::WeightDestination;
use serde::{Deserialize, Serialize};

use crate::managed::RouteStep;

/// What the data plane should carry after one call. An aspect set to
/// `None` (or [`Routes::AsIs`]) is left as it is.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficTarget {
    /// The canary's weight, of the rollout's `maxTrafficWeight`; the stable
    /// destination gets what the canary and [`additional`](Self::additional)
    /// leave. `None`: weights stay as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_weight: Option<i32>,
    /// The canary and stable ReplicaSets (pod template hashes), for routers
    /// that route to ReplicaSets rather than Services (an Istio
    /// DestinationRule's subsets). `None`: as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashes: Option<Hashes>,
    /// Extra destinations (experiments) with their weights and pod template
    /// hashes; read together with `canary_weight` and `hashes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional: Vec<WeightDestination>,
    /// The managed header and mirror routes.
    #[serde(default)]
    pub routes: Routes,
}

/// The ReplicaSets behind the canary and stable destinations.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hashes {
    /// The canary ReplicaSet's `rollouts-pod-template-hash` (empty: none).
    pub canary: String,
    /// The stable ReplicaSet's `rollouts-pod-template-hash` (empty: none).
    pub stable: String,
}

/// What becomes of the managed routes (`trafficRouting.managedRoutes`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Routes {
    /// Every managed route stays as it is.
    #[default]
    AsIs,
    /// Exactly these routes are in effect, each with a non-empty match;
    /// every other managed route is removed (both empty: none is left).
    Exactly {
        /// Header routes in effect.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        header: Vec<SetHeaderRoute>,
        /// Mirror routes in effect.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        mirror: Vec<SetMirrorRoute>,
    },
    /// This header route is set (with an empty match: removed); the other
    /// managed routes stay as they are.
    Header(SetHeaderRoute),
    /// This mirror route is set (with an empty match: removed); the other
    /// managed routes stay as they are.
    Mirror(SetMirrorRoute),
}

/// What a target asks of one managed route; see [`TrafficTarget::route`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteTarget<'a> {
    /// Leave it as it is.
    AsIs,
    /// It must not exist.
    Absent,
    /// It is this header route (with a non-empty match).
    Header(&'a SetHeaderRoute),
    /// It is this mirror route (with a non-empty match).
    Mirror(&'a SetMirrorRoute),
}

impl TrafficTarget {
    /// Everything rollout-core decided: weights, ReplicaSets, extra
    /// destinations, exactly the header and mirror routes in effect.
    ///
    /// ```
    /// use router_core::{RouteTarget, TrafficTarget};
    /// let mut desired = rollout_core::DesiredTraffic::default();
    /// desired.canary.weight = 20;
    /// desired.canary.pod_template_hash = Some("abc".into());
    /// let target = TrafficTarget::desired(&desired);
    /// assert_eq!(target.canary_weight, Some(20));
    /// assert_eq!(target.hashes.as_ref().map(|h| h.canary.as_str()), Some("abc"));
    /// // No route is in effect, so every managed route must go.
    /// assert_eq!(target.route("beta"), RouteTarget::Absent);
    /// ```
    pub fn desired(desired: &DesiredTraffic) -> Self {
        Self {
            canary_weight: Some(desired.canary.weight),
            hashes: Some(Hashes {
                canary: desired.canary.pod_template_hash.clone().unwrap_or_default(),
                stable: desired.stable.pod_template_hash.clone().unwrap_or_default(),
            }),
            additional: desired.additional.clone(),
            routes: Routes::Exactly {
                header: desired.header_routes.clone(),
                mirror: desired.mirror_routes.clone(),
            },
        }
    }

    /// Argo's `SetWeight`: the weights only.
    pub fn weight(canary: i32, additional: &[WeightDestination]) -> Self {
        Self {
            canary_weight: Some(canary),
            additional: additional.to_vec(),
            ..Self::default()
        }
    }

    /// Argo's `UpdateHash`: the ReplicaSets only.
    pub fn hashes(canary: &str, stable: &str, additional: &[WeightDestination]) -> Self {
        Self {
            hashes: Some(Hashes {
                canary: canary.to_owned(),
                stable: stable.to_owned(),
            }),
            additional: additional.to_vec(),
            ..Self::default()
        }
    }

    /// Argo's `SetHeaderRoute`: one header route (an empty match removes it).
    ///
    /// ```
    /// use rollout_core::spec::SetHeaderRoute;
    /// use router_core::{RouteTarget, TrafficTarget};
    /// let removal = SetHeaderRoute { name: "beta".into(), ..Default::default() };
    /// let target = TrafficTarget::header_route(removal);
    /// assert_eq!(target.route("beta"), RouteTarget::Absent);
    /// assert_eq!(target.route("shadow"), RouteTarget::AsIs);
    /// assert_eq!(target.canary_weight, None);
    /// ```
    pub fn header_route(route: SetHeaderRoute) -> Self {
        Self {
            routes: Routes::Header(route),
            ..Self::default()
        }
    }

    /// Argo's `SetMirrorRoute`: one mirror route (an empty match removes it).
    pub fn mirror_route(route: SetMirrorRoute) -> Self {
        Self {
            routes: Routes::Mirror(route),
            ..Self::default()
        }
    }

    /// Argo's `RemoveManagedRoutes`: no managed route left, nothing else changed.
    pub fn no_managed_routes() -> Self {
        Self {
            routes: Routes::Exactly {
                header: Vec::new(),
                mirror: Vec::new(),
            },
            ..Self::default()
        }
    }

    /// What the target asks of the managed route `name`.
    ///
    /// ```
    /// use rollout_core::spec::{HeaderMatch, SetHeaderRoute, StringMatch};
    /// use router_core::{RouteTarget, TrafficTarget};
    /// let beta = SetHeaderRoute {
    ///     name: "beta".into(),
    ///     matches: vec![HeaderMatch {
    ///         header_name: "x-beta".into(),
    ///         header_value: StringMatch { exact: Some("1".into()), ..Default::default() },
    ///     }],
    /// };
    /// let target = TrafficTarget::header_route(beta.clone());
    /// assert_eq!(target.route("beta"), RouteTarget::Header(&beta));
    /// ```
    pub fn route(&self, name: &str) -> RouteTarget<'_> {
        match &self.routes {
            Routes::AsIs => RouteTarget::AsIs,
            Routes::Exactly { header, mirror } => {
                if let Some(h) = header.iter().find(|h| h.name == name) {
                    header_target(h)
                } else if let Some(m) = mirror.iter().find(|m| m.name == name) {
                    mirror_target(m)
                } else {
                    RouteTarget::Absent
                }
            }
            Routes::Header(h) if h.name == name => header_target(h),
            Routes::Mirror(m) if m.name == name => mirror_target(m),
            Routes::Header(_) | Routes::Mirror(_) => RouteTarget::AsIs,
        }
    }

    /// Whether the target changes any managed route.
    pub fn touches_routes(&self) -> bool {
        !matches!(self.routes, Routes::AsIs)
    }

    /// The routes the target names, with the kind of step that sets them
    /// (removals included; [`Routes::Exactly`] names only those in effect).
    pub fn named_routes(&self) -> Vec<(RouteStep, &str)> {
        match &self.routes {
            Routes::AsIs => Vec::new(),
            Routes::Exactly { header, mirror } => header
                .iter()
                .map(|h| (RouteStep::Header, h.name.as_str()))
                .chain(mirror.iter().map(|m| (RouteStep::Mirror, m.name.as_str())))
                .collect(),
            Routes::Header(h) => vec![(RouteStep::Header, h.name.as_str())],
            Routes::Mirror(m) => vec![(RouteStep::Mirror, m.name.as_str())],
        }
    }
}

fn header_target(h: &SetHeaderRoute) -> RouteTarget<'_> {
    if h.matches.is_empty() {
        RouteTarget::Absent
    } else {
        RouteTarget::Header(h)
    }
}

fn mirror_target(m: &SetMirrorRoute) -> RouteTarget<'_> {
    if m.matches.is_empty() {
        RouteTarget::Absent
    } else {
        RouteTarget::Mirror(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollout_core::spec::{MirrorMatch, StringMatch};

    fn mirror(name: &str) -> SetMirrorRoute {
        SetMirrorRoute {
            name: name.into(),
            matches: vec![MirrorMatch {
                method: Some(StringMatch {
                    exact: Some("GET".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            percentage: Some(10),
        }
    }

    #[test]
    fn exactly_removes_every_route_not_in_effect() {
        let shadow = mirror("shadow");
        let target = TrafficTarget {
            routes: Routes::Exactly {
                header: Vec::new(),
                mirror: vec![shadow.clone()],
            },
            ..Default::default()
        };
        assert_eq!(target.route("shadow"), RouteTarget::Mirror(&shadow));
        assert_eq!(target.route("beta"), RouteTarget::Absent);
        assert_eq!(target.named_routes(), vec![(RouteStep::Mirror, "shadow")]);
    }

    #[test]
    fn one_route_leaves_the_others_as_they_are() {
        let target = TrafficTarget::mirror_route(mirror("shadow"));
        assert_eq!(target.route("beta"), RouteTarget::AsIs);
        assert!(target.touches_routes());
        assert!(!TrafficTarget::weight(5, &[]).touches_routes());
        assert_eq!(
            TrafficTarget::no_managed_routes().route("shadow"),
            RouteTarget::Absent
        );
    }

    #[test]
    fn the_wire_form_is_camel_case_json() {
        let target = TrafficTarget::desired(&DesiredTraffic::default());
        let json = serde_json::to_value(&target).unwrap();
        assert_eq!(json["canaryWeight"], 0);
        assert_eq!(json["routes"], serde_json::json!({"exactly": {}}));
        let back: TrafficTarget = serde_json::from_value(json).unwrap();
        assert_eq!(back, target);
    }
}
