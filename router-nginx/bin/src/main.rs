//! `rollgate-nginx`: the NGINX canary Ingress router as a plugin process.
//!
//! Loaded by Argo Rollouts (registered in `argo-rollouts-config` under
//! `trafficRouterPlugins`, with any flags below under `args`) it reads its
//! config from `trafficRouting.plugins["rollgate/nginx"]` (or the name given
//! with `--plugin-name`): `stableIngress(es)` for canary Ingresses,
//! `virtualServer` / `virtualServerRoute` for F5 NGINX VirtualServer splits,
//! or both. The Kubernetes client comes from the in-cluster
//! service account or `KUBECONFIG`; objects are read from watch caches
//! (`--no-watch-cache` reads each with a GET instead) and `--qps` and
//! `--burst` limit the API request rate (default: no limit). Logs are JSON lines on stderr, the form
//! plugin hosts parse (`--log-format text` for plain lines); `ROLLGATE_LOG`
//! sets their filter (default `info`).
//! `--metrics-addr ADDRESS:PORT` serves Prometheus metrics on `/metrics`
//! (off by default; README, "Metrics").

use router_nginx::KubeRouter;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use plugin_proto::log::LogFormat;
use plugin_proto::metrics::MetricsEndpoint;
use router_kube::ApplierArgs;
use router_nginx::NginxRouter;
use router_nginx::config::PLUGIN_NAME;

/// The NGINX canary Ingress (and F5 NGINX VirtualServer) traffic router plugin for Argo
/// Rollouts and Rollgate.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The key of this router's config under `trafficRouting.plugins`.
    #[arg(long, default_value = PLUGIN_NAME)]
    plugin_name: String,
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
    let router = match NginxRouter::from_args(args.applier, registry) {
        Ok(router) => router,
        Err(e) => {
            eprintln!("rollgate-nginx: {e}");
            return ExitCode::FAILURE;
        }
    };
    plugin_proto::serve_metered(router, &args.plugin_name, args.log_format, metrics)
}
