//! The native gRPC wire form (`rollgate.trafficrouter.v2`): the generated
//! code and its conversions from and to the contract's types
//! ([`RolloutContext`], [`TrafficTarget`], [`Verified`]).
//!
//! The messages mirror the contract field for field, so the way there is
//! total and the way back gives the same value. What protobuf cannot say
//! (a message that must be present, a `oneof` that must be set, an enum
//! value this version does not know, the config block's JSON) is checked
//! on the way back, and refused with an error naming the call and the
//! field path.

mod target;

use router_core::{
    Error, Hashes, ManagedRoute, RolloutContext, RouteStep, TrafficTarget, Verified,
};

/// Code generated from `proto/rollgate/trafficrouter/v2/trafficrouter.proto`.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod trafficrouter {
    tonic::include_proto!("rollgate.trafficrouter.v2");
}

/// Code generated from go-plugin's service definitions (`proto/plugin/`).
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod goplugin {
    tonic::include_proto!("plugin");
}

use trafficrouter as pb;

/// The error for a request field that is missing or malformed:
/// `<call> request: <path>: <what>`.
fn refused(call: &str, path: &str, what: impl std::fmt::Display) -> Error {
    Error::invalid(format!("{call} request: {path}: {what}"))
}

/// The rollout context and the target of an `Apply` or `Verify` request
/// (`call` names it), checked.
///
/// # Errors
///
/// [`ErrorKind::Invalid`](router_core::ErrorKind::Invalid) naming the call
/// and the field when either is missing or malformed.
pub(crate) fn request(
    call: &str,
    rollout: Option<pb::RolloutContext>,
    target: Option<pb::TrafficTarget>,
) -> Result<(RolloutContext, TrafficTarget), Error> {
    let rollout = rollout.ok_or_else(|| refused(call, "rollout", "missing"))?;
    let target = target.ok_or_else(|| refused(call, "target", "missing"))?;
    Ok((
        context_from(call, rollout)?,
        target::target_from(call, target)?,
    ))
}

impl From<&RolloutContext> for pb::RolloutContext {
    fn from(c: &RolloutContext) -> Self {
        Self {
            name: c.name.clone(),
            namespace: c.namespace.clone(),
            uid: c.uid.clone(),
            canary_service: c.canary_service.clone(),
            stable_service: c.stable_service.clone(),
            managed_routes: c
                .managed_routes
                .iter()
                .map(|r| pb::ManagedRoute {
                    name: r.name.clone(),
                    kind: match r.kind {
                        RouteStep::Header => pb::RouteKind::Header,
                        RouteStep::Mirror => pb::RouteKind::Mirror,
                    }
                    .into(),
                })
                .collect(),
            max_traffic_weight: c.max_traffic_weight,
            promoted: c.promoted,
            aborted: c.aborted,
            plugin_name: c.plugin_name.clone(),
            // A JSON value always serialises; `null` is sent as nothing.
            plugin_config_json: if c.config.is_null() {
                Vec::new()
            } else {
                serde_json::to_vec(&c.config).unwrap_or_default()
            },
            previous_additional: c.previous_additional.clone(),
            canary_pod_hash: c.hashes.canary.clone(),
            stable_pod_hash: c.hashes.stable.clone(),
        }
    }
}

/// A rollout context from the wire.
fn context_from(call: &str, r: pb::RolloutContext) -> Result<RolloutContext, Error> {
    let config = if r.plugin_config_json.is_empty() {
        serde_json::Value::Null
    } else {
        crate::plugin_config(&r.plugin_config_json).map_err(|e| {
            refused(
                call,
                "rollout.plugin_config_json",
                format_args!("the plugin's config block: {e}"),
            )
        })?
    };
    let managed_routes = r
        .managed_routes
        .into_iter()
        .enumerate()
        .map(|(i, route)| {
            let kind = match pb::RouteKind::try_from(route.kind) {
                Ok(pb::RouteKind::Header) => RouteStep::Header,
                Ok(pb::RouteKind::Mirror) => RouteStep::Mirror,
                Err(_) => {
                    return Err(refused(
                        call,
                        &format!("rollout.managed_routes[{i}].kind"),
                        format_args!("expected HEADER (0) or MIRROR (1), found {}", route.kind),
                    ));
                }
            };
            Ok(ManagedRoute {
                name: route.name,
                kind,
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(RolloutContext {
        name: r.name,
        namespace: r.namespace,
        uid: r.uid,
        canary_service: r.canary_service,
        stable_service: r.stable_service,
        managed_routes,
        max_traffic_weight: r.max_traffic_weight,
        promoted: r.promoted,
        aborted: r.aborted,
        plugin_name: r.plugin_name,
        config,
        previous_additional: r.previous_additional,
        hashes: Hashes {
            canary: r.canary_pod_hash,
            stable: r.stable_pod_hash,
        },
    })
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

/// A `Verify` answer from the wire; `None` for a value this version does
/// not know.
pub(crate) fn verified_from(reply: &pb::VerifyResponse) -> Option<Verified> {
    pb::Verification::try_from(reply.verification)
        .ok()
        .map(Into::into)
}

#[cfg(test)]
mod tests;
