//! What `kubectl argo rollouts promote|abort|retry|pause|restart` do to the object,
//! as pure functions returning the merge patches to send; `set image` and
//! `undo`, which edit the pod template, are in [`set_image`] and [`undo`].
//!
//! Each operation returns a [`Patch`]: at most one JSON merge patch for
//! `spec` (sent to the object) and one for `status` (sent to the status
//! subresource), the documents kubectl-argo-rollouts sends, so a CLI or a
//! controller built on this crate behaves the same for users. Two fields are
//! also cleared to keep the status consistent: `abort` clears
//! `status.promoteFull`, and a full promotion of an aborted rollout clears
//! `status.abort`.
//!
//! ```
//! use rollout_core::{ops, Rollout};
//! let rollout = Rollout::from_value(serde_json::json!({
//!     "spec": {"strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}}},
//!     "status": {"currentStepIndex": 1, "controllerPause": true, "stableRS": "a", "currentPodHash": "b",
//!                "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-11-22T05:00:00Z"}]}
//! }), "r").unwrap();
//! let patch = ops::promote(&rollout);
//! assert_eq!(patch.spec, None);
//! assert_eq!(patch.status, Some(serde_json::json!({"pauseConditions": null})));
//! ```

mod template;

pub use template::{
    POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION, RevisionTemplate, TemplateError, Undo, set_image,
    undo,
};

use serde_json::{Value, json};

use crate::spec::Rollout;
use crate::time::Time;

/// The merge patches an operation sends.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Patch {
    /// Merge patch for the object (`{"spec": ...}` is already unwrapped: this is the whole body).
    pub spec: Option<Value>,
    /// Merge patch for the status subresource (the body's `status` value).
    pub status: Option<Value>,
}

impl Patch {
    /// Whether the operation has nothing to change.
    pub fn is_empty(&self) -> bool {
        self.spec.is_none() && self.status.is_none()
    }

    /// The spec patch as the request body: `{"spec": {...}}`.
    pub fn spec_body(&self) -> Option<Value> {
        self.spec.as_ref().map(|s| json!({ "spec": s }))
    }

    /// The status patch as the request body: `{"status": {...}}`.
    pub fn status_body(&self) -> Option<Value> {
        self.status.as_ref().map(|s| json!({ "status": s }))
    }

    /// Applies the patches to a local copy of the rollout, as the API server
    /// would (JSON merge patch). Fails only if the result is no longer a
    /// Rollout, which the operations here never produce.
    pub fn apply_to(&self, rollout: &mut Rollout) -> Result<(), crate::Error> {
        let mut doc = serde_json::to_value(&*rollout).unwrap_or(Value::Null);
        if let Some(body) = self.spec_body() {
            json_patch::merge(&mut doc, &body);
        }
        if let Some(body) = self.status_body() {
            if doc.get("status").is_none_or(Value::is_null) {
                doc["status"] = json!({});
            }
            json_patch::merge(&mut doc, &body);
        }
        *rollout = Rollout::from_value(doc, &rollout.object_name())?;
        Ok(())
    }
}

fn unpause(rollout: &Rollout) -> Option<Value> {
    (rollout.spec.paused == Some(true)).then(|| json!({"paused": false}))
}

/// `kubectl argo rollouts promote`: resume a paused rollout, or skip the
/// current step (an analysis or a pause) when nothing is paused.
pub fn promote(rollout: &Rollout) -> Patch {
    let status = rollout.status.clone().unwrap_or_default();
    let steps = rollout.canary().map_or(0, |c| c.steps.len());
    let next = i32::try_from((status.step_index() + 1).min(steps)).unwrap_or(i32::MAX);
    let step_inconclusive = status
        .canary
        .current_step_analysis_run_status
        .as_ref()
        .is_some_and(|r| r.status == "Inconclusive");
    let status_patch = if step_inconclusive
        && !status.pause_conditions.is_empty()
        && status.controller_pause
    {
        Some(json!({"pauseConditions": null, "controllerPause": false, "currentStepIndex": next}))
    } else if !status.pause_conditions.is_empty() {
        Some(json!({"pauseConditions": null}))
    } else if steps > 0 && rollout.canary().is_some() {
        Some(json!({"pauseConditions": null, "currentStepIndex": next}))
    } else {
        None
    };
    Patch {
        spec: unpause(rollout),
        status: status_patch,
    }
}

/// `kubectl argo rollouts promote --full`: skip every remaining step,
/// analysis and pause, and promote once the canary is fully available.
///
/// On an aborted rollout this also clears `abort`, so the person's intent
/// is explicit on the object; the engine lets `abort` win over a
/// `promoteFull` it finds alongside it (stock kubectl-argo-rollouts sends
/// only `promoteFull`, so with it run `retry` first).
pub fn promote_full(rollout: &Rollout) -> Patch {
    let status = rollout.status.clone().unwrap_or_default();
    let status_patch = (status.current_pod_hash != status.stable_rs).then(|| {
        if status.abort {
            json!({"promoteFull": true, "abort": false})
        } else {
            json!({"promoteFull": true})
        }
    });
    Patch {
        spec: unpause(rollout),
        status: status_patch,
    }
}

/// `kubectl argo rollouts abort`: send all traffic back to stable and stop.
/// Also withdraws a pending `promote --full`.
pub fn abort(_rollout: &Rollout) -> Patch {
    Patch {
        spec: None,
        status: Some(json!({"abort": true, "promoteFull": false})),
    }
}

/// `kubectl argo rollouts retry rollout`: clear an abort and run the steps again.
pub fn retry(_rollout: &Rollout) -> Patch {
    Patch {
        spec: None,
        status: Some(json!({"abort": false})),
    }
}

/// `kubectl argo rollouts pause`: stop stepping and scaling.
pub fn pause(_rollout: &Rollout) -> Patch {
    Patch {
        spec: Some(json!({"paused": true})),
        status: None,
    }
}

/// `kubectl argo rollouts restart [--in DURATION]`: replace every pod
/// created before `at` (pass the current time, or the current time plus the
/// delay); see [`crate::restart`]. The patch is the one kubectl-argo-rollouts
/// sends, with the time in RFC 3339 at second precision.
///
/// ```
/// use rollout_core::{ops, Time};
/// let at: Time = "2026-11-22T05:00:00Z".parse().unwrap();
/// assert_eq!(
///     ops::restart(at).spec_body(),
///     Some(serde_json::json!({"spec": {"restartAt": "2026-11-22T05:00:00Z"}}))
/// );
/// ```
pub fn restart(at: Time) -> Patch {
    Patch {
        spec: Some(json!({"restartAt": at.to_string()})),
        status: None,
    }
}

/// `kubectl argo rollouts resume` (an alias of `promote` in current
/// versions): clears a manual pause and pause conditions, like [`promote`].
pub fn resume(rollout: &Rollout) -> Patch {
    promote(rollout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(status: Value, paused: bool) -> Rollout {
        Rollout::from_value(
            json!({"spec": {"paused": paused, "strategy": {"canary": {"steps": [
                {"setWeight": 10}, {"analysis": {"templates": [{"templateName": "t"}]}}, {"setWeight": 50}]}}},
                "status": status}),
            "r",
        )
        .unwrap()
    }

    #[test]
    fn promote_skips_a_running_step() {
        let r = rollout(json!({"currentStepIndex": 1}), false);
        assert_eq!(
            promote(&r).status,
            Some(json!({"pauseConditions": null, "currentStepIndex": 2}))
        );
    }

    #[test]
    fn promote_after_inconclusive_analysis_moves_on_and_clears_the_pause() {
        let r = rollout(
            json!({"currentStepIndex": 1, "controllerPause": true,
                "pauseConditions": [{"reason": "InconclusiveAnalysisRun", "startTime": "2026-11-22T05:00:00Z"}],
                "canary": {"currentStepAnalysisRunStatus": {"name": "a", "status": "Inconclusive"}}}),
            false,
        );
        assert_eq!(
            promote(&r).status,
            Some(json!({"pauseConditions": null, "controllerPause": false, "currentStepIndex": 2}))
        );
    }

    #[test]
    fn promote_unpauses_a_manual_pause() {
        let r = rollout(json!({"currentStepIndex": 3}), true);
        let p = promote(&r);
        assert_eq!(p.spec, Some(json!({"paused": false})));
        assert_eq!(
            p.status,
            Some(json!({"pauseConditions": null, "currentStepIndex": 3}))
        );
    }

    #[test]
    fn promote_full_only_when_not_promoted() {
        let done = rollout(json!({"currentPodHash": "a", "stableRS": "a"}), false);
        assert!(promote_full(&done).is_empty());
        let going = rollout(json!({"currentPodHash": "b", "stableRS": "a"}), false);
        assert_eq!(
            promote_full(&going).status,
            Some(json!({"promoteFull": true}))
        );
    }

    #[test]
    fn patches_apply_locally_like_the_api_server() {
        let mut r = rollout(
            json!({"pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-11-22T05:00:00Z"}]}),
            false,
        );
        promote(&r).apply_to(&mut r).unwrap();
        assert!(r.status.as_ref().unwrap().pause_conditions.is_empty());
        abort(&r).apply_to(&mut r).unwrap();
        assert!(r.status.as_ref().unwrap().abort);
        pause(&r).apply_to(&mut r).unwrap();
        assert_eq!(r.spec.paused, Some(true));
    }
}
