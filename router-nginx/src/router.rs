//! The I/O layer: read the stable and canary Ingresses, plan, apply.

use async_trait::async_trait;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams};
use rollout_core::spec::{SetHeaderRoute, SetMirrorRoute};
use rollout_core::status::WeightDestination;
use router_core::RouteStep;
use router_core::aspects::{Aspects, apply_by_aspects};
use router_core::{RolloutContext, TrafficRouter, TrafficTarget, Verified};
use router_kube::Applier;
use router_kube::client::{KubeRouter, request_error, status_code};
use serde_json::Value;

use crate::Error;
use crate::config::{Config, PLUGIN_NAME};
use crate::plan::{self, Change, FIELD_MANAGER, HeaderRoute, Plan, Rollout};

/// Routes a rollout's traffic with NGINX canary Ingresses.
///
/// Every call reads the stable Ingress and the canary Ingress (two GETs per
/// stable Ingress) and writes only when something changes, with one
/// server-side apply under the field manager [`FIELD_MANAGER`] (forced: the
/// fields we set on the canary Ingress are ours; annotations and labels
/// others add are kept). The stable Ingress is never written.
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

impl NginxRouter {
    async fn client(&self) -> Result<kube::Client, router_core::Error> {
        self.applier.client().await
    }

    async fn ingresses(&self, namespace: &str) -> Result<Api<DynamicObject>, router_core::Error> {
        let resource = ApiResource {
            group: "networking.k8s.io".into(),
            version: "v1".into(),
            api_version: "networking.k8s.io/v1".into(),
            kind: "Ingress".into(),
            plural: "ingresses".into(),
        };
        Ok(Api::namespaced_with(
            self.client().await?,
            namespace,
            &resource,
        ))
    }

    /// Plans and writes the canary Ingress of every stable Ingress; on
    /// failure the error names the canary Ingresses already written.
    async fn each_ingress(
        &self,
        ctx: &RolloutContext,
        change: Change<'_>,
    ) -> Result<(), router_core::Error> {
        let (config, rollout) = parse(ctx)?;
        let api = self.ingresses(&ctx.namespace).await?;
        let mut written: Vec<String> = Vec::new();
        for stable_name in &config.stable_ingresses {
            let result = self
                .one_ingress(&api, &config, &rollout, stable_name, change)
                .await;
            match result {
                Ok(Some(label)) => written.push(label),
                Ok(None) => {}
                Err(e) if written.is_empty() => return Err(e),
                Err(e) => {
                    return Err(router_core::Error::new(
                        e.kind(),
                        format!("{e} (already updated: {})", written.join(", ")),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Returns the canary Ingress's label when it wrote.
    async fn one_ingress(
        &self,
        api: &Api<DynamicObject>,
        config: &Config,
        rollout: &Rollout<'_>,
        stable_name: &str,
        change: Change<'_>,
    ) -> Result<Option<String>, router_core::Error> {
        let stable = read(api, stable_name).await?.ok_or_else(|| {
            router_core::Error::not_found(format!(
                "Ingress {}/{stable_name}: error retrieving stableIngress `{stable_name}`: not found",
                rollout.namespace
            ))
        })?;
        let canary_name = plan::canary_ingress_name(rollout.name, stable_name);
        let existing = read(api, &canary_name).await?;
        let planned = plan::plan_call(&stable, existing.as_ref(), rollout, config, change)?;
        let label = format!("Ingress {}/{canary_name}", rollout.namespace);
        match planned {
            Plan::Unchanged => Ok(None),
            Plan::Apply(object) => {
                let params = PatchParams::apply(FIELD_MANAGER).force();
                api.patch(&canary_name, &params, &Patch::Apply(&object))
                    .await
                    .map_err(|e| request_error(&label, &e))?;
                tracing::info!(ingress = %label, "applied the canary Ingress");
                Ok(Some(label))
            }
            Plan::Delete => {
                match api.delete(&canary_name, &DeleteParams::default()).await {
                    Ok(_) => {}
                    Err(e) if status_code(&e) == Some(404) => return Ok(None),
                    Err(e) => return Err(request_error(&label, &e)),
                }
                tracing::info!(ingress = %label, "deleted the canary Ingress: the rollout is fully promoted");
                Ok(Some(label))
            }
        }
    }
}

/// An Ingress as JSON, `None` when it does not exist.
async fn read(api: &Api<DynamicObject>, name: &str) -> Result<Option<Value>, router_core::Error> {
    match api.get_opt(name).await {
        Ok(Some(object)) => serde_json::to_value(&object)
            .map(Some)
            .map_err(|e| router_core::Error::internal(e.to_string())),
        Ok(None) => Ok(None),
        Err(e) => Err(request_error(
            format!("Ingress {}/{name}", api.namespace().unwrap_or_default()),
            &e,
        )),
    }
}

/// The config (from `trafficRouting.plugins`) and the rollout's routing facts.
fn parse(ctx: &RolloutContext) -> Result<(Config, Rollout<'_>), router_core::Error> {
    let config = Config::parse(&ctx.config, &ctx.object_name())?;
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

#[async_trait]
impl TrafficRouter for NginxRouter {
    async fn init(&self) -> Result<(), router_core::Error> {
        self.client().await.map(|_| ())
    }

    async fn name(&self) -> Result<String, router_core::Error> {
        Ok(PLUGIN_NAME.to_owned())
    }

    async fn apply(
        &self,
        ctx: &RolloutContext,
        target: &TrafficTarget,
    ) -> Result<(), router_core::Error> {
        apply_by_aspects(self, ctx, target).await
    }

    async fn verify(
        &self,
        ctx: &RolloutContext,
        target: &TrafficTarget,
    ) -> Result<Verified, router_core::Error> {
        let weight = target.canary_weight.unwrap_or_default();
        self.verify_weight_now(ctx, weight, &target.additional)
            .await
    }
}

#[async_trait]
impl Aspects for NginxRouter {
    /// Creates or updates each canary Ingress with `canary-weight: weight`
    /// (header route and other annotations kept). Experiment destinations
    /// cannot be expressed: an NGINX canary splits between two Services.
    async fn set_weight(
        &self,
        ctx: &RolloutContext,
        weight: i32,
        additional: &[WeightDestination],
    ) -> Result<(), router_core::Error> {
        if additional.iter().any(|d| d.weight > 0) {
            return Err(router_core::Error::from(Error::Unsupported {
                rollout: ctx.object_name(),
                message: "experiment destinations: an ingress-nginx canary Ingress splits traffic \
                          between the canary and stable Services only"
                    .into(),
            }));
        }
        self.each_ingress(ctx, Change::Weight(weight)).await
    }

    /// Maps the step's one header match onto `canary-by-header` and
    /// `canary-by-header-value` (exact) or `canary-by-header-pattern`
    /// (prefix, regex); an empty match removes it. ingress-nginx evaluates
    /// the header before the weight: a request whose header matches always
    /// goes to the canary, one without the header goes by weight.
    ///
    /// Refused, changing nothing, when `managedRoutes` does not list the route.
    async fn set_header_route(
        &self,
        ctx: &RolloutContext,
        step: &SetHeaderRoute,
    ) -> Result<(), router_core::Error> {
        ctx.require_listed(RouteStep::Header, &step.name)?;
        let route = HeaderRoute::from_step(step, &ctx.object_name())?;
        self.each_ingress(
            ctx,
            Change::Header {
                name: &step.name,
                route: route.as_ref(),
            },
        )
        .await
    }

    /// ingress-nginx canary Ingresses cannot mirror traffic: a mirror route
    /// is an error (removing one is a no-op). A route `managedRoutes` does
    /// not list is refused first.
    async fn set_mirror_route(
        &self,
        ctx: &RolloutContext,
        step: &SetMirrorRoute,
    ) -> Result<(), router_core::Error> {
        ctx.require_listed(RouteStep::Mirror, &step.name)?;
        if step.matches.is_empty() {
            return Ok(());
        }
        Err(router_core::Error::from(Error::Unsupported {
            rollout: ctx.object_name(),
            message: format!(
                "setMirrorRoute {}: not supported by ingress-nginx canary Ingresses (they cannot \
                 mirror traffic; use the Istio or Gateway API router)",
                step.name
            ),
        }))
    }

    /// A no-op: the canary Ingress points at the canary Service, whose
    /// selector the controller maintains.
    async fn update_hash(
        &self,
        _ctx: &RolloutContext,
        _canary_hash: &str,
        _stable_hash: &str,
        _additional: &[WeightDestination],
    ) -> Result<(), router_core::Error> {
        Ok(())
    }

    /// Removes the header-route annotations; the weight stays.
    async fn remove_managed_routes(&self, ctx: &RolloutContext) -> Result<(), router_core::Error> {
        self.each_ingress(ctx, Change::RemoveHeader).await
    }
}

impl NginxRouter {
    /// Verified when every canary Ingress as stored carries `canary: "true"`
    /// and `canary-weight: weight` (and the weight total). Once a fully
    /// promoted rollout's canary Ingress is deleted (with
    /// `deleteCanaryIngressOnCompletion`), weight 0 is verified by its absence.
    async fn verify_weight_now(
        &self,
        ctx: &RolloutContext,
        weight: i32,
        _additional: &[WeightDestination],
    ) -> Result<Verified, router_core::Error> {
        let (config, rollout) = parse(ctx)?;
        let api = self.ingresses(&ctx.namespace).await?;
        for stable in &config.stable_ingresses {
            let canary = read(&api, &plan::canary_ingress_name(rollout.name, stable)).await?;
            let ok = plan::verified(canary.as_ref(), &rollout, &config, weight);
            if !ok {
                return Ok(Verified::NotVerified);
            }
        }
        Ok(Verified::Verified)
    }
}
