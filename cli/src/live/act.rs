//! `promote [--full]`, `abort`, `retry rollout`, `pause`, `resume` and
//! `restart`: read the Rollout, build the patch with `rollout_core::ops`,
//! send it, and say what was done in kubectl-argo-rollouts' words.
//!
//! When an operation has both a spec part and a status part (`promote` and
//! `resume` of a Rollout paused with `spec.paused`, `promote --full` of
//! one), the spec part (`paused: false`) is sent first, then the status
//! part to the status subresource. kubectl-argo-rollouts sends them the
//! other way round, and then the result depends on timing: if Argo's
//! controller reconciles between the two requests, it sees the pause
//! conditions cleared while `spec.paused` still holds and pauses at the
//! step again, so the rollout stays Paused until a second `promote`. Sent
//! spec first, every state in between is still paused by its pause
//! conditions, and the promotion always goes on.

use std::io::Write;
use std::time::{Duration, SystemTime};

use rollout_core::{Time, ops};

use super::LiveError;
use super::client::Session;

/// A status or spec operation on a Rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Promote,
    PromoteFull,
    Abort,
    Retry,
    Pause,
    /// The same patch as [`Operation::Promote`] (current kubectl-argo-rollouts
    /// has no `resume`; its `promote` resumes).
    Resume,
    /// Restart the pods this long from now.
    Restart(Duration),
}

impl Operation {
    /// What the command prints once done, after `rollout 'NAME' `.
    fn done(self) -> String {
        match self {
            Self::Promote => "promoted".into(),
            Self::PromoteFull => "fully promoted".into(),
            Self::Abort => "aborted".into(),
            Self::Retry => "retried".into(),
            Self::Pause => "paused".into(),
            Self::Resume => "resumed".into(),
            Self::Restart(d) => format!("restarts in {}", humantime::format_duration(d)),
        }
    }
}

/// Applies `op` to Rollout `name` and prints `rollout 'NAME' <done>`.
pub(crate) async fn run(
    session: &Session,
    name: &str,
    op: Operation,
    out: &mut dyn Write,
) -> Result<(), LiveError> {
    let read = session.rollout(name).await?;
    let rollout = &read.rollout;
    let patch = match op {
        Operation::Promote => ops::promote(rollout),
        Operation::PromoteFull => ops::promote_full(rollout),
        Operation::Abort => ops::abort(rollout),
        Operation::Retry => ops::retry(rollout),
        Operation::Pause => ops::pause(rollout),
        Operation::Resume => ops::resume(rollout),
        Operation::Restart(delay) => {
            let now = Time::from_system_time(SystemTime::now());
            ops::restart(now + delay)
        }
    };
    let api = session.rollouts();
    if let Some(body) = patch.spec_body() {
        session
            .merge_patch(&api, "rollout", name, &body, false)
            .await?;
    }
    if let Some(body) = patch.status_body() {
        session
            .merge_patch(&api, "rollout", name, &body, true)
            .await?;
    }
    writeln!(out, "rollout '{name}' {}", op.done())?;
    Ok(())
}
