//! `spec.ttlStrategy`: when a completed AnalysisRun is deleted, as Argo's
//! `isAnalysisRunTtlExceeded` decides it. The seconds come from
//! `secondsAfterSuccess` for a Successful run, `secondsAfterFailure` for a
//! Failed one, else `secondsAfterCompletion`; the run is deleted once more
//! whole seconds than that have passed since `completedAt`. A run without
//! `completedAt` (one ended by an invalid spec) is never deleted, as in
//! Argo. Argo finds an expired run at its next periodic resync; Rollgate
//! looks again at the moment it expires.

use std::time::Duration;

use rollgate_analysis::types::{AnalysisRunSpec, AnalysisRunStatus};
use rollout_core::{AnalysisPhase, Time};

/// When the completed run is to be deleted: `None` when it is not complete
/// or its spec keeps it.
///
/// ```
/// use rollgate_analysis::types::{AnalysisRunSpec, AnalysisRunStatus, TtlStrategy};
/// use rollgate_controller::measure::ttl::expires_at;
/// let spec = AnalysisRunSpec { ttl_strategy: Some(TtlStrategy {
///     seconds_after_success: Some(60), seconds_after_completion: Some(600), ..Default::default() }),
///     ..Default::default() };
/// let status = |phase: &str| AnalysisRunStatus { phase: phase.into(),
///     completed_at: Some("2026-12-01T10:00:00Z".into()), ..Default::default() };
/// assert_eq!(expires_at(&spec, &status("Successful")).unwrap().to_string(), "2026-12-01T10:01:01Z");
/// assert_eq!(expires_at(&spec, &status("Failed")).unwrap().to_string(), "2026-12-01T10:10:01Z");
/// assert_eq!(expires_at(&spec, &status("Running")), None);
/// ```
pub fn expires_at(spec: &AnalysisRunSpec, status: &AnalysisRunStatus) -> Option<Time> {
    let ttl = spec.ttl_strategy.as_ref()?;
    let phase = status.phase();
    if !phase.is_completed() {
        return None;
    }
    let completed: Time = status.completed_at.as_deref()?.parse().ok()?;
    let seconds = match phase {
        AnalysisPhase::Successful if ttl.seconds_after_success.is_some() => {
            ttl.seconds_after_success
        }
        AnalysisPhase::Failed if ttl.seconds_after_failure.is_some() => ttl.seconds_after_failure,
        _ => ttl.seconds_after_completion,
    }?;
    // Argo deletes once the whole seconds elapsed exceed the TTL.
    let seconds = u64::try_from(i64::from(seconds) + 1).unwrap_or(0);
    Some(completed + Duration::from_secs(seconds))
}
