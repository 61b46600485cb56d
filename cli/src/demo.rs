//! `rollgate demo`: the engine driving a simulated cluster through a canary
//! update that is promoted, then one whose analysis fails and aborts.

use std::time::Duration;

use rollout_core::sim::Sim;
use rollout_core::spec::{AnalysisStep, AnalysisTemplateRef, BackgroundAnalysis};
use rollout_core::{AnalysisPhase, Phase, Rollout, Time};

use crate::view;

/// The Rollout the demo runs when no file is given (seed 001's `rollout-canary`).
pub(crate) const DEFAULT_ROLLOUT: &str =
    include_str!("../../examples/manifests/seed001-rollout-canary.yaml");

/// Where frames go and how fast.
pub(crate) struct Options {
    /// Real time between frames.
    pub(crate) delay: Duration,
}

struct Show<'a> {
    out: &'a mut dyn std::io::Write,
    opts: &'a Options,
    start: Time,
    last: Option<view::Summary>,
    seen_events: usize,
    frames: usize,
}

impl Show<'_> {
    fn say(&mut self, line: &str) -> std::io::Result<()> {
        writeln!(self.out, "{line}")
    }

    /// Prints the events since the last frame, then the `get rollout` view
    /// when the status, step or weights changed, or a one-line pod update
    /// when only pods moved.
    fn frame(&mut self, sim: &Sim, force: bool) -> std::io::Result<()> {
        let now = view::summary(sim);
        for (at, e) in &sim.events[self.seen_events..] {
            let kind = if e.warning { "Warning" } else { "Normal " };
            writeln!(
                self.out,
                "  {} {kind} {}: {}",
                view::clock(self.start, *at),
                e.reason,
                e.message
            )?;
        }
        self.seen_events = sim.events.len();
        let headline_changed = self.last.as_ref().is_none_or(|l| !l.same_headline(&now));
        if !force && !headline_changed {
            if self.last.as_ref() != Some(&now) {
                writeln!(
                    self.out,
                    "  {} {}",
                    view::clock(self.start, sim.now),
                    view::pods_line(sim)
                )?;
                self.last = Some(now);
            }
            return Ok(());
        }
        writeln!(
            self.out,
            "\n── {} ── $ kubectl argo rollouts get rollout {}",
            view::clock(self.start, sim.now),
            sim.rollout.metadata.name
        )?;
        write!(self.out, "{}", view::render(sim))?;
        self.out.flush()?;
        self.last = Some(now);
        self.frames += 1;
        if !self.opts.delay.is_zero() {
            std::thread::sleep(self.opts.delay);
        }
        Ok(())
    }

    /// Steps the simulation, printing frames, until it waits for a person or `until` holds.
    fn play(&mut self, sim: &mut Sim, until: impl Fn(&Sim) -> bool) -> anyhow::Result<()> {
        for _ in 0..10_000 {
            let tick = sim.reconcile()?;
            if tick.decision.requeue_after == Some(Duration::ZERO) {
                // Show each instant once, when it has settled.
                sim.advance(&tick);
                continue;
            }
            self.frame(sim, false)?;
            if until(sim) {
                return Ok(());
            }
            if !sim.advance(&tick) {
                return Ok(());
            }
        }
        anyhow::bail!("the simulation did not settle")
    }
}

/// Runs the demo on `rollout`, writing frames to `out`. Returns the number of frames.
pub(crate) fn run(
    rollout: Rollout,
    out: &mut dyn std::io::Write,
    opts: &Options,
) -> anyhow::Result<usize> {
    rollout_core::check(&rollout)?;
    let start = Time::from_unix_seconds(1_790_000_000);
    let mut sim = Sim::new(rollout, start);
    let name = sim.rollout.metadata.name.clone();
    if sim.rollout.spec.template.is_none() {
        // A workloadRef rollout: give the simulated Deployment its first image.
        sim.set_image("hello:1.23.1");
    }
    let mut show = Show {
        out,
        opts,
        start,
        last: None,
        seen_events: 0,
        frames: 0,
    };

    show.say("▶ First deploy: the first revision is promoted at once, no steps.")?;
    show.play(&mut sim, |_| false)?;

    show.say("\n▶ Update the image: the canary steps begin.")?;
    show.say(&format!(
        "$ kubectl patch deployment web -p '{{\"spec\":{{\"template\":{{\"spec\":{{\"containers\":[{{\"name\":\"web\",\"image\":\"{}\"}}]}}}}}}}}'",
        next_image(&sim, 2)
    ))?;
    sim.set_image(&next_image(&sim, 2));
    promote_through(&mut show, &mut sim, &name)?;

    show.say("\n▶ A bad release: background analysis (success-rate) fails, and the rollout aborts by itself.")?;
    if let Some(c) = sim.rollout.spec.strategy.canary.as_mut() {
        c.analysis = Some(BackgroundAnalysis {
            run: AnalysisStep {
                templates: vec![AnalysisTemplateRef {
                    template_name: "success-rate".into(),
                    cluster_scope: None,
                }],
                ..Default::default()
            },
            starting_step: None,
        });
    }
    sim.script_analysis(|_| (AnalysisPhase::Failed, Duration::from_secs(90)));
    let bad = next_image(&sim, 3);
    show.say(&format!(
        "$ kubectl argo rollouts set image {name} web={bad}"
    ))?;
    sim.set_image(&bad);
    show.play(&mut sim, |s| s.phase() == Some(Phase::Degraded))?;
    show.play(&mut sim, |_| false)?;
    show.frame(&sim, false)?;
    show.say("\nAll traffic went back to the stable version in one update, and the canary was scaled down after its abort delay.")?;
    Ok(show.frames)
}

/// Steps through the update, promoting at every indefinite pause like a person would.
fn promote_through(show: &mut Show<'_>, sim: &mut Sim, name: &str) -> anyhow::Result<()> {
    for _ in 0..100 {
        show.play(sim, |_| false)?;
        let paused = sim.phase() == Some(Phase::Paused)
            && sim
                .rollout
                .status
                .as_ref()
                .is_some_and(|s| !s.pause_conditions.is_empty());
        if !paused {
            return Ok(());
        }
        show.say(&format!("\n$ kubectl argo rollouts promote {name}"))?;
        show.say(&format!("rollout '{name}' promoted"))?;
        sim.promote();
    }
    anyhow::bail!("the rollout kept pausing")
}

/// `hello:1.23.1` → `hello:1.23.<n>`; other images get a `-v<n>` tag.
fn next_image(sim: &Sim, n: u32) -> String {
    let image = rollout_core::sim::image_of(&sim.rollout);
    match image.rsplit_once('.') {
        Some((head, tail)) if tail.chars().all(|c| c.is_ascii_digit()) => format!("{head}.{n}"),
        _ => format!("{}-v{n}", image.split(':').next().unwrap_or("app")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::rollouts_from_str;

    fn play() -> (String, usize) {
        let rollout = rollouts_from_str(DEFAULT_ROLLOUT, "default")
            .unwrap()
            .remove(0);
        let mut out = Vec::new();
        let frames = run(
            rollout,
            &mut out,
            &Options {
                delay: Duration::ZERO,
            },
        )
        .unwrap();
        (String::from_utf8(out).unwrap(), frames)
    }

    #[test]
    fn the_demo_shows_the_seed_scenario_and_an_abort() {
        let (text, frames) = play();
        assert!(frames >= 8, "{frames} frames");
        assert!(
            text.contains("Status:          ॥ Paused\nMessage:         CanaryPauseStep"),
            "{text}"
        );
        assert!(
            text.contains("  SetWeight:     50\n  ActualWeight:  50"),
            "{text}"
        );
        assert!(text.contains("hello:1.23.2 (canary)"), "{text}");
        assert!(text.contains("$ kubectl argo rollouts promote rollout-canary"));
        assert!(text.contains("Status:          ✔ Healthy"));
        assert!(text.contains("RolloutAborted: Rollout aborted update to revision 3: Background analysis phase failed"), "{text}");
        let last = text.rsplit("── ").next().unwrap();
        assert!(last.contains("✖ Degraded"), "{last}");
        assert!(last.contains("ActualWeight:  0"), "{last}");
    }
}
