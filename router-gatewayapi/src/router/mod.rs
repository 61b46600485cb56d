//! The router: the thin I/O layer around [`crate::plan`].
//!
//! Each call reads the rollout's routes, plans, and writes only when the
//! plan has something to change, as a JSON patch whose `test` operations
//! guard every element it touches. When a guard fails (someone edited the
//! route between our read and our write) or the server reports a conflict,
//! the route is read again and planned again, a bounded number of times.
//! A write that appends a managed rule is first sent as a dry run: API
//! servers with Gateway API CRDs older than v1.2 drop `rules[].name`, by
//! which managed rules are recognised, and such a write is refused instead.

use std::time::Duration;

use async_trait::async_trait;
use json_patch::Patch;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch as KubePatch, PatchParams};
use rollout_core::spec::{SetHeaderRoute, SetMirrorRoute};
use rollout_core::status::WeightDestination;
use router_core::RouteStep;
use router_core::aspects::{Aspects, apply_by_aspects};
use router_core::{RolloutContext, TrafficRouter, TrafficTarget, Verified};
use router_kube::Applier;
use router_kube::client::{KubeRouter, request_error, status_code};

use crate::config::{Config, RouteKind, RouteRef};
use crate::error::Error;
use crate::plan::{self, Route, Services};
use crate::versions::ServedVersions;

mod checks;
use checks::{accepted, added_rule_names, label_selector, lost_rule_name};

/// How often a write is retried after a failed guard or a conflict.
pub const WRITE_ATTEMPTS: u32 = 5;

/// How fast the router may send requests to the API server: a steady rate
/// with bursts, like client-go's `QPS` and `Burst`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestLimit {
    /// Requests per second, sustained.
    pub qps: f64,
    /// Requests that may be sent at once after an idle period.
    pub burst: u32,
}

type Limiter = governor::DefaultDirectRateLimiter;

/// Watch caches of routes, one per kind, version and namespace, started on
/// first use.
type Caches = std::sync::Arc<
    tokio::sync::Mutex<
        std::collections::HashMap<
            (RouteKind, String, String),
            kube::runtime::reflector::Store<DynamicObject>,
        >,
    >,
>;

/// How long the first read waits for a new watch cache to fill.
const CACHE_FILL_TIMEOUT: Duration = Duration::from_secs(5);

/// Gateway API traffic routing as a [`TrafficRouter`].
#[derive(Clone)]
pub struct GatewayApiRouter {
    applier: Applier,
    limiter: Option<std::sync::Arc<Limiter>>,
    cache: Option<Caches>,
    versions: ServedVersions,
}

impl std::fmt::Debug for GatewayApiRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayApiRouter")
            .field("connected", &self.applier.is_connected())
            .finish()
    }
}

impl KubeRouter for GatewayApiRouter {
    const PRODUCT: &'static str = "rollgate-gatewayapi";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn with_applier(applier: Applier) -> Self {
        Self {
            applier,
            limiter: None,
            cache: None,
            versions: ServedVersions::default(),
        }
    }
}

impl GatewayApiRouter {
    /// The same router, waiting before each API request so as to stay within
    /// `limit` (no limit by default).
    ///
    /// # Errors
    ///
    /// A rate that is not positive and finite, or a zero burst.
    ///
    /// ```
    /// use router_gatewayapi::{GatewayApiRouter, KubeRouter, RequestLimit};
    /// let router = GatewayApiRouter::from_environment()
    ///     .with_request_limit(RequestLimit { qps: 20.0, burst: 40 })
    ///     .unwrap();
    /// assert!(GatewayApiRouter::from_environment()
    ///     .with_request_limit(RequestLimit { qps: 0.0, burst: 1 })
    ///     .is_err());
    /// # drop(router);
    /// ```
    pub fn with_request_limit(mut self, limit: RequestLimit) -> Result<Self, Error> {
        let invalid =
            || Error::InvalidRequestLimit(format!("qps {} burst {}", limit.qps, limit.burst));
        if !(limit.qps.is_finite() && limit.qps > 0.0) {
            return Err(invalid());
        }
        let burst = std::num::NonZeroU32::new(limit.burst).ok_or_else(invalid)?;
        let period = Duration::from_secs_f64(1.0 / limit.qps);
        let quota = governor::Quota::with_period(period)
            .ok_or_else(invalid)?
            .allow_burst(burst);
        self.limiter = Some(std::sync::Arc::new(governor::RateLimiter::direct(quota)));
        Ok(self)
    }

    /// The same router, reading routes from watch caches (a kube-runtime
    /// reflector per route kind and namespace, started on first use) instead
    /// of one GET per route per call: an unchanged state then costs no
    /// request at all. Writes, and reads after a failed write guard, still go
    /// to the API server; selector discovery still lists. Needs `list` and
    /// `watch` on the route kinds.
    pub fn with_watch_cache(mut self) -> Self {
        self.cache = Some(Caches::default());
        self
    }

    /// The route from the watch cache, if caching is on and the cache has it.
    async fn cached(
        &self,
        api: &Api<DynamicObject>,
        resource: &ApiResource,
        kind: RouteKind,
        namespace: &str,
        name: &str,
    ) -> Option<DynamicObject> {
        use futures::StreamExt as _;
        use kube::runtime::{WatchStreamExt as _, reflector, watcher};
        let caches = self.cache.as_ref()?;
        let store = {
            let mut caches = caches.lock().await;
            caches
                .entry((kind, resource.version.clone(), namespace.to_owned()))
                .or_insert_with(|| {
                    let writer = reflector::store::Writer::new(resource.clone());
                    let store = writer.as_reader();
                    let events = watcher(api.clone(), watcher::Config::default()).default_backoff();
                    tokio::spawn(reflector(writer, events).for_each(|_| async {}));
                    store
                })
                .clone()
        };
        if !matches!(
            tokio::time::timeout(CACHE_FILL_TIMEOUT, store.wait_until_ready()).await,
            Ok(Ok(()))
        ) {
            tracing::warn!(
                kind = kind.kind(),
                namespace,
                "the watch cache is not filled (can this service account list and watch routes?); reading directly"
            );
            return None;
        }
        let key = reflector::ObjectRef::new_with(name, resource.clone()).within(namespace);
        store.get(&key).map(|o| (*o).clone())
    }

    /// A route, from the watch cache when `cache_ok` and the cache has it,
    /// else from the API server; with the API (version) it was read through.
    /// A 404 makes the router discover the served versions again and, when
    /// the kind's version changed, read once more.
    async fn read(
        &self,
        client: &kube::Client,
        kind: RouteKind,
        namespace: &str,
        name: &str,
        cache_ok: bool,
    ) -> Result<(DynamicObject, Api<DynamicObject>), router_core::Error> {
        let label = || format!("{} {namespace}/{name}", kind.kind());
        let (mut api, resource) = self.api(client, kind, namespace)?;
        if cache_ok && let Some(object) = self.cached(&api, &resource, kind, namespace, name).await
        {
            return Ok((object, api));
        }
        self.throttle().await;
        let mut result = api.get(name).await;
        if let Err(e) = &result
            && status_code(e) == Some(404)
            && self.versions.changed_after_not_found(client, kind).await?
        {
            api = self.api(client, kind, namespace)?.0;
            self.throttle().await;
            result = api.get(name).await;
        }
        match result {
            Ok(object) => Ok((object, api)),
            Err(e) => Err(request_error(label(), &e)),
        }
    }

    /// Waits until the request limit allows one more request.
    async fn throttle(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
    }

    async fn client(&self) -> Result<kube::Client, router_core::Error> {
        self.applier.client().await
    }

    /// The API for `kind` in `namespace` at the served version.
    fn api(
        &self,
        client: &kube::Client,
        kind: RouteKind,
        namespace: &str,
    ) -> Result<(Api<DynamicObject>, ApiResource), router_core::Error> {
        let resource = self.versions.resource(kind)?;
        let api = Api::namespaced_with(client.clone(), namespace, &resource);
        Ok((api, resource))
    }

    /// The config and the routes it names (plus those its selectors find).
    async fn routes(
        &self,
        ctx: &RolloutContext,
    ) -> Result<(Vec<RouteRef>, String, kube::Client), router_core::Error> {
        let config = Config::parse(&ctx.config, &ctx.object_name())?;
        let namespace = config
            .namespace
            .clone()
            .unwrap_or_else(|| ctx.namespace.clone());
        let client = self.client().await?;
        let mut routes = config.routes.clone();
        for (kind, selector) in &config.selectors {
            let params = ListParams::default().labels(&label_selector(selector));
            self.throttle().await;
            let mut found = self.api(&client, *kind, &namespace)?.0.list(&params).await;
            if let Err(e) = &found
                && status_code(e) == Some(404)
                && self
                    .versions
                    .changed_after_not_found(&client, *kind)
                    .await?
            {
                self.throttle().await;
                found = self.api(&client, *kind, &namespace)?.0.list(&params).await;
            }
            let found = found.map_err(|e| {
                request_error(format!("listing {}s in {namespace}", kind.kind()), &e)
            })?;
            for object in found {
                let name = object.metadata.name.unwrap_or_default();
                if !routes.iter().any(|r| r.kind == *kind && r.name == name) {
                    // As in the plugin this replaces: discovered routes carry no header routes.
                    routes.push(RouteRef {
                        kind: *kind,
                        name,
                        use_header_routes: false,
                    });
                }
            }
        }
        Ok((routes, namespace, client))
    }

    /// Plans and writes every route; on failure the error says which routes
    /// were already written (the next call converges).
    async fn each_route<F>(
        &self,
        ctx: &RolloutContext,
        header_routes_only: bool,
        plan: F,
    ) -> Result<(), router_core::Error>
    where
        F: Fn(&Route<'_>, &Services<'_>) -> Result<Option<Patch>, Error> + Send + Sync,
    {
        let (routes, namespace, client) = self.routes(ctx).await?;
        let managed: Vec<String> = ctx.managed_route_names().map(str::to_owned).collect();
        let services = Services {
            canary: &ctx.canary_service,
            stable: &ctx.stable_service,
            namespace: &ctx.namespace,
        };
        let mut written: Vec<String> = Vec::new();
        for r in routes
            .iter()
            .filter(|r| r.use_header_routes || !header_routes_only)
        {
            let label = format!("{} {namespace}/{}", r.kind.kind(), r.name);
            match write(
                self,
                &client,
                &namespace,
                &r.name,
                r.kind,
                &managed,
                |route| plan(route, &services),
            )
            .await
            {
                Ok(true) => written.push(label),
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
}

/// Reads, plans and (if needed) patches one route; `Ok(true)` when it wrote.
async fn write<F>(
    router: &GatewayApiRouter,
    client: &kube::Client,
    namespace: &str,
    name: &str,
    kind: RouteKind,
    managed: &[String],
    plan: F,
) -> Result<bool, router_core::Error>
where
    F: Fn(&Route<'_>) -> Result<Option<Patch>, Error>,
{
    for attempt in 0..WRITE_ATTEMPTS {
        // After a failed guard the cache is known to be behind: read the server.
        let (object, api) = router
            .read(client, kind, namespace, name, attempt == 0)
            .await?;
        let value = serde_json::to_value(&object)
            .map_err(|e| router_core::Error::internal(e.to_string()))?;
        let route = Route {
            object: &value,
            kind,
            managed,
        };
        let Some(patch) = plan(&route)? else {
            return Ok(false);
        };
        let sent = async {
            if !added_rule_names(&patch).is_empty() {
                router.throttle().await;
                let preview = api
                    .patch(name, &DRY_RUN, &KubePatch::Json::<()>(patch.clone()))
                    .await?;
                if let Some(lost) = lost_rule_name(&patch, &preview.data) {
                    return Ok(Err(lost));
                }
            }
            router.throttle().await;
            api.patch(name, &PatchParams::default(), &KubePatch::Json::<()>(patch))
                .await
                .map(|_| Ok(()))
        }
        .await;
        match sent {
            // Rules are recognised by name only. Gateway API CRDs before v1.2
            // have no `rules[].name` and the API server silently drops it:
            // the dry run shows it, and nothing is written.
            Ok(Err(lost)) => {
                return Err(router_core::Error::unsupported(format!(
                    "{}: the API server drops spec.rules[].name (rule {lost:?}); managed \
                     header and mirror routes need Gateway API CRDs v1.2 or later. \
                     Nothing was changed.",
                    route.label()
                )));
            }
            Ok(Ok(())) => return Ok(true),
            // 422: a `test` guard failed; 409: a conflicting write. Read again.
            Err(e) if matches!(status_code(&e), Some(422 | 409)) => {
                tracing::debug!(route = %route.label(), attempt, "route changed under us; planning again");
                tokio::time::sleep(Duration::from_millis(10 << attempt)).await;
            }
            Err(e) => return Err(request_error(route.label(), &e)),
        }
    }
    Err(router_core::Error::conflict(format!(
        "{} {name}: still changing after {WRITE_ATTEMPTS} attempts",
        kind.kind()
    )))
}

/// A server-side dry run: validated and defaulted, never stored.
const DRY_RUN: PatchParams = PatchParams {
    dry_run: true,
    force: false,
    field_manager: None,
    field_validation: None,
};

#[async_trait]
impl TrafficRouter for GatewayApiRouter {
    /// Builds the client and discovers which version of each route kind
    /// the API server serves (a failed discovery is logged; it is tried
    /// again when a route request comes back 404).
    async fn init(&self) -> Result<(), router_core::Error> {
        let client = self.client().await?;
        if let Err(e) = self.versions.discover(&client).await {
            tracing::warn!(error = %e, "Gateway API version discovery failed; assuming v1");
        }
        Ok(())
    }

    async fn name(&self) -> Result<String, router_core::Error> {
        Ok("GatewayAPI".into())
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
impl Aspects for GatewayApiRouter {
    /// Also sets the in-progress label while the canary has traffic (and
    /// removes it at weight 0), unless the config disables it.
    async fn set_weight(
        &self,
        ctx: &RolloutContext,
        weight: i32,
        additional: &[WeightDestination],
    ) -> Result<(), router_core::Error> {
        let max = ctx.max_weight();
        let config = Config::parse(&ctx.config, &ctx.object_name())?;
        let label = config.in_progress_label;
        self.each_route(ctx, false, |route, services| {
            let weights = plan::plan_weights(route, services, weight, max, additional)?;
            let label = match &label {
                Some((k, v)) => plan::plan_in_progress_label(route, (k, v), weight != 0)?,
                None => None,
            };
            Ok(plan::combine(weights, label))
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
        self.each_route(ctx, true, |route, services| {
            plan::plan_header_route(route, services, step)
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
        self.each_route(ctx, true, |route, services| {
            plan::plan_mirror_route(route, services, step)
        })
        .await
    }

    /// Routes point at Services, whose selectors the rollout controller
    /// moves between ReplicaSets: nothing to do here.
    async fn update_hash(
        &self,
        _: &RolloutContext,
        _: &str,
        _: &str,
        _: &[WeightDestination],
    ) -> Result<(), router_core::Error> {
        Ok(())
    }

    async fn remove_managed_routes(&self, ctx: &RolloutContext) -> Result<(), router_core::Error> {
        self.each_route(ctx, true, |route, _| plan::plan_remove_managed(route))
            .await
    }
}

impl GatewayApiRouter {
    async fn verify_weight_now(
        &self,
        ctx: &RolloutContext,
        weight: i32,
        additional: &[WeightDestination],
    ) -> Result<Verified, router_core::Error> {
        let config = Config::parse(&ctx.config, &ctx.object_name())?;
        if !config.verify_weight {
            return Ok(Verified::NotImplemented);
        }
        let (routes, namespace, client) = self.routes(ctx).await?;
        let managed: Vec<String> = ctx.managed_route_names().map(str::to_owned).collect();
        let services = Services {
            canary: &ctx.canary_service,
            stable: &ctx.stable_service,
            namespace: &ctx.namespace,
        };
        for r in &routes {
            let (object, _) = self
                .read(&client, r.kind, &namespace, &r.name, true)
                .await?;
            let value = serde_json::to_value(&object)
                .map_err(|e| router_core::Error::internal(e.to_string()))?;
            let route = Route {
                object: &value,
                kind: r.kind,
                managed: &managed,
            };
            let in_place =
                plan::plan_weights(&route, &services, weight, ctx.max_weight(), additional)?
                    .is_none();
            if !in_place || !accepted(&value) {
                return Ok(Verified::NotVerified);
            }
        }
        Ok(Verified::Verified)
    }
}
