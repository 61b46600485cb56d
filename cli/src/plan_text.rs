//! `rollgate plan`'s table: one aligned block per Rollout.

use std::fmt::Write as _;
use std::time::Duration;

use crate::plan::{Plan, duration_words};

/// Renders a plan as text: a header, notes (paused, background analysis),
/// the table of steps, then how it ends and the shortest duration.
pub(crate) fn render(plan: &Plan) -> String {
    let mut out = String::new();
    let routing = match &plan.traffic_routing {
        None if plan.strategy == "blueGreen" => "blue-green".to_owned(),
        None => "basic canary (traffic follows the pod ratio)".to_owned(),
        Some(t) => format!(
            "traffic routing: {}, maxTrafficWeight {}",
            t.providers.join(", "),
            t.max_traffic_weight
        ),
    };
    let strategy = if plan.strategy == "canary" {
        "canary, "
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "Rollout {}: {strategy}{} replica{}, {routing}",
        plan.rollout,
        plan.replicas,
        if plan.replicas == 1 { "" } else { "s" }
    );
    if plan.paused {
        let _ = writeln!(
            out,
            "Paused (spec.paused: true): nothing advances until it is resumed (kubectl argo rollouts resume)."
        );
    }
    if let Some(bg) = &plan.background_analysis {
        let _ = writeln!(
            out,
            "Background analysis {} runs from step {} until promotion; if it fails, the rollout aborts.",
            bg.templates.join(", "),
            bg.starts_at_step
        );
    }
    let _ = writeln!(out);
    if plan.strategy == "canary" {
        table(plan, &mut out);
        let _ = writeln!(out);
        let _ = writeln!(out, "Then {}.", plan.finish);
    } else {
        blue_green_table(plan, &mut out);
        let _ = writeln!(out);
        let _ = writeln!(out, "In short: {}.", plan.finish);
    }
    let s = &plan.shortest;
    let mut total = format!(
        "Shortest duration: {} of timed pauses",
        duration_words(Duration::from_secs(s.timed_pause_seconds))
    );
    if s.manual_promotions > 0 {
        let _ = write!(
            total,
            ", plus {} manual promotion{}",
            s.manual_promotions,
            if s.manual_promotions == 1 { "" } else { "s" }
        );
    }
    if s.analysis_runs > 0 {
        let _ = write!(
            total,
            ", plus {} analysis run{}",
            s.analysis_runs,
            if s.analysis_runs == 1 { "" } else { "s" }
        );
    }
    let _ = writeln!(out, "{total}; pods becoming ready adds to it.");
    out
}

/// The phases of a blue-green update: which version each Service selects,
/// the pods of each and how the phase ends.
fn blue_green_table(plan: &Plan, out: &mut String) {
    let head = ["STEP", "PHASE", "ACTIVE", "PREVIEW", "PODS new/old", "ENDS"];
    let cells: Vec<Vec<String>> = plan
        .blue_green
        .iter()
        .map(|p| {
            vec![
                p.step.to_string(),
                p.phase.to_owned(),
                p.active.to_owned(),
                p.preview.unwrap_or("-").to_owned(),
                format!("{}/{}", p.new_pods, p.old_pods),
                p.ends.clone(),
            ]
        })
        .collect();
    aligned(&head, &cells, out);
}

fn table(plan: &Plan, out: &mut String) {
    let background = plan.background_analysis.is_some();
    let mut head = vec!["STEP", "ACTION", "CANARY", "STABLE", "PODS c/s", "ROUTES"];
    if background {
        head.push("ANALYSIS");
    }
    head.push("ENDS");
    let cells: Vec<Vec<String>> =
        plan.steps
            .iter()
            .map(|r| {
                let mut row =
                    vec![
                        r.step.to_string(),
                        r.action.clone(),
                        format!("{}%", number(r.canary_percent)),
                        format!("{}%", number(r.stable_percent)),
                        format!("{}/{}", r.canary_pods, r.stable_pods),
                        {
                            let mut routes = r.routes.clone();
                            routes.extend(r.experiment_weights.iter().map(|w| {
                                format!("experiment {} {}%", w.template, number(w.percent))
                            }));
                            if routes.is_empty() {
                                "-".to_owned()
                            } else {
                                routes.join("; ")
                            }
                        },
                    ];
                if background {
                    row.push(
                        if r.background_analysis {
                            "running"
                        } else {
                            "-"
                        }
                        .to_owned(),
                    );
                }
                row.push(r.ends.clone());
                row
            })
            .collect();
    aligned(&head, &cells, out);
    if plan.steps.is_empty() {
        let _ = writeln!(
            out,
            "(no steps: the canary is promoted as soon as it is available)"
        );
    }
}

/// Writes `head` and `cells` as columns two spaces apart, the last one unpadded.
fn aligned(head: &[&str], cells: &[Vec<String>], out: &mut String) {
    let mut widths: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for row in cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: &[&str]| {
        let mut s = String::new();
        for (i, (c, w)) in cols.iter().zip(&widths).enumerate() {
            if i + 1 == cols.len() {
                s.push_str(c);
            } else {
                let _ = write!(s, "{c:<w$}  ");
            }
        }
        s.trim_end().to_owned()
    };
    let _ = writeln!(out, "{}", line(head));
    for row in cells {
        let cols: Vec<&str> = row.iter().map(String::as_str).collect();
        let _ = writeln!(out, "{}", line(&cols));
    }
}

/// A percentage without trailing zeros: `20`, `0.5`, `33.3333`.
fn number(x: f64) -> String {
    let s = format!("{x:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}
