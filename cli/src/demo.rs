//! `rollgate demo`: the engine driving a simulated cluster through the
//! user's own Rollout: a first deploy, an image update promoted step by step
//! (shown as the command the user would type for their kind of workload),
//! then a failing release, added by the demo, that aborts by itself.
//!
//! A canary Rollout walks its steps (an `experiment` step runs its
//! Experiment, its weighted templates shown as extra traffic
//! destinations); a blue-green one brings the new version up behind its
//! preview Service, switches the active Service on promotion and keeps the
//! old pods for `scaleDownDelaySeconds`. Each Service pointed elsewhere is
//! a line of its own.

mod bluegreen;
mod story;

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use rollout_core::sim::Sim;
use rollout_core::spec::{AnalysisStep, AnalysisTemplateRef, BackgroundAnalysis};
use rollout_core::status::WeightDestination;
use rollout_core::{AnalysisPhase, Phase, Rollout, Time};

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
    /// Each Experiment's phase: a change is worth a view.
    experiments: Vec<(String, AnalysisPhase)>,
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
            experiments: info
                .revisions
                .iter()
                .flat_map(|r| &r.experiments)
                .map(|e| (e.name.clone(), e.phase))
                .collect(),
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
    /// The Services' selectors as last shown.
    services: BTreeMap<String, String>,
    /// The router's extra destinations as last shown.
    extra: Vec<WeightDestination>,
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
        self.changes(sim, &at)?;
        if full && self.last_view.as_ref() == Some(&now) {
            return Ok(());
        }
        match &self.last {
            Some(last)
                if !full
                    && last.headline == now.headline
                    && last.experiments == now.experiments =>
            {
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

    /// One line per Service pointed elsewhere since the last frame, and one
    /// for the split when the router's extra destinations (an Experiment's
    /// weighted templates) changed.
    fn changes(&mut self, sim: &Sim, at: &str) -> std::io::Result<()> {
        for (name, hash) in &sim.services {
            if self.services.get(name) == Some(hash) {
                continue;
            }
            let role = service_role(&sim.rollout, name);
            let revision = sim
                .replica_set(hash)
                .map(|rs| format!(" (revision {})", rs.revision))
                .unwrap_or_default();
            writeln!(
                self.out,
                "  {at} {role}Service {name} selects rollouts-pod-template-hash={hash}{revision}"
            )?;
        }
        self.services.clone_from(&sim.services);
        let Some(traffic) = &sim.router.applied else {
            return Ok(());
        };
        if traffic.additional != self.extra {
            let mut parts = vec![format!("canary {}", traffic.canary.weight)];
            parts.extend(traffic.additional.iter().map(|d| {
                let service = d.service_name.as_deref().unwrap_or("(no Service)");
                format!("experiment {service} {}", d.weight)
            }));
            parts.push(format!("stable {}", traffic.stable.weight));
            writeln!(
                self.out,
                "  {at} traffic: {} (of {})",
                parts.join(" · "),
                traffic.max_weight
            )?;
            self.extra.clone_from(&traffic.additional);
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

/// How the demo makes release 3 fail, and how the story ends when it aborts.
struct Failing {
    /// What the demo changes, after "the demo".
    change: &'static str,
    /// The closing sentence of an aborted release.
    aborted: String,
}

/// The analysis the demo adds when the Rollout has none where it needs one.
fn success_rate() -> AnalysisStep {
    AnalysisStep {
        templates: vec![AnalysisTemplateRef {
            template_name: "success-rate".into(),
            cluster_scope: None,
        }],
        ..Default::default()
    }
}

/// Makes release 3 of `rollout` fail: every AnalysisRun and Experiment
/// fails, and a canary with neither a background analysis nor an
/// `experiment` step gets a background analysis, a blue-green Rollout
/// without a pre-promotion analysis gets one.
fn failing_release(rollout: &mut Rollout, story: &Story) -> anyhow::Result<Failing> {
    const FAIL: &str = "makes every AnalysisRun of this release fail";
    if let Some(c) = rollout.spec.strategy.canary.as_mut() {
        let experiment = c.steps.iter().any(|s| s.experiment().is_some());
        if c.analysis.is_none() && experiment {
            return Ok(Failing {
                change: "makes every Experiment and AnalysisRun of this release fail",
                aborted: "The Experiment failed and the rollout aborted by itself: its weighted templates and the canary lost their traffic at once, and the canary was scaled down after its abort delay.".to_owned(),
            });
        }
        let change = if c.analysis.is_some() {
            FAIL
        } else {
            c.analysis = Some(BackgroundAnalysis {
                run: success_rate(),
                starting_step: None,
            });
            "adds a background analysis (template success-rate) and makes every AnalysisRun of this release fail"
        };
        let aborted = "The analysis failed and the rollout aborted by itself: all traffic went back to the stable version at once, and the canary was scaled down after its abort delay.".to_owned();
        return Ok(Failing { change, aborted });
    }
    if let Some(bg) = rollout.spec.strategy.blue_green.as_mut() {
        let change = if bg.pre_promotion_analysis.is_some() {
            FAIL
        } else {
            bg.pre_promotion_analysis = Some(success_rate());
            "adds a pre-promotion analysis (template success-rate) and makes every AnalysisRun of this release fail"
        };
        let aborted = bluegreen::aborted_line(bg);
        return Ok(Failing { change, aborted });
    }
    bail!(
        "{}: rollout {}: spec.strategy: the demo runs canary and blue-green rollouts",
        story.source,
        story.rollout.object_name()
    )
}

/// `active ` or `preview ` for a blue-green Rollout's Services, else nothing.
fn service_role(rollout: &Rollout, service: &str) -> &'static str {
    match rollout.blue_green() {
        Some(bg) if bg.active_service == service => "active ",
        Some(bg) if bg.preview_service.as_deref() == Some(service) => "preview ",
        _ => "",
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
        services: BTreeMap::new(),
        extra: Vec::new(),
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
    if let Some(bg) = story.rollout.blue_green() {
        show.say(&bluegreen::release_line(bg))?;
    }
    sim.set_image(&good);
    show.promote_through(&mut sim, &story, |_| false)?;

    let bad = next_image(&good);
    let failing = failing_release(&mut sim.rollout, &story)?;
    show.say(&format!(
        "\n▶ Release 3, a failing release added by the demo (not part of {}): image {bad} for container {container}; the demo {} after {}.",
        story.source,
        failing.change,
        human_duration(FAILING_ANALYSIS_AFTER)
    ))?;
    sim.script_analysis(|_| (AnalysisPhase::Failed, FAILING_ANALYSIS_AFTER));
    sim.experiment_outcome = Some((AnalysisPhase::Failed, FAILING_ANALYSIS_AFTER));
    let (cmd, reply) = story.update_command(&bad);
    show.say(&format!("$ {cmd}\n{reply}"))?;
    sim.set_image(&bad);
    let degraded = |s: &Sim| s.phase() == Some(Phase::Degraded);
    show.promote_through(&mut sim, &story, degraded)?;
    show.play(&mut sim, |_| false)?;
    show.frame(&sim, true)?;
    if degraded(&sim) {
        show.say(&format!("\n{}", failing.aborted))?;
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
