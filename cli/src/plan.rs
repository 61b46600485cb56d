//! `rollgate plan`: the timeline a Rollout's steps will follow, without a cluster.
//!
//! Built from rollout-core's public building blocks (step lookups and replica
//! math), so the numbers are the ones the engine uses.

use std::fmt::Write as _;
use std::time::Duration;

use rollout_core::replicas::{self, TrafficRoutedCanary};
use rollout_core::spec::CanaryStep;
use rollout_core::steps::{self, CanaryScale};
use rollout_core::{CanaryStrategy, Rollout};

/// One row of the timeline: the state while a step is in effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    /// `1`-based step number.
    pub(crate) step: usize,
    /// The step as written (`setWeight: 20`).
    pub(crate) action: String,
    /// Canary share of traffic, in percent of the total weight.
    pub(crate) canary_weight: i32,
    /// Canary pods.
    pub(crate) canary_pods: i32,
    /// Stable pods.
    pub(crate) stable_pods: i32,
    /// Managed routes in effect (`header beta-users`, `mirror shadow 20%`).
    pub(crate) routes: Vec<String>,
    /// How the step ends.
    pub(crate) ends: String,
}

/// The whole timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Timeline {
    pub(crate) header: String,
    pub(crate) rows: Vec<Row>,
    pub(crate) timed: Duration,
    pub(crate) manual: usize,
    pub(crate) analyses: usize,
    pub(crate) finish: String,
}

/// Computes the timeline of a valid canary Rollout.
pub(crate) fn timeline(rollout: &Rollout) -> anyhow::Result<Timeline> {
    rollout_core::check(rollout)?;
    let Some(c) = rollout.canary() else {
        anyhow::bail!(
            "rollout {}: only canary rollouts can be planned",
            rollout.object_name()
        );
    };
    let r = rollout.replicas();
    let max_w = c.max_weight();
    let (surge, _) =
        replicas::surge_and_unavailable(c.max_surge.as_ref(), c.max_unavailable.as_ref(), r)?;
    let routing = match &c.traffic_routing {
        None => "basic canary (traffic follows the pod ratio)".to_owned(),
        Some(t) => {
            let mut names: Vec<String> = t.providers().map(str::to_owned).collect();
            if let Some(p) = names.iter_mut().find(|p| *p == "plugins") {
                *p = format!(
                    "plugins ({})",
                    t.plugins.keys().cloned().collect::<Vec<_>>().join(", ")
                );
            }
            format!(
                "traffic routing: {}, maxTrafficWeight {max_w}",
                names.join(", ")
            )
        }
    };
    let header = format!(
        "Rollout {}: canary, {r} replica{}, {routing}",
        rollout.object_name(),
        if r == 1 { "" } else { "s" }
    );

    let mut rows = Vec::new();
    let (mut timed, mut manual, mut analyses) = (Duration::ZERO, 0, 0);
    for (i, step) in c.steps.iter().enumerate() {
        let (canary_weight, canary_pods, stable_pods) = split_at(c, r, max_w, surge, i);
        let ends = match step {
            CanaryStep::SetWeight(_) | CanaryStep::SetCanaryScale(_) if c.routes_traffic() => {
                format!(
                    "when {canary_pods} canary pod{} {} available and the router confirms",
                    plural(canary_pods),
                    if canary_pods == 1 { "is" } else { "are" }
                )
            }
            CanaryStep::SetWeight(_) | CanaryStep::SetCanaryScale(_) => {
                format!("when {canary_pods} canary and {stable_pods} stable pods are available")
            }
            CanaryStep::Pause(p) => match p.duration() {
                Some(Ok(d)) => {
                    timed += d;
                    format!("after {}", humantime::format_duration(d))
                }
                _ => {
                    manual += 1;
                    "on promote (kubectl argo rollouts promote)".to_owned()
                }
            },
            CanaryStep::Analysis(a) => {
                analyses += 1;
                let names: Vec<_> = a
                    .templates
                    .iter()
                    .map(|t| t.template_name.as_str())
                    .collect();
                format!("when analysis {} succeeds (fails: abort)", names.join(", "))
            }
            CanaryStep::SetHeaderRoute(_) | CanaryStep::SetMirrorRoute(_) => "at once".to_owned(),
            CanaryStep::Plugin(p) => format!("when step plugin {} succeeds", p.name),
            CanaryStep::Experiment(_) => "(experiments are not supported yet)".to_owned(),
        };
        rows.push(Row {
            step: i + 1,
            action: step.to_string(),
            canary_weight,
            canary_pods,
            stable_pods,
            routes: routes_at(c, i),
            ends,
        });
    }
    let finish = if c.routes_traffic() {
        let delay = c.scale_down_delay_seconds.unwrap_or(30);
        if c.dynamic_stable_scale() {
            format!(
                "promote: the canary becomes stable with all {r} pods; the old stable is scaled down at once"
            )
        } else {
            format!(
                "promote: the canary becomes stable with all {r} pods and traffic; the old stable keeps its pods {delay}s, then is scaled down"
            )
        }
    } else {
        format!(
            "promote: the canary becomes stable with all {r} pods; the old pods are scaled down"
        )
    };
    Ok(Timeline {
        header,
        rows,
        timed,
        manual,
        analyses,
        finish,
    })
}

fn plural(n: i32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// (canary weight %, canary pods, stable pods) while step `i` is in effect.
fn split_at(c: &CanaryStrategy, r: i32, max_w: i32, surge: i32, i: usize) -> (i32, i32, i32) {
    let weight = steps::set_weight_at(&c.steps, i, max_w);
    if !c.routes_traffic() {
        let (canary, stable) = replicas::approximate_weighted_counts(r, weight, max_w, surge);
        let total = (canary + stable).max(1);
        return (canary * 100 / total, canary, stable);
    }
    let (canary_replicas, scale_weight) = match steps::canary_scale_at(c, i, false) {
        Some(CanaryScale::Replicas(n)) => (Some(n), 0),
        Some(CanaryScale::Weight(w)) => (None, w),
        None => (None, weight),
    };
    let (canary, stable) = replicas::traffic_routed_counts(&TrafficRoutedCanary {
        replicas: r,
        weight: scale_weight,
        canary_replicas,
        max_weight: max_w,
        min_pods_per_replica_set: c.min_pods_per_replica_set,
        dynamic_stable_scale: c.dynamic_stable_scale(),
        current_weights: None,
        aborted: false,
    });
    (weight * 100 / max_w.max(1), canary, stable)
}

fn routes_at(c: &CanaryStrategy, i: usize) -> Vec<String> {
    let mut routes = Vec::new();
    for name in c.managed_routes() {
        if let Some(h) = steps::header_route_at(&c.steps, i, name) {
            let conds: Vec<_> = h
                .matches
                .iter()
                .map(|h| format!("{}{}", h.header_name, h.header_value))
                .collect();
            routes.push(format!("header {name} [{}]", conds.join(", ")));
        }
        if let Some(m) = steps::mirror_route_at(&c.steps, i, name) {
            let pct = m.percentage.unwrap_or(100);
            routes.push(format!("mirror {name} {pct}%"));
        }
    }
    routes
}

impl Timeline {
    /// Renders the timeline as an aligned table.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.header);
        let _ = writeln!(out);
        let head = [
            "STEP", "ACTION", "CANARY", "STABLE", "PODS c/s", "ROUTES", "ENDS",
        ];
        let cells: Vec<[String; 7]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.step.to_string(),
                    r.action.clone(),
                    format!("{}%", r.canary_weight),
                    format!("{}%", 100 - r.canary_weight),
                    format!("{}/{}", r.canary_pods, r.stable_pods),
                    if r.routes.is_empty() {
                        "-".to_owned()
                    } else {
                        r.routes.join("; ")
                    },
                    r.ends.clone(),
                ]
            })
            .collect();
        let mut widths = head.map(str::len);
        for row in &cells {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cols: Vec<&str>| {
            let mut s = String::new();
            for (i, (c, w)) in cols.iter().zip(widths).enumerate() {
                if i + 1 == cols.len() {
                    s.push_str(c);
                } else {
                    let _ = write!(s, "{c:<w$}  ");
                }
            }
            s.trim_end().to_owned()
        };
        let _ = writeln!(out, "{}", line(head.to_vec()));
        for row in &cells {
            let _ = writeln!(out, "{}", line(row.iter().map(String::as_str).collect()));
        }
        if self.rows.is_empty() {
            let _ = writeln!(
                out,
                "(no steps: the canary is promoted as soon as it is available)"
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "Then {}.", self.finish);
        let mut total = format!(
            "Shortest duration: {} of timed pauses",
            humantime::format_duration(self.timed)
        );
        if self.manual > 0 {
            let _ = write!(
                total,
                ", plus {} manual promotion{}",
                self.manual,
                if self.manual == 1 { "" } else { "s" }
            );
        }
        if self.analyses > 0 {
            let _ = write!(
                total,
                ", plus {} analysis run{}",
                self.analyses,
                if self.analyses == 1 { "" } else { "s" }
            );
        }
        let _ = writeln!(out, "{total}; pods becoming ready adds to it.");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::rollouts_from_str;

    const SEED_002: &str = include_str!("../../examples/manifests/seed002-rollouts-demo.yaml");
    const SEED_001: &str = include_str!("../../examples/manifests/seed001-rollout-canary.yaml");

    #[test]
    fn seed002_basic_canary_timeline() {
        let r = &rollouts_from_str(SEED_002, "seed002").unwrap()[0];
        let t = timeline(r).unwrap();
        let splits: Vec<_> = t
            .rows
            .iter()
            .map(|r| (r.canary_weight, r.canary_pods, r.stable_pods))
            .collect();
        assert_eq!(
            splits,
            [
                (20, 1, 4),
                (20, 1, 4),
                (40, 2, 3),
                (40, 2, 3),
                (60, 3, 2),
                (60, 3, 2),
                (80, 4, 1),
                (80, 4, 1)
            ]
        );
        assert_eq!(t.timed, Duration::from_secs(30));
        assert_eq!(t.manual, 1);
        assert!(
            t.render()
                .contains("Shortest duration: 30s of timed pauses, plus 1 manual promotion")
        );
    }

    #[test]
    fn seed001_traffic_routed_timeline() {
        let r = &rollouts_from_str(SEED_001, "seed001").unwrap()[0];
        let t = timeline(r).unwrap();
        let splits: Vec<_> = t
            .rows
            .iter()
            .map(|r| (r.canary_weight, r.canary_pods, r.stable_pods))
            .collect();
        assert_eq!(splits, [(50, 1, 2), (50, 1, 2), (100, 2, 2)]);
        assert!(
            t.header.contains("plugins (argoproj-labs/gatewayAPI)"),
            "{}",
            t.header
        );
        assert!(t.render().contains("on promote"));
    }

    #[test]
    fn routes_show_while_in_effect() {
        let text = r#"
kind: Rollout
metadata: {name: web}
spec:
  strategy:
    canary:
      trafficRouting:
        managedRoutes: [{name: beta}]
        plugins: {rollgate/gatewayapi: {}}
      steps:
      - setHeaderRoute: {name: beta, match: [{headerName: x-beta, headerValue: {exact: "yes"}}]}
      - pause: {duration: 1m}
      - setHeaderRoute: {name: beta}
"#;
        let t = timeline(&rollouts_from_str(text, "t").unwrap()[0]).unwrap();
        assert_eq!(t.rows[1].routes, ["header beta [x-beta=yes]"]);
        assert!(t.rows[2].routes.is_empty());
    }
}
