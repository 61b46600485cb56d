//! `get rollout NAME [--watch]`: the tree view of a live Rollout, drawn by
//! the `view` module; with `--watch`, drawn again on every change until
//! interrupted or `--timeout` passes.
//!
//! On a terminal each drawing replaces the last (the screen is cleared, as
//! kubectl-argo-rollouts does); otherwise drawings follow each other,
//! separated by a blank line, and one is printed only when it differs from
//! the last.

use std::io::Write;
use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;

use super::LiveError;
use super::changes::changes;
use super::client::Session;
use super::snapshot::Snapshot;
use crate::view::RolloutInfo;

/// How long changes arriving together are gathered into one drawing: until
/// none came for `SETTLE`, for `SETTLE_AT_MOST` at most (pods of a busy
/// namespace never stop changing).
const SETTLE: Duration = Duration::from_millis(200);
const SETTLE_AT_MOST: Duration = Duration::from_secs(1);

/// Prints Rollout `name`'s tree once, or on every change with `watch`.
pub(crate) async fn rollout(
    session: &Session,
    name: &str,
    watch: bool,
    timeout: Option<Duration>,
    colour: bool,
    out: &mut dyn Write,
) -> Result<(), LiveError> {
    let draw = |snapshot: &Snapshot| RolloutInfo::of_live(snapshot).render(colour);
    if !watch {
        let text = draw(&Snapshot::read(session, name).await?);
        out.write_all(text.as_bytes())?;
        return Ok(());
    }
    // Read once first, so that a missing Rollout is an error at once.
    let terminal = super::stdout_is_terminal();
    let mut last = draw(&Snapshot::read(session, name).await?);
    write_frame(out, &last, terminal, true)?;
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut changes = changes(session, name, true);
    loop {
        let next = match deadline {
            Some(d) => tokio::time::timeout_at(d, changes.next())
                .await
                .ok()
                .flatten(),
            None => changes.next().await,
        };
        if next.is_none() {
            return Ok(());
        }
        // Let a burst of changes (a scale-up touches many objects) settle.
        let until = Instant::now() + SETTLE_AT_MOST;
        while Instant::now() < until {
            let quiet = (Instant::now() + SETTLE).min(until);
            if !matches!(
                tokio::time::timeout_at(quiet, changes.next()).await,
                Ok(Some(()))
            ) {
                break;
            }
        }
        let text = draw(&Snapshot::read(session, name).await?);
        if text != last {
            write_frame(out, &text, terminal, false)?;
            last = text;
        }
    }
}

fn write_frame(
    out: &mut dyn Write,
    text: &str,
    terminal: bool,
    first: bool,
) -> std::io::Result<()> {
    if terminal {
        // Cursor home, then clear the screen.
        out.write_all(b"\x1b[H\x1b[2J")?;
    } else if !first {
        out.write_all(b"\n")?;
    }
    out.write_all(text.as_bytes())?;
    out.flush()
}
