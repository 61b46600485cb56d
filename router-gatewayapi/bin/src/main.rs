//! `rollgate-gatewayapi`: the Gateway API router as a plugin process.
//!
//! Loaded by Argo Rollouts (registered in `argo-rollouts-config` under
//! `trafficRouterPlugins`, with any flags below under `args`) it reads its
//! config from `trafficRouting.plugins["argoproj-labs/gatewayAPI"]`, like the
//! plugin it replaces (or the name given with `--plugin-name`). The
//! Kubernetes client comes from the in-cluster service account or
//! `KUBECONFIG`; routes are read from watch caches unless
//! `--no-watch-cache` is given, and `--qps`/`--burst` limit the request
//! rate and `--route-namespaces` lists the namespaces besides a Rollout's
//! own that its `namespace` may name (the shared applier's flags). Logs are JSON lines on stderr, the
//! form plugin hosts parse (`--log-format text` for plain lines);
//! `ROLLGATE_LOG` sets their filter (default `info`).
//! `--metrics-addr ADDRESS:PORT` serves Prometheus metrics on `/metrics`
//! (off by default; README, "Metrics").

use router_gatewayapi::KubeRouter;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use plugin_proto::log::LogFormat;
use plugin_proto::metrics::MetricsEndpoint;
use router_gatewayapi::GatewayApiRouter;
use router_kube::ApplierArgs;

/// The Gateway API traffic router plugin for Argo Rollouts and Rollgate.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The key of this router's config under `trafficRouting.plugins`.
    #[arg(long, default_value = "argoproj-labs/gatewayAPI")]
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
    match GatewayApiRouter::from_args(args.applier, registry) {
        Ok(router) => {
            plugin_proto::serve_metered(router, &args.plugin_name, args.log_format, metrics)
        }
        Err(e) => {
            eprintln!("rollgate-gatewayapi: {e}");
            ExitCode::FAILURE
        }
    }
}
