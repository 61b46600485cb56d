//! The I/O layer: read, plan, write with optimistic concurrency.

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use rollout_core::spec::{SetHeaderRoute, SetMirrorRoute};
use rollout_core::status::WeightDestination;
use router_core::RouteStep;
use router_core::aspects::{Aspects, apply_by_aspects};
use router_core::{RolloutContext, TrafficRouter, TrafficTarget, Verified};
use router_kube::Applier;
use router_kube::client::{KubeRouter, request_error, status_code};
use serde_json::Value;

use crate::Error;
use crate::config::{Config, PLUGIN_NAME, VirtualServiceRef, check_max_traffic_weight};
use crate::plan::{self, Rollout};

/// How often a write that lost a race (409) is read, planned and sent again.
pub const WRITE_ATTEMPTS: u32 = 5;

/// Istio's served API version used by default.
pub const DEFAULT_API_VERSION: &str = "v1";

/// Routes a rollout's traffic with Istio VirtualServices and DestinationRules.
///
/// Every call reads each object once and writes only when the plan changes
/// it, with a replace carrying the `resourceVersion` it read: a concurrent
/// edit makes the write fail (409) instead of being overwritten, and the
/// router reads, plans and writes again (up to [`WRITE_ATTEMPTS`] times).
#[derive(Clone)]
pub struct IstioRouter {
    applier: Applier,
    api_version: String,
}

impl std::fmt::Debug for IstioRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IstioRouter")
            .field("api_version", &self.api_version)
            .finish()
    }
}

impl KubeRouter for IstioRouter {
    const PRODUCT: &'static str = "rollgate-istio";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn with_applier(applier: Applier) -> Self {
        Self {
            applier,
            api_version: DEFAULT_API_VERSION.into(),
        }
    }
}

impl IstioRouter {
    /// The same router, speaking `networking.istio.io/<version>` (e.g. `v1beta1`).
    pub fn with_api_version(mut self, version: &str) -> Self {
        self.api_version = version.to_owned();
        self
    }

    async fn api(
        &self,
        kind: &str,
        namespace: &str,
    ) -> Result<Api<DynamicObject>, router_core::Error> {
        let client = self.applier.client().await?;
        let resource = ApiResource {
            group: "networking.istio.io".into(),
            version: self.api_version.clone(),
            api_version: format!("networking.istio.io/{}", self.api_version),
            kind: kind.into(),
            plural: format!("{}s", kind.to_lowercase()),
        };
        Ok(Api::namespaced_with(client, namespace, &resource))
    }

    /// Reads `kind` `name`, plans, and replaces it when the plan changes it;
    /// `Ok(true)` when it wrote.
    async fn write<F>(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        plan: F,
    ) -> Result<bool, router_core::Error>
    where
        F: Fn(&Value) -> Result<Option<Value>, Error>,
    {
        let api = self.api(kind, namespace).await?;
        let label = format!("{kind} {namespace}/{name}");
        for attempt in 0..WRITE_ATTEMPTS {
            let object = api.get(name).await.map_err(|e| request_error(&label, &e))?;
            let value = serde_json::to_value(&object)
                .map_err(|e| router_core::Error::internal(e.to_string()))?;
            let Some(new) = plan(&value)? else {
                return Ok(false);
            };
            let new: DynamicObject = serde_json::from_value(new)
                .map_err(|e| router_core::Error::internal(e.to_string()))?;
            match api.replace(name, &PostParams::default(), &new).await {
                Ok(_) => return Ok(true),
                Err(e) if status_code(&e) == Some(409) => {
                    tracing::debug!(object = %label, attempt, "changed under us; planning again");
                    tokio::time::sleep(Duration::from_millis(10 << attempt)).await;
                }
                Err(e) => return Err(request_error(&label, &e)),
            }
        }
        Err(router_core::Error::conflict(format!(
            "{label}: still changing after {WRITE_ATTEMPTS} attempts"
        )))
    }

    /// Runs `plan` on every VirtualService; on failure the error names the
    /// ones already written.
    async fn each_virtual_service<F>(
        &self,
        ctx: &RolloutContext,
        config: &Config,
        plan: F,
    ) -> Result<(), router_core::Error>
    where
        F: Fn(&Value, &VirtualServiceRef) -> Result<Option<Value>, Error>,
    {
        let mut written = Vec::new();
        for vs_ref in &config.virtual_services {
            let (name, namespace) = vs_ref.namespaced(&ctx.namespace);
            match self
                .write("VirtualService", &namespace, &name, |vs| plan(vs, vs_ref))
                .await
            {
                Ok(true) => written.push(format!("VirtualService {namespace}/{name}")),
                Ok(false) => {}
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

    /// Where managed routes send requests: the DestinationRule's `spec.host`
    /// with subset-level splitting, else the canary Service.
    async fn canary_host(
        &self,
        ctx: &RolloutContext,
        config: &Config,
    ) -> Result<String, router_core::Error> {
        let Some(dr) = &config.destination_rule else {
            return Ok(ctx.canary_service.clone());
        };
        let api = self.api("DestinationRule", &ctx.namespace).await?;
        let object = api.get(&dr.name).await.map_err(|e| {
            request_error(format!("DestinationRule {}/{}", ctx.namespace, dr.name), &e)
        })?;
        Ok(object.data["spec"]["host"]
            .as_str()
            .unwrap_or(&ctx.canary_service)
            .to_owned())
    }
}

/// The config, after refusing a `maxTrafficWeight` Istio cannot express.
fn parse(ctx: &RolloutContext) -> Result<Config, router_core::Error> {
    check_max_traffic_weight(ctx.max_weight(), &ctx.object_name())?;
    Config::parse(&ctx.config, &ctx.object_name()).map_err(router_core::Error::from)
}

/// The names `managedRoutes` lists, in precedence order.
fn managed_names(ctx: &RolloutContext) -> Vec<String> {
    ctx.managed_route_names().map(str::to_owned).collect()
}

fn rollout<'a>(
    ctx: &'a RolloutContext,
    config: &'a Config,
    managed_routes: &'a [String],
) -> Rollout<'a> {
    Rollout {
        canary_service: &ctx.canary_service,
        stable_service: &ctx.stable_service,
        managed_routes,
        destination_rule: config.destination_rule.as_ref(),
    }
}

#[async_trait]
impl TrafficRouter for IstioRouter {
    async fn init(&self) -> Result<(), router_core::Error> {
        self.api("VirtualService", "default").await.map(|_| ())
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
impl Aspects for IstioRouter {
    /// Weights on every selected route of every VirtualService (see
    /// [`plan::plan_weights`]).
    async fn set_weight(
        &self,
        ctx: &RolloutContext,
        weight: i32,
        additional: &[WeightDestination],
    ) -> Result<(), router_core::Error> {
        let config = parse(ctx)?;
        let names = managed_names(ctx);
        let r = rollout(ctx, &config, &names);
        self.each_virtual_service(ctx, &config, |vs, vs_ref| {
            plan::plan_weights(vs, vs_ref, &r, weight, additional)
        })
        .await
    }

    /// Refused, changing nothing, when `managedRoutes` does not list the route.
    async fn set_header_route(
        &self,
        ctx: &RolloutContext,
        step: &SetHeaderRoute,
    ) -> Result<(), router_core::Error> {
        ctx.require_listed(RouteStep::Header, &step.name)?;
        let config = parse(ctx)?;
        let host = self.canary_host(ctx, &config).await?;
        let names = managed_names(ctx);
        let r = rollout(ctx, &config, &names);
        self.each_virtual_service(ctx, &config, |vs, vs_ref| {
            plan::plan_header_route(vs, vs_ref, &r, step, &host)
        })
        .await
    }

    /// Refused, changing nothing, when `managedRoutes` does not list the route.
    async fn set_mirror_route(
        &self,
        ctx: &RolloutContext,
        step: &SetMirrorRoute,
    ) -> Result<(), router_core::Error> {
        ctx.require_listed(RouteStep::Mirror, &step.name)?;
        let config = parse(ctx)?;
        let host = self.canary_host(ctx, &config).await?;
        let names = managed_names(ctx);
        let r = rollout(ctx, &config, &names);
        self.each_virtual_service(ctx, &config, |vs, vs_ref| {
            plan::plan_mirror_route(vs, vs_ref, &r, step, &host)
        })
        .await
    }

    /// Points the DestinationRule's canary and stable subsets at the
    /// ReplicaSets (no-op without a destinationRule).
    async fn update_hash(
        &self,
        ctx: &RolloutContext,
        canary_hash: &str,
        stable_hash: &str,
        additional: &[WeightDestination],
    ) -> Result<(), router_core::Error> {
        let config = parse(ctx)?;
        let Some(dr) = &config.destination_rule else {
            return Ok(());
        };
        self.write("DestinationRule", &ctx.namespace, &dr.name, |object| {
            plan::plan_update_hash(object, dr, &ctx.name, canary_hash, stable_hash, additional)
        })
        .await
        .map(|_| ())
    }

    /// Removes the http routes named in `managedRoutes`. Argo also removes
    /// the routes its steps name; its validation requires those names to be
    /// listed in `managedRoutes`, and [`RolloutContext::require_listed`] refuses any other, so
    /// for a valid rollout the two sets are the same.
    async fn remove_managed_routes(&self, ctx: &RolloutContext) -> Result<(), router_core::Error> {
        let config = parse(ctx)?;
        let names: BTreeSet<String> = managed_names(ctx).into_iter().collect();
        if names.is_empty() {
            return Ok(());
        }
        self.each_virtual_service(ctx, &config, |vs, _| {
            Ok(plan::plan_remove_managed(vs, &names))
        })
        .await
    }
}

impl IstioRouter {
    /// Verified when every VirtualService as stored already carries the
    /// weights (planning them again changes nothing).
    async fn verify_weight_now(
        &self,
        ctx: &RolloutContext,
        weight: i32,
        additional: &[WeightDestination],
    ) -> Result<Verified, router_core::Error> {
        let config = parse(ctx)?;
        let names = managed_names(ctx);
        let r = rollout(ctx, &config, &names);
        for vs_ref in &config.virtual_services {
            let (name, namespace) = vs_ref.namespaced(&ctx.namespace);
            let object = self
                .api("VirtualService", &namespace)
                .await?
                .get(&name)
                .await
                .map_err(|e| request_error(format!("VirtualService {namespace}/{name}"), &e))?;
            let value = serde_json::to_value(&object)
                .map_err(|e| router_core::Error::internal(e.to_string()))?;
            if plan::plan_weights(&value, vs_ref, &r, weight, additional)?.is_some() {
                return Ok(Verified::NotVerified);
            }
        }
        Ok(Verified::Verified)
    }
}
