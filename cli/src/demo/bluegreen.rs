//! The narration of a blue-green story: what an update does before it
//! starts, and how an aborted one ended.

use rollout_core::spec::BlueGreenStrategy;

use crate::plan::{promotion_words, scale_down_delay};

/// What a blue-green update is about to do, said before it starts.
pub(super) fn release_line(bg: &BlueGreenStrategy) -> String {
    let preview = match &bg.preview_service {
        Some(s) => format!("behind the preview Service {s}"),
        None => "with no preview Service".to_owned(),
    };
    let pods = match bg.preview_replica_count {
        Some(n) => format!(" with {n} pod{}", crate::plan::plural(n)),
        None => String::new(),
    };
    format!(
        "Blue-green: the new version comes up beside the current one{pods}, {preview}; the active Service {} keeps sending users to the current version and switches {}; the old version keeps its pods {}s (scaleDownDelaySeconds) after the switch.",
        bg.active_service,
        promotion_words(bg),
        scale_down_delay(bg)
    )
}

/// How a blue-green release that failed its pre-promotion analysis ended.
pub(super) fn aborted_line(bg: &BlueGreenStrategy) -> String {
    format!(
        "The pre-promotion analysis failed and the rollout aborted by itself: the active Service {} never left the stable version, and the new version was scaled down {}s (abortScaleDownDelaySeconds) after the abort.",
        bg.active_service,
        bg.abort_scale_down_delay_seconds.unwrap_or(30)
    )
}
