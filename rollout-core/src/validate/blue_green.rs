//! `spec.strategy.blueGreen`: Argo's rules (`ValidateRolloutStrategyBlueGreen`).

use super::object::DEFAULT_REVISION_HISTORY_LIMIT;
use super::path::BLUE_GREEN;
use super::{Validator, canary, messages as m};
use crate::spec::{BlueGreenStrategy, Rollout};

/// Distinct active and preview Services, a scale-down revision limit within
/// `revisionHistoryLimit`, and the anti-affinity rules.
pub(super) fn rules(v: &mut Validator, r: &Rollout, bg: &BlueGreenStrategy) {
    if bg.preview_service.as_deref().unwrap_or("") == bg.active_service {
        v.err(
            BLUE_GREEN.field("activeService"),
            m::DUPLICATED_SERVICES_BLUE_GREEN,
        );
    }
    let history = r
        .spec
        .revision_history_limit
        .unwrap_or(DEFAULT_REVISION_HISTORY_LIMIT);
    if let Some(limit) = bg.scale_down_delay_revision_limit
        && history < limit
    {
        v.err(
            BLUE_GREEN.field("scaleDownDelayRevisionLimit"),
            format!("{limit}: {}", m::SCALE_DOWN_LIMIT_ABOVE_HISTORY),
        );
    }
    canary::anti_affinity(
        v,
        BLUE_GREEN.field("antiAffinity"),
        bg.anti_affinity.as_ref(),
    );
}
