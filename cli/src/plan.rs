//! `rollgate plan`: the timeline a Rollout's steps will follow, without a cluster.
//!
//! Built from rollout-core's public building blocks (replica math and the
//! step semantics of `rollout_core::steps`), so the numbers are the ones the
//! engine uses. The steps are walked once, front to back, so a plan takes
//! time linear in the number of steps.
//!
//! The types here are what `--output json|yaml` prints: one [`Plan`] per
//! Rollout, in a list. Field names are camelCase; the README describes them.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use rollout_core::manifest::Object;
use rollout_core::replicas;
use rollout_core::spec::{ExperimentStep, StepAction};
use rollout_core::{FieldError, Rollout};
use serde::Serialize;

use crate::{Output, findings, load, plan_text};

mod bluegreen;
mod walk;

pub(crate) use bluegreen::{BlueGreenPhase, promotion_words, scale_down_delay};
use walk::Walk;

/// The plan of one Rollout.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Plan {
    /// The file the Rollout was read from (`stdin` for standard input).
    pub(crate) file: String,
    /// The line of that file where the Rollout starts.
    pub(crate) line: usize,
    /// `namespace/name` (namespace `default` when unset).
    pub(crate) rollout: String,
    /// `canary` or `blueGreen`.
    pub(crate) strategy: &'static str,
    /// `spec.replicas` (1 when unset).
    pub(crate) replicas: i32,
    /// How traffic is split; absent for a basic canary, where traffic
    /// follows the ratio of pods, and for blue-green.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) traffic_routing: Option<TrafficRoutingPlan>,
    /// `spec.paused`: while true, nothing advances until the rollout is
    /// resumed (`kubectl argo rollouts resume`).
    pub(crate) paused: bool,
    /// The background analysis (`canary.analysis`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) background_analysis: Option<BackgroundAnalysisPlan>,
    /// The steps, in order (empty for blue-green, which has none).
    pub(crate) steps: Vec<StepPlan>,
    /// A blue-green update's phases, in order (empty for canary).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) blue_green: Vec<BlueGreenPhase>,
    /// What happens after the last step.
    pub(crate) finish: String,
    /// The least time the update takes to be promoted.
    pub(crate) shortest: Shortest,
    /// Features of this Rollout that Rollgate does not run yet, each as
    /// `field: message`; they are also printed as warnings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) unsupported: Vec<String>,
}

/// `trafficRouting` in effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TrafficRoutingPlan {
    /// The routers configured (`istio`, `nginx`, `plugins (name, ...)`, ...).
    pub(crate) providers: Vec<String>,
    /// The total weight (`maxTrafficWeight`, default 100).
    pub(crate) max_traffic_weight: i32,
}

/// `canary.analysis`: an AnalysisRun that runs beside the steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BackgroundAnalysisPlan {
    /// The AnalysisTemplates it runs.
    pub(crate) templates: Vec<String>,
    /// The step number (1-based) from which it runs (`startingStep` + 1).
    pub(crate) starts_at_step: usize,
    /// A failed run aborts the rollout (always true; said for readers).
    pub(crate) failure_aborts: bool,
}

/// One row of the timeline: the state while a step is in effect.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StepPlan {
    /// The step number, from 1.
    pub(crate) step: usize,
    /// The step as written (`setWeight: 20`, `pause: 10m`).
    pub(crate) action: String,
    /// The canary's traffic weight, out of `maxTrafficWeight` (for a basic
    /// canary, the share of pods out of 100, rounded down).
    pub(crate) canary_weight: i32,
    /// The canary's share of traffic in percent (0.5 for 5 of 1000).
    pub(crate) canary_percent: f64,
    /// The stable share of traffic in percent.
    pub(crate) stable_percent: f64,
    /// Canary pods.
    pub(crate) canary_pods: i32,
    /// Stable pods.
    pub(crate) stable_pods: i32,
    /// Managed routes in effect (`header beta [x-beta=yes]`, `mirror shadow 20%`).
    pub(crate) routes: Vec<String>,
    /// At an `experiment` step with traffic routing: its templates with a
    /// `weight`, extra destinations taken from the stable share while the
    /// Experiment runs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) experiment_weights: Vec<ExperimentWeight>,
    /// Whether the background analysis runs during this step.
    pub(crate) background_analysis: bool,
    /// How the step ends, in words.
    pub(crate) ends: String,
    /// For a timed pause, its length in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) pause_seconds: Option<u64>,
}

/// An experiment template's share of traffic.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExperimentWeight {
    /// The template's name.
    pub(crate) template: String,
    /// Its weight, out of `maxTrafficWeight`.
    pub(crate) weight: i32,
    /// Its share in percent.
    pub(crate) percent: f64,
}

/// The least the update takes: timed pauses, plus what waits for people or analysis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Shortest {
    /// Seconds of timed pauses.
    pub(crate) timed_pause_seconds: u64,
    /// Pauses that wait for `kubectl argo rollouts promote`.
    pub(crate) manual_promotions: usize,
    /// `analysis` steps (each waits for its AnalysisRun).
    pub(crate) analysis_runs: usize,
}

/// Plans every Rollout of every file and prints the plans.
pub(crate) fn command(
    files: &[PathBuf],
    output: Output,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let mut plans = Vec::new();
    let mut failed = false;
    let mut err = std::io::stderr();
    for path in files {
        let objects = match load::objects(path) {
            Ok(o) => o,
            Err(e) => {
                writeln!(err, "error: {e}")?;
                failed = true;
                continue;
            }
        };
        let mut any = false;
        for object in objects.iter().filter(|o| o.is_rollout()) {
            any = true;
            match plan_object(object) {
                Ok(plan) => {
                    for w in &plan.unsupported {
                        let (path, message) = w.split_once(": ").unwrap_or(("", w));
                        let d = object.diagnostic(FieldError::new(path, message));
                        writeln!(err, "warning: {d}")?;
                    }
                    if output == Output::Text {
                        write!(out, "{}", plan_text::render(&plan))?;
                    }
                    plans.push(plan);
                }
                Err(errors) => {
                    failed = true;
                    for e in errors {
                        writeln!(err, "error: {e}")?;
                    }
                }
            }
        }
        if !any {
            writeln!(
                err,
                "note: {}: no Rollout in this file, skipped",
                load::display_name(path)
            )?;
        }
    }
    match output {
        Output::Text => {}
        Output::Json => {
            let text = serde_json::to_string_pretty(&plans).context("writing JSON")?;
            writeln!(out, "{text}")?;
        }
        Output::Yaml => {
            let text = serde_yaml_ng::to_string(&plans).context("writing YAML")?;
            out.write_all(text.as_bytes())?;
        }
    }
    Ok(if failed || plans.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The plan of one Rollout object, or every problem that prevents one.
fn plan_object(object: &Object) -> Result<Plan, Vec<rollout_core::Diagnostic>> {
    let rollout = object.rollout().map_err(|e| vec![e])?;
    let found = findings::of(&rollout);
    if !found.errors.is_empty() {
        return Err(found
            .errors
            .into_iter()
            .map(|e| object.diagnostic(e))
            .collect());
    }
    let mut plan = plan(&rollout).map_err(|e| vec![object.diagnostic(e)])?;
    plan.file = object.file.clone();
    plan.line = object.line();
    plan.unsupported = found.unsupported.iter().map(ToString::to_string).collect();
    Ok(plan)
}

/// Computes the plan of a Rollout that passed validation.
pub(crate) fn plan(rollout: &Rollout) -> Result<Plan, FieldError> {
    let r = rollout.replicas();
    let mut plan = Plan {
        file: String::new(),
        line: 1,
        rollout: rollout.object_name(),
        strategy: "canary",
        replicas: r,
        traffic_routing: None,
        paused: rollout.spec.paused == Some(true),
        background_analysis: None,
        steps: Vec::new(),
        blue_green: Vec::new(),
        finish: String::new(),
        shortest: Shortest {
            timed_pause_seconds: 0,
            manual_promotions: 0,
            analysis_runs: 0,
        },
        unsupported: Vec::new(),
    };
    let Some(c) = rollout.canary() else {
        plan.strategy = "blueGreen";
        plan.finish = blue_green_finish(rollout);
        if let Some(bg) = rollout.blue_green() {
            plan.blue_green = bluegreen::phases(bg, r, &mut plan.shortest);
        }
        return Ok(plan);
    };
    let max_w = c.max_weight();
    let (surge, _) =
        replicas::surge_and_unavailable(c.max_surge.as_ref(), c.max_unavailable.as_ref(), r)?;
    plan.traffic_routing = c.traffic_routing.as_ref().map(|t| TrafficRoutingPlan {
        providers: t
            .providers()
            .map(|p| match p {
                "plugins" => format!(
                    "plugins ({})",
                    t.plugins.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
                p => p.to_owned(),
            })
            .collect(),
        max_traffic_weight: max_w,
    });
    let starting = c
        .analysis
        .as_ref()
        .map(|bg| usize::try_from(bg.starting_step.unwrap_or(0)).unwrap_or(0));
    plan.background_analysis = c.analysis.as_ref().map(|bg| BackgroundAnalysisPlan {
        templates: bg
            .run
            .templates
            .iter()
            .map(|t| t.template_name.clone())
            .collect(),
        starts_at_step: starting.unwrap_or(0) + 1,
        failure_aborts: true,
    });

    let mut walk = Walk::new(c);
    for (i, step) in c.steps.iter().enumerate() {
        walk.apply(step);
        let (canary_weight, canary_pods, stable_pods) = walk.split(c, r, max_w, surge);
        let canary_percent = if c.routes_traffic() {
            percent(canary_weight, max_w)
        } else {
            percent(canary_pods, (canary_pods + stable_pods).max(1))
        };
        let mut pause_seconds = None;
        let Some(deciding) = step.completed_by() else {
            continue;
        };
        let experiment_weights: Vec<ExperimentWeight> = match deciding {
            StepAction::Experiment(e) if c.routes_traffic() => ExperimentStep::from_value(e)
                .map(|e| e.templates)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|t| {
                    let weight = t.weight?;
                    Some(ExperimentWeight {
                        template: t.name,
                        weight,
                        percent: percent(weight, max_w),
                    })
                })
                .collect(),
            _ => Vec::new(),
        };
        let extra_percent: f64 = experiment_weights.iter().map(|w| w.percent).sum();
        let ends = match deciding {
            StepAction::SetWeight(_) | StepAction::SetCanaryScale(_) if c.routes_traffic() => {
                format!(
                    "when {canary_pods} canary pod{} {} available and the router confirms",
                    plural(canary_pods),
                    if canary_pods == 1 { "is" } else { "are" }
                )
            }
            StepAction::SetWeight(_) | StepAction::SetCanaryScale(_) => {
                format!("when {canary_pods} canary and {stable_pods} stable pods are available")
            }
            StepAction::Pause(p) => match p.duration() {
                Some(Ok(d)) => {
                    plan.shortest.timed_pause_seconds += d.as_secs();
                    pause_seconds = Some(d.as_secs());
                    format!("after {}", duration_words(d))
                }
                _ => {
                    plan.shortest.manual_promotions += 1;
                    "on promote (kubectl argo rollouts promote)".to_owned()
                }
            },
            StepAction::Analysis(a) => {
                plan.shortest.analysis_runs += 1;
                let names: Vec<_> = a
                    .templates
                    .iter()
                    .map(|t| t.template_name.as_str())
                    .collect();
                format!("when analysis {} succeeds (fails: abort)", names.join(", "))
            }
            StepAction::SetHeaderRoute(_) | StepAction::SetMirrorRoute(_) => "at once".to_owned(),
            StepAction::Plugin(p) => format!("when step plugin {} succeeds", p.name),
            StepAction::Experiment(e) => experiment_ends(e),
        };
        plan.steps.push(StepPlan {
            step: i + 1,
            action: step.to_string(),
            canary_weight: if c.routes_traffic() {
                canary_weight
            } else {
                canary_pods * 100 / (canary_pods + stable_pods).max(1)
            },
            canary_percent,
            stable_percent: round4(100.0 - canary_percent - extra_percent),
            canary_pods,
            stable_pods,
            routes: walk.routes(),
            experiment_weights,
            background_analysis: starting.is_some_and(|s| i >= s),
            ends,
            pause_seconds,
        });
    }
    plan.finish = if !c.routes_traffic() {
        format!(
            "promote: the canary becomes stable with all {r} pods; the old pods are scaled down"
        )
    } else if c.dynamic_stable_scale() {
        format!(
            "promote: the canary becomes stable with all {r} pods; the old stable is scaled down at once"
        )
    } else {
        let delay = c.scale_down_delay_seconds.unwrap_or(30);
        format!(
            "promote: the canary becomes stable with all {r} pods and traffic; the old stable keeps its pods {delay}s, then is scaled down"
        )
    };
    Ok(plan)
}

fn blue_green_finish(rollout: &Rollout) -> String {
    let Some(bg) = rollout.spec.strategy.blue_green.as_ref() else {
        return "no strategy to plan".to_owned();
    };
    let preview = match &bg.preview_service {
        Some(s) => format!("behind the preview Service {s}"),
        None => "without a preview Service".to_owned(),
    };
    let pods = match bg.preview_replica_count {
        Some(n) => format!(" with {n} pod{} until promoted", plural(n)),
        None => String::new(),
    };
    let promotion = promotion_words(bg);
    let analysis = |a: &Option<rollout_core::spec::AnalysisStep>, when: &str| {
        a.as_ref()
            .map(|_| format!("; {when}-promotion analysis must succeed"))
            .unwrap_or_default()
    };
    let delay = scale_down_delay(bg);
    format!(
        "blue-green: the new version starts {preview}{pods}; the active Service {} switches to it {promotion}{}{}; the old version keeps its pods {delay}s, then is scaled down",
        bg.active_service,
        analysis(&bg.pre_promotion_analysis, "before the switch, pre"),
        analysis(&bg.post_promotion_analysis, "after the switch, post"),
    )
}

pub(crate) fn plural(n: i32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `part` of `total` in percent, to four decimals (5 of 1000 is 0.5).
fn percent(part: i32, total: i32) -> f64 {
    round4(f64::from(part) * 100.0 / f64::from(total.max(1)))
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// A duration as Kubernetes users write them: `1d`, `1h30m`, `45s`, `500ms`.
pub(crate) fn duration_words(d: Duration) -> String {
    let secs = d.as_secs();
    let parts = [
        (secs / 86_400, "d"),
        (secs / 3_600 % 24, "h"),
        (secs / 60 % 60, "m"),
        (secs % 60, "s"),
        (u64::from(d.subsec_millis()), "ms"),
    ];
    let out: String = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if out.is_empty() { "0s".to_owned() } else { out }
}

#[cfg(test)]
mod tests;

/// How an `experiment` step ends: after its `duration`, else when its
/// analyses required for completion (or all of them) succeed; a failed or
/// errored Experiment aborts the update.
fn experiment_ends(value: &serde_json::Value) -> String {
    let Ok(step) = ExperimentStep::from_value(value) else {
        return "when the experiment succeeds (fails: abort)".to_owned();
    };
    let templates: Vec<&str> = step.templates.iter().map(|t| t.name.as_str()).collect();
    let required: Vec<&str> = step
        .analyses
        .iter()
        .filter(|a| a.required_for_completion == Some(true))
        .map(|a| a.name.as_str())
        .collect();
    let analyses: Vec<&str> = if required.is_empty() {
        step.analyses.iter().map(|a| a.name.as_str()).collect()
    } else {
        required
    };
    match (&step.duration, analyses.is_empty()) {
        (Some(d), _) => format!(
            "when experiment {} has run {d} (fails: abort)",
            templates.join(", ")
        ),
        (None, false) => format!(
            "when experiment analyses {} succeed (fails: abort)",
            analyses.join(", ")
        ),
        (None, true) => format!(
            "when experiment {} is terminated (fails: abort)",
            templates.join(", ")
        ),
    }
}
