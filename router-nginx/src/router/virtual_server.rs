//! The I/O of the VirtualServer split: one read of each VirtualServer and
//! VirtualServerRoute the config names, and at most one guarded JSON patch
//! of each.

use kube::api::ApiResource;
use router_core::{RolloutContext, TrafficTarget};
use router_kube::{Applier, ObjectRef, Outcome, Progress, Write};

use crate::plan::Rollout;
use crate::virtual_server::{self, Kind, Target};

/// `k8s.nginx.org/v1` VirtualServers or VirtualServerRoutes.
fn resource(kind: Kind) -> ApiResource {
    ApiResource {
        group: "k8s.nginx.org".into(),
        version: "v1".into(),
        api_version: "k8s.nginx.org/v1".into(),
        kind: kind.kind().into(),
        plural: kind.plural().into(),
    }
}

fn object_ref(target: &Target, namespace: &str) -> ObjectRef {
    ObjectRef::new(&resource(target.kind), namespace, &target.name)
}

/// The error for an object that does not exist, naming it.
fn not_found(target: &Target, namespace: &str) -> router_core::Error {
    router_core::Error::not_found(format!(
        "{}: not found (plugin config {}.name)",
        target.label(namespace),
        target.kind.config_key()
    ))
}

/// Makes every object in `targets` carry `traffic`: for each, one read
/// (from the watch cache when it is on and synced) and at most one guarded
/// JSON patch, only when something changes; see [`virtual_server::plan`].
/// `progress` names the objects already written when one fails.
pub(super) async fn apply(
    applier: &Applier,
    ctx: &RolloutContext,
    targets: &[Target],
    rollout: &Rollout<'_>,
    traffic: &TrafficTarget,
    progress: &mut Progress,
) -> Result<(), router_core::Error> {
    let managed: Vec<String> = ctx.managed_route_names().map(str::to_owned).collect();
    for target in targets {
        let object = object_ref(target, rollout.namespace);
        let result = applier
            .converge(&object, |current| {
                let current = current.ok_or_else(|| not_found(target, rollout.namespace))?;
                Ok(
                    virtual_server::plan(current, target, rollout, &managed, traffic)?
                        .map(Write::guarded_patch),
                )
            })
            .await;
        if matches!(result, Ok(Outcome::Written)) {
            tracing::info!(object = %object.label(), "split the routes");
        }
        progress.track(&object, result)?;
    }
    Ok(())
}

/// Whether every object in `targets`, as stored, splits its routes with
/// canary weight `weight`.
pub(super) async fn verified(
    applier: &Applier,
    targets: &[Target],
    rollout: &Rollout<'_>,
    weight: i32,
) -> Result<bool, router_core::Error> {
    for target in targets {
        let object = applier
            .get(&object_ref(target, rollout.namespace))
            .await?
            .ok_or_else(|| not_found(target, rollout.namespace))?;
        if !virtual_server::verified(&object, target, rollout, weight)? {
            return Ok(false);
        }
    }
    Ok(true)
}
