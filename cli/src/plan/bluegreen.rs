//! The timeline of a blue-green update, as Argo's controller runs it
//! (`rollout_core::bluegreen`): the new version comes up behind the preview
//! Service (with `previewReplicaCount` pods, if set), the pre-promotion
//! analysis gates the switch, promotion (by a person, after
//! `autoPromotionSeconds`, or at once) scales it to full size and points
//! the active Service at it, the post-promotion analysis may still send the
//! active Service back, and the old version keeps its pods for
//! `scaleDownDelaySeconds`.

use rollout_core::spec::{AnalysisStep, BlueGreenStrategy};
use serde::Serialize;

use super::{Shortest, plural};

/// One row of a blue-green timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BlueGreenPhase {
    /// The phase, from 1.
    pub(crate) step: usize,
    /// What happens: `preview`, `pre-promotion analysis`, `promotion`,
    /// `switch`, `post-promotion analysis`, `scale-down delay`.
    pub(crate) phase: &'static str,
    /// The version the active Service sends users to: `old` or `new`.
    pub(crate) active: &'static str,
    /// The version the preview Service selects (`new`), absent without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) preview: Option<&'static str>,
    /// Pods of the new version.
    pub(crate) new_pods: i32,
    /// Pods of the old version.
    pub(crate) old_pods: i32,
    /// How the phase ends, in words.
    pub(crate) ends: String,
}

/// When the active Service switches, in words.
pub(crate) fn promotion_words(bg: &BlueGreenStrategy) -> String {
    let seconds = bg.auto_promotion_seconds.filter(|s| *s > 0);
    // As Argo: with autoPromotionEnabled false, autoPromotionSeconds is not read.
    match (bg.auto_promotion_enabled, seconds) {
        (Some(false), _) => "on promote (kubectl argo rollouts promote)".to_owned(),
        (_, Some(s)) => format!("{s}s after it is available, or on promote"),
        _ => "as soon as it is available".to_owned(),
    }
}

/// `scaleDownDelaySeconds`, or Argo's 30.
pub(crate) fn scale_down_delay(bg: &BlueGreenStrategy) -> i32 {
    bg.scale_down_delay_seconds.unwrap_or(30)
}

fn templates(a: &AnalysisStep) -> String {
    let names: Vec<&str> = a
        .templates
        .iter()
        .map(|t| t.template_name.as_str())
        .collect();
    names.join(", ")
}

/// The phases of a blue-green update of `replicas` pods, counting into
/// `shortest` what waits for people, timers and analysis.
pub(crate) fn phases(
    bg: &BlueGreenStrategy,
    replicas: i32,
    shortest: &mut Shortest,
) -> Vec<BlueGreenPhase> {
    let preview = bg.preview_service.as_ref().map(|_| "new");
    let preview_pods = bg.preview_replica_count.unwrap_or(replicas).min(replicas);
    let mut rows = Vec::new();
    let mut row = |phase, active, new_pods, old_pods, ends: String| {
        rows.push(BlueGreenPhase {
            step: rows.len() + 1,
            phase,
            active,
            preview,
            new_pods,
            old_pods,
            ends,
        });
    };
    let behind = match &bg.preview_service {
        Some(s) => format!(" behind the preview Service {s}"),
        None => String::new(),
    };
    row(
        "preview",
        "old",
        preview_pods,
        replicas,
        format!(
            "when {preview_pods} new pod{} {} available{behind}",
            plural(preview_pods),
            if preview_pods == 1 { "is" } else { "are" }
        ),
    );
    if let Some(a) = &bg.pre_promotion_analysis {
        shortest.analysis_runs += 1;
        row(
            "pre-promotion analysis",
            "old",
            preview_pods,
            replicas,
            format!(
                "when analysis {} succeeds (fails: abort, the active Service never switches)",
                templates(a)
            ),
        );
    }
    match (bg.auto_promotion_enabled, bg.auto_promotion_seconds) {
        (Some(false), _) => shortest.manual_promotions += 1,
        (_, Some(s)) if s > 0 => {
            shortest.timed_pause_seconds += u64::try_from(s).unwrap_or(0);
        }
        _ => {}
    }
    let full = if preview_pods < replicas {
        format!("; the new version is scaled to {replicas} pods first")
    } else {
        String::new()
    };
    row(
        "promotion",
        "old",
        preview_pods,
        replicas,
        format!("{}{full}", promotion_words(bg)),
    );
    let switched = format!(
        "the active Service {} selects the new version",
        bg.active_service
    );
    match &bg.post_promotion_analysis {
        Some(a) => {
            shortest.analysis_runs += 1;
            row(
                "switch",
                "new",
                replicas,
                replicas,
                format!("at once: {switched}"),
            );
            row(
                "post-promotion analysis",
                "new",
                replicas,
                replicas,
                format!(
                    "when analysis {} succeeds, the new version becomes stable (fails: abort, the active Service goes back to the old version)",
                    templates(a)
                ),
            );
        }
        None => row(
            "switch",
            "new",
            replicas,
            replicas,
            format!("at once: {switched} and becomes stable"),
        ),
    }
    row(
        "scale-down delay",
        "new",
        replicas,
        replicas,
        format!(
            "the old version keeps its {replicas} pod{} {}s (scaleDownDelaySeconds), then is scaled down",
            plural(replicas),
            scale_down_delay(bg)
        ),
    );
    rows
}
