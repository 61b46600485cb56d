//! `rollgate-controller`: runs `argoproj.io/v1alpha1` canary Rollouts.
//!
//! ```text
//! rollgate-controller [--namespace NS] [--instance-id ID] [--config-namespace NS] [--plugin-dir DIR]
//!     [--kubeconfig FILE] [--log-format json|text]
//!     [--leader-elect[=true|false]] [--leader-election-namespace NS]
//!     [--leader-election-lease-duration 15s] [--leader-election-renew-deadline 10s]
//!     [--leader-election-retry-period 2s]
//!     [--metrics-port 8090] [--healthz-port 8080] [--bind-address 0.0.0.0]
//!     [--qps 40|-1] [--burst 80] [--rollout-threads 10] [--analysis-threads 30]
//!     [--experiment-threads 10]
//! ```
//!
//! Traffic-router plugins are registered in the `argo-rollouts-config`
//! ConfigMap of `--config-namespace` (default: `POD_NAMESPACE`, else
//! `argo-rollouts`, as Argo's controller finds its own namespace); those
//! with an `http(s)` location are downloaded into `--plugin-dir`.
//! The cluster comes from `--kubeconfig`, else from kube's inference
//! (`KUBECONFIG`, `~/.kube/config`, or the in-cluster service account).
//! Logs go to stderr, filtered by `ROLLGATE_LOG` (default `info`).
//! `ARGO_ROLLOUTS_PROMETHEUS_ADDRESS` is the address of Prometheus metrics
//! that set none, as in Argo. SIGTERM
//! or Ctrl-C stops it after the reconciles in flight (and releases the
//! Lease). The defaults of the election and the ports are Argo's; Argo's
//! spellings `--metricsPort` and `--healthzPort` are accepted too.
//!
//! The client sends at most 40 requests per second with bursts of 80
//! (Argo's defaults; `--qps` and `--burst` set others, `--qps -1` none, as
//! for Argo's controller and client-go), one budget for the controller and
//! the routers it runs in-process.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use kube::config::{KubeConfigOptions, Kubeconfig};
use rollgate_controller::leader::{self, Election};
use rollgate_controller::measure::conditions::{ChildEvaluator, EVALUATE_ARG, serve_child};
use rollgate_controller::metrics::Metrics;
use rollgate_controller::traffic::binaries::default_plugin_dir;
use rollgate_controller::{Operations, Settings, operate};
use router_kube::{Qps, RequestLimit};
use tracing_subscriber::EnvFilter;

/// Runs Argo Rollouts' canary Rollouts with Rollgate's engine.
#[derive(Debug, Parser)]
#[command(name = "rollgate-controller", version)]
struct Args {
    /// Watch Rollouts in this namespace only (default: all namespaces).
    #[arg(long)]
    namespace: Option<String>,
    /// Run only Rollouts labelled argo-rollouts.argoproj.io/controller-instance-id=ID
    /// (without it: only Rollouts without that label).
    #[arg(long)]
    instance_id: Option<String>,
    /// The namespace of the argo-rollouts-config ConfigMap that registers
    /// traffic-router plugins (default: POD_NAMESPACE, else argo-rollouts).
    #[arg(long)]
    config_namespace: Option<String>,
    /// Where plugins registered with an http(s) location are downloaded
    /// (default: rollgate-plugin-bin in the temporary directory, $TMPDIR or /tmp).
    #[arg(long, value_name = "DIR", default_value_os_t = default_plugin_dir())]
    plugin_dir: PathBuf,
    /// A kubeconfig file (default: KUBECONFIG, ~/.kube/config or in-cluster).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// The shape of log lines.
    #[arg(long, value_enum, default_value_t = LogFormat::Json)]
    log_format: LogFormat,
    /// Elect a leader among the replicas on a Lease, so that only one
    /// reconciles (--leader-elect=false: run at once, alone).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_value_t = true,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    leader_elect: bool,
    /// The Lease's namespace (default: POD_NAMESPACE, else the service
    /// account's or the kubeconfig context's namespace).
    #[arg(long, value_name = "NS")]
    leader_election_namespace: Option<String>,
    /// How long a leader's record holds without a renewal.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = duration)]
    leader_election_lease_duration: Duration,
    /// How long the leader keeps trying to renew before it stops leading.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration)]
    leader_election_renew_deadline: Duration,
    /// How often the leader renews, and how long a failed attempt waits.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = duration)]
    leader_election_retry_period: Duration,
    /// The port of /metrics.
    #[arg(
        long,
        alias = "metricsPort",
        value_name = "PORT",
        default_value_t = 8090
    )]
    metrics_port: u16,
    /// The port of /healthz and /readyz.
    #[arg(
        long,
        alias = "healthzPort",
        value_name = "PORT",
        default_value_t = 8080
    )]
    healthz_port: u16,
    /// The address both ports listen on.
    #[arg(long, value_name = "IP", default_value = "0.0.0.0")]
    bind_address: IpAddr,
    /// Kubernetes API requests per second, sustained, for the controller
    /// and the routers it runs in-process together (Argo's default; -1, as
    /// client-go's and Argo's: no client-side limit).
    #[arg(
        long,
        value_name = "RATE",
        default_value = "40",
        allow_negative_numbers = true
    )]
    qps: Qps,
    /// Kubernetes API requests allowed at once after an idle period (Argo's
    /// default).
    #[arg(long, value_name = "N", default_value_t = 80, value_parser = clap::value_parser!(u32).range(1..))]
    burst: u32,
    /// How many Rollouts are reconciled at once (Argo's default: 10).
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
    rollout_threads: u16,
    /// How many AnalysisRuns are measured at once (Argo's default: 30).
    #[arg(long, value_name = "N", default_value_t = rollgate_controller::measure::DEFAULT_ANALYSIS_THREADS,
          value_parser = clap::value_parser!(u16).range(1..))]
    analysis_threads: u16,
    /// How many Experiments are reconciled at once (Argo's default: 10).
    #[arg(long, value_name = "N", default_value_t = rollgate_controller::experiment::DEFAULT_EXPERIMENT_THREADS,
          value_parser = clap::value_parser!(u16).range(1..))]
    experiment_threads: u16,
    /// The namespaces besides a Rollout's own that its traffic-routing
    /// config may make the in-process routers touch (the Gateway API
    /// router's namespace, an Istio virtualService name.namespace): * (any,
    /// as Argo Rollouts) or names separated by commas (empty: the Rollout's
    /// own only).
    #[arg(long, value_name = "LIST", default_value = "*")]
    route_namespaces: router_kube::RouteNamespaces,
    /// Where metric conditions are evaluated: child (a process of this
    /// program per measurement, with the memory and time limits below) or
    /// in-process (no limits: for templates from trusted writers only).
    #[arg(long, value_name = "WHERE", default_value = "child")]
    condition_evaluation: ConditionEvaluation,
    /// The memory a condition's evaluation may use, in MiB (child only).
    #[arg(long, value_name = "MIB", default_value_t = 256, value_parser = clap::value_parser!(u64).range(16..=1 << 20))]
    condition_memory_limit: u64,
    /// How long a condition's evaluation may take (child only).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration)]
    condition_time_limit: Duration,
}

/// `--condition-evaluation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ConditionEvaluation {
    Child,
    InProcess,
}

/// A duration flag, in Go's notation as Argo takes it (`15s`, `1m30s`, `500ms`).
fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|_| format!("expected a duration such as 15s, 1m or 500ms, found \"{text}\""))
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

async fn client(
    kubeconfig: Option<&PathBuf>,
    limit: Option<RequestLimit>,
    metrics: &Metrics,
) -> Result<kube::Client, String> {
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
    let builder = kube::client::ClientBuilder::try_from(config)
        .map_err(|e| format!("cannot build a Kubernetes client: {e}"))?;
    let client = builder.with_layer(&metrics.count_requests()).build();
    match limit {
        None => Ok(client),
        Some(limit) => limit
            .limit(client)
            .map_err(|e| format!("--qps {} --burst {}: {e}", limit.qps, limit.burst)),
    }
}

/// The client's request limit the flags ask for: none for `--qps -1`.
fn request_limit(args: &Args) -> Option<RequestLimit> {
    args.qps.limit(Some(args.burst))
}

/// The election the flags ask for, checked.
fn election(args: &Args, client: &kube::Client) -> Result<Option<Election>, String> {
    if !args.leader_elect {
        return Ok(None);
    }
    let namespace = args
        .leader_election_namespace
        .clone()
        .or_else(|| {
            std::env::var("POD_NAMESPACE")
                .ok()
                .filter(|ns| !ns.is_empty())
        })
        .unwrap_or_else(|| client.default_namespace().to_owned());
    let election = Election {
        namespace,
        name: leader::lease_name(args.instance_id.as_deref()),
        identity: leader::identity(),
        lease_duration: args.leader_election_lease_duration,
        renew_deadline: args.leader_election_renew_deadline,
        retry_period: args.leader_election_retry_period,
    };
    election.check().map_err(|e| e.to_string())?;
    Ok(Some(election))
}

fn main() -> ExitCode {
    // Started again as a condition evaluator: nothing else runs.
    let argv: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if argv.first().map(String::as_str) == Some(EVALUATE_ARG) {
        return serve_child(&argv[1..]);
    }
    let args = Args::parse();
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(run(args)),
        Err(e) => {
            eprintln!("rollgate-controller: cannot start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Where conditions are evaluated, from the flags.
fn condition_evaluator(args: &Args) -> Result<Option<ChildEvaluator>, String> {
    if args.condition_evaluation == ConditionEvaluation::InProcess {
        return Ok(None);
    }
    let program = std::env::current_exe()
        .map_err(|e| format!("cannot find this program to evaluate conditions in: {e}"))?;
    Ok(Some(ChildEvaluator::new(program).with_limits(
        args.condition_memory_limit << 20,
        args.condition_time_limit,
    )))
}

async fn run(args: Args) -> ExitCode {
    init_logging(args.log_format);
    let metrics = Arc::new(Metrics::new());
    let limit = request_limit(&args);
    let client = match client(args.kubeconfig.as_ref(), limit, &metrics).await {
        Ok(client) => client,
        Err(message) => {
            eprintln!("rollgate-controller: {message}");
            return ExitCode::FAILURE;
        }
    };
    let election = match election(&args, &client) {
        Ok(election) => election,
        Err(message) => {
            eprintln!("rollgate-controller: {message}");
            return ExitCode::FAILURE;
        }
    };
    let condition_evaluator = match condition_evaluator(&args) {
        Ok(evaluator) => evaluator,
        Err(message) => {
            eprintln!("rollgate-controller: {message}");
            return ExitCode::FAILURE;
        }
    };
    let operations = Operations {
        election,
        bind_address: args.bind_address,
        metrics_port: args.metrics_port,
        healthz_port: args.healthz_port,
    };
    let settings = Settings {
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
        plugin_dir: args.plugin_dir,
        rollout_threads: args.rollout_threads,
        analysis_threads: args.analysis_threads,
        experiment_threads: args.experiment_threads,
        route_namespaces: args.route_namespaces,
        condition_evaluator,
    };
    match operate(client, metrics, settings, operations).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rollgate-controller: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(flags: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("rollgate-controller").chain(flags.iter().copied()))
    }

    #[test]
    fn argos_client_limit_and_threads_by_default() {
        let args = parse(&[]).unwrap();
        assert_eq!(
            request_limit(&args),
            Some(RequestLimit {
                qps: 40.0,
                burst: 80
            })
        );
        assert_eq!(
            (
                args.rollout_threads,
                args.analysis_threads,
                args.experiment_threads
            ),
            (10, 30, 10)
        );
        assert!(parse(&["--rollout-threads", "0"]).is_err());
    }

    #[test]
    fn qps_and_burst_each_replace_argos_figure_and_minus_one_lifts_the_limit() {
        let limit = |flags: &[&str]| request_limit(&parse(flags).unwrap());
        assert_eq!(
            limit(&["--qps", "7.5", "--burst", "9"]),
            Some(RequestLimit { qps: 7.5, burst: 9 })
        );
        assert_eq!(
            limit(&["--burst", "200"]),
            Some(RequestLimit {
                qps: 40.0,
                burst: 200
            })
        );
        assert_eq!(
            limit(&["--qps=1000"]),
            Some(RequestLimit {
                qps: 1000.0,
                burst: 80
            })
        );
        assert_eq!(limit(&["--qps", "-1"]), None);
        assert_eq!(limit(&["--qps=-1", "--burst", "5"]), None);
    }

    #[test]
    fn nonsense_limits_are_refused_naming_the_flag() {
        for bad in [
            &["--qps", "0"][..],
            &["--qps", "fast"],
            &["--qps", "inf"],
            &["--qps", "40", "--burst", "0"],
        ] {
            let err = parse(bad).unwrap_err().to_string();
            let flag = bad[bad.len() - 2];
            assert!(err.contains(flag), "{bad:?}: {err}");
        }
        let err = parse(&["--qps=0"]).unwrap_err().to_string();
        assert!(
            err.contains("positive number of requests per second"),
            "{err}"
        );
    }
}
