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

use router_gatewayapi::KubeRouter;
use std::process::ExitCode;

use clap::Parser;
use plugin_proto::log::LogFormat;
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
    #[command(flatten)]
    applier: ApplierArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match GatewayApiRouter::from_args(args.applier) {
        Ok(router) => plugin_proto::serve_with(router, &args.plugin_name, args.log_format),
        Err(e) => {
            eprintln!("rollgate-gatewayapi: {e}");
            ExitCode::FAILURE
        }
    }
}
