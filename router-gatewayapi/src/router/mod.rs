//! The router: names the routes a rollout's traffic goes through and lets
//! the shared applier ([`router_kube::Applier`]) read, plan with
//! [`plan::plan`] and write.
//!
//! Each route is converged on its own: one read (from the applier's watch
//! cache when it is on, as it is by default), one plan, and at most one
//! write, a JSON patch whose `test` operations guard every element it
//! touches. When a guard fails (someone edited the route between our read
//! and our write) or the server reports a conflict, the applier reads the
//! route again from the server and the plan runs again, a bounded number of
//! times. A write that appends a managed rule is first sent as a dry run:
//! API servers with Gateway API CRDs older than v1.2 drop `rules[].name`,
//! by which managed rules are recognised, and such a write is refused
//! instead.

use async_trait::async_trait;
use json_patch::Patch;
use router_core::{ErrorKind, RolloutContext, TrafficRouter, TrafficTarget, Verified};
use router_kube::client::KubeRouter;
use router_kube::{Applier, ObjectRef, Progress, Write};

use crate::config::{Config, RouteRef, StickyMode};
use crate::plan::{self, Hashes, Route, Routing, Services, Sticky};
use crate::versions::ServedVersions;

mod checks;
mod objects;
use checks::{accepted, added_rule_names, has_named_rule, lost_rule_name};

/// Gateway API traffic routing as a [`TrafficRouter`].
#[derive(Clone)]
pub struct GatewayApiRouter {
    applier: Applier,
    versions: ServedVersions,
}

impl std::fmt::Debug for GatewayApiRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayApiRouter")
            .field("applier", &self.applier)
            .finish()
    }
}

impl KubeRouter for GatewayApiRouter {
    const PRODUCT: &'static str = "rollgate-gatewayapi";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn with_applier(applier: Applier) -> Self {
        Self {
            applier,
            versions: ServedVersions::default(),
        }
    }
}

#[async_trait]
impl TrafficRouter for GatewayApiRouter {
    /// Builds the client and discovers which version of each route kind
    /// the API server serves (a failed discovery is logged; it is tried
    /// again when a route request comes back 404).
    async fn init(&self) -> Result<(), router_core::Error> {
        let client = self.applier.client().await?;
        match self.versions.discover(&client).await {
            Ok(retired) => self.stop_watches(&retired),
            Err(e) => {
                tracing::warn!(error = %e, "Gateway API version discovery failed; assuming v1");
            }
        }
        Ok(())
    }

    async fn name(&self) -> Result<String, router_core::Error> {
        Ok("GatewayAPI".into())
    }

    /// Makes every route carry `target` with one read and at most one
    /// guarded patch per route, whatever the combination of aspects (see
    /// [`plan::plan`]). Routes the target cannot change (no weight given,
    /// and no managed routes on them) are not read. A route `managedRoutes`
    /// does not list is refused before anything is read. On failure the
    /// error says which routes were already written (the next call
    /// converges).
    async fn apply(
        &self,
        ctx: &RolloutContext,
        target: &TrafficTarget,
    ) -> Result<(), router_core::Error> {
        ctx.require_listed_routes(target)?;
        let config = Config::parse(&ctx.config, &ctx.object_name())?;
        let (routes, namespace) = self.routes(ctx, &config).await?;
        let managed: Vec<String> = ctx.managed_route_names().map(str::to_owned).collect();
        let rollout = format!("{}/{}", ctx.namespace, ctx.name);
        let ports = self.additional_ports(ctx, target).await?;
        let sticky = self.sticky(ctx, &config).await?;
        let mut progress = Progress::new();
        for r in routes.iter().filter(|r| affects(r, target)) {
            let routing = Routing {
                additional_ports: &ports,
                sticky,
                ..routing(ctx, &config, r, &managed, &rollout)
            };
            let (object, outcome) = self
                .found(r, &namespace, |object| {
                    let object = object.clone();
                    async move {
                        let outcome = self
                            .applier
                            .converge(&object, |current| {
                                let route = route(&object, r, current)?;
                                let planned = plan::plan(&route, &routing, target)?;
                                Ok(planned.map(|patch| write(&route, patch)))
                            })
                            .await;
                        outcome.map(|outcome| (object, outcome))
                    }
                })
                .await
                .map_err(|e| progress.error(e))?;
            progress.record(&object, outcome);
        }
        Ok(())
    }

    /// Verified when every route carries `target`'s weights and managed
    /// routes (the in-progress label is not checked) and every parent
    /// accepted the route's current generation; `NotImplemented` when the
    /// config turns verification off.
    async fn verify(
        &self,
        ctx: &RolloutContext,
        target: &TrafficTarget,
    ) -> Result<Verified, router_core::Error> {
        let config = Config::parse(&ctx.config, &ctx.object_name())?;
        if !config.verify_weight {
            return Ok(Verified::NotImplemented);
        }
        ctx.require_listed_routes(target)?;
        let (routes, namespace) = self.routes(ctx, &config).await?;
        let managed: Vec<String> = ctx.managed_route_names().map(str::to_owned).collect();
        let rollout = format!("{}/{}", ctx.namespace, ctx.name);
        let any_port: Vec<(String, i32)> = target
            .additional
            .iter()
            .filter_map(|d| Some((d.service_name.clone()?, 0)))
            .collect();
        let sticky = self.sticky(ctx, &config).await?;
        for r in &routes {
            let (object, current) = self
                .found(r, &namespace, |object| {
                    let object = object.clone();
                    async move {
                        let current = self.applier.get(&object).await?;
                        Ok((object, current))
                    }
                })
                .await?;
            let route = route(&object, r, current.as_ref())?;
            // A missing extra destination is out of place whatever its port.
            let routing = Routing {
                in_progress_label: None,
                additional_ports: &any_port,
                sticky,
                ..routing(ctx, &config, r, &managed, &rollout)
            };
            let in_place = plan::plan(&route, &routing, target)?.is_none();
            if !in_place || !accepted(route.object) {
                return Ok(Verified::NotVerified);
            }
        }
        Ok(Verified::Verified)
    }
}

/// The route as read; a route that does not exist is a not-found error
/// naming it.
fn route<'a>(
    object: &ObjectRef,
    r: &RouteRef,
    current: Option<&'a serde_json::Value>,
) -> Result<Route<'a>, router_core::Error> {
    let current = current.ok_or_else(|| {
        router_core::Error::new(
            ErrorKind::NotFound,
            format!(
                "{}: not found (the API server has no such {})",
                object.label(),
                r.kind.kind()
            ),
        )
    })?;
    Ok(Route {
        object: current,
        kind: r.kind,
    })
}

/// The write of a planned patch: guarded, and first sent as a dry run
/// when it appends managed rules to a route none of whose rules has a name
/// yet, so that an API server that drops rule names (Gateway API CRDs
/// before v1.2) refuses it with nothing written. A route that already
/// carries a named rule shows that the server keeps names: no dry run.
fn write(route: &Route<'_>, patch: Patch) -> Write {
    let added = added_rule_names(&patch);
    let write = Write::guarded_patch(patch);
    if added.is_empty() || has_named_rule(route.object) {
        return write;
    }
    let label = route.label();
    write.with_preflight(move |preview| match lost_rule_name(&added, preview) {
        None => Ok(()),
        Some(lost) => Err(router_core::Error::unsupported(format!(
            "{label}: the API server drops spec.rules[].name (rule {lost:?}); managed header \
             and mirror routes need Gateway API CRDs v1.2 or later. Nothing was changed."
        ))),
    })
}

impl GatewayApiRouter {
    /// The sticky session as the plan keeps it, when the config turns it on
    /// (a call without a weight needs it too: the header and mirror rules it
    /// lays out are copies of the rollout's rules without the sticky
    /// session): `mode` `auto` uses `sessionPersistence`
    /// when the API server's HTTPRoute has it (asked once, see
    /// [`ServedVersions::session_persistence`]), else cookie rules.
    ///
    /// # Errors
    ///
    /// `mode: sessionPersistence` on an API server whose HTTPRoute lacks
    /// the field (a configuration error naming it); the schema unreadable.
    async fn sticky<'c>(
        &self,
        ctx: &RolloutContext,
        config: &'c Config,
    ) -> Result<Option<Sticky<'c>>, router_core::Error> {
        let Some(s) = &config.sticky_session else {
            return Ok(None);
        };
        let served = || async {
            let client = self.applier.client().await?;
            self.versions.session_persistence(&client).await
        };
        let session_persistence = match s.mode {
            StickyMode::CookieRule => false,
            StickyMode::Auto => served().await?,
            StickyMode::SessionPersistence => {
                if !served().await? {
                    return Err(router_core::Error::rollout_config(
                        &ctx.object_name(),
                        "plugin config: stickySession.mode: sessionPersistence, but the API \
                         server's HTTPRoute has no spec.rules[].sessionPersistence (Gateway API's \
                         experimental channel CRDs have it); use mode cookieRule, or auto",
                    ));
                }
                true
            }
        };
        Ok(Some(Sticky {
            cookie: &s.cookie_name,
            max_age: s.max_age,
            session_persistence,
        }))
    }

    /// The port of each extra destination's Service, read from the API
    /// server as the Gateway API plugin reads it: the port named `http`,
    /// else the first. A Service that does not exist, or has no port, is an
    /// error naming it.
    async fn additional_ports(
        &self,
        ctx: &RolloutContext,
        target: &TrafficTarget,
    ) -> Result<Vec<(String, i32)>, router_core::Error> {
        let services: Vec<&str> = target
            .additional
            .iter()
            .filter_map(|d| d.service_name.as_deref())
            .collect();
        if services.is_empty() || target.canary_weight.is_none() {
            return Ok(Vec::new());
        }
        let client = self.applier.client().await?;
        let api: kube::Api<k8s_openapi::api::core::v1::Service> =
            kube::Api::namespaced(client, &ctx.namespace);
        let mut ports = Vec::new();
        for name in services {
            let object = format!("Service {}/{name}", ctx.namespace);
            let service = api
                .get_opt(name)
                .await
                .map_err(|e| router_kube::client::request_error(object.clone(), &e))?
                .ok_or_else(|| {
                    router_core::Error::new(
                        ErrorKind::NotFound,
                        format!(
                            "{object}: not found (the experiment's Service, an extra destination)"
                        ),
                    )
                })?;
            let listed = service.spec.and_then(|s| s.ports).unwrap_or_default();
            let port = listed
                .iter()
                .find(|p| p.name.as_deref() == Some("http"))
                .or_else(|| listed.first())
                .map(|p| p.port)
                .ok_or_else(|| {
                    router_core::Error::new(
                        ErrorKind::Config,
                        format!("{object}: has no port to send the experiment's traffic to"),
                    )
                })?;
            ports.push((name.to_owned(), port));
        }
        Ok(ports)
    }
}

/// Whether `target` can change route `r`: it gives a weight, or it touches
/// the managed routes and `r` carries them.
fn affects(r: &RouteRef, target: &TrafficTarget) -> bool {
    target.canary_weight.is_some()
        || (target.touches_routes() && r.use_header_routes && r.kind.routes_requests())
}

/// What the rollout's context and the config say about route `r`.
fn routing<'a>(
    ctx: &'a RolloutContext,
    config: &'a Config,
    r: &'a RouteRef,
    managed: &'a [String],
    rollout: &'a str,
) -> Routing<'a> {
    Routing {
        services: Services {
            canary: &ctx.canary_service,
            stable: &ctx.stable_service,
            namespace: &ctx.namespace,
        },
        max_weight: ctx.max_weight(),
        managed_routes: managed,
        in_progress_label: config
            .in_progress_label
            .as_ref()
            .map(|(k, v)| (k.as_str(), v.as_str())),
        rollout,
        rules: r.rules.as_deref(),
        header_routes: r.use_header_routes,
        previous_additional: &ctx.previous_additional,
        additional_ports: &[],
        sticky: None,
        hashes: Hashes {
            canary: &ctx.hashes.canary,
            stable: &ctx.hashes.stable,
        },
    }
}
