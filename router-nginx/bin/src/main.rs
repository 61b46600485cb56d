//! `rollgate-nginx`: the NGINX canary Ingress router as a plugin process.
//!
//! Loaded by Argo Rollouts (registered in `argo-rollouts-config` under
//! `trafficRouterPlugins`, with any flags below under `args`) it reads its
//! config from `trafficRouting.plugins["rollgate/nginx"]` (or the name given
//! with `--plugin-name`). The Kubernetes client comes from the in-cluster
//! service account or `KUBECONFIG`. Logs are JSON lines on stderr, the form
//! plugin hosts parse (`--log-format text` for plain lines); `ROLLGATE_LOG`
//! sets their filter (default `info`).

use router_nginx::KubeRouter;
use std::process::ExitCode;

use clap::Parser;
use plugin_proto::log::LogFormat;
use router_nginx::NginxRouter;
use router_nginx::config::PLUGIN_NAME;

/// The NGINX canary Ingress traffic router plugin for Argo Rollouts and Rollgate.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The key of this router's config under `trafficRouting.plugins`.
    #[arg(long, default_value = PLUGIN_NAME)]
    plugin_name: String,
    /// Log lines on stderr: `json` (hclog, which plugin hosts parse) or `text`.
    #[arg(long, default_value = "json")]
    log_format: LogFormat,
}

fn main() -> ExitCode {
    let args = Args::parse();
    plugin_proto::serve_with(
        NginxRouter::from_environment(),
        &args.plugin_name,
        args.log_format,
    )
}
