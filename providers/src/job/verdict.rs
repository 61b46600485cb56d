//! How a measurement's Job stands, read as Argo's Job provider reads it
//! in `Resume`: the Job's conditions, then its pods, then when to look
//! again. Pure: the objects come from the API server.

use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use rollgate_analysis::in_flight::{Progress, Verdict};

/// Container waiting reasons a Job does not recover from by itself (the
/// image cannot be had), as Argo lists them: the measurement ends
/// `Inconclusive`, so that the rollout pauses for a person rather than
/// failing.
pub const TERMINAL_WAITING_REASONS: [&str; 3] =
    ["ErrImagePull", "ImagePullBackOff", "InvalidImageName"];

/// The Job's verdict from its conditions: `Complete` is `Successful`,
/// `Failed` is `Failed`; the last of them in the list wins, as in Argo's
/// loop. `None` while neither is there.
///
/// Two deliberate differences from Argo: a condition counts only when
/// its `status` is `"True"` (Argo reads the type alone; the Job
/// controller writes these two only as true, so this matters only for an
/// object someone else wrote), and a failure carries the condition's
/// reason and message (`BackoffLimitExceeded: Job has reached the
/// specified backoff limit`), which Argo leaves out, so the run's message
/// says why the Job failed.
pub fn from_conditions(job: &Job) -> Option<Progress> {
    let conditions = job.status.as_ref()?.conditions.as_deref()?;
    conditions
        .iter()
        .filter(|c| c.status == "True")
        .filter_map(|c| match c.type_.as_str() {
            "Complete" => Some(Progress::Finished {
                verdict: Verdict::Successful,
                message: String::new(),
            }),
            "Failed" => {
                let reason = c.reason.as_deref().unwrap_or_default();
                let message = c.message.as_deref().unwrap_or_default();
                Some(Progress::Finished {
                    verdict: Verdict::Failed,
                    message: match (reason.is_empty(), message.is_empty()) {
                        (false, false) => format!("{reason}: {message}"),
                        (false, true) => reason.to_owned(),
                        _ => message.to_owned(),
                    },
                })
            }
            _ => None,
        })
        .next_back()
}

/// Argo's `processJobPods`: the first container (init containers first,
/// pod by pod) waiting for one of [`TERMINAL_WAITING_REASONS`] makes the
/// measurement `Inconclusive`, with Argo's message (without the trailing
/// newline Argo's has).
pub fn from_pods(pods: &[Pod]) -> Option<Progress> {
    fn terminal(statuses: Option<&Vec<ContainerStatus>>) -> Option<(&str, &str, &str)> {
        statuses.into_iter().flatten().find_map(|cs| {
            let waiting = cs.state.as_ref()?.waiting.as_ref()?;
            let reason = waiting.reason.as_deref()?;
            TERMINAL_WAITING_REASONS.contains(&reason).then(|| {
                (
                    cs.name.as_str(),
                    reason,
                    waiting.message.as_deref().unwrap_or_default(),
                )
            })
        })
    }
    pods.iter().find_map(|pod| {
        let status = pod.status.as_ref()?;
        let (container, reason, message) = terminal(status.init_container_statuses.as_ref())
            .or_else(|| terminal(status.container_statuses.as_ref()))?;
        Some(Progress::Finished {
            verdict: Verdict::Inconclusive,
            message: format!(
                "Pod {}, container {container} has terminal error ({reason}): {message}",
                pod.metadata.name.as_deref().unwrap_or_default(),
            ),
        })
    })
}

/// How long to wait before looking at a running Job again: Argo's
/// growing delay, the square root of twice the seconds since the
/// measurement started, rounded up to whole seconds and at least one
/// (times have second precision here, and a delay of zero would ask for
/// the Job again at once, forever).
///
/// ```
/// use std::time::Duration;
/// use rollgate_providers::job::resume_delay;
/// assert_eq!(resume_delay(Duration::ZERO), Duration::from_secs(1));
/// assert_eq!(resume_delay(Duration::from_secs(50)), Duration::from_secs(10));
/// assert_eq!(resume_delay(Duration::from_secs(51)), Duration::from_secs(11));
/// ```
pub fn resume_delay(elapsed: Duration) -> Duration {
    let seconds = (2.0 * elapsed.as_secs_f64()).sqrt().ceil();
    // Sane for any elapsed time: sqrt(2 * u64::MAX) is about 6e9.
    Duration::from_secs((seconds as u64).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(conditions: serde_json::Value) -> Job {
        serde_json::from_value(json!({"status": {"conditions": conditions}})).unwrap()
    }

    fn finished(verdict: Verdict, message: &str) -> Option<Progress> {
        Some(Progress::Finished {
            verdict,
            message: message.to_owned(),
        })
    }

    #[test]
    fn conditions_decide_and_the_last_one_wins() {
        assert_eq!(from_conditions(&job(json!([]))), None);
        assert_eq!(
            from_conditions(&job(json!([{"type": "Suspended", "status": "True"}]))),
            None
        );
        assert_eq!(
            from_conditions(&job(json!([
                {"type": "SuccessCriteriaMet", "status": "True"},
                {"type": "Complete", "status": "True"}]))),
            finished(Verdict::Successful, "")
        );
        assert_eq!(
            from_conditions(&job(json!([{"type": "Failed", "status": "True",
                "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit"}]))),
            finished(
                Verdict::Failed,
                "BackoffLimitExceeded: Job has reached the specified backoff limit"
            )
        );
        assert_eq!(
            from_conditions(&job(json!([
                {"type": "Failed", "status": "True", "reason": "DeadlineExceeded"},
                {"type": "Complete", "status": "True"}]))),
            finished(Verdict::Successful, "")
        );
        // Unlike Argo, a condition that is not true does not count.
        assert_eq!(
            from_conditions(&job(json!([{"type": "Complete", "status": "False"}]))),
            None
        );
    }

    #[test]
    fn a_container_that_cannot_start_is_inconclusive() {
        let pod = |statuses: serde_json::Value| -> Pod {
            serde_json::from_value(json!({"metadata": {"name": "smoke-x"}, "status": statuses}))
                .unwrap()
        };
        let waiting = |reason: &str| {
            json!([{"name": "t", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": reason, "message": "not found"}}}])
        };
        assert_eq!(
            from_pods(&[pod(
                json!({"containerStatuses": waiting("ContainerCreating")})
            )]),
            None
        );
        assert_eq!(
            from_pods(&[
                pod(json!({})),
                pod(json!({"initContainerStatuses": waiting("ImagePullBackOff")}))
            ]),
            finished(
                Verdict::Inconclusive,
                "Pod smoke-x, container t has terminal error (ImagePullBackOff): not found"
            )
        );
        assert_eq!(
            from_pods(&[pod(json!({"containerStatuses": waiting("ErrImagePull")}))]),
            finished(
                Verdict::Inconclusive,
                "Pod smoke-x, container t has terminal error (ErrImagePull): not found"
            )
        );
    }
}
