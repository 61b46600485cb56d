//! Drawing a [`RolloutInfo`] the way `kubectl argo rollouts get rollout`
//! prints it: the header lines, then the tree under NAME / KIND / STATUS /
//! AGE / INFO.

use rollout_core::{AnalysisPhase, Phase};

use super::table::{Table, Text, colour_of, human_duration};
use super::{ReplicaSetInfo, RolloutInfo};

/// kubectl-argo-rollouts' icon for a rollout phase.
fn rollout_icon(phase: Option<Phase>) -> &'static str {
    match phase {
        Some(Phase::Healthy) => "✔",
        Some(Phase::Progressing) => "◌",
        Some(Phase::Paused) => "॥",
        Some(Phase::Degraded) => "✖",
        None => "?",
    }
}

/// kubectl-argo-rollouts' icon for a ReplicaSet status.
fn replica_set_icon(status: &str) -> &'static str {
    match status {
        "Healthy" => "✔",
        "Progressing" => "◌",
        "ReplicaFailure" => "✖",
        "ScaledDown" => "•",
        _ => " ",
    }
}

/// kubectl-argo-rollouts' icon for a pod status (kubectl's STATUS column).
fn pod_icon(status: &str) -> &'static str {
    if status.starts_with("Init:") {
        return "◌";
    }
    if status.starts_with("Signal:") || status.starts_with("ExitCode:") {
        return "✖";
    }
    if status.ends_with("Error") || status.starts_with("Err") {
        return "⚠";
    }
    match status {
        "Pending" | "Terminating" | "ContainerCreating" => "◌",
        "Running" | "Completed" => "✔",
        "Failed" | "InvalidImageName" | "CrashLoopBackOff" => "✖",
        "ImagePullBackOff" | "RegistryUnavailable" => "⚠",
        "Unknown" => "?",
        _ => " ",
    }
}

/// kubectl-argo-rollouts' icon for an AnalysisRun phase.
fn analysis_icon(phase: AnalysisPhase) -> &'static str {
    match phase {
        AnalysisPhase::Successful => "✔",
        AnalysisPhase::Inconclusive => "?",
        AnalysisPhase::Failed => "✖",
        AnalysisPhase::Error => "⚠",
        AnalysisPhase::Running => "◌",
        AnalysisPhase::Pending => "◷",
    }
}

impl RolloutInfo {
    /// Draws the view; `colour` adds kubectl-argo-rollouts' ANSI colours.
    pub(crate) fn render(&self, colour: bool) -> String {
        let mut out = String::new();
        let field = |out: &mut String, k: &str, v: &Text| {
            let label = if k.is_empty() {
                String::new()
            } else {
                format!("{k}:")
            };
            let mut line = format!("{label:<17}");
            v.write(&mut line, colour);
            out.push_str(line.trim_end_matches(' '));
            out.push('\n');
        };
        let icon = rollout_icon(self.phase);
        let status = self.phase.map_or("Unknown", Phase::as_str);
        field(&mut out, "Name", &Text::plain(&self.name));
        field(&mut out, "Namespace", &Text::plain(&self.namespace));
        field(&mut out, "Status", &status_text(icon, status));
        if let Some(m) = &self.message {
            field(&mut out, "Message", &Text::plain(m));
        }
        field(&mut out, "Strategy", &Text::plain(self.strategy));
        if self.strategy == "Canary" {
            let step = self.step.clone().unwrap_or_default();
            field(&mut out, "  Step", &Text::plain(step));
            field(
                &mut out,
                "  SetWeight",
                &Text::plain(self.set_weight.to_string()),
            );
            let actual = self.actual_weight.to_string();
            field(&mut out, "  ActualWeight", &Text::plain(actual));
        }
        for (i, (image, tags)) in self.images.iter().enumerate() {
            let mut text = Text::plain(image);
            if !tags.is_empty() {
                text = text.and(" (", None);
                for (j, tag) in tags.iter().enumerate() {
                    text = text.and(if j == 0 { "" } else { ", " }, None).and_word(tag);
                }
                text = text.and(")", None);
            }
            field(&mut out, if i == 0 { "Images" } else { "" }, &text);
        }
        out.push_str("Replicas:\n");
        let labels = ["Desired", "Current", "Updated", "Ready", "Available"];
        for (label, n) in labels.iter().zip(self.replicas) {
            field(&mut out, &format!("  {label}"), &Text::plain(n.to_string()));
        }
        out.push('\n');
        out.push_str(&self.tree().render(colour));
        out
    }

    /// The NAME / KIND / STATUS / AGE / INFO table.
    fn tree(&self) -> Table {
        let mut t = Table::default();
        let header = ["NAME", "KIND", "STATUS", "AGE", "INFO"];
        t.row(header.iter().map(|h| Text::plain(*h)).collect());
        let icon = rollout_icon(self.phase);
        let status = self.phase.map_or("Unknown", Phase::as_str);
        t.row(vec![
            Text::plain(format!("⟳ {}", self.name)),
            Text::plain("Rollout"),
            status_text(icon, status),
            Text::plain(human_duration(self.age)),
            Text::default(),
        ]);
        for (i, rev) in self.revisions.iter().enumerate() {
            let (prefix, sub) = branches(i + 1 == self.revisions.len(), "");
            let mut row = vec![Text::plain(format!("{prefix}# revision:{}", rev.revision))];
            row.resize(5, Text::default());
            t.row(row);
            let total = rev.replica_sets.len() + rev.experiments.len() + rev.analysis_runs.len();
            for (j, rs) in rev.replica_sets.iter().enumerate() {
                let (prefix, sub) = branches(j + 1 == total, &sub);
                replica_set_rows(&mut t, rs, &prefix, &sub);
            }
            for (j, e) in rev.experiments.iter().enumerate() {
                let (prefix, sub) = branches(rev.replica_sets.len() + j + 1 == total, &sub);
                let phase = e.phase.as_str();
                t.row(vec![
                    Text::plain(format!("{prefix}Σ ")).and(&e.name, colour_of(phase)),
                    Text::plain("Experiment"),
                    status_text(analysis_icon(e.phase), phase),
                    Text::plain(human_duration(e.age)),
                    Text::default(),
                ]);
                for (k, rs) in e.replica_sets.iter().enumerate() {
                    let (prefix, sub) = branches(k + 1 == e.replica_sets.len(), &sub);
                    replica_set_rows(&mut t, rs, &prefix, &sub);
                }
            }
            let before = rev.replica_sets.len() + rev.experiments.len();
            for (j, run) in rev.analysis_runs.iter().enumerate() {
                let (prefix, _) = branches(before + j + 1 == total, &sub);
                let phase = run.phase.as_str();
                let mut info = Text::default();
                let icons = ["✔", "✖", "?", "⚠"];
                for (icon, n) in icons.iter().zip(run.counts).filter(|(_, n)| *n > 0) {
                    let comma = if info.width() == 0 { "" } else { "," };
                    info = info
                        .and(comma, None)
                        .and_word(icon)
                        .and(format!(" {n}"), None);
                }
                t.row(vec![
                    Text::plain(format!("{prefix}α ")).and(&run.name, colour_of(phase)),
                    Text::plain("AnalysisRun"),
                    status_text(analysis_icon(run.phase), phase),
                    Text::plain(human_duration(run.age)),
                    info,
                ]);
            }
        }
        t
    }
}

/// The branch drawn before a child, and the indent under it.
fn branches(last: bool, indent: &str) -> (String, String) {
    if last {
        (format!("{indent}└──"), format!("{indent}   "))
    } else {
        (format!("{indent}├──"), format!("{indent}│  "))
    }
}

/// A status cell: the icon in its colour, then the status word.
fn status_text(icon: &str, status: &str) -> Text {
    Text::default()
        .and_word(icon)
        .and(format!(" {status}"), None)
}

fn replica_set_rows(t: &mut Table, rs: &ReplicaSetInfo, prefix: &str, sub: &str) {
    let name_colour = rs.tags.first().and_then(|t| colour_of(t));
    let name = Text::plain(format!("{prefix}⧉ ")).and(&rs.name, name_colour);
    let mut info = Text::default();
    for (i, tag) in rs.tags.iter().enumerate() {
        info = info.and(if i == 0 { "" } else { "," }, None).and_word(tag);
    }
    if let Some(d) = &rs.delay {
        let comma = if rs.tags.is_empty() { "" } else { "," };
        info = info.and(format!("{comma}delay:{d}"), None);
    }
    t.row(vec![
        name,
        Text::plain("ReplicaSet"),
        status_text(replica_set_icon(rs.status), rs.status),
        Text::plain(human_duration(rs.age)),
        info,
    ]);
    for (i, pod) in rs.pods.iter().enumerate() {
        let (prefix, _) = branches(i + 1 == rs.pods.len(), sub);
        let mut info = format!("ready:{}/{}", pod.ready, pod.containers);
        if pod.restarts > 0 {
            info.push_str(&format!(",restarts:{}", pod.restarts));
        }
        t.row(vec![
            Text::plain(format!("{prefix}□ {}", pod.name)),
            Text::plain("Pod"),
            status_text(pod_icon(&pod.status), &pod.status),
            Text::plain(human_duration(pod.age)),
            Text::plain(info),
        ]);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::view::{AnalysisRunInfo, PodInfo, RevisionInfo};

    fn pod(name: &str, running: bool, age: u64) -> PodInfo {
        PodInfo {
            name: name.into(),
            status: if running { "Running" } else { "Pending" }.into(),
            ready: if running { 2 } else { 0 },
            containers: 2,
            restarts: 0,
            age: Duration::from_secs(age),
        }
    }

    fn info(canary_name: &str) -> RolloutInfo {
        RolloutInfo {
            name: "web".into(),
            namespace: "shop".into(),
            strategy: "Canary",
            phase: Some(Phase::Paused),
            message: Some("CanaryPauseStep".into()),
            step: Some("1/3".into()),
            set_weight: 50,
            actual_weight: 50,
            images: vec![
                ("example/web:1.4.0".into(), vec!["stable"]),
                ("example/web:1.4.1".into(), vec!["canary"]),
            ],
            replicas: [2, 3, 1, 3, 3],
            age: Duration::from_secs(200),
            revisions: vec![
                RevisionInfo {
                    experiments: Vec::new(),
                    revision: 2,
                    replica_sets: vec![ReplicaSetInfo {
                        name: canary_name.into(),
                        status: "Progressing",
                        age: Duration::from_secs(20),
                        tags: vec!["canary"],
                        delay: None,
                        pods: vec![pod("c-1", true, 20), pod("c-2", false, 3)],
                    }],
                    analysis_runs: vec![AnalysisRunInfo {
                        name: "web-c-2".into(),
                        phase: AnalysisPhase::Running,
                        age: Duration::from_secs(20),
                        counts: [0; 4],
                    }],
                },
                RevisionInfo {
                    experiments: Vec::new(),
                    revision: 1,
                    replica_sets: vec![ReplicaSetInfo {
                        name: "web-s".into(),
                        status: "Healthy",
                        age: Duration::from_secs(200),
                        tags: vec!["stable"],
                        delay: Some("25s".into()),
                        pods: vec![pod("s-1", true, 200)],
                    }],
                    analysis_runs: Vec::new(),
                },
            ],
        }
    }

    #[test]
    fn header_lines_follow_get_rollout() {
        let text = info("web-c").render(false);
        let head: Vec<&str> = text.lines().take(16).collect();
        assert_eq!(
            head,
            [
                "Name:            web",
                "Namespace:       shop",
                "Status:          ॥ Paused",
                "Message:         CanaryPauseStep",
                "Strategy:        Canary",
                "  Step:          1/3",
                "  SetWeight:     50",
                "  ActualWeight:  50",
                "Images:          example/web:1.4.0 (stable)",
                "                 example/web:1.4.1 (canary)",
                "Replicas:",
                "  Desired:       2",
                "  Current:       3",
                "  Updated:       1",
                "  Ready:         3",
                "  Available:     3",
            ]
        );
    }

    #[test]
    fn the_tree_has_branches_ages_and_info() {
        let text = info("web-c").render(false);
        let tree: Vec<&str> = text.lines().skip(17).collect();
        assert_eq!(
            tree,
            [
                "NAME             KIND         STATUS         AGE    INFO",
                "⟳ web            Rollout      ॥ Paused       3m20s",
                "├──# revision:2",
                "│  ├──⧉ web-c    ReplicaSet   ◌ Progressing  20s    canary",
                "│  │  ├──□ c-1   Pod          ✔ Running      20s    ready:2/2",
                "│  │  └──□ c-2   Pod          ◌ Pending      3s     ready:0/2",
                "│  └──α web-c-2  AnalysisRun  ◌ Running      20s",
                "└──# revision:1",
                "   └──⧉ web-s    ReplicaSet   ✔ Healthy      3m20s  stable,delay:25s",
                "      └──□ s-1   Pod          ✔ Running      3m20s  ready:2/2",
            ]
        );
    }

    #[test]
    fn a_long_name_widens_its_column_instead_of_running_into_the_next() {
        let long = "web-a-name-far-longer-than-any-column-kubectl-would-guess-7d9f8c6b5";
        let text = info(long).render(false);
        let tree: Vec<&str> = text.lines().skip(17).collect();
        let kind_at = tree[0].find("KIND").unwrap();
        for line in tree.iter().filter(|l| !l.contains("# revision")) {
            let (name, rest) = line.split_at(line.char_indices().nth(kind_at).unwrap().0);
            assert!(name.ends_with("  "), "{line}");
            assert!(!rest.starts_with(' '), "{line}");
        }
        assert!(
            tree.iter()
                .any(|l| l.contains(&format!("⧉ {long}  ReplicaSet")))
        );
    }

    #[test]
    fn colour_marks_icons_tags_and_names_like_kubectl_argo_rollouts() {
        let text = info("web-c").render(true);
        assert!(text.contains("Status:          ॥ Paused"), "{text}");
        assert!(text.contains("example/web:1.4.0 (\x1b[32mstable\x1b[0m)"));
        assert!(text.contains("⧉ \x1b[33mweb-c\x1b[0m"), "{text}");
        assert!(text.contains("\x1b[94m◌\x1b[0m Progressing"));
        assert!(text.contains("α \x1b[94mweb-c-2\x1b[0m"));
        assert!(text.contains("\x1b[32mstable\x1b[0m,delay:25s"));
        let plain = info("web-c").render(false);
        let stripped = ["\x1b[32m", "\x1b[33m", "\x1b[94m", "\x1b[0m"]
            .iter()
            .fold(text, |t, code| t.replace(code, ""));
        assert_eq!(stripped, plain);
    }
}
