//! The native gRPC wire form: generated code and its conversions from and
//! to the domain types (rollout-core's routes and weights, [`RolloutContext`]).

use rollout_core::spec::{HeaderMatch, MirrorMatch, SetHeaderRoute, SetMirrorRoute, StringMatch};
use rollout_core::status::WeightDestination;

use router_core::{Error, ManagedRoute, RolloutContext, RouteStep, Verified};

/// Code generated from `proto/rollgate/trafficrouter.proto`.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod trafficrouter {
    tonic::include_proto!("rollgate.trafficrouter.v1");
}

/// Code generated from go-plugin's service definitions (`proto/plugin/`).
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod goplugin {
    tonic::include_proto!("plugin");
}

use trafficrouter as pb;

impl From<&RolloutContext> for pb::Rollout {
    fn from(c: &RolloutContext) -> Self {
        Self {
            name: c.name.clone(),
            namespace: c.namespace.clone(),
            canary_service: c.canary_service.clone(),
            stable_service: c.stable_service.clone(),
            managed_routes: c.managed_routes.iter().map(|r| r.name.clone()).collect(),
            managed_route_kinds: c
                .managed_routes
                .iter()
                .map(|r| match r.kind {
                    RouteStep::Header => pb::RouteKind::Header,
                    RouteStep::Mirror => pb::RouteKind::Mirror,
                } as i32)
                .collect(),
            max_traffic_weight: c.max_traffic_weight.unwrap_or(0),
            plugin_name: c.plugin_name.clone(),
            plugin_config_json: serde_json::to_vec(&c.config).unwrap_or_default(),
            uid: c.uid.clone().unwrap_or_default(),
            promoted: c.promoted,
            aborted: c.aborted,
        }
    }
}

/// Reads the rollout of a request; a missing or undecodable one is an error
/// naming the field.
pub(crate) fn rollout_from(r: Option<pb::Rollout>) -> Result<RolloutContext, Error> {
    let r = r.ok_or_else(|| Error::invalid("request.rollout: missing"))?;
    let config = if r.plugin_config_json.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&r.plugin_config_json).map_err(|e| {
            Error::invalid(format!("request.rollout.plugin_config_json: not JSON: {e}"))
        })?
    };
    let kinds = &r.managed_route_kinds;
    let managed_routes = r
        .managed_routes
        .into_iter()
        .enumerate()
        .map(|(i, name)| ManagedRoute {
            name,
            kind: match kinds.get(i).map(|&k| pb::RouteKind::try_from(k)) {
                Some(Ok(pb::RouteKind::Mirror)) => RouteStep::Mirror,
                _ => RouteStep::Header,
            },
        })
        .collect();
    Ok(RolloutContext {
        config,
        name: r.name,
        namespace: r.namespace,
        uid: (!r.uid.is_empty()).then_some(r.uid),
        canary_service: r.canary_service,
        stable_service: r.stable_service,
        managed_routes,
        max_traffic_weight: (r.max_traffic_weight != 0).then_some(r.max_traffic_weight),
        promoted: r.promoted,
        aborted: r.aborted,
        plugin_name: r.plugin_name,
    })
}

impl From<&WeightDestination> for pb::WeightDestination {
    fn from(d: &WeightDestination) -> Self {
        Self {
            service_name: d.service_name.clone().unwrap_or_default(),
            pod_template_hash: d.pod_template_hash.clone().unwrap_or_default(),
            weight: d.weight,
        }
    }
}

impl From<pb::WeightDestination> for WeightDestination {
    fn from(d: pb::WeightDestination) -> Self {
        Self {
            weight: d.weight,
            service_name: (!d.service_name.is_empty()).then_some(d.service_name),
            pod_template_hash: (!d.pod_template_hash.is_empty()).then_some(d.pod_template_hash),
        }
    }
}

/// Destinations to the wire.
pub(crate) fn destinations(d: &[WeightDestination]) -> Vec<pb::WeightDestination> {
    d.iter().map(Into::into).collect()
}

/// Destinations from the wire.
pub(crate) fn destinations_from(d: Vec<pb::WeightDestination>) -> Vec<WeightDestination> {
    d.into_iter().map(Into::into).collect()
}

impl From<&StringMatch> for pb::StringMatch {
    fn from(m: &StringMatch) -> Self {
        use pb::string_match::Match;
        let kind = match (&m.exact, &m.prefix, &m.regex) {
            (Some(v), _, _) => Some(Match::Exact(v.clone())),
            (_, Some(v), _) => Some(Match::Prefix(v.clone())),
            (_, _, Some(v)) => Some(Match::Regex(v.clone())),
            _ => None,
        };
        Self { r#match: kind }
    }
}

impl From<pb::StringMatch> for StringMatch {
    fn from(m: pb::StringMatch) -> Self {
        use pb::string_match::Match;
        match m.r#match {
            Some(Match::Exact(v)) => Self {
                exact: Some(v),
                ..Self::default()
            },
            Some(Match::Prefix(v)) => Self {
                prefix: Some(v),
                ..Self::default()
            },
            Some(Match::Regex(v)) => Self {
                regex: Some(v),
                ..Self::default()
            },
            None => Self::default(),
        }
    }
}

/// A header route to the wire request.
pub(crate) fn header_route(ctx: &RolloutContext, r: &SetHeaderRoute) -> pb::SetHeaderRouteRequest {
    pb::SetHeaderRouteRequest {
        rollout: Some(ctx.into()),
        name: r.name.clone(),
        matches: r
            .matches
            .iter()
            .map(|m| pb::HeaderMatch {
                header_name: m.header_name.clone(),
                header_value: Some((&m.header_value).into()),
            })
            .collect(),
    }
}

/// A header route from the wire request.
pub(crate) fn header_route_from(
    r: pb::SetHeaderRouteRequest,
) -> (Option<pb::Rollout>, SetHeaderRoute) {
    let route = SetHeaderRoute {
        name: r.name,
        matches: r
            .matches
            .into_iter()
            .map(|m| HeaderMatch {
                header_name: m.header_name,
                header_value: m.header_value.map(Into::into).unwrap_or_default(),
            })
            .collect(),
    };
    (r.rollout, route)
}

/// A mirror route to the wire request.
pub(crate) fn mirror_route(ctx: &RolloutContext, r: &SetMirrorRoute) -> pb::SetMirrorRouteRequest {
    pb::SetMirrorRouteRequest {
        rollout: Some(ctx.into()),
        name: r.name.clone(),
        matches: r
            .matches
            .iter()
            .map(|m| pb::RouteMatch {
                method: m.method.as_ref().map(Into::into),
                path: m.path.as_ref().map(Into::into),
                headers: m
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.into()))
                    .collect(),
            })
            .collect(),
        percentage: r.percentage,
    }
}

/// A mirror route from the wire request.
pub(crate) fn mirror_route_from(
    r: pb::SetMirrorRouteRequest,
) -> (Option<pb::Rollout>, SetMirrorRoute) {
    let route = SetMirrorRoute {
        name: r.name,
        matches: r
            .matches
            .into_iter()
            .map(|m| MirrorMatch {
                method: m.method.map(Into::into),
                path: m.path.map(Into::into),
                headers: m.headers.into_iter().map(|(k, v)| (k, v.into())).collect(),
            })
            .collect(),
        percentage: r.percentage,
    };
    (r.rollout, route)
}

impl From<Verified> for pb::Verification {
    fn from(v: Verified) -> Self {
        match v {
            Verified::Verified => Self::Verified,
            Verified::NotVerified => Self::NotVerified,
            Verified::NotImplemented => Self::NotImplemented,
        }
    }
}

impl From<pb::Verification> for Verified {
    fn from(v: pb::Verification) -> Self {
        match v {
            pb::Verification::Verified => Self::Verified,
            pb::Verification::NotVerified => Self::NotVerified,
            pb::Verification::NotImplemented => Self::NotImplemented,
        }
    }
}
