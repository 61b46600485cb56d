//! `rollgate`: plan, lint and demo canary Rollouts with Rollgate's engine.

mod demo;
mod load;
mod plan;
mod view;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Progressive delivery for Kubernetes: plan, lint and demo canary Rollouts.
#[derive(Debug, Parser)]
#[command(name = "rollgate", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the timeline a Rollout will follow: weights, pods, routes and pauses per step.
    Plan {
        /// A YAML file with one or more Rollouts.
        file: PathBuf,
    },
    /// Check Rollouts against Argo Rollouts' rules; exit 1 when any is invalid.
    Lint {
        /// YAML files with Rollouts.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run a canary update and a failing one against a simulated cluster.
    Demo {
        /// A Rollout to run instead of the built-in one (seed 001's `rollout-canary`).
        file: Option<PathBuf>,
        /// Print every frame at once instead of pacing them.
        #[arg(long)]
        fast: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Plan { file } => {
            for rollout in load::rollouts(&file)? {
                print!("{}", plan::timeline(&rollout)?.render());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Lint { files } => {
            let mut invalid = false;
            for file in &files {
                match load::rollouts(file) {
                    Err(e) => {
                        invalid = true;
                        println!("{e:#}");
                    }
                    Ok(rollouts) => {
                        for r in rollouts {
                            let errors = rollout_core::validate(&r);
                            if errors.is_empty() {
                                println!(
                                    "{}: rollout {} is valid",
                                    file.display(),
                                    r.object_name()
                                );
                            }
                            for e in errors {
                                invalid = true;
                                println!("{}: {e}", file.display());
                            }
                        }
                    }
                }
            }
            Ok(if invalid {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Demo { file, fast } => {
            demo::command(file.as_deref(), fast)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
