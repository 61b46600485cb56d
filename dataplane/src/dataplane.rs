//! The data plane of one test namespace: Traefik in front of its routes,
//! backends for its pods, and the load that measures what they serve.

use std::time::{Duration, Instant};

use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{Value, json};

use crate::load::Load;
use crate::runner::PodRunner;
use crate::tally::Tally;
use crate::traefik::{self, Traefik};
use crate::{Behaviours, Error};

/// The GatewayClass every test's Gateway names; each namespace's Traefik
/// serves only its own namespace's Gateways.
pub const GATEWAY_CLASS: &str = "rollgate-traefik";

/// The field manager of the objects the data plane writes.
const MANAGER: &str = "rollgate-dataplane";

/// Traefik, the pod runner and the Gateway `gateway` for one namespace;
/// everything stops when dropped (the namespace's objects go with it).
pub struct DataPlane {
    /// The gateway.
    pub traefik: Traefik,
    /// The backends of the namespace's pods.
    pub runner: PodRunner,
    /// How each version's backends answer; change it at any time.
    pub behaviours: Behaviours,
    /// The Gateway's name, for routes' `parentRefs`.
    pub gateway: String,
}

impl DataPlane {
    /// Starts Traefik and the pod runner for `namespace`, and writes the
    /// GatewayClass [`GATEWAY_CLASS`] (if absent) and a Gateway `gateway`
    /// with one HTTP listener on Traefik's `web` entry point, admitting
    /// routes of its own namespace.
    ///
    /// # Errors
    ///
    /// As [`Traefik::start`]; [`Error::Kube`] when an object is refused.
    pub async fn start(client: Client, namespace: &str) -> Result<Self, Error> {
        let config = kube::Config::infer()
            .await
            .map_err(|e| Error::Start(format!("KUBECONFIG: {e}")))?;
        let server = config.cluster_url.to_string();
        let traefik = Traefik::start(namespace, server.trim_end_matches('/')).await?;
        let behaviours = Behaviours::default();
        let runner = PodRunner::start(client.clone(), namespace, behaviours.clone())?;
        let gvk = |kind| GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", kind);
        apply(
            Api::all_with(client.clone(), &ApiResource::from_gvk(&gvk("GatewayClass"))),
            GATEWAY_CLASS,
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
                   "metadata": {"name": GATEWAY_CLASS},
                   "spec": {"controllerName": traefik::CONTROLLER_NAME}}),
        )
        .await?;
        let gateway = "gateway".to_owned();
        apply(
            Api::namespaced_with(client, namespace, &ApiResource::from_gvk(&gvk("Gateway"))),
            &gateway,
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                   "metadata": {"name": gateway},
                   "spec": {"gatewayClassName": GATEWAY_CLASS, "listeners": [{
                       "name": "web", "protocol": "HTTP", "port": traefik.web.port(),
                       "allowedRoutes": {"namespaces": {"from": "Same"}}}]}}),
        )
        .await?;
        Ok(Self {
            traefik,
            runner,
            behaviours,
            gateway,
        })
    }

    /// Waits until Traefik's dynamic configuration satisfies `ready` (it
    /// follows the API server after a throttle of 100 ms), for `patience`
    /// at most, and returns it.
    ///
    /// # Errors
    ///
    /// [`Error::Request`] naming `what` and the last configuration seen
    /// when it never does.
    pub async fn wait_for(
        &self,
        what: &str,
        patience: Duration,
        ready: impl Fn(&Value) -> bool,
    ) -> Result<Value, Error> {
        let started = Instant::now();
        let mut last = Value::Null;
        while started.elapsed() < patience {
            if let Ok(rawdata) = self.traefik.rawdata().await {
                if ready(&rawdata) {
                    return Ok(rawdata);
                }
                last = rawdata;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(Error::Request(format!(
            "Traefik's configuration did not reach {what} within {} s; last seen: {last}",
            patience.as_secs()
        )))
    }

    /// Sends `requests` requests of `GET /` through the gateway (60 s at
    /// most) and counts who answered.
    ///
    /// # Errors
    ///
    /// As [`Load::run`].
    pub async fn measure(&self, requests: usize) -> Result<Tally, Error> {
        Load::new(self.traefik.web, requests).run().await
    }
}

/// Server-side applies `object` as the data plane.
async fn apply(api: Api<DynamicObject>, name: &str, object: Value) -> Result<(), Error> {
    let what = format!("{} {name}", object["kind"].as_str().unwrap_or_default());
    api.patch(name, &PatchParams::apply(MANAGER), &Patch::Apply(&object))
        .await
        .map(drop)
        .map_err(|source| Error::Kube {
            what,
            source: Box::new(source),
        })
}
