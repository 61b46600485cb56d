//! Which objects the router works on: the routes the config names and
//! those its selectors find, each at the version the API server serves.

use std::future::Future;

use router_core::{ErrorKind, RolloutContext};
use router_kube::ObjectRef;

use super::GatewayApiRouter;
use crate::config::{Config, RouteKind, RouteRef};

impl GatewayApiRouter {
    /// The routes of `config` in its namespace (the rollout's when unset):
    /// those it names, then those its selectors find (which carry no header
    /// routes, as in the plugin this router replaces), each once.
    ///
    /// # Errors
    ///
    /// A config error, before anything is read, when `namespace` names one
    /// the applier's [`RouteNamespaces`](router_kube::RouteNamespaces) does
    /// not allow; the API server's answer to a list.
    pub(super) async fn routes(
        &self,
        ctx: &RolloutContext,
        config: &Config,
    ) -> Result<(Vec<RouteRef>, String), router_core::Error> {
        let namespace = config
            .namespace
            .clone()
            .unwrap_or_else(|| ctx.namespace.clone());
        self.applier
            .route_namespaces()
            .check(ctx, "namespace", &namespace)?;
        let mut routes = config.routes.clone();
        for (kind, selector) in &config.selectors {
            let found = self
                .served(*kind, |resource| {
                    let namespace = namespace.as_str();
                    async move { self.applier.list(&resource, namespace, selector).await }
                })
                .await?;
            for object in found {
                let name = object["metadata"]["name"].as_str().unwrap_or_default();
                if !routes.iter().any(|r| r.kind == *kind && r.name == name) {
                    routes.push(RouteRef {
                        kind: *kind,
                        name: name.to_owned(),
                        use_header_routes: false,
                        rules: None,
                    });
                }
            }
        }
        Ok((routes, namespace))
    }

    /// `op` on route `r` in `namespace`, named at the version the API
    /// server serves for its kind (see [`GatewayApiRouter::served`]).
    pub(super) async fn found<T, F, Fut>(
        &self,
        r: &RouteRef,
        namespace: &str,
        mut op: F,
    ) -> Result<T, router_core::Error>
    where
        F: FnMut(&ObjectRef) -> Fut,
        Fut: Future<Output = Result<T, router_core::Error>>,
    {
        self.served(r.kind, |resource| {
            op(&ObjectRef::new(&resource, namespace, &r.name))
        })
        .await
    }

    /// `op` with the resource of `kind` at its served version; when it
    /// fails as not found, the versions are discovered again, the watches
    /// of versions no longer used are stopped and, if the kind's version
    /// changed, `op` runs once more at the new one.
    async fn served<T, F, Fut>(&self, kind: RouteKind, mut op: F) -> Result<T, router_core::Error>
    where
        F: FnMut(kube::api::ApiResource) -> Fut,
        Fut: Future<Output = Result<T, router_core::Error>>,
    {
        match op(self.versions.resource(kind)?).await {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let client = self.applier.client().await?;
                let found = self
                    .versions
                    .rediscover_after_not_found(&client, kind)
                    .await?;
                self.stop_watches(&found.retired);
                if found.changed {
                    op(self.versions.resource(kind)?).await
                } else {
                    Err(e)
                }
            }
            other => other,
        }
    }

    /// Stops the applier's watches of route resources no longer used.
    pub(super) fn stop_watches(&self, retired: &[kube::api::ApiResource]) {
        for resource in retired {
            let stopped = self.applier.stop_watches(resource);
            if stopped > 0 {
                tracing::info!(resource = %resource.api_version, kind = %resource.kind, watches = stopped,
                    "stopped the watches of a version no longer used");
            }
        }
    }
}
