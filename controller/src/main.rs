//! `rollgate-controller`: runs `argoproj.io/v1alpha1` canary Rollouts.
//!
//! ```text
//! rollgate-controller [--namespace NS] [--instance-id ID] [--config-namespace NS] [--kubeconfig FILE] [--log-format json|text]
//! ```
//!
//! Traffic-router plugins are registered in the `argo-rollouts-config`
//! ConfigMap of `--config-namespace` (default: `POD_NAMESPACE`, else
//! `argo-rollouts`, as Argo's controller finds its own namespace).
//! The cluster comes from `--kubeconfig`, else from kube's inference
//! (`KUBECONFIG`, `~/.kube/config`, or the in-cluster service account).
//! Logs go to stderr, filtered by `ROLLGATE_LOG` (default `info`). SIGTERM
//! or Ctrl-C stops it after the reconciles in flight.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use kube::config::{KubeConfigOptions, Kubeconfig};
use rollgate_controller::{Settings, run};
use tracing_subscriber::EnvFilter;

/// Runs Argo Rollouts' canary Rollouts with Rollgate's engine.
#[derive(Debug, Parser)]
#[command(name = "rollgate-controller", version)]
struct Args {
    /// Watch Rollouts in this namespace only (default: all namespaces).
    #[arg(long)]
    namespace: Option<String>,
    /// Run only Rollouts labelled argo-rollouts.argoproj.io/controller-instance=ID
    /// (without it: only Rollouts without that label).
    #[arg(long)]
    instance_id: Option<String>,
    /// The namespace of the argo-rollouts-config ConfigMap that registers
    /// traffic-router plugins (default: POD_NAMESPACE, else argo-rollouts).
    #[arg(long)]
    config_namespace: Option<String>,
    /// A kubeconfig file (default: KUBECONFIG, ~/.kube/config or in-cluster).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The shape of log lines.
    #[arg(long, value_enum, default_value_t = LogFormat::Json)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Plain text for people.
    Text,
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_env("ROLLGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.with_ansi(false).init(),
    }
}

/// Every request says who sends it (the API server's audit log records it).
const USER_AGENT: &str = concat!("rollgate-controller/", env!("CARGO_PKG_VERSION"));

async fn client(kubeconfig: Option<&PathBuf>) -> Result<kube::Client, String> {
    let mut config = match kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(path).map_err(|e| format!("--kubeconfig: {e}"))?;
            kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
                .await
                .map_err(|e| format!("--kubeconfig {}: {e}", path.display()))?
        }
        None => kube::Config::infer().await.map_err(|e| {
            format!("no cluster configuration (KUBECONFIG, ~/.kube/config or in-cluster): {e}")
        })?,
    };
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(USER_AGENT),
    ));
    kube::Client::try_from(config).map_err(|e| format!("cannot build a Kubernetes client: {e}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.log_format);
    let client = match client(args.kubeconfig.as_ref()).await {
        Ok(client) => client,
        Err(message) => {
            eprintln!("rollgate-controller: {message}");
            return ExitCode::FAILURE;
        }
    };
    run(
        client,
        Settings {
            namespace: args.namespace,
            instance_id: args.instance_id,
            config_namespace: args
                .config_namespace
                .or_else(|| {
                    std::env::var("POD_NAMESPACE")
                        .ok()
                        .filter(|ns| !ns.is_empty())
                })
                .unwrap_or_else(|| "argo-rollouts".into()),
        },
    )
    .await;
    ExitCode::SUCCESS
}
