//! The I/O layer: read the stable and canary Ingresses, plan, apply.

use async_trait::async_trait;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams};
use router_core::client::{KubeRouter, LazyClient, request_error, status_code};
use router_core::{RolloutContext, Routes, TrafficRouter, TrafficTarget, Verified};
use serde_json::Value;

use crate::config::{Config, PLUGIN_NAME};
use crate::plan::{self, FIELD_MANAGER, Plan, Rollout};

/// Routes a rollout's traffic with NGINX canary Ingresses.
///
/// Every call reads the stable Ingress and the canary Ingress (two GETs per
/// stable Ingress) and writes only when something changes, with one
/// server-side apply under the field manager [`FIELD_MANAGER`] (forced: the
/// fields we set on the canary Ingress are ours; annotations and labels
/// others add are kept). The stable Ingress is never written.
#[derive(Clone)]
pub struct NginxRouter {
    client: LazyClient,
}

impl std::fmt::Debug for NginxRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NginxRouter")
            .field("connected", &self.client.is_connected())
            .finish()
    }
}

impl KubeRouter for NginxRouter {
    const PRODUCT: &'static str = "rollgate-nginx";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn with_lazy_client(client: LazyClient) -> Self {
        Self { client }
    }
}

impl NginxRouter {
    async fn client(&self) -> Result<kube::Client, router_core::Error> {
        self.client.get().await
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

    /// Plans and writes the canary Ingress of every stable Ingress for
    /// `target`; on failure the error names the canary Ingresses already
    /// written.
    async fn each_ingress(
        &self,
        config: &Config,
        rollout: &Rollout<'_>,
        target: &TrafficTarget,
    ) -> Result<(), router_core::Error> {
        let api = self.ingresses(rollout.namespace).await?;
        let mut written: Vec<String> = Vec::new();
        for stable_name in &config.stable_ingresses {
            let result = self
                .one_ingress(&api, config, rollout, stable_name, target)
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

    /// One read of the stable and of the canary Ingress, [`plan::plan`],
    /// and at most one write; returns the canary Ingress's label when it wrote.
    async fn one_ingress(
        &self,
        api: &Api<DynamicObject>,
        config: &Config,
        rollout: &Rollout<'_>,
        stable_name: &str,
        target: &TrafficTarget,
    ) -> Result<Option<String>, router_core::Error> {
        let stable = read(api, stable_name).await?.ok_or_else(|| {
            router_core::Error::not_found(format!(
                "Ingress {}/{stable_name}: error retrieving stableIngress `{stable_name}`: not found",
                rollout.namespace
            ))
        })?;
        let canary_name = plan::canary_ingress_name(rollout.name, stable_name);
        let existing = read(api, &canary_name).await?;
        let planned = plan::plan(&stable, existing.as_ref(), rollout, config, target)?;
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

    /// Makes every canary Ingress carry `target` with one server-side apply
    /// each (weight and header route together), or none when it already
    /// does; see [`plan::plan`].
    ///
    /// A header route maps the step's one header match onto
    /// `canary-by-header` and `canary-by-header-value` (exact) or
    /// `canary-by-header-pattern` (prefix, regex); ingress-nginx evaluates
    /// the header before the weight, so a request whose header matches goes
    /// to the canary and one without it goes by weight. ReplicaSet hashes
    /// are nothing to NGINX: the canary Ingress points at the canary
    /// Service, whose selector the controller maintains.
    ///
    /// Refused before anything is read or written: a route `managedRoutes`
    /// does not list, a mirror route, experiment destinations with a
    /// weight, a header route ingress-nginx cannot express (see
    /// [`plan::check`]), and a config error.
    async fn apply(
        &self,
        ctx: &RolloutContext,
        target: &TrafficTarget,
    ) -> Result<(), router_core::Error> {
        ctx.require_listed_routes(target)?;
        let (config, rollout) = parse(ctx)?;
        plan::check(target, &ctx.object_name())?;
        // A canary Ingress carries a weight and header routes: a target of
        // neither (ReplicaSet hashes, a mirror route's removal) is nothing to it.
        let header_routes = matches!(target.routes, Routes::Header(_) | Routes::Exactly { .. });
        if target.canary_weight.is_none() && !header_routes {
            return Ok(());
        }
        self.each_ingress(&config, &rollout, target).await
    }

    /// Verified when every canary Ingress as stored carries `canary: "true"`
    /// and the target's `canary-weight` (and the weight total); a target
    /// without a weight asks nothing of them. Once a fully promoted
    /// rollout's canary Ingress is deleted (with
    /// `deleteCanaryIngressOnCompletion`), weight 0 is verified by its absence.
    async fn verify(
        &self,
        ctx: &RolloutContext,
        target: &TrafficTarget,
    ) -> Result<Verified, router_core::Error> {
        let (config, rollout) = parse(ctx)?;
        let Some(weight) = target.canary_weight else {
            return Ok(Verified::Verified);
        };
        let api = self.ingresses(&ctx.namespace).await?;
        for stable in &config.stable_ingresses {
            let canary = read(&api, &plan::canary_ingress_name(rollout.name, stable)).await?;
            if !plan::verified(canary.as_ref(), &rollout, &config, weight) {
                return Ok(Verified::NotVerified);
            }
        }
        Ok(Verified::Verified)
    }
}
