//! The I/O layer: name the Ingresses (and VirtualServers), read them
//! through the shared applier, plan, and choose the write.

mod virtual_server;

use async_trait::async_trait;
use kube::api::ApiResource;
use router_core::{RolloutContext, Routes, TrafficRouter, TrafficTarget, Verified};
use router_kube::client::KubeRouter;
use router_kube::{Applier, ObjectRef, Outcome, Progress, Write};
use serde_json::Value;

use crate::config::{Config, PLUGIN_NAME, Settings};
use crate::plan::{self, FIELD_MANAGER, Plan, Rollout};

/// Routes a rollout's traffic with NGINX canary Ingresses, and with
/// weighted splits on F5 NGINX VirtualServers and VirtualServerRoutes when
/// the config names them (see [`crate::virtual_server`]: each is read once
/// and written with at most one guarded JSON patch).
///
/// Every call reads the stable Ingress and the canary Ingress once each
/// (from the applier's watch cache when it is on and synced: then an
/// unchanged state costs no request) and writes the canary Ingress at most
/// once, only when something changes, with a server-side apply under the
/// field manager [`FIELD_MANAGER`] (forced: the fields we set on the canary
/// Ingress are ours; annotations and labels others add are kept). A new
/// canary Ingress is created by the same apply, not a create, so that every
/// field we set is owned by the apply and a later apply that leaves one out
/// removes it. The stable Ingress is never written.
#[derive(Clone)]
pub struct NginxRouter {
    applier: Applier,
}

impl std::fmt::Debug for NginxRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NginxRouter")
            .field("connected", &self.applier.is_connected())
            .finish()
    }
}

impl KubeRouter for NginxRouter {
    const PRODUCT: &'static str = "rollgate-nginx";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn with_applier(applier: Applier) -> Self {
        Self { applier }
    }
}

/// `networking.k8s.io/v1` Ingresses.
fn ingresses() -> ApiResource {
    ApiResource {
        group: "networking.k8s.io".into(),
        version: "v1".into(),
        api_version: "networking.k8s.io/v1".into(),
        kind: "Ingress".into(),
        plural: "ingresses".into(),
    }
}

impl NginxRouter {
    /// One read of the stable Ingress `stable_name` and of its canary
    /// Ingress, [`plan::plan`], and at most one write of the canary Ingress.
    async fn one_ingress(
        &self,
        canary: &ObjectRef,
        config: &Config,
        rollout: &Rollout<'_>,
        stable_name: &str,
        target: &TrafficTarget,
    ) -> Result<Outcome, router_core::Error> {
        let stable_ref = ObjectRef::new(&ingresses(), rollout.namespace, stable_name);
        let stable = self.applier.get(&stable_ref).await?.ok_or_else(|| {
            router_core::Error::not_found(format!(
                "{}: error retrieving stableIngress `{stable_name}`: not found",
                stable_ref.label()
            ))
        })?;
        let outcome = self
            .applier
            .converge(canary, |existing| {
                Ok(
                    match plan::plan(&stable, existing, rollout, config, target)? {
                        Plan::Unchanged => None,
                        Plan::Apply(object) => Some(Write::apply(object, FIELD_MANAGER)),
                        Plan::Delete => Some(Write::delete()),
                    },
                )
            })
            .await?;
        if outcome == Outcome::Written {
            tracing::info!(ingress = %canary.label(), "wrote the canary Ingress");
        }
        Ok(outcome)
    }
}

/// The config (from `trafficRouting.plugins`) and the rollout's routing facts.
fn parse(ctx: &RolloutContext) -> Result<(Settings, Rollout<'_>), router_core::Error> {
    let config = Settings::parse(&ctx.config, &ctx.object_name())?;
    let rollout = Rollout {
        name: &ctx.name,
        namespace: &ctx.namespace,
        uid: ctx.uid.as_deref().filter(|u| !u.is_empty()),
        canary_service: &ctx.canary_service,
        stable_service: &ctx.stable_service,
        max_traffic_weight: ctx.max_traffic_weight,
        promoted: ctx.promoted,
    };
    Ok((config, rollout))
}

/// The canary Ingress of the stable Ingress `stable`.
fn canary_ref(rollout: &Rollout<'_>, stable: &str) -> ObjectRef {
    let name = plan::canary_ingress_name(rollout.name, stable);
    ObjectRef::new(&ingresses(), rollout.namespace, &name)
}

#[async_trait]
impl TrafficRouter for NginxRouter {
    async fn init(&self) -> Result<(), router_core::Error> {
        self.applier.client().await.map(|_| ())
    }

    async fn name(&self) -> Result<String, router_core::Error> {
        Ok(PLUGIN_NAME.to_owned())
    }

    /// Makes every canary Ingress carry `target` with one server-side apply
    /// each (weight and header route together), or none when it already
    /// does; see [`plan::plan`]. On an error, the message names the canary
    /// Ingresses already written.
    ///
    /// A header route maps the step's one header match onto
    /// `canary-by-header` and `canary-by-header-value` (exact) or
    /// `canary-by-header-pattern` (prefix, regex); ingress-nginx evaluates
    /// the header before the weight, so a request whose header matches goes
    /// to the canary and one without it goes by weight. ReplicaSet hashes
    /// are nothing to NGINX: the canary Ingress points at the canary
    /// Service, whose selector the controller maintains.
    ///
    /// Then every VirtualServer and VirtualServerRoute the config names
    /// gets the target with one guarded JSON patch each, or none; see
    /// [`crate::virtual_server::plan`].
    ///
    /// Refused before anything is read or written: a route `managedRoutes`
    /// does not list, a mirror route, experiment destinations with a
    /// weight, a header route ingress-nginx (or an F5 NGINX condition)
    /// cannot express (see [`plan::check`] and
    /// [`crate::virtual_server::check`]), and a config error.
    async fn apply(
        &self,
        ctx: &RolloutContext,
        target: &TrafficTarget,
    ) -> Result<(), router_core::Error> {
        ctx.require_listed_routes(target)?;
        let (settings, rollout) = parse(ctx)?;
        if settings.ingress.is_some() {
            plan::check(target, &ctx.object_name())?;
        }
        if !settings.virtual_servers.is_empty() {
            crate::virtual_server::check(target, &rollout)?;
        }
        // A canary Ingress or a split carries a weight and header routes: a
        // target of neither (ReplicaSet hashes, a mirror route's removal) is
        // nothing to them.
        let header_routes = matches!(target.routes, Routes::Header(_) | Routes::Exactly { .. });
        if target.canary_weight.is_none() && !header_routes {
            return Ok(());
        }
        let mut progress = Progress::new();
        if let Some(config) = &settings.ingress {
            for stable in &config.stable_ingresses {
                let canary = canary_ref(&rollout, stable);
                let result = self
                    .one_ingress(&canary, config, &rollout, stable, target)
                    .await;
                progress.track(&canary, result)?;
            }
        }
        virtual_server::apply(
            &self.applier,
            ctx,
            &settings.virtual_servers,
            &rollout,
            target,
            &mut progress,
        )
        .await
    }

    /// Verified when every canary Ingress as stored carries `canary: "true"`
    /// and the target's `canary-weight` (and the weight total), and every
    /// split route of a VirtualServer the target's canary weight; a target
    /// without a weight asks nothing of them. Once a fully promoted
    /// rollout's canary Ingress is deleted (with
    /// `deleteCanaryIngressOnCompletion`), weight 0 is verified by its absence.
    async fn verify(
        &self,
        ctx: &RolloutContext,
        target: &TrafficTarget,
    ) -> Result<Verified, router_core::Error> {
        let (settings, rollout) = parse(ctx)?;
        let Some(weight) = target.canary_weight else {
            return Ok(Verified::Verified);
        };
        if let Some(config) = &settings.ingress {
            for stable in &config.stable_ingresses {
                let canary: Option<Value> = self.applier.get(&canary_ref(&rollout, stable)).await?;
                if !plan::verified(canary.as_ref(), &rollout, config, weight) {
                    return Ok(Verified::NotVerified);
                }
            }
        }
        let split =
            virtual_server::verified(&self.applier, &settings.virtual_servers, &rollout, weight)
                .await?;
        Ok(if split {
            Verified::Verified
        } else {
            Verified::NotVerified
        })
    }
}
