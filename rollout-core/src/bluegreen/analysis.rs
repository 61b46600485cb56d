//! Pre- and post-promotion analysis (Argo's `reconcilePrePromotionAnalysisRun`,
//! `reconcilePostPromotionAnalysisRun` and `setPauseOrAbortForBlueGreen`).
//!
//! Pre-promotion analysis starts once the current ReplicaSet is fully
//! scaled (or at `previewReplicaCount`) and available while the active
//! Service still points elsewhere; the switch waits for it to succeed.
//! Post-promotion analysis starts once the status records the active
//! Service on the current ReplicaSet; the new ReplicaSet becomes stable only
//! when it succeeds. Failed or Error aborts (`Blue/green pre-promotion
//! analysis phase error/failed[: message]`), Inconclusive pauses with
//! `InconclusiveAnalysisRun`. Runs are named
//! `<rollout>-<hash>-<revision>-pre` and `-post` (`.1`, `.2`, ... for a
//! later attempt). Once promoted, aborted, promoted with `--full`, rolled
//! back fast or on the first deploy, no run is wanted and the status keeps
//! the last ones.

use super::Pass;
use crate::decision::{AnalysisKind, AnalysisPhase, AnalysisRunRequest, Observations};
use crate::engine::analysis::track_run;
use crate::spec::AnalysisStep;
use crate::status::{PauseReason, RolloutAnalysisRunStatus};

/// The run a status records, with its phase as observed; `None` when the
/// status records none or the run is not observed (Argo's current runs).
pub(super) fn observed_run(
    obs: &Observations,
    recorded: Option<&RolloutAnalysisRunStatus>,
) -> Option<RolloutAnalysisRunStatus> {
    let seen = obs.analysis_run(&recorded?.name)?;
    Some(RolloutAnalysisRunStatus {
        name: seen.name.clone(),
        status: seen.phase.as_str().to_owned(),
        message: seen.message.clone(),
    })
}

fn successful(run: Option<&RolloutAnalysisRunStatus>) -> bool {
    run.is_some_and(|r| r.status == AnalysisPhase::Successful.as_str())
}

impl Pass<'_> {
    /// Argo's `completedPrePromotionAnalysis`.
    pub(super) fn completed_pre_promotion_analysis(&self) -> bool {
        self.bg.pre_promotion_analysis.is_none() || successful(self.pre.as_ref())
    }

    /// Whether the post-promotion run in effect succeeded.
    pub(super) fn post_promotion_succeeded(&self) -> bool {
        successful(self.post.as_ref())
    }

    pub(super) fn reconcile_analysis_runs(&mut self) {
        let fully_promoted =
            self.prev.stable_rs.is_some() && self.prev.stable_rs == self.prev.current_pod_hash;
        if fully_promoted
            || self.aborted()
            || self.prev.promote_full
            || self.is_fast_rollback()
            || self.prev.stable_rs.is_none()
        {
            return;
        }
        let spec = self
            .bg
            .pre_promotion_analysis
            .as_ref()
            .filter(|a| !a.templates.is_empty());
        let run = self.pre.take();
        self.pre = match spec {
            None => None,
            Some(spec) => {
                let skip = self.skip_pre_promotion(run.is_some());
                self.analysis_run(spec, run, skip, "pre", AnalysisKind::PrePromotion)
            }
        };
        let spec = self
            .bg
            .post_promotion_analysis
            .as_ref()
            .filter(|a| !a.templates.is_empty());
        let run = self.post.take();
        self.post = match spec {
            None => None,
            Some(spec) => {
                let skip = self.skip_post_promotion(run.is_some());
                self.analysis_run(spec, run, skip, "post", AnalysisKind::PostPromotion)
            }
        };
    }

    /// The run of one kind after this pass: kept as it is when skipped or
    /// paused as inconclusive, a fresh one when needed; a run that is kept
    /// going is requested, and its outcome pauses or aborts.
    fn analysis_run(
        &mut self,
        spec: &AnalysisStep,
        current: Option<RolloutAnalysisRunStatus>,
        skip: bool,
        infix: &str,
        kind: AnalysisKind,
    ) -> Option<RolloutAnalysisRunStatus> {
        let run = if skip || self.prev.has_pause(PauseReason::InconclusiveAnalysisRun) {
            current
        } else if self.needs_new_run(current.as_ref()) {
            let base = format!(
                "{}-{}-{}-{infix}",
                self.ro.metadata.name,
                self.current_hash(),
                self.revision()
            );
            Some(track_run(self.obs, None, &base))
        } else {
            current
        };
        let run = run?;
        if !skip {
            self.runs.push(AnalysisRunRequest {
                name: run.name.clone(),
                kind,
                spec: spec.clone(),
            });
        }
        match run.status.as_str() {
            "Inconclusive" => self.pause.add(PauseReason::InconclusiveAnalysisRun),
            "Failed" | "Error" => {
                let when = if kind == AnalysisKind::PostPromotion {
                    "post"
                } else {
                    "pre"
                };
                let message = match &run.message {
                    Some(m) if !m.is_empty() => {
                        format!("Blue/green {when}-promotion analysis phase error/failed: {m}")
                    }
                    _ => format!("Blue/green {when}-promotion analysis phase error/failed"),
                };
                self.pause.add_abort(message);
            }
            _ => {}
        }
        Some(run)
    }

    /// Argo's `needsNewAnalysisRun`.
    fn needs_new_run(&self, current: Option<&RolloutAnalysisRunStatus>) -> bool {
        let Some(current) = current else {
            return true;
        };
        if self.prev.controller_pause
            && !self.prev.has_pause(PauseReason::CanaryPauseStep)
            && !self.prev.has_pause(PauseReason::BlueGreenPause)
        {
            return current.status == AnalysisPhase::Inconclusive.as_str();
        }
        self.prev.aborted_at.is_some()
    }

    /// Argo's `skipPrePromotionAnalysisRun`: promoted, first deploy, the
    /// active Service already on the current ReplicaSet, or (before the run
    /// started) the current ReplicaSet not yet at its size and available.
    fn skip_pre_promotion(&self, started: bool) -> bool {
        let current = self.current_hash();
        let active = self.prev.blue_green.active_selector.as_deref();
        if self.prev.stable_rs.as_deref() == Some(current) || active.is_none_or(|a| a == current) {
            return true;
        }
        if started {
            return false;
        }
        let Some(new) = self.new else {
            return true;
        };
        match self.bg.preview_replica_count {
            Some(count) => new.spec_replicas != count || new.available_replicas != count,
            None => !self.saturated(new),
        }
    }

    /// Argo's `skipPostPromotionAnalysisRun`: promoted, the status not yet
    /// recording the active Service on the current ReplicaSet, or (before
    /// the run started) the current ReplicaSet not fully available.
    fn skip_post_promotion(&self, started: bool) -> bool {
        let current = self.current_hash();
        if self.prev.stable_rs.as_deref() == Some(current)
            || self.prev.blue_green.active_selector.as_deref() != Some(current)
        {
            return true;
        }
        if started {
            return false;
        }
        !self.new.is_some_and(|new| self.saturated(new))
    }
}
