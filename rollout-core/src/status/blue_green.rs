//! `status.blueGreen`: what a blue-green update records between passes.

use serde::{Deserialize, Serialize};

use super::RolloutAnalysisRunStatus;
use super::lenient;

/// `status.blueGreen`, with Argo's field names.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreenStatus {
    /// The `rollouts-pod-template-hash` the preview Service selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_selector: Option<String>,
    /// The `rollouts-pod-template-hash` the active Service selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_selector: Option<String>,
    /// With `previewReplicaCount`: the preview ReplicaSet has passed its pause
    /// and pre-promotion analysis at the preview size, and now scales up to
    /// `spec.replicas` (a one-way switch until the next update or promotion).
    #[serde(
        default,
        deserialize_with = "lenient::or_default",
        skip_serializing_if = "std::ops::Not::not"
    )]
    pub scale_up_preview_check_point: bool,
    /// The pre-promotion AnalysisRun.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_promotion_analysis_run_status: Option<RolloutAnalysisRunStatus>,
    /// The post-promotion AnalysisRun.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_promotion_analysis_run_status: Option<RolloutAnalysisRunStatus>,
}

impl BlueGreenStatus {
    /// Nothing recorded, as on a canary Rollout.
    pub const EMPTY: Self = Self {
        preview_selector: None,
        active_selector: None,
        scale_up_preview_check_point: false,
        pre_promotion_analysis_run_status: None,
        post_promotion_analysis_run_status: None,
    };

    pub(super) fn is_empty(&self) -> bool {
        self == &Self::EMPTY
    }
}
