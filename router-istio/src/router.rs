//! The I/O layer: read, plan, write with optimistic concurrency.

use std::time::Duration;

use async_trait::async_trait;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use router_core::client::{KubeRouter, LazyClient, request_error, status_code};
use router_core::{RolloutContext, RouteTarget, TrafficRouter, TrafficTarget, Verified};
use serde_json::Value;

use crate::Error;
use crate::config::{Config, PLUGIN_NAME, check_max_traffic_weight};
use crate::plan::{self, Rollout, Write};

/// How often a write that lost a race (409, or a failed guard: 422) is
/// read, planned and sent again.
pub const WRITE_ATTEMPTS: u32 = 5;

/// Istio's served API version used by default.
pub const DEFAULT_API_VERSION: &str = "v1";

/// Routes a rollout's traffic with Istio VirtualServices and DestinationRules.
///
/// Every call reads each object it changes once and writes it at most once,
/// only when the plan changes it: a change of weights only is a JSON patch
/// guarded by `test` operations, any other change a replace carrying the
/// `resourceVersion` it read. A concurrent edit makes the write fail (422
/// or 409) instead of being overwritten, and the router reads, plans and
/// writes again (up to [`WRITE_ATTEMPTS`] times).
#[derive(Clone)]
pub struct IstioRouter {
    client: LazyClient,
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

    fn with_lazy_client(client: LazyClient) -> Self {
        Self {
            client,
            api_version: DEFAULT_API_VERSION.into(),
        }
    }
}

/// The objects written so far in one call, for an error that stops it.
#[derive(Default)]
struct Written(Vec<String>);

impl Written {
    fn record(&mut self, wrote: Option<String>) {
        self.0.extend(wrote);
    }

    /// `e`, naming what was already written.
    fn error(&self, e: router_core::Error) -> router_core::Error {
        if self.0.is_empty() {
            e
        } else {
            router_core::Error::new(
                e.kind(),
                format!("{e} (already updated: {})", self.0.join(", ")),
            )
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
        let client = self.client.get().await?;
        let resource = ApiResource {
            group: "networking.istio.io".into(),
            version: self.api_version.clone(),
            api_version: format!("networking.istio.io/{}", self.api_version),
            kind: kind.into(),
            plural: format!("{}s", kind.to_lowercase()),
        };
        Ok(Api::namespaced_with(client, namespace, &resource))
    }

    async fn read(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Value, router_core::Error> {
        let object = self
            .api(kind, namespace)
            .await?
            .get(name)
            .await
            .map_err(|e| request_error(format!("{kind} {namespace}/{name}"), &e))?;
        serde_json::to_value(&object).map_err(|e| router_core::Error::internal(e.to_string()))
    }

    /// Reads `kind` `name`, plans, and writes what the plan says; returns
    /// the object's label when it wrote.
    async fn write<F>(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        mut plan: F,
    ) -> Result<Option<String>, router_core::Error>
    where
        F: FnMut(&Value) -> Result<Option<Write>, Error>,
    {
        let api = self.api(kind, namespace).await?;
        let label = format!("{kind} {namespace}/{name}");
        for attempt in 0..WRITE_ATTEMPTS {
            let object = api.get(name).await.map_err(|e| request_error(&label, &e))?;
            let value = serde_json::to_value(&object)
                .map_err(|e| router_core::Error::internal(e.to_string()))?;
            let result = match plan(&value)? {
                None => return Ok(None),
                Some(Write::Weights(patch)) => api
                    .patch(name, &PatchParams::default(), &Patch::Json::<()>(patch))
                    .await
                    .map(drop),
                Some(Write::Replace(new)) => {
                    let new: DynamicObject = serde_json::from_value(new)
                        .map_err(|e| router_core::Error::internal(e.to_string()))?;
                    api.replace(name, &PostParams::default(), &new)
                        .await
                        .map(drop)
                }
            };
            match result {
                Ok(()) => return Ok(Some(label)),
                Err(e) if matches!(status_code(&e), Some(409 | 422)) => {
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

    /// Points the DestinationRule's subsets at `target`'s ReplicaSets;
    /// returns its label when it wrote, and its `spec.host` as read.
    async fn write_destination_rule(
        &self,
        ctx: &RolloutContext,
        config: &Config,
        target: &TrafficTarget,
    ) -> Result<(Option<String>, Option<String>), router_core::Error> {
        let (Some(dr), Some(hashes)) = (&config.destination_rule, &target.hashes) else {
            return Ok((None, None));
        };
        let mut host = None;
        let wrote = self
            .write("DestinationRule", &ctx.namespace, &dr.name, |object| {
                host = object["spec"]["host"].as_str().map(str::to_owned);
                Ok(
                    plan::plan_destination_rule(object, dr, &ctx.name, hashes, &target.additional)?
                        .map(Write::Replace),
                )
            })
            .await?;
        Ok((wrote, host))
    }

    /// Where managed routes send requests: the DestinationRule's `spec.host`
    /// with subset-level splitting, else the canary Service. Read only when
    /// the target sets a route and the host is not known yet.
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
            .read("DestinationRule", &ctx.namespace, &dr.name)
            .await?;
        Ok(object["spec"]["host"]
            .as_str()
            .unwrap_or(&ctx.canary_service)
            .to_owned())
    }
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
fn parse(ctx: &RolloutContext) -> Result<Config, router_core::Error> {
    check_max_traffic_weight(ctx.max_traffic_weight, &ctx.object_name())?;
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

    /// Makes every VirtualService carry `target` (its managed routes and
    /// weights in one write each, see [`plan::plan_virtual_service`]) and
    /// the DestinationRule its ReplicaSets (see
    /// [`plan::plan_destination_rule`]; nothing without a
    /// `destinationRule`). When the canary weight is 0 the VirtualServices
    /// go first, so that traffic never reaches a ReplicaSet without pods
    /// while the subsets switch; otherwise the DestinationRule does.
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
        let config = parse(ctx)?;
        let names = managed_names(ctx);
        let r = rollout(ctx, &config, &names);
        let weights_first = target.canary_weight == Some(0);
        let mut written = Written::default();
        let mut host = None;
        if !weights_first {
            let (wrote, read_host) = self.write_destination_rule(ctx, &config, target).await?;
            written.record(wrote);
            host = read_host;
        }
        if target.canary_weight.is_some() || target.touches_routes() {
            let host = self
                .canary_host(ctx, &config, target, host)
                .await
                .map_err(|e| written.error(e))?;
            for vs_ref in &config.virtual_services {
                let (name, namespace) = vs_ref.namespaced(&ctx.namespace);
                let wrote = self
                    .write("VirtualService", &namespace, &name, |vs| {
                        plan::plan_virtual_service(vs, vs_ref, &r, target, &host)
                    })
                    .await
                    .map_err(|e| written.error(e))?;
                written.record(wrote);
            }
        }
        if weights_first {
            let (wrote, _) = self
                .write_destination_rule(ctx, &config, target)
                .await
                .map_err(|e| written.error(e))?;
            written.record(wrote);
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
        let config = parse(ctx)?;
        let Some(weight) = target.canary_weight else {
            return Ok(Verified::Verified);
        };
        let names = managed_names(ctx);
        let r = rollout(ctx, &config, &names);
        let weights = TrafficTarget::weight(weight, &target.additional);
        for vs_ref in &config.virtual_services {
            let (name, namespace) = vs_ref.namespaced(&ctx.namespace);
            let vs = self.read("VirtualService", &namespace, &name).await?;
            if plan::plan_virtual_service(&vs, vs_ref, &r, &weights, &ctx.canary_service)?.is_some()
            {
                return Ok(Verified::NotVerified);
            }
        }
        Ok(Verified::Verified)
    }
}
