//! `rollgate demo`: the engine driving a simulated cluster through the
//! user's own Rollout: a first deploy, an image update promoted step by step
//! (shown as the command the user would type for their kind of workload),
//! then a failing release, added by the demo, that aborts by itself.

mod story;

use std::io::IsTerminal as _;
use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use rollout_core::sim::Sim;
use rollout_core::spec::{AnalysisStep, AnalysisTemplateRef, BackgroundAnalysis};
use rollout_core::{AnalysisPhase, Phase, Time};

pub(crate) use story::{Story, next_image};

use crate::view::{Ledger, RolloutInfo, colour_wanted, human_duration};

/// The example the demo runs when no file is given: seed 001's
/// `rollout-canary`, whose `workloadRef` names the Deployment `web` that
/// follows it.
const BUILT_IN: &str = concat!(
    include_str!("../../examples/manifests/seed001-rollout-canary.yaml"),
    "\n---\n",
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n",
    "spec:\n  selector:\n    matchLabels:\n      app: web\n",
    "  template:\n    metadata:\n      labels:\n        app: web\n",
    "    spec:\n      containers:\n      - name: web\n        image: example/web:1.4.0\n",
);

/// How long the demo's failing analysis runs before it reports failure.
const FAILING_ANALYSIS_AFTER: Duration = Duration::from_secs(90);

/// `rollgate demo [FILE] [--fast]`: runs the story of `file` (or of the
/// built-in example) on `out`, in colour when stdout is a terminal.
pub(crate) fn command(
    file: Option<&Path>,
    fast: bool,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    let story = match file {
        Some(f) => {
            // Every problem of the file's Rollout, each with its line.
            crate::load::first_rollout(f)?;
            Story::parse(&crate::load::read(f)?, &crate::load::display_name(f))?
        }
        None => Story::parse(BUILT_IN, "the built-in example")?,
    };
    let stdout = std::io::stdout();
    let opts = Options {
        delay: if fast {
            Duration::ZERO
        } else {
            Duration::from_millis(350)
        },
        colour: colour_wanted(stdout.is_terminal(), |k| std::env::var(k).ok()),
    };
    run(story, out, &opts)?;
    Ok(())
}

/// Where frames go and how.
pub(crate) struct Options {
    /// Real time between frames.
    pub(crate) delay: Duration,
    /// ANSI colours in the `get rollout` views.
    pub(crate) colour: bool,
}

/// What a frame shows at a glance: when only pods changed, a one-line
/// update is enough.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Glance {
    headline: (Option<Phase>, Option<String>, Option<String>, i32, i32),
    pods: Vec<(String, usize, usize)>,
}

impl Glance {
    fn of(info: &RolloutInfo) -> Self {
        let rs = info.revisions.iter().flat_map(|r| &r.replica_sets);
        Self {
            headline: (
                info.phase,
                info.message.clone(),
                info.step.clone(),
                info.set_weight,
                info.actual_weight,
            ),
            pods: rs
                .map(|rs| {
                    let ready = rs.pods.iter().filter(|p| p.status == "Running").count();
                    (rs.name.clone(), rs.pods.len(), ready)
                })
                .collect(),
        }
    }
}

/// `pods: canary 1/1 ready · stable 2/2 ready`.
fn pods_line(info: &RolloutInfo) -> String {
    let parts: Vec<String> = info
        .revisions
        .iter()
        .flat_map(|r| &r.replica_sets)
        .filter(|rs| !rs.pods.is_empty() || !rs.tags.is_empty())
        .map(|rs| {
            let ready = rs.pods.iter().filter(|p| p.status == "Running").count();
            let role = rs.tags.first().copied().unwrap_or("old");
            if rs.pods.is_empty() {
                format!("{role} scaled down")
            } else {
                format!("{role} {ready}/{} ready", rs.pods.len())
            }
        })
        .collect();
    format!("pods: {}", parts.join(" · "))
}

/// `hh:mm:ss` since the start of the demo.
fn clock(start: Time, now: Time) -> String {
    let s = now.saturating_since(start).as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

struct Show<'a> {
    out: &'a mut dyn std::io::Write,
    opts: &'a Options,
    start: Time,
    ledger: Ledger,
    last: Option<Glance>,
    last_view: Option<Glance>,
    seen_events: usize,
    frames: usize,
    get_command: String,
}

impl Show<'_> {
    fn say(&mut self, line: &str) -> std::io::Result<()> {
        writeln!(self.out, "{line}")
    }

    /// Prints the events since the last frame, then the `get rollout` view
    /// when the status, step or weights changed (or, with `full`, when
    /// anything changed since the last view), or a one-line pod update when
    /// only pods moved.
    fn frame(&mut self, sim: &Sim, full: bool) -> std::io::Result<()> {
        let info = RolloutInfo::of(sim, &self.ledger);
        let now = Glance::of(&info);
        for (at, e) in &sim.events[self.seen_events..] {
            let kind = if e.warning { "Warning" } else { "Normal " };
            let at = clock(self.start, *at);
            writeln!(self.out, "  {at} {kind} {}: {}", e.reason, e.message)?;
        }
        self.seen_events = sim.events.len();
        let at = clock(self.start, sim.now);
        if full && self.last_view.as_ref() == Some(&now) {
            return Ok(());
        }
        match &self.last {
            Some(last) if !full && last.headline == now.headline => {
                if *last != now {
                    writeln!(self.out, "  {at} {}", pods_line(&info))?;
                    self.last = Some(now);
                }
                return Ok(());
            }
            _ => {}
        }
        writeln!(self.out, "\n── {at} ── $ {}", self.get_command)?;
        write!(self.out, "{}", info.render(self.opts.colour))?;
        self.out.flush()?;
        self.last = Some(now.clone());
        self.last_view = Some(now);
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
            self.ledger.record(sim);
            if tick.decision.requeue_after == Some(Duration::ZERO) {
                // Show each instant once, when it has settled.
                sim.advance(&tick);
                continue;
            }
            self.frame(sim, false)?;
            if until(sim) || !sim.advance(&tick) {
                return Ok(());
            }
        }
        bail!("the simulation did not settle")
    }

    /// Plays on, promoting at every indefinite pause like a person would,
    /// until nothing is left to do or `until` holds.
    fn promote_through(
        &mut self,
        sim: &mut Sim,
        story: &Story,
        until: impl Fn(&Sim) -> bool,
    ) -> anyhow::Result<()> {
        let name = &story.rollout.metadata.name;
        for _ in 0..100 {
            self.play(sim, &until)?;
            let paused = sim.phase() == Some(Phase::Paused)
                && sim
                    .rollout
                    .status
                    .as_ref()
                    .is_some_and(|s| !s.pause_conditions.is_empty());
            if until(sim) || !paused {
                return Ok(());
            }
            self.say(&format!(
                "\n$ kubectl argo rollouts promote {name}{}",
                story.namespace_flag()
            ))?;
            self.say(&format!("rollout '{name}' promoted"))?;
            sim.promote();
        }
        bail!("the rollout kept pausing")
    }
}

/// Runs the story, writing frames to `out`. Returns the number of `get rollout` views.
pub(crate) fn run(
    story: Story,
    out: &mut dyn std::io::Write,
    opts: &Options,
) -> anyhow::Result<usize> {
    let start = Time::from_unix_seconds(1_790_000_000);
    let mut rollout = story.rollout.clone();
    // The controller works on the Rollout with the referenced template
    // resolved into it, as Argo Rollouts does.
    rollout.spec.template = Some(story.template.clone());
    let mut sim = Sim::new(rollout, start);
    let name = story.rollout.metadata.name.clone();
    let container = story.container().to_owned();
    let mut show = Show {
        out,
        opts,
        start,
        ledger: Ledger::new(start),
        last: None,
        last_view: None,
        seen_events: 0,
        frames: 0,
        get_command: format!(
            "kubectl argo rollouts get rollout {name}{}",
            story.namespace_flag()
        ),
    };

    show.say(&format!(
        "Rollgate demo: rollout {} from {}, run by the engine against a simulated cluster on a virtual clock (nothing is sent to a cluster).",
        story.rollout.object_name(),
        story.source
    ))?;
    show.say(&story.workload_line())?;

    show.say("\n▶ Release 1, the first deploy: a first revision skips the steps and becomes stable at once.")?;
    show.play(&mut sim, |_| false)?;

    let good = next_image(&story.containers[0].1);
    show.say(&format!(
        "\n▶ Release 2: a new image for container {container}, the way you would roll it out.",
    ))?;
    let (cmd, reply) = story.update_command(&good);
    show.say(&format!("$ {cmd}\n{reply}"))?;
    sim.set_image(&good);
    show.promote_through(&mut sim, &story, |_| false)?;

    let bad = next_image(&good);
    let analysis = match sim.rollout.spec.strategy.canary.as_mut() {
        Some(c) if c.analysis.is_some() => "makes every AnalysisRun of this release fail",
        Some(c) => {
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
            "adds a background analysis (template success-rate) and makes every AnalysisRun of this release fail"
        }
        None => bail!(
            "{}: rollout {}: the demo runs canary rollouts only",
            story.source,
            story.rollout.object_name()
        ),
    };
    show.say(&format!(
        "\n▶ Release 3, a failing release added by the demo (not part of {}): image {bad} for container {container}; the demo {analysis} after {}.",
        story.source,
        human_duration(FAILING_ANALYSIS_AFTER)
    ))?;
    sim.script_analysis(|_| (AnalysisPhase::Failed, FAILING_ANALYSIS_AFTER));
    let (cmd, reply) = story.update_command(&bad);
    show.say(&format!("$ {cmd}\n{reply}"))?;
    sim.set_image(&bad);
    let degraded = |s: &Sim| s.phase() == Some(Phase::Degraded);
    show.promote_through(&mut sim, &story, degraded)?;
    show.play(&mut sim, |_| false)?;
    show.frame(&sim, true)?;
    if degraded(&sim) {
        show.say("\nThe analysis failed and the rollout aborted by itself: all traffic went back to the stable version at once, and the canary was scaled down after its abort delay.")?;
    } else {
        show.say(&format!(
            "\nRelease 3 was fully promoted before its analysis failed ({} after it started), so there was nothing left to abort: no step of this Rollout waits that long.",
            human_duration(FAILING_ANALYSIS_AFTER)
        ))?;
    }
    Ok(show.frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_story_promotes_then_aborts_the_demos_release() {
        let story = Story::parse(BUILT_IN, "the built-in example").unwrap();
        let mut out = Vec::new();
        let opts = Options {
            delay: Duration::ZERO,
            colour: false,
        };
        let frames = run(story, &mut out, &opts).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(frames >= 8, "{frames} frames");
        assert!(
            text.contains("Status:          ॥ Paused\nMessage:         CanaryPauseStep"),
            "{text}"
        );
        assert!(text.contains("  SetWeight:     50\n  ActualWeight:  50"));
        assert!(text.contains("example/web:1.4.1 (canary)"), "{text}");
        assert!(text.contains("$ kubectl argo rollouts promote rollout-canary\n"));
        assert!(text.contains(
            "RolloutAborted: Rollout aborted update to revision 3: Background analysis phase error/failed"
        ));
        // The story ends on a full view of the aborted rollout.
        let last = text.rsplit("── ").next().unwrap();
        assert!(last.contains("Status:          ✖ Degraded"), "{last}");
        assert!(last.contains("ActualWeight:  0"), "{last}");
        assert!(last.contains("canary,delay:"), "{last}");
        assert!(text.ends_with("after its abort delay.\n"), "{text}");
    }

    #[test]
    fn pod_lines_name_each_replica_set_by_its_role() {
        let story = Story::parse(BUILT_IN, "b").unwrap();
        let mut rollout = story.rollout.clone();
        rollout.spec.template = Some(story.template.clone());
        let start = Time::from_unix_seconds(0);
        let mut sim = Sim::new(rollout, start);
        let mut ledger = Ledger::new(start);
        sim.reconcile().unwrap();
        ledger.record(&sim);
        let info = RolloutInfo::of(&sim, &ledger);
        assert_eq!(pods_line(&info), "pods: stable 0/2 ready");
        assert_eq!(clock(start, start + Duration::from_secs(3725)), "01:02:05");
    }
}
