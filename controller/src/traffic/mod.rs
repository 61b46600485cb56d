//! Traffic routing: which routers carry a Rollout's traffic, and how they
//! are run.
//!
//! A Rollout's `spec.strategy.canary.trafficRouting` names its routers, and
//! every one named is run, as in Argo Rollouts:
//!
//! * **In-process**, linked into this binary: the Gateway API router under
//!   `trafficRouting.plugins["argoproj-labs/gatewayAPI"]` or
//!   `["rollgate/gatewayapi"]`, the NGINX router under
//!   `plugins["rollgate/nginx"]` or Argo's own `trafficRouting.nginx` block,
//!   and the Istio router under `plugins["rollgate/istio"]` or Argo's
//!   `trafficRouting.istio` block (each router reads Argo's shape of that
//!   block). One router of each kind serves every Rollout, on one shared
//!   [`router_kube::Applier`] with its watch cache.
//! * **External plugins**: any other `trafficRouting.plugins` entry, loaded
//!   as Argo registers plugins ([`registry`]: the `argo-rollouts-config`
//!   ConfigMap in the controller's namespace; [`binaries`]: `file://`
//!   locations, or `http(s)://` ones downloaded into the plugin directory,
//!   `sha256` checked before the process starts) and run through
//!   [`plugin_proto::PluginRouter`] over the native gRPC protocol: one
//!   process per plugin, shared by every Rollout that names it, started
//!   when a Rollout first needs it (and restarted by the host if it dies).
//!   A registration under one of the in-process routers' names (a
//!   ConfigMap written for Argo's controller registers
//!   `argoproj-labs/gatewayAPI`, say) is not used: the linked router runs.
//!   The registry is read when a Rollout names a plugin that is not running
//!   yet; a plugin once started keeps its registration until the controller
//!   restarts (Argo reads it once, at start-up).
//!
//! [`Routers::select`] resolves a Rollout's routers before the controller
//! writes anything for it: a plugin that is not registered or cannot be
//! loaded or started is an error naming it, and the reconcile writes only
//! the condition that says so. The other routers Argo knows (ALB, SMI,
//! Ambassador, App Mesh, Traefik, APISIX) are refused earlier, by the gate,
//! with the condition `Unsupported` naming the field.
//!
//! What the controller does not do, as Argo does not: it removes nothing
//! when a Rollout is deleted (Argo's controller has no finalizer and returns
//! at once for a Rollout being deleted; objects a router created with an
//! owner reference to the Rollout, such as NGINX's canary Ingress, go with
//! it by garbage collection) or when `trafficRouting` is removed from a
//! Rollout (Argo then finds no router and stops recording weights). Managed
//! header and mirror routes are removed when the Rollout is fully promoted
//! or aborted, as the engine's desired traffic says.

pub mod binaries;
pub mod download;
pub mod headers;
pub mod registry;
#[cfg(test)]
mod test_server;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::Api;
use plugin_proto::{HostOptions, PluginRouter};
use rollout_core::{DesiredTraffic, Rollout};
use router_core::{RolloutContext, TrafficRouter, Verified};
use router_kube::client::{KubeRouter, LazyClient};
use router_kube::{Applier, RouteNamespaces};
use serde_json::Value;

/// Why a Rollout's traffic could not be routed.
#[derive(Debug, thiserror::Error)]
pub enum TrafficError {
    /// The plugin registry cannot be read.
    #[error("ConfigMap {config_map}: {field}: {message}")]
    Registry {
        /// `<namespace>/<name>` of the ConfigMap.
        config_map: String,
        /// The key or field path in it.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The plugin registry's ConfigMap cannot be read (a missing one lists no plugins).
    #[error("ConfigMap {config_map} cannot be read: {message}")]
    RegistryUnreadable {
        /// `<namespace>/<name>` of the ConfigMap.
        config_map: String,
        /// The API server's answer.
        message: String,
    },
    /// The Rollout names a plugin the registry does not list.
    #[error(
        "traffic router plugin {plugin:?} is not registered: spec.strategy.canary.trafficRouting.plugins names it, \
         and trafficRouterPlugins in ConfigMap {config_map} does not list it"
    )]
    NotRegistered {
        /// The plugin's name.
        plugin: String,
        /// `<namespace>/<name>` of the ConfigMap.
        config_map: String,
    },
    /// A registered plugin cannot be loaded or started.
    #[error("traffic router plugin {plugin:?} cannot be loaded: {message}")]
    PluginLoad {
        /// The plugin's name.
        plugin: String,
        /// Why.
        message: String,
    },
    /// A router refused or failed a call.
    #[error("traffic router {router:?}: {source}")]
    Router {
        /// The router's name under `trafficRouting` (`nginx`, `istio`, or a plugin name).
        router: String,
        /// Its error, with its kind.
        #[source]
        source: router_core::Error,
    },
}

/// A router chosen for a Rollout, with the context its calls carry.
pub struct Selected {
    /// Where the Rollout names it: `nginx`, `istio` or a plugin name.
    pub name: String,
    /// The router.
    pub router: Arc<dyn TrafficRouter>,
    /// The Rollout as the router sees it.
    pub context: RolloutContext,
}

impl std::fmt::Debug for Selected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Selected")
            .field("name", &self.name)
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

/// Where the plugin registry is read from.
#[derive(Debug, Clone)]
pub struct RegistrySource {
    /// The controller's namespace (Argo's: `POD_NAMESPACE`, else `argo-rollouts`).
    pub namespace: String,
    /// The ConfigMap's name ([`registry::CONFIG_MAP`]).
    pub name: String,
}

impl RegistrySource {
    fn label(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// Every router this controller runs, shared by all reconciles.
pub struct Routers {
    client: Client,
    registry: RegistrySource,
    gateway_api: Arc<router_gatewayapi::GatewayApiRouter>,
    nginx: Arc<router_nginx::NginxRouter>,
    istio: Arc<router_istio::IstioRouter>,
    binaries: binaries::PluginBinaries,
    plugins: tokio::sync::Mutex<HashMap<String, Arc<PluginRouter>>>,
}

impl std::fmt::Debug for Routers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routers")
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

impl Routers {
    /// The in-process routers on `client`, one [`Applier`] each (no request
    /// limit beyond the client's, the watch cache on, touching the
    /// namespaces besides a rollout's own that `route_namespaces` allows),
    /// and external plugins registered in `registry`, whose files
    /// `binaries` provides.
    pub fn new(
        client: Client,
        registry: RegistrySource,
        binaries: binaries::PluginBinaries,
        route_namespaces: &RouteNamespaces,
    ) -> Self {
        let applier = || {
            Applier::new(LazyClient::ready(client.clone()))
                .with_route_namespaces(route_namespaces.clone())
        };
        Self {
            gateway_api: Arc::new(router_gatewayapi::GatewayApiRouter::with_applier(applier())),
            nginx: Arc::new(router_nginx::NginxRouter::with_applier(applier())),
            istio: Arc::new(router_istio::IstioRouter::with_applier(applier())),
            client,
            registry,
            binaries,
            plugins: tokio::sync::Mutex::default(),
        }
    }

    /// The routers `rollout` names, in Argo's order (the `istio` and `nginx`
    /// blocks, then `plugins` by name), each with its context; empty for a
    /// Rollout without `trafficRouting`. External plugins are loaded and
    /// started here, so that one that cannot run is reported before
    /// anything is written.
    ///
    /// # Errors
    ///
    /// See [`TrafficError`]: the first router that cannot be run.
    pub async fn select(&self, rollout: &Rollout) -> Result<Vec<Selected>, TrafficError> {
        let Some(routing) = rollout.canary().and_then(|c| c.traffic_routing.as_ref()) else {
            return Ok(Vec::new());
        };
        let mut selected = Vec::new();
        // Argo's own blocks, read by the router that takes their shape.
        let native = [
            ("istio", &routing.istio, router_istio::config::PLUGIN_NAME),
            ("nginx", &routing.nginx, router_nginx::config::PLUGIN_NAME),
        ];
        for (field, block, plugin_name) in native {
            if let (Some(block), Some(router)) = (block, self.in_process(plugin_name)) {
                selected.push(Selected {
                    name: field.to_owned(),
                    context: native_context(rollout, field, plugin_name, block)?,
                    router,
                });
            }
        }
        for name in routing.plugins.keys() {
            let router = match self.in_process(name) {
                Some(router) => router,
                None => self.external(name).await?,
            };
            let context =
                RolloutContext::new(rollout, name).map_err(|source| TrafficError::Router {
                    router: name.clone(),
                    source,
                })?;
            selected.push(Selected {
                name: name.clone(),
                router,
                context,
            });
        }
        Ok(selected)
    }

    /// The in-process router configured under `plugin_name`, if it is one.
    fn in_process(&self, plugin_name: &str) -> Option<Arc<dyn TrafficRouter>> {
        if router_gatewayapi::config::PLUGIN_NAMES.contains(&plugin_name) {
            Some(self.gateway_api.clone())
        } else if plugin_name == router_nginx::config::PLUGIN_NAME {
            Some(self.nginx.clone())
        } else if plugin_name == router_istio::config::PLUGIN_NAME {
            Some(self.istio.clone())
        } else {
            None
        }
    }

    /// The external plugin `name`: already running, or read from the
    /// registry, checked and started now.
    async fn external(&self, name: &str) -> Result<Arc<PluginRouter>, TrafficError> {
        let mut plugins = self.plugins.lock().await;
        if let Some(router) = plugins.get(name).cloned() {
            // Starts the process again if it died (a no-op call otherwise).
            start(&router, name).await?;
            return Ok(router);
        }
        let registered = self.read_registry().await?;
        let item = registered.iter().find(|p| p.name == name).ok_or_else(|| {
            TrafficError::NotRegistered {
                plugin: name.to_owned(),
                config_map: self.registry.label(),
            }
        })?;
        let headers =
            headers::download_headers(&self.client, &self.registry.namespace, item).await?;
        let program = self.binaries.binary(item, &headers).await?;
        tracing::info!(plugin = name, program = %program.display(), "loading traffic router plugin");
        let router = Arc::new(PluginRouter::new(
            program,
            HostOptions {
                args: item.args.clone(),
                ..HostOptions::default()
            },
        ));
        // Kept only once it starts: a plugin that does not is looked up in
        // the registry again next time (its registration may be fixed).
        start(&router, name).await?;
        plugins.insert(name.to_owned(), router.clone());
        Ok(router)
    }

    async fn read_registry(&self) -> Result<Vec<registry::PluginItem>, TrafficError> {
        let label = self.registry.label();
        let api = Api::<ConfigMap>::namespaced(self.client.clone(), &self.registry.namespace);
        let config_map = api.get_opt(&self.registry.name).await.map_err(|e| {
            TrafficError::RegistryUnreadable {
                config_map: label.clone(),
                message: e.to_string(),
            }
        })?;
        let text = config_map
            .as_ref()
            .and_then(|c| c.data.as_ref())
            .and_then(|d| d.get(registry::TRAFFIC_ROUTER_PLUGINS_KEY))
            .map(String::as_str)
            .unwrap_or_default();
        registry::parse(text, &label)
    }

    /// Stops every plugin process.
    pub async fn shutdown(&self) {
        let plugins: Vec<_> = self.plugins.lock().await.drain().collect();
        for (_, plugin) in plugins {
            plugin.shutdown().await;
        }
    }
}

/// Starts the plugin `name` if it is not running (its handshake and `Init`).
async fn start(router: &PluginRouter, name: &str) -> Result<(), TrafficError> {
    router.init().await.map_err(|e| TrafficError::PluginLoad {
        plugin: name.to_owned(),
        message: e.message().to_owned(),
    })
}

/// The context for Argo's own `trafficRouting.<field>` block, read by the
/// router that takes that shape under `plugin_name`.
fn native_context(
    rollout: &Rollout,
    field: &str,
    plugin_name: &str,
    block: &Value,
) -> Result<RolloutContext, TrafficError> {
    let mut context =
        RolloutContext::new(&with_plugin_entry(rollout, plugin_name, block), plugin_name).map_err(
            |source| TrafficError::Router {
                router: field.to_owned(),
                source,
            },
        )?;
    context.plugin_name = plugin_name.to_owned();
    Ok(context)
}

fn with_plugin_entry(rollout: &Rollout, plugin_name: &str, block: &Value) -> Rollout {
    let mut rollout = rollout.clone();
    if let Some(routing) = rollout
        .spec
        .strategy
        .canary
        .as_mut()
        .and_then(|c| c.traffic_routing.as_mut())
    {
        routing
            .plugins
            .insert(plugin_name.to_owned(), block.clone());
    }
    rollout
}

/// Applies `desired` through every router in turn ([`router_core::apply_traffic`])
/// and combines their answers to "is the weight in place?": `Some(false)`
/// when any router has not verified it, `Some(true)` when at least one did
/// and none said no, `None` when none can tell.
///
/// # Errors
///
/// The first router's error; the routers after it are not called.
pub async fn apply(
    selected: &[Selected],
    desired: &DesiredTraffic,
) -> Result<Option<bool>, TrafficError> {
    let mut answer = None;
    for s in selected {
        let verified = router_core::apply_traffic(s.router.as_ref(), &s.context, desired)
            .await
            .map_err(|source| TrafficError::Router {
                router: s.name.clone(),
                source,
            })?;
        answer = match (answer, verified) {
            (Some(false), _) | (_, Verified::NotVerified) => Some(false),
            (_, Verified::Verified) => Some(true),
            (other, Verified::NotImplemented) => other,
        };
    }
    Ok(answer)
}

/// How long a Rollout whose traffic failed `failures` times in a row waits
/// before the next try: 1 s doubled each time, at most 5 minutes.
///
/// ```
/// use std::time::Duration;
/// use rollgate_controller::traffic::backoff;
/// assert_eq!(backoff(1), Duration::from_secs(1));
/// assert_eq!(backoff(4), Duration::from_secs(8));
/// assert_eq!(backoff(40), Duration::from_secs(300));
/// ```
pub fn backoff(failures: u32) -> Duration {
    let seconds = 1u64
        .checked_shl(failures.saturating_sub(1))
        .unwrap_or(u64::MAX);
    Duration::from_secs(seconds.min(300))
}

#[cfg(test)]
mod tests {
    use super::*;
    use router_core::test_util::JournalRouter;
    use serde_json::json;

    fn rollout(routing: Value) -> Rollout {
        Rollout::from_value(
            json!({"metadata": {"name": "web", "namespace": "shop"},
                   "spec": {"strategy": {"canary": {"canaryService": "web-canary",
                       "stableService": "web-stable", "trafficRouting": routing,
                       "steps": [{"setWeight": 20}]}}}}),
            "web.yaml",
        )
        .unwrap()
    }

    fn desired(weight: i32) -> DesiredTraffic {
        DesiredTraffic {
            max_weight: 100,
            canary: rollout_core::status::WeightDestination {
                weight,
                service_name: Some("web-canary".into()),
                ..Default::default()
            },
            stable: rollout_core::status::WeightDestination {
                weight: 100 - weight,
                service_name: Some("web-stable".into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn journal(name: &str, config: Value) -> (Arc<JournalRouter>, Selected) {
        let router = Arc::new(JournalRouter::new());
        let routing = json!({"plugins": {name: config}});
        let selected = Selected {
            name: name.into(),
            router: router.clone(),
            context: RolloutContext::new(&rollout(routing), name).unwrap(),
        };
        (router, selected)
    }

    #[tokio::test]
    async fn every_router_applies_the_desired_traffic_and_answers() {
        let (first, a) = journal("acme/a", json!({}));
        let (second, b) = journal("acme/b", json!({"verify": "NotImplemented"}));
        assert_eq!(apply(&[a, b], &desired(20)).await.unwrap(), Some(true));
        for router in [first, second] {
            let calls: Vec<_> = router.entries().iter().map(|e| e["call"].clone()).collect();
            assert_eq!(calls, [json!("Apply"), json!("Verify")]);
            assert_eq!(router.entries()[0]["target"]["canaryWeight"], json!(20));
        }
        let (_, a) = journal("acme/a", json!({"verify": "NotVerified"}));
        let (_, b) = journal("acme/b", json!({}));
        assert_eq!(apply(&[a, b], &desired(20)).await.unwrap(), Some(false));
        let (_, a) = journal("acme/a", json!({"verify": "NotImplemented"}));
        assert_eq!(apply(&[a], &desired(20)).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_failing_router_stops_the_ones_after_it() {
        let (_, a) = journal("acme/a", json!({"fail": "no route"}));
        let (second, b) = journal("acme/b", json!({}));
        let err = apply(&[a, b], &desired(20)).await.unwrap_err();
        assert!(
            err.to_string().starts_with("traffic router \"acme/a\": "),
            "{err}"
        );
        assert!(err.to_string().contains("no route"), "{err}");
        assert!(second.entries().is_empty());
    }

    #[test]
    fn argos_own_blocks_are_read_as_the_router_s_config() {
        let block = json!({"stableIngress": "web"});
        let rollout = rollout(json!({"nginx": block}));
        let context =
            native_context(&rollout, "nginx", router_nginx::config::PLUGIN_NAME, &block).unwrap();
        assert_eq!(context.config, block);
        assert_eq!(context.plugin_name, "rollgate/nginx");
        assert_eq!(context.canary_service, "web-canary");
        assert_eq!(context.namespace, "shop");
    }
}
