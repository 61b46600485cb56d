//! `rollgate-gatewayapi`: the Gateway API router as a plugin process.
//!
//! Loaded by Argo Rollouts (registered in `argo-rollouts-config` under
//! `trafficRouterPlugins`, with any flags below under `args`) it reads its
//! config from `trafficRouting.plugins["argoproj-labs/gatewayAPI"]`, like the
//! plugin it replaces (or the name given with `--plugin-name`). The
//! Kubernetes client comes from the in-cluster service account or
//! `KUBECONFIG`. Logs are JSON lines on stderr, the form plugin hosts parse
//! (`--log-format text` for plain lines); `ROLLGATE_LOG` sets their filter
//! (default `info`).

use router_gatewayapi::KubeRouter;
use std::process::ExitCode;

use clap::Parser;
use plugin_proto::log::LogFormat;
use router_gatewayapi::{GatewayApiRouter, RequestLimit};

/// The Gateway API traffic router plugin for Argo Rollouts and Rollgate.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The key of this router's config under `trafficRouting.plugins`.
    #[arg(long, default_value = "argoproj-labs/gatewayAPI")]
    plugin_name: String,
    /// Kubernetes API requests per second, sustained.
    #[arg(long, default_value_t = 40.0)]
    kube_qps: f64,
    /// Kubernetes API requests allowed at once after an idle period.
    #[arg(long, default_value_t = 80)]
    kube_burst: u32,
    /// Log lines on stderr: `json` (hclog, which plugin hosts parse) or `text`.
    #[arg(long, default_value = "json")]
    log_format: LogFormat,
    /// Read routes from watch caches (needs `list` and `watch` on routes):
    /// an unchanged state then costs no API request at all.
    #[arg(long)]
    watch_cache: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let limit = RequestLimit {
        qps: args.kube_qps,
        burst: args.kube_burst,
    };
    match GatewayApiRouter::from_environment().with_request_limit(limit) {
        Ok(router) if args.watch_cache => plugin_proto::serve_with(
            router.with_watch_cache(),
            &args.plugin_name,
            args.log_format,
        ),
        Ok(router) => plugin_proto::serve_with(router, &args.plugin_name, args.log_format),
        Err(e) => {
            eprintln!("rollgate-gatewayapi: {e}");
            ExitCode::FAILURE
        }
    }
}
