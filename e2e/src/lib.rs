//! The end-to-end scenario matrix of the real-cluster tier: each scenario
//! is one async function taking the controller under test, [`Under::Argo`]
//! (Argo Rollouts' own controller with the Rollgate plugin binaries
//! registered in `argo-rollouts-config`) or [`Under::Rollgate`]
//! (`rollgate-controller` with its in-process routers, as a service account
//! holding exactly `examples/rbac/rollgate-controller.yaml`'s ClusterRole),
//! and [`scenario!`] makes one `#[tokio::test]` of each pair. The
//! assertions are the same under both; where the controllers legitimately
//! differ, the scenario branches on a named method of [`Under`] that says
//! why.
//!
//! The tests run when `ROLLGATE_E2E=1` (`scripts/cluster up`, then
//! `eval "$(scripts/cluster env)"`), each in a namespace of its own with a
//! controller of its own; without it they return at once, after saying so.
#![warn(missing_docs)]

pub mod gateway;
mod scene;

pub use scene::{Scene, View, condition, expected, phase, replicas, status};

use std::path::Path;

use rollgate_testkit::faults::Proxy;
use rollgate_testkit::{Argo, Cluster, Plugin, RollgateController, workspace_binary};

/// The controller a scenario runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Under {
    /// Argo Rollouts' controller, loading the Rollgate plugin binary of the
    /// scenario's router as users register it (`file://` in
    /// `argo-rollouts-config`).
    Argo,
    /// `rollgate-controller`, running the router in-process under the same
    /// plugin name.
    Rollgate,
}

/// A traffic router of the matrix: the name rollouts give it under
/// `trafficRouting.plugins`, and its plugin binary for Argo's controller.
#[derive(Debug, Clone, Copy)]
pub struct Router {
    /// The plugin name in `trafficRouting.plugins`.
    pub plugin: &'static str,
    /// The package (and binary) of the plugin process.
    pub binary: &'static str,
}

/// The Gateway API router, under the name Argo's own Gateway API plugin has.
pub const GATEWAY_API: Router = Router {
    plugin: "argoproj-labs/gatewayAPI",
    binary: "rollgate-gatewayapi",
};

/// The NGINX canary Ingress router.
pub const NGINX: Router = Router {
    plugin: "rollgate/nginx",
    binary: "rollgate-nginx",
};

/// The Istio router.
pub const ISTIO: Router = Router {
    plugin: "rollgate/istio",
    binary: "rollgate-istio",
};

/// A controller running for one scenario; stopped when dropped.
pub enum Running {
    /// Argo's controller (`--namespaced`).
    Argo(Argo),
    /// `rollgate-controller --namespace`.
    Rollgate(RollgateController),
}

impl Running {
    /// The controller's process id (under Argo, the parent of the plugin
    /// processes).
    pub fn pid(&self) -> u32 {
        match self {
            Self::Argo(argo) => argo.pid(),
            Self::Rollgate(controller) => controller.pid(),
        }
    }
}

impl Under {
    /// Starts the controller for `cluster`'s namespace with `router`.
    /// `plugin_args` are the plugin's `args` in `argo-rollouts-config`
    /// under Argo; see [`Under::passes_plugin_args`].
    ///
    /// # Panics
    ///
    /// When a binary cannot be built or a process not started.
    pub async fn start(self, cluster: &Cluster, router: Router, plugin_args: &[&str]) -> Running {
        self.start_through(cluster, router, plugin_args, None).await
    }

    /// [`Under::start`] with the controller (and under Argo the plugin
    /// process) talking to the API server through `proxy` when given.
    ///
    /// # Panics
    ///
    /// As [`Under::start`].
    pub async fn start_through(
        self,
        cluster: &Cluster,
        router: Router,
        plugin_args: &[&str],
        proxy: Option<&Proxy>,
    ) -> Running {
        match self {
            Self::Argo => {
                let path = workspace_binary(router.binary, router.binary);
                let path = path.to_str().expect("a UTF-8 target directory");
                let plugin = Plugin {
                    name: router.plugin,
                    path,
                    args: plugin_args,
                };
                let kubeconfig = proxy.map(Proxy::kubeconfig);
                Running::Argo(
                    cluster
                        .start_argo_with(&[plugin], kubeconfig.as_deref())
                        .await,
                )
            }
            Self::Rollgate => Self::start_rollgate(cluster, proxy).await,
        }
    }

    /// Starts the controller for `cluster`'s namespace with no traffic
    /// router, for basic canaries (traffic follows the pod ratio).
    ///
    /// # Panics
    ///
    /// As [`Under::start`].
    pub async fn start_basic(self, cluster: &Cluster) -> Running {
        match self {
            Self::Argo => Running::Argo(cluster.start_argo(&[]).await),
            Self::Rollgate => Self::start_rollgate(cluster, None).await,
        }
    }

    async fn start_rollgate(cluster: &Cluster, proxy: Option<&Proxy>) -> Running {
        let binary = workspace_binary("rollgate-controller", "rollgate-controller");
        let server = proxy.map(Proxy::url);
        Running::Rollgate(
            RollgateController::start_with_role_via(
                Path::new(&binary),
                cluster,
                server.as_deref(),
                &[],
                &[],
            )
            .await,
        )
    }

    /// Difference: the route writes come from the plugin process under
    /// Argo (its own user agent, `rollgate-<router>/<version>`) and from
    /// the controller process under Rollgate, whose in-process routers
    /// share its client (`rollgate-controller/<version>`).
    pub fn route_writer(self, router: Router) -> String {
        let process = match self {
            Self::Argo => router.binary,
            Self::Rollgate => "rollgate-controller",
        };
        format!("{process}/{}", env!("CARGO_PKG_VERSION"))
    }

    /// Difference: plugin `args` are a property of a plugin process
    /// registered in `argo-rollouts-config`; the in-process routers of
    /// `rollgate-controller` take no command line of their own.
    pub fn passes_plugin_args(self) -> bool {
        self == Self::Argo
    }

    /// Difference: an AnalysisRun's message, and so the abort message of
    /// its Rollout, is Argo's (`Metric "m" assessed Failed due to failed
    /// (4) > failureLimit (3)`) under both, and under Rollgate goes on
    /// with the values that made the metric fail and the condition they
    /// were held against (`(values [[0.8], ...] against successCondition
    /// "...")`); Argo's stops at the limit, and its values are read from
    /// the run's measurements.
    pub fn explains_values(self) -> bool {
        self == Self::Rollgate
    }
}

/// One `#[tokio::test]` per controller for the scenario function `$name`
/// (an `async fn(Under)` in scope): `$name::under_argo` and
/// `$name::under_rollgate`.
#[macro_export]
macro_rules! scenario {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn under_argo() {
                super::$name($crate::Under::Argo).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn under_rollgate() {
                super::$name($crate::Under::Rollgate).await;
            }
        }
    };
}
