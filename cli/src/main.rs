//! `rollgate`: plan, lint and demo canary and blue-green Rollouts with Rollgate's engine.

mod demo;
mod findings;
mod lint;
mod live;
mod load;
mod plan;
mod plan_text;
mod view;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

/// Check Argo Rollouts manifests, plan their updates, watch and operate
/// live Rollouts.
///
/// Rollgate is progressive delivery for Kubernetes. `plan`, `lint` and
/// `demo` read Rollouts from YAML files and need no cluster; `get`, `list`,
/// `status`, `promote`, `abort`, `retry`, `pause`, `resume`, `restart`,
/// `set image` and `undo` work on a cluster, as `kubectl argo rollouts`
/// does, under Argo's controller or rollgate-controller.
#[derive(Debug, Parser)]
#[command(name = "rollgate", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the timeline each Rollout will follow.
    ///
    /// For each step: the canary's share of traffic, canary and stable pods,
    /// the header and mirror routes in effect and how the step ends; then how
    /// promotion ends the update and the shortest time it takes. For a
    /// blue-green Rollout: each phase (preview, analyses, promotion, switch,
    /// scale-down delay), the version each Service selects and the pods.
    Plan {
        /// YAML files with Rollouts (several documents or a `kind: List` are
        /// fine); `-` reads standard input.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Print the plan as a table (text) or as data for scripts (json,
        /// yaml; the fields are described in the README).
        #[arg(long, short, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
    /// Check Rollouts against Argo Rollouts' rules.
    ///
    /// Prints one line per problem, as FILE:LINE: namespace/name: field:
    /// message, and exits 1 when any Rollout is invalid. Features Rollgate
    /// does not run yet (`restartAt` on a blue-green Rollout) are warnings.
    Lint {
        /// YAML files with Rollouts; `-` reads standard input. Files without a
        /// Rollout are skipped with a note.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Treat features Rollgate does not run yet as errors (exit 1).
        #[arg(long)]
        strict: bool,
    },
    /// Watch a canary or blue-green update run against a simulated cluster.
    ///
    /// An update that is promoted, then one whose analysis fails and aborts,
    /// printing what `kubectl argo rollouts get rollout` would show at each
    /// change. A blue-green Rollout shows its preview and active Services
    /// switching; a canary's experiment steps show their Experiments.
    Demo {
        /// A Rollout to run instead of the built-in one (the first Rollout of
        /// the file is used).
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
        /// Print every frame at once instead of pacing them.
        #[arg(long)]
        fast: bool,
    },
    #[command(flatten)]
    Live(live::LiveCommand),
    /// Print a shell completion script.
    ///
    /// For example `rollgate completions bash >
    /// /etc/bash_completion.d/rollgate`, or `source <(rollgate completions
    /// zsh)`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// The format of `rollgate plan`'s output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    /// An aligned table per Rollout.
    Text,
    /// A JSON list with one plan per Rollout.
    Json,
    /// A YAML list with one plan per Rollout.
    Yaml,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = io::stdout().lock();
    let result = run(cli.command, &mut out).and_then(|code| {
        out.flush()?;
        Ok(code)
    });
    match result {
        Ok(code) => code,
        // The reader went away (`rollgate plan FILE | head -1`): stop quietly.
        Err(e) if closed_output(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let mut err = io::stderr();
            for line in format!("{e:#}").lines() {
                let _ = writeln!(err, "error: {line}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Whether an error is the output pipe having been closed.
fn closed_output(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn run(command: Command, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    match command {
        Command::Plan { files, output } => plan::command(&files, output, out),
        Command::Lint { files, strict } => lint::command(&files, strict, out),
        Command::Demo { file, fast } => {
            demo::command(file.as_deref(), fast, out)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Live(command) => Ok(live::run(command, out)?),
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "rollgate", &mut buf);
            out.write_all(&buf)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
