//! `rollgate-istio`: the Istio router as a plugin process.
//!
//! Loaded by Argo Rollouts (registered in `argo-rollouts-config` under
//! `trafficRouterPlugins`, with any flags below under `args`) it reads its
//! config from `trafficRouting.plugins["rollgate/istio"]` (or the name given
//! with `--plugin-name`). The Kubernetes client comes from the in-cluster
//! service account or `KUBECONFIG`; objects are read from watch caches
//! (`--no-watch-cache` reads each with a GET instead) and `--qps` and
//! `--burst` limit the API request rate (default: no limit);
//! `--route-namespaces` lists the namespaces besides a Rollout's own that a
//! `virtualService` written `name.namespace` may name (default: any). Logs are JSON lines on stderr, the form
//! plugin hosts parse (`--log-format text` for plain lines); `ROLLGATE_LOG`
//! sets their filter (default `info`).
//! `--metrics-addr ADDRESS:PORT` serves Prometheus metrics on `/metrics`
//! (off by default; README, "Metrics").

use router_istio::KubeRouter;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use plugin_proto::log::LogFormat;
use plugin_proto::metrics::MetricsEndpoint;
use router_istio::config::PLUGIN_NAME;
use router_istio::{DEFAULT_API_VERSION, IstioRouter};
use router_kube::ApplierArgs;

/// The Istio traffic router plugin for Argo Rollouts and Rollgate.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The key of this router's config under `trafficRouting.plugins`.
    #[arg(long, default_value = PLUGIN_NAME)]
    plugin_name: String,
    /// The served version of `networking.istio.io` to use.
    #[arg(long, default_value = DEFAULT_API_VERSION)]
    istio_api_version: String,
    /// Log lines on stderr: `json` (hclog, which plugin hosts parse) or `text`.
    #[arg(long, default_value = "json")]
    log_format: LogFormat,
    /// Serve Prometheus metrics on `GET /metrics` at this address, e.g.
    /// `127.0.0.1:9102` (calls, Kubernetes API requests, watch cache sizes)
    /// [default: none]
    #[arg(long, value_name = "ADDRESS:PORT")]
    metrics_addr: Option<SocketAddr>,
    #[command(flatten)]
    applier: ApplierArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut metrics = args.metrics_addr.map(MetricsEndpoint::new);
    let registry = metrics.as_mut().map(MetricsEndpoint::registry);
    let router = match IstioRouter::from_args(args.applier, registry) {
        Ok(router) => router.with_api_version(&args.istio_api_version),
        Err(e) => {
            eprintln!("rollgate-istio: {e}");
            return ExitCode::FAILURE;
        }
    };
    plugin_proto::serve_metered(router, &args.plugin_name, args.log_format, metrics)
}
