//! A view of a simulated rollout in the shape of `kubectl argo rollouts get rollout`.

use std::fmt::Write as _;

use rollout_core::sim::{Sim, SimReplicaSet, image_of};
use rollout_core::steps;
use rollout_core::{AnalysisPhase, Phase, Time};

/// The one-glyph status marks kubectl-argo-rollouts uses.
fn mark(phase: Option<Phase>) -> &'static str {
    match phase {
        Some(Phase::Healthy) => "✔",
        Some(Phase::Progressing) => "◌",
        Some(Phase::Paused) => "॥",
        Some(Phase::Degraded) => "✖",
        None => "?",
    }
}

/// The headline numbers of the view; two views with the same summary look the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Summary {
    pub(crate) phase: Option<Phase>,
    pub(crate) message: Option<String>,
    pub(crate) step: Option<i32>,
    pub(crate) set_weight: Option<i32>,
    pub(crate) actual_weight: Option<i32>,
    pub(crate) pods: Vec<(String, i32, i32)>,
}

impl Summary {
    /// Whether a change from `other` deserves a full view: phase, message,
    /// step or weights changed (not only pod counts).
    pub(crate) fn same_headline(&self, other: &Self) -> bool {
        self.phase == other.phase
            && self.message == other.message
            && self.step == other.step
            && self.set_weight == other.set_weight
            && self.actual_weight == other.actual_weight
    }
}

/// One line about pods: `canary 1/1 ready · stable 2/2 ready`.
pub(crate) fn pods_line(sim: &Sim) -> String {
    let st = sim.rollout.status.clone().unwrap_or_default();
    let stable = st.stable_rs.unwrap_or_default();
    let current = sim.current_hash().to_owned();
    let parts: Vec<String> = sim
        .replica_sets
        .iter()
        .rev()
        .filter(|rs| rs.size() > 0 || rs.hash == current)
        .map(|rs| {
            format!(
                "{} {}/{} ready",
                role(rs, &stable, &current),
                rs.available(sim.now),
                rs.size()
            )
        })
        .collect();
    format!("pods: {}", parts.join(" · "))
}

/// The summary of what the view would show.
pub(crate) fn summary(sim: &Sim) -> Summary {
    let st = sim.rollout.status.clone().unwrap_or_default();
    Summary {
        phase: st.phase,
        message: st.message.clone(),
        step: st.current_step_index,
        set_weight: set_weight(sim),
        actual_weight: actual_weight(sim),
        pods: sim
            .replica_sets
            .iter()
            .map(|rs| (rs.hash.clone(), rs.size(), rs.available(sim.now)))
            .collect(),
    }
}

/// The weight the new version gets: the router's canary weight, or all of
/// it once the new version is the stable one.
fn actual_weight(sim: &Sim) -> Option<i32> {
    let st = sim.rollout.status.as_ref()?;
    let c = sim.rollout.canary()?;
    if st.stable_rs.as_deref() == Some(sim.current_hash()) {
        return Some(c.max_weight());
    }
    sim.router.canary_weight()
}

fn set_weight(sim: &Sim) -> Option<i32> {
    let c = sim.rollout.canary()?;
    let st = sim.rollout.status.as_ref()?;
    if st.abort {
        return Some(0);
    }
    Some(steps::set_weight_at(
        &c.steps,
        st.step_index(),
        c.max_weight(),
    ))
}

/// Renders the view at the sim's current time.
pub(crate) fn render(sim: &Sim) -> String {
    let r = &sim.rollout;
    let st = r.status.clone().unwrap_or_default();
    let steps = r.canary().map_or(0, |c| c.steps.len());
    let mut out = String::new();
    let field = |out: &mut String, k: &str, v: &str| {
        let _ = writeln!(out, "{:<17}{v}", format!("{k}:"));
    };
    field(&mut out, "Name", &r.metadata.name);
    field(
        &mut out,
        "Namespace",
        r.metadata.namespace.as_deref().unwrap_or("default"),
    );
    field(
        &mut out,
        "Status",
        &format!(
            "{} {}",
            mark(st.phase),
            st.phase.map_or("Unknown", Phase::as_str)
        ),
    );
    if let Some(m) = &st.message {
        field(&mut out, "Message", m);
    }
    field(&mut out, "Strategy", "Canary");
    field(&mut out, "  Step", &format!("{}/{steps}", st.step_index()));
    if let Some(w) = set_weight(sim) {
        field(&mut out, "  SetWeight", &w.to_string());
    }
    let actual = actual_weight(sim).map_or_else(|| "-".to_owned(), |w| w.to_string());
    field(&mut out, "  ActualWeight", &actual);
    let stable = st.stable_rs.clone().unwrap_or_default();
    let current = sim.current_hash().to_owned();
    let mut images = Vec::new();
    for rs in sim.replica_sets.iter().filter(|rs| rs.size() > 0) {
        let role = role(rs, &stable, &current);
        images.push(format!("{} ({role})", rs.image));
    }
    if images.is_empty() {
        images.push(image_of(r));
    }
    let _ = writeln!(
        out,
        "{:<17}{}",
        "Images:",
        images.join(&format!("\n{:<17}", ""))
    );
    let _ = writeln!(out, "Replicas:");
    field(&mut out, "  Desired", &r.replicas().to_string());
    field(&mut out, "  Current", &st.replicas.unwrap_or(0).to_string());
    field(
        &mut out,
        "  Updated",
        &st.updated_replicas.unwrap_or(0).to_string(),
    );
    field(
        &mut out,
        "  Ready",
        &st.ready_replicas.unwrap_or(0).to_string(),
    );
    field(
        &mut out,
        "  Available",
        &st.available_replicas.unwrap_or(0).to_string(),
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "{:<44}{:<12}{:<14}INFO", "NAME", "KIND", "STATUS");
    let status = format!(
        "{} {}",
        mark(st.phase),
        st.phase.map_or("Unknown", Phase::as_str)
    );
    let _ = writeln!(out, "⟳ {:<42}{:<12}{status}", r.metadata.name, "Rollout");
    let shown: Vec<&SimReplicaSet> = sim
        .replica_sets
        .iter()
        .rev()
        .filter(|rs| rs.size() > 0 || rs.hash == current || rs.hash == stable)
        .collect();
    for (i, rs) in shown.iter().enumerate() {
        let last = i + 1 == shown.len();
        let (branch, indent) = if last {
            ("└──", "   ")
        } else {
            ("├──", "│  ")
        };
        let _ = writeln!(out, "{branch}# revision:{}", rs.revision);
        let name = format!("{}-{}", r.metadata.name, rs.hash);
        let health = if rs.size() == 0 {
            "• ScaledDown"
        } else if rs.available(sim.now) == rs.size() {
            "✔ Healthy"
        } else {
            "◌ Progressing"
        };
        let info = match (role(rs, &stable, &current), rs.scale_down_deadline) {
            (role, Some(d)) if d > sim.now && rs.size() > 0 => {
                format!("{role}, delay:{}s", d.saturating_since(sim.now).as_secs())
            }
            (role, _) => role.to_owned(),
        };
        let _ = writeln!(
            out,
            "{indent}└──⧉ {:<37}{:<12}{:<14}{info}",
            name, "ReplicaSet", health
        );
        for run in sim
            .analysis_runs
            .iter()
            .filter(|a| a.name.contains(&rs.hash))
        {
            let phase = run.phase(sim.now);
            let glyph = match phase {
                AnalysisPhase::Successful => "✔",
                AnalysisPhase::Failed | AnalysisPhase::Error => "✖",
                AnalysisPhase::Inconclusive => "⚠",
                _ => "◌",
            };
            let _ = writeln!(
                out,
                "{indent}└──α {:<37}{:<12}{glyph} {}",
                run.name,
                "AnalysisRun",
                phase.as_str()
            );
        }
        for (p, ready_at) in rs.pods.iter().enumerate() {
            let pod = format!("{name}-{}", pod_suffix(&rs.hash, p));
            let (state, ready) = if *ready_at <= sim.now {
                ("✔ Running", "ready:1/1")
            } else {
                ("◌ Pending", "ready:0/1")
            };
            let _ = writeln!(
                out,
                "{indent}   └──□ {:<33}{:<12}{:<14}{ready}",
                pod, "Pod", state
            );
        }
    }
    out
}

fn role(rs: &SimReplicaSet, stable: &str, current: &str) -> &'static str {
    if rs.hash == stable {
        "stable"
    } else if rs.hash == current {
        "canary"
    } else {
        "old"
    }
}

/// A stable five-letter pod suffix, as the ReplicaSet controller would generate.
fn pod_suffix(hash: &str, index: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut x = hash.bytes().fold(
        0x811c_9dc5_u32 ^ u32::try_from(index).unwrap_or(0),
        |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193),
    );
    (0..5)
        .map(|_| {
            let c = ALPHABET[(x % 27) as usize] as char;
            x /= 27;
            c
        })
        .collect()
}

/// `hh:mm:ss` since the start of the demo.
pub(crate) fn clock(start: Time, now: Time) -> String {
    let s = now.saturating_since(start).as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}
