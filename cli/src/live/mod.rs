//! The commands that work on Rollouts in a live cluster, as
//! `kubectl argo rollouts` does: `get rollout`, `list rollouts` and
//! `status` read; `promote`, `abort`, `retry rollout`, `pause`, `resume`,
//! `restart`, `set image` and `undo` write, each through the patch
//! `rollout_core::ops` builds for it, so they work the same under Argo's
//! controller and under rollgate-controller.
//!
//! One module per verb group: [`client`] connects (kubeconfig, context and
//! namespace as kubectl takes them) and reads and patches objects,
//! [`snapshot`] gathers a Rollout with its ReplicaSets, pods and
//! AnalysisRuns, [`info`] turns that into the tree view, [`changes`]
//! watches for what `--watch` redraws on, [`get`], [`list`] and [`status`]
//! print, [`act`] sends the status and spec operations and [`template`] the
//! pod template ones.
//!
//! A Rollout is read with `rollout_core`'s reader, so one whose spec that
//! reader refuses (a step with two actions, a field of the wrong type) is
//! an error naming the field rather than a view.

mod act;
mod changes;
mod client;
mod get;
mod info;
mod list;
mod snapshot;
mod status;
mod template;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;

pub(crate) use client::Connection;

/// Why a live command failed. Every message names the object (`rollout
/// shop/web`) and what was expected.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LiveError {
    /// The kubeconfig could not be read or has no usable context.
    #[error("kubeconfig: {0}")]
    Kubeconfig(String),
    /// The object does not exist.
    #[error("{object} not found")]
    NotFound {
        /// `rollout shop/web`.
        object: String,
    },
    /// The API server refused a request or could not be reached.
    #[error("{action} {object}: {message}")]
    Api {
        /// `reading`, `patching the status of`...
        action: &'static str,
        /// `rollout shop/web`.
        object: String,
        /// The API server's message.
        message: String,
    },
    /// An object read from the cluster, or an argument, is not what the
    /// command needs.
    #[error("{object}: {message}")]
    Invalid {
        /// `rollout shop/web`, or the argument.
        object: String,
        /// What is wrong and what was expected.
        message: String,
    },
    /// A Rollout read from the cluster has a field that cannot be read.
    #[error(transparent)]
    Rollout(#[from] rollout_core::Error),
    /// The output could not be written.
    #[error(transparent)]
    Output(#[from] std::io::Error),
}

/// The API server's words for a failed request, without the client
/// library's type names.
pub(crate) fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) if !status.message.is_empty() => status.message.clone(),
        kube::Error::HyperError(e) => format!("the API server cannot be reached: {e}"),
        kube::Error::Service(e) => format!("the API server cannot be reached: {e}"),
        other => other.to_string(),
    }
}

/// A duration argument: `30s`, `5m`, `1h30m`, or `0` for none.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    if text.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(text.trim())
        .map_err(|_| format!("expected a duration such as 30s, 5m or 1h, found {text:?}"))
}

/// The live commands, flattened into `rollgate`'s own.
#[derive(Debug, Subcommand)]
pub(crate) enum LiveCommand {
    /// Show a live Rollout as a tree: revisions, ReplicaSets, pods and
    /// AnalysisRuns (as `kubectl argo rollouts get rollout`).
    Get {
        #[command(subcommand)]
        what: GetWhat,
    },
    /// List the Rollouts of a namespace, or of all (`-A`).
    List {
        #[command(subcommand)]
        what: ListWhat,
    },
    /// Promote a paused Rollout, or skip its current step; `--full` skips
    /// every remaining step, analysis and pause.
    Promote {
        /// The Rollout.
        name: String,
        /// Skip every remaining step, analysis and pause.
        #[arg(long)]
        full: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// Abort an update: all traffic back to stable, the canary scaled down.
    Abort {
        /// The Rollout.
        name: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Retry an aborted update from its first step.
    Retry {
        #[command(subcommand)]
        what: RetryWhat,
    },
    /// Pause a Rollout (`spec.paused`): no stepping and no scaling.
    Pause {
        /// The Rollout.
        name: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Resume a paused Rollout: the same patch as `promote`.
    Resume {
        /// The Rollout.
        name: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Replace every pod of a Rollout (`spec.restartAt`), now or after `--in`.
    Restart {
        /// The Rollout.
        name: String,
        /// How long from now, as 30s, 5m or 1h.
        #[arg(long = "in", short = 'i', value_name = "DURATION", value_parser = parse_duration)]
        delay: Option<Duration>,
        #[command(flatten)]
        connection: Connection,
    },
    /// Change a Rollout's pod template.
    Set {
        #[command(subcommand)]
        what: SetWhat,
    },
    /// Go back to an earlier revision's pod template.
    Undo {
        /// The Rollout.
        name: String,
        /// The revision to go back to; 0 (the default) is the one before
        /// the current.
        #[arg(long, default_value_t = 0, value_name = "N")]
        to_revision: u64,
        #[command(flatten)]
        connection: Connection,
    },
    /// Wait until a Rollout is Healthy (exit 0), Degraded (exit 1) or the
    /// timeout passes (exit 2), printing each status change.
    ///
    /// With `--watch=false`, prints the status once and exits 1 only when
    /// Degraded. A Rollout that is aborted or has an invalid spec is Degraded.
    Status {
        /// The Rollout.
        name: String,
        /// How long to wait, as 30s, 5m or 1h; 0 (the default) waits for ever.
        #[arg(long, short, value_name = "DURATION", value_parser = parse_duration, default_value = "0")]
        timeout: Duration,
        /// Wait for the Rollout to finish (`--watch=false` to print once).
        #[arg(long, short, default_value_t = true, action = clap::ArgAction::Set,
              num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
        watch: bool,
        #[command(flatten)]
        connection: Connection,
    },
}

/// What `get` shows.
#[derive(Debug, Subcommand)]
pub(crate) enum GetWhat {
    /// One Rollout as a tree.
    Rollout {
        /// The Rollout.
        name: String,
        /// Redraw on every change until interrupted or `--timeout`.
        #[arg(long, short)]
        watch: bool,
        /// With `--watch`, stop after this long, as 30s, 5m or 1h.
        #[arg(long, short, value_name = "DURATION", value_parser = parse_duration)]
        timeout: Option<Duration>,
        /// Never colour the output (colour is used on a terminal only).
        #[arg(long)]
        no_color: bool,
        #[command(flatten)]
        connection: Connection,
    },
}

/// What `list` lists.
#[derive(Debug, Subcommand)]
pub(crate) enum ListWhat {
    /// Rollouts, one line each.
    Rollouts {
        /// Every namespace.
        #[arg(long, short = 'A')]
        all_namespaces: bool,
        #[command(flatten)]
        connection: Connection,
    },
}

/// What `retry` retries.
#[derive(Debug, Subcommand)]
pub(crate) enum RetryWhat {
    /// An aborted Rollout's update.
    Rollout {
        /// The Rollout.
        name: String,
        #[command(flatten)]
        connection: Connection,
    },
}

/// What `set` changes.
#[derive(Debug, Subcommand)]
pub(crate) enum SetWhat {
    /// Set a container's image (`*` for every container).
    Image {
        /// The Rollout.
        name: String,
        /// CONTAINER=IMAGE.
        #[arg(value_name = "CONTAINER=IMAGE")]
        assignment: String,
        #[command(flatten)]
        connection: Connection,
    },
}

/// Runs a live command on a runtime of its own.
pub(crate) fn run(command: LiveCommand, out: &mut dyn Write) -> Result<ExitCode, LiveError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(dispatch(command, out))
}

async fn dispatch(command: LiveCommand, out: &mut dyn Write) -> Result<ExitCode, LiveError> {
    use act::Operation;
    let done = |_: ()| ExitCode::SUCCESS;
    match command {
        LiveCommand::Get {
            what:
                GetWhat::Rollout {
                    name,
                    watch,
                    timeout,
                    no_color,
                    connection,
                },
        } => {
            let session = connection.connect().await?;
            let colour = !no_color && crate::view::colour_wanted(stdout_is_terminal(), env);
            get::rollout(&session, &name, watch, timeout, colour, out)
                .await
                .map(done)
        }
        LiveCommand::List {
            what:
                ListWhat::Rollouts {
                    all_namespaces,
                    connection,
                },
        } => {
            let session = connection.connect().await?;
            list::rollouts(&session, all_namespaces, out)
                .await
                .map(done)
        }
        LiveCommand::Promote {
            name,
            full,
            connection,
        } => {
            let op = if full {
                Operation::PromoteFull
            } else {
                Operation::Promote
            };
            act::run(&connection.connect().await?, &name, op, out)
                .await
                .map(done)
        }
        LiveCommand::Abort { name, connection } => {
            act::run(&connection.connect().await?, &name, Operation::Abort, out)
                .await
                .map(done)
        }
        LiveCommand::Retry {
            what: RetryWhat::Rollout { name, connection },
        } => act::run(&connection.connect().await?, &name, Operation::Retry, out)
            .await
            .map(done),
        LiveCommand::Pause { name, connection } => {
            act::run(&connection.connect().await?, &name, Operation::Pause, out)
                .await
                .map(done)
        }
        LiveCommand::Resume { name, connection } => {
            act::run(&connection.connect().await?, &name, Operation::Resume, out)
                .await
                .map(done)
        }
        LiveCommand::Restart {
            name,
            delay,
            connection,
        } => {
            let op = Operation::Restart(delay.unwrap_or(Duration::ZERO));
            act::run(&connection.connect().await?, &name, op, out)
                .await
                .map(done)
        }
        LiveCommand::Set {
            what:
                SetWhat::Image {
                    name,
                    assignment,
                    connection,
                },
        } => {
            let session = connection.connect().await?;
            template::set_image(&session, &name, &assignment, out)
                .await
                .map(done)
        }
        LiveCommand::Undo {
            name,
            to_revision,
            connection,
        } => {
            let session = connection.connect().await?;
            template::undo(&session, &name, to_revision, out)
                .await
                .map(done)
        }
        LiveCommand::Status {
            name,
            timeout,
            watch,
            connection,
        } => {
            let session = connection.connect().await?;
            let timeout = (!timeout.is_zero()).then_some(timeout);
            status::run(&session, &name, watch, timeout, out).await
        }
    }
}

pub(super) fn stdout_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal()
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}
