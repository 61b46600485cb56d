//! The live data-plane demo: `scripts/cluster demo` on a cluster brought up
//! with `ROLLGATE_DATAPLANE=1`. A Rollout under `rollgate-controller`
//! moves its real traffic split step by step, then a bad version's analysis
//! fails and the traffic goes back to the stable version, drawn live in
//! the terminal; it ends by itself and removes what it created.
//!
//! ```text
//! demo [--plain] [--frames N] [--rate R]
//! ```
//!
//! `--plain` prints every frame as plain text, one after the other, with no
//! terminal control codes; `--frames N` stops after N frames (default 300),
//! `--rate R` sends R requests a second (default 100, at most 1000).

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::Write as _;
use std::process::ExitCode;

use support::demo::{self, Options};

const USAGE: &str = "usage: demo [--plain] [--frames N] [--rate R]";

/// The options from the command line, or what is wrong with them.
fn parse(args: impl Iterator<Item = String>) -> Result<(Options, bool), String> {
    let mut options = Options::default();
    let mut plain = false;
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--plain" => plain = true,
            "--frames" | "--rate" => {
                let value = args.next().unwrap_or_default();
                let number: u32 = value.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    format!("{arg}: expected a positive integer, found {value:?}")
                })?;
                if arg == "--frames" {
                    options.frames = number as usize;
                } else if number > 1_000 {
                    return Err(format!(
                        "--rate: expected at most 1000 requests a second, found {number}"
                    ));
                } else {
                    options.rate = number;
                }
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok((options, plain))
}

#[tokio::main]
async fn main() -> ExitCode {
    let (options, plain) = match parse(std::env::args().skip(1)) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("demo: {message}");
            return ExitCode::from(2);
        }
    };
    let frames = demo::run(options, |frame| {
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "{}", demo::render(frame, !plain));
        if plain {
            let _ = writeln!(out);
        }
        let _ = out.flush();
    })
    .await;
    match frames {
        Some(frames) => {
            println!(
                "{} frames; everything the demo created is removed.",
                frames.len()
            );
            ExitCode::SUCCESS
        }
        None => ExitCode::FAILURE,
    }
}
