//! `status NAME [--timeout D] [--watch]`, for pipelines: the Rollout's
//! status as Argo computes it (`Healthy`, `Progressing`, `Paused`,
//! `Degraded`, with the message after ` - `), printed at each change until
//! it is Healthy or Degraded.
//!
//! Exit codes: 0 Healthy; 1 Degraded (an aborted update, an invalid spec,
//! a progress deadline passed) or any error; 2 when `--timeout` passes
//! first. kubectl-argo-rollouts exits 1 for a timeout too: the distinct
//! code is ours, so a pipeline can tell "failed" from "not done yet".
//! As in Argo, `Paused` and `Progressing` are not final: a Rollout waiting
//! at a pause step times out. With `--watch=false` the status is printed
//! once and only Degraded exits 1. A malformed argument is refused with
//! exit code 2 too (the command line parser's code), before anything is
//! read: it prints a usage error instead of a status line.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use futures::StreamExt;
use rollout_core::Phase;
use rollout_core::conditions::rollout_phase;
use tokio::time::Instant;

use super::LiveError;
use super::changes::changes;
use super::client::Session;

/// The exit code when the Rollout is Degraded.
pub(crate) const DEGRADED: u8 = 1;
/// The exit code when the timeout passes first.
pub(crate) const TIMED_OUT: u8 = 2;

/// `Status` or `Status - message`, as kubectl-argo-rollouts prints it.
fn line(phase: Phase, message: &str) -> String {
    if message.is_empty() {
        phase.as_str().to_owned()
    } else {
        format!("{} - {message}", phase.as_str())
    }
}

/// Reads Rollout `name`'s status: its line and phase.
async fn read(session: &Session, name: &str) -> Result<(Phase, String), LiveError> {
    let read = session.rollout(name).await?;
    let (phase, message) = rollout_phase(&read.rollout);
    Ok((phase, line(phase, &message)))
}

/// Prints the status (once, or at each change with `watch`) and returns
/// the exit code.
pub(crate) async fn run(
    session: &Session,
    name: &str,
    watch: bool,
    timeout: Option<Duration>,
    out: &mut dyn Write,
) -> Result<ExitCode, LiveError> {
    let object = session.object("rollout", name);
    let (mut phase, mut last) = read(session, name).await?;
    if !watch {
        // As kubectl-argo-rollouts: the bare word for a final status.
        let shown = if matches!(phase, Phase::Healthy | Phase::Degraded) {
            phase.as_str()
        } else {
            &last
        };
        writeln!(out, "{shown}")?;
        return Ok(exit(phase, &object, &last));
    }
    writeln!(out, "{last}")?;
    out.flush()?;
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut changes = changes(session, name, false);
    while !matches!(phase, Phase::Healthy | Phase::Degraded) {
        let next = match deadline {
            Some(d) => tokio::time::timeout_at(d, changes.next())
                .await
                .ok()
                .flatten(),
            None => changes.next().await,
        };
        if next.is_none() {
            let waited = humantime::format_duration(timeout.unwrap_or_default());
            eprintln!("{object}: still {last} after {waited}");
            return Ok(ExitCode::from(TIMED_OUT));
        }
        let (now, text) = read(session, name).await?;
        if text != last {
            writeln!(out, "{text}")?;
            out.flush()?;
        }
        (phase, last) = (now, text);
    }
    Ok(exit(phase, &object, &last))
}

/// 1 (with a message on standard error) when Degraded, else 0.
fn exit(phase: Phase, object: &str, line: &str) -> ExitCode {
    if phase == Phase::Degraded {
        eprintln!("{object} is degraded: {line}");
        ExitCode::from(DEGRADED)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_exit_codes_follow_kubectl_argo_rollouts() {
        assert_eq!(line(Phase::Healthy, ""), "Healthy");
        assert_eq!(
            line(Phase::Paused, "CanaryPauseStep"),
            "Paused - CanaryPauseStep"
        );
        assert_eq!(
            exit(Phase::Healthy, "rollout a/b", "Healthy"),
            ExitCode::SUCCESS
        );
        assert_eq!(
            exit(Phase::Paused, "rollout a/b", "Paused"),
            ExitCode::SUCCESS
        );
        assert_eq!(
            exit(
                Phase::Degraded,
                "rollout a/b",
                "Degraded - RolloutAborted: x"
            ),
            ExitCode::from(DEGRADED)
        );
    }
}
