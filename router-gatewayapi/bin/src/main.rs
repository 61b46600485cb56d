//! `rollgate-gatewayapi`: the Gateway API router as a plugin process.
//!
//! Loaded by Argo Rollouts (registered in `argo-rollouts-config` under
//! `trafficRouterPlugins`) it reads its config from
//! `trafficRouting.plugins["argoproj-labs/gatewayAPI"]`, like the plugin it
//! replaces (or the name given with `--plugin-name`). The Kubernetes client
//! comes from the in-cluster service account or `KUBECONFIG`.

use std::process::ExitCode;

use router_gatewayapi::GatewayApiRouter;

fn main() -> ExitCode {
    plugin_proto::serve(
        GatewayApiRouter::from_environment(),
        "argoproj-labs/gatewayAPI",
    )
}
