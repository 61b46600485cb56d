//! The pod runner: a real HTTP [`Backend`] for every running pod of a
//! namespace, on the pod's own loopback address (kwok gives pods addresses
//! in 127.1.0.0/16 on the data-plane tier), stopped when the pod goes; and
//! the EndpointSlices through which a gateway reaches those backends.
//!
//! The API server refuses loopback addresses in an EndpointSlice of
//! address type IPv4 (`may not be in the loopback range`), so the
//! Kubernetes EndpointSlice controller cannot publish these pods. The
//! runner publishes them itself, one slice per Service with a selector,
//! named `<service>-loopback`, of address type `FQDN`: a dotted-quad
//! address is also a valid domain name there, and Traefik dials each
//! address as written, so it reaches the pod at its own address and port,
//! never through a Service's cluster IP.
//!
//! Every backend of a runner counts into one [`Metrics`], served on
//! [`PodRunner::metrics_address`]: the one target a Prometheus scrapes for
//! the whole namespace, whose series outlive the pods that served them.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::{Value, json};

use crate::Error;
use crate::backend::{Backend, Behaviours, Identity, Metrics, version_of};

/// The `managed-by` label of the runner's EndpointSlices and its field manager.
const MANAGER: &str = "rollgate-dataplane";

/// How often the runner looks at the namespace.
const PERIOD: Duration = Duration::from_millis(100);

/// The port a backend listens on when its pod's container names none.
const DEFAULT_PORT: u16 = 8080;

/// Backends for the running pods of one namespace; stops them all when
/// dropped.
pub struct PodRunner {
    task: tokio::task::JoinHandle<()>,
    metrics_task: tokio::task::JoinHandle<()>,
    metrics_address: SocketAddr,
    problems: Arc<Mutex<Vec<String>>>,
}

impl PodRunner {
    /// Starts serving namespace `namespace`: each running pod with an
    /// address gets a backend on `<pod IP>:<first container port>` (8080
    /// when none is declared), behaving as `behaviours` says for its
    /// version; each Service with a selector gets an EndpointSlice
    /// `<service>-loopback` listing the ready pods it selects whose backend
    /// is up. The backends' metrics are served on a free port of
    /// 127.0.0.1 ([`PodRunner::metrics_address`]).
    ///
    /// # Errors
    ///
    /// [`Error::Listen`] when no loopback port can be bound for the
    /// metrics.
    pub fn start(client: Client, namespace: &str, behaviours: Behaviours) -> Result<Self, Error> {
        let metrics = Metrics::default();
        let (metrics_address, metrics_task) = serve_metrics(metrics.clone())?;
        let problems = Arc::new(Mutex::new(Vec::new()));
        let world = World {
            pods: Api::namespaced(client.clone(), namespace),
            services: Api::namespaced(client.clone(), namespace),
            slices: Api::namespaced(client, namespace),
            behaviours,
            metrics,
            backends: HashMap::new(),
            published: HashMap::new(),
            problems: Arc::clone(&problems),
        };
        Ok(Self {
            task: tokio::spawn(world.run()),
            metrics_task,
            metrics_address,
            problems,
        })
    }

    /// Where every backend's metrics are served together (`/metrics`),
    /// for Prometheus to scrape.
    pub fn metrics_address(&self) -> SocketAddr {
        self.metrics_address
    }

    /// What went wrong so far (a pod whose backend could not start, a
    /// slice that could not be written), one line each, deduplicated.
    pub fn problems(&self) -> Vec<String> {
        self.problems
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl Drop for PodRunner {
    fn drop(&mut self) {
        self.task.abort();
        self.metrics_task.abort();
    }
}

/// Serves `metrics` on `GET /metrics` at a free port of 127.0.0.1.
fn serve_metrics(metrics: Metrics) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), Error> {
    let wanted = SocketAddr::from(([127, 0, 0, 1], 0));
    let listen = |source| Error::Listen {
        address: wanted,
        source,
    };
    let listener = std::net::TcpListener::bind(wanted).map_err(listen)?;
    listener.set_nonblocking(true).map_err(listen)?;
    let address = listener.local_addr().map_err(listen)?;
    let listener = tokio::net::TcpListener::from_std(listener).map_err(listen)?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = metrics.clone();
            async move { metrics.encode() }
        }),
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((address, task))
}

/// A running pod's backend, with what it was started for.
struct Running {
    uid: String,
    address: SocketAddr,
    _backend: Backend,
}

struct World {
    pods: Api<Pod>,
    services: Api<Service>,
    slices: Api<EndpointSlice>,
    behaviours: Behaviours,
    metrics: Metrics,
    /// Pod name to its backend.
    backends: HashMap<String, Running>,
    /// Service name to the slice last written for it.
    published: HashMap<String, Value>,
    problems: Arc<Mutex<Vec<String>>>,
}

impl World {
    async fn run(mut self) {
        loop {
            if let Err(e) = self.step().await {
                self.problem(format!("listing the namespace: {e}"));
            }
            tokio::time::sleep(PERIOD).await;
        }
    }

    fn problem(&self, line: String) {
        let mut problems = self
            .problems
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !problems.contains(&line) {
            problems.push(line);
        }
    }

    async fn step(&mut self) -> Result<(), kube::Error> {
        let pods = self.pods.list(&ListParams::default()).await?.items;
        let mut serving = BTreeMap::new();
        for pod in &pods {
            if let Some((name, uid, address)) = running_address(pod) {
                serving.insert(name, (uid, address, pod));
            }
        }
        // Stop the backends of pods that went (or were replaced).
        self.backends.retain(|name, running| {
            serving
                .get(name)
                .is_some_and(|(uid, address, _)| *uid == running.uid && *address == running.address)
        });
        for (name, (uid, address, pod)) in &serving {
            if self.backends.contains_key(name) {
                continue;
            }
            if !address.ip().is_loopback() {
                self.problem(format!(
                    "pod {name}: address {address} is outside 127.0.0.0/8; no backend started"
                ));
                continue;
            }
            let identity = identity(pod);
            match Backend::start_counted(
                *address,
                identity,
                self.behaviours.clone(),
                self.metrics.clone(),
            )
            .await
            {
                Ok(backend) => {
                    self.backends.insert(
                        name.clone(),
                        Running {
                            uid: uid.clone(),
                            address: *address,
                            _backend: backend,
                        },
                    );
                }
                Err(e) => self.problem(format!("pod {name}: {e}")),
            }
        }
        let services = self.services.list(&ListParams::default()).await?.items;
        for service in services {
            self.publish(&service, &pods).await;
        }
        Ok(())
    }

    /// Writes `service`'s loopback EndpointSlice when what it should list
    /// changed.
    async fn publish(&mut self, service: &Service, pods: &[Pod]) {
        let Some(name) = service.metadata.name.clone() else {
            return;
        };
        let Some(selector) = service.spec.as_ref().and_then(|s| s.selector.clone()) else {
            return;
        };
        let ports: Vec<Value> = service
            .spec
            .as_ref()
            .and_then(|s| s.ports.clone())
            .unwrap_or_default()
            .iter()
            .map(|p| {
                let target = match &p.target_port {
                    Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n)) => *n,
                    _ => p.port,
                };
                json!({"name": p.name.clone().unwrap_or_default(), "port": target, "protocol": "TCP"})
            })
            .collect();
        let endpoints: Vec<Value> = pods
            .iter()
            .filter(|pod| {
                let labels = pod.metadata.labels.clone().unwrap_or_default();
                selector.iter().all(|(k, v)| labels.get(k) == Some(v))
            })
            .filter(|pod| ready(pod))
            .filter_map(|pod| {
                let pod_name = pod.metadata.name.as_deref()?;
                let running = self.backends.get(pod_name)?;
                Some(json!({
                    "addresses": [running.address.ip().to_string()],
                    "conditions": {"ready": true, "serving": true, "terminating": false},
                    "targetRef": {"kind": "Pod", "name": pod_name, "uid": running.uid}
                }))
            })
            .collect();
        let slice = json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {
                "name": format!("{name}-loopback"),
                "labels": {
                    "kubernetes.io/service-name": name,
                    "endpointslice.kubernetes.io/managed-by": MANAGER
                }
            },
            "addressType": "FQDN",
            "ports": ports,
            "endpoints": endpoints
        });
        if self.published.get(&name) == Some(&slice) {
            return;
        }
        let slice_name = format!("{name}-loopback");
        match self
            .slices
            .patch(
                &slice_name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&slice),
            )
            .await
        {
            Ok(_) => {
                self.published.insert(name, slice);
            }
            Err(e) => self.problem(format!("EndpointSlice {slice_name}: {e}")),
        }
    }
}

/// (name, uid, address) of a pod that is running with an address.
fn running_address(pod: &Pod) -> Option<(String, String, SocketAddr)> {
    let status = pod.status.as_ref()?;
    if status.phase.as_deref() != Some("Running") || pod.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let ip: IpAddr = status.pod_ip.as_deref()?.parse().ok()?;
    let port = pod
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.ports.as_ref())
        .and_then(|p| p.first())
        .and_then(|p| u16::try_from(p.container_port).ok())
        .unwrap_or(DEFAULT_PORT);
    Some((
        pod.metadata.name.clone()?,
        pod.metadata.uid.clone().unwrap_or_default(),
        SocketAddr::new(ip, port),
    ))
}

/// Whether the pod's `Ready` condition is true.
fn ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Who `pod` is: its version, and its ReplicaSet's hash (Argo's
/// `rollouts-pod-template-hash` label, else a Deployment's
/// `pod-template-hash`).
fn identity(pod: &Pod) -> Identity {
    let image = pod
        .spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default();
    Identity {
        version: version_of(&image),
        pod_template_hash: pod
            .metadata
            .labels
            .as_ref()
            .and_then(|l| {
                l.get("rollouts-pod-template-hash")
                    .or_else(|| l.get("pod-template-hash"))
            })
            .cloned()
            .unwrap_or_default(),
    }
}
