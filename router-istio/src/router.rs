//! The I/O layer: name the VirtualServices and the DestinationRule, read
//! them through the shared applier, plan, and choose the write.

use async_trait::async_trait;
use kube::api::ApiResource;
use router_core::{RolloutContext, RouteTarget, TrafficRouter, TrafficTarget, Verified};
use router_kube::client::KubeRouter;
use router_kube::{Applier, ObjectRef, Outcome, Progress, RouteNamespaces, Write};
use serde_json::Value;

use crate::config::{Config, PLUGIN_NAME, VirtualServiceRef, check_max_traffic_weight};
use crate::plan::{self, Rollout};

pub use router_kube::WRITE_ATTEMPTS;

/// Istio's served API version used by default.
pub const DEFAULT_API_VERSION: &str = "v1";

/// Routes a rollout's traffic with Istio VirtualServices and DestinationRules.
///
/// Every call reads each object it changes once (from the applier's watch
/// cache when it is on and synced: then an unchanged state costs no
/// request) and writes it at most once, only when the plan changes it: a
/// change of weights only is a JSON patch guarded by `test` operations, any
/// other change a replace carrying the `resourceVersion` it read. A
/// concurrent edit makes the write fail (422 or 409) instead of being
/// overwritten, and the applier reads from the API server, plans and writes
/// again (up to [`WRITE_ATTEMPTS`] times in all).
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

    /// `kind` of `networking.istio.io` at the version in use, `name` in `namespace`.
    fn object(&self, kind: &str, namespace: &str, name: &str) -> ObjectRef {
        let resource = ApiResource {
            group: "networking.istio.io".into(),
            version: self.api_version.clone(),
            api_version: format!("networking.istio.io/{}", self.api_version),
            kind: kind.into(),
            plural: format!("{}s", kind.to_lowercase()),
        };
        ObjectRef::new(&resource, namespace, name)
    }

    fn virtual_service(&self, ctx: &RolloutContext, vs_ref: &VirtualServiceRef) -> ObjectRef {
        let (name, namespace) = vs_ref.namespaced(&ctx.namespace);
        self.object("VirtualService", &namespace, &name)
    }

    /// The object as read; an error naming it when it does not exist.
    async fn read(&self, object: &ObjectRef) -> Result<Value, router_core::Error> {
        self.applier
            .get(object)
            .await?
            .ok_or_else(|| not_found(object))
    }

    /// Points the DestinationRule's subsets at `target`'s ReplicaSets (one
    /// replace, or nothing); also returns its `spec.host` as read.
    async fn write_destination_rule(
        &self,
        ctx: &RolloutContext,
        config: &Config,
        target: &TrafficTarget,
        progress: &mut Progress,
    ) -> Result<Option<String>, router_core::Error> {
        let (Some(dr), Some(hashes)) = (&config.destination_rule, &target.hashes) else {
            return Ok(None);
        };
        let object = self.object("DestinationRule", &ctx.namespace, &dr.name);
        let mut host = None;
        let result = self
            .applier
            .converge(&object, |current| {
                let current = current.ok_or_else(|| not_found(&object))?;
                host = current["spec"]["host"].as_str().map(str::to_owned);
                let planned = plan::plan_destination_rule(
                    current,
                    dr,
                    &ctx.name,
                    hashes,
                    &target.additional,
                )?;
                Ok(planned.map(Write::replace))
            })
            .await;
        progress.track(&object, result)?;
        Ok(host)
    }

    /// Where managed routes send requests: the DestinationRule's `spec.host`
    /// with subset-level splitting, else the canary Service. The
    /// DestinationRule is read only when the target sets a route and its
    /// host is not `known` yet.
    async fn canary_host(
        &self,
        ctx: &RolloutContext,
        config: &Config,
        target: &TrafficTarget,
        known: Option<String>,
    ) -> Result<String, router_core::Error> {
        let Some(dr) = &config.destination_rule else {
            return Ok(ctx.canary_service.clone());
        };
        if let Some(host) = known {
            return Ok(host);
        }
        if !sets_a_route(target) {
            return Ok(ctx.canary_service.clone());
        }
        let object = self
            .read(&self.object("DestinationRule", &ctx.namespace, &dr.name))
            .await?;
        Ok(object["spec"]["host"]
            .as_str()
            .unwrap_or(&ctx.canary_service)
            .to_owned())
    }
}

fn not_found(object: &ObjectRef) -> router_core::Error {
    router_core::Error::not_found(format!("{}: not found", object.label()))
}

/// Whether `target` sets (not only removes) a managed route.
fn sets_a_route(target: &TrafficTarget) -> bool {
    target.named_routes().into_iter().any(|(_, name)| {
        matches!(
            target.route(name),
            RouteTarget::Header(_) | RouteTarget::Mirror(_)
        )
    })
}

/// The config, after refusing a `maxTrafficWeight` Istio cannot express.
/// The config of `ctx`, refused when a VirtualService it names
/// (`name.namespace`) is in a namespace `namespaces` does not allow.
fn parse(ctx: &RolloutContext, namespaces: &RouteNamespaces) -> Result<Config, router_core::Error> {
    check_max_traffic_weight(ctx.max_traffic_weight, &ctx.object_name())?;
    let config = Config::parse(&ctx.config, &ctx.object_name())?;
    let single = ctx.config.get("virtualService").is_some();
    for (i, vs_ref) in config.virtual_services.iter().enumerate() {
        let (_, namespace) = vs_ref.namespaced(&ctx.namespace);
        let field = if single {
            "virtualService.name".to_owned()
        } else {
            format!("virtualServices[{i}].name")
        };
        namespaces.check(ctx, &field, &namespace)?;
    }
    Ok(config)
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
        self.applier.client().await.map(|_| ())
    }

    async fn name(&self) -> Result<String, router_core::Error> {
        Ok(PLUGIN_NAME.to_owned())
    }

    /// Makes every VirtualService carry `target` (its managed routes and
    /// weights in one write each, see [`plan::plan_virtual_service`]) and
    /// the DestinationRule its ReplicaSets (see
    /// [`plan::plan_destination_rule`]; nothing without a
    /// `destinationRule`). When the canary weight is 0 the VirtualServices
    /// go first, so that traffic never reaches a ReplicaSet without pods
    /// while the subsets switch; otherwise the DestinationRule does. On an
    /// error, the message names the objects already written.
    ///
    /// Refused before anything is read or written: a route `managedRoutes`
    /// does not list, a `maxTrafficWeight` other than 100 (see
    /// [`check_max_traffic_weight`]), and a config error.
    async fn apply(
        &self,
        ctx: &RolloutContext,
        target: &TrafficTarget,
    ) -> Result<(), router_core::Error> {
        ctx.require_listed_routes(target)?;
        let config = parse(ctx, self.applier.route_namespaces())?;
        let names = managed_names(ctx);
        let r = rollout(ctx, &config, &names);
        let weights_first = target.canary_weight == Some(0);
        let mut progress = Progress::new();
        let mut host = None;
        if !weights_first {
            host = self
                .write_destination_rule(ctx, &config, target, &mut progress)
                .await?;
        }
        if target.canary_weight.is_some() || target.touches_routes() {
            let host = self
                .canary_host(ctx, &config, target, host)
                .await
                .map_err(|e| progress.error(e))?;
            for vs_ref in &config.virtual_services {
                let object = self.virtual_service(ctx, vs_ref);
                let result = self
                    .applier
                    .converge(&object, |current| {
                        let current = current.ok_or_else(|| not_found(&object))?;
                        let planned =
                            plan::plan_virtual_service(current, vs_ref, &r, target, &host)?;
                        Ok(planned.map(|write| match write {
                            plan::Write::Weights(patch) => Write::guarded_patch(patch),
                            plan::Write::Replace(object) => Write::replace(object),
                        }))
                    })
                    .await;
                if progress.track(&object, result)? == Outcome::Written {
                    tracing::info!(object = %object.label(), "wrote the VirtualService");
                }
            }
        }
        if weights_first {
            self.write_destination_rule(ctx, &config, target, &mut progress)
                .await?;
        }
        Ok(())
    }

    /// Verified when every VirtualService as stored already carries the
    /// target's weights (planning them again changes nothing); a target
    /// without a weight asks nothing of them.
    async fn verify(
        &self,
        ctx: &RolloutContext,
        target: &TrafficTarget,
    ) -> Result<Verified, router_core::Error> {
        let config = parse(ctx, self.applier.route_namespaces())?;
        let Some(weight) = target.canary_weight else {
            return Ok(Verified::Verified);
        };
        let names = managed_names(ctx);
        let r = rollout(ctx, &config, &names);
        let weights = TrafficTarget::weight(weight, &target.additional);
        for vs_ref in &config.virtual_services {
            let vs = self.read(&self.virtual_service(ctx, vs_ref)).await?;
            if plan::plan_virtual_service(&vs, vs_ref, &r, &weights, &ctx.canary_service)?.is_some()
            {
                return Ok(Verified::NotVerified);
            }
        }
        Ok(Verified::Verified)
    }
}
