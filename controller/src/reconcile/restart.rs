//! `spec.restartAt` (`kubectl argo rollouts restart`): the pods the engine
//! decides on, and the evictions that replace them, as Argo's
//! `RolloutPodRestarter` does.
//!
//! While a restart is pending ([`rollout_core::restart::pending`]) the
//! Rollout's pods are listed from the API server by `spec.selector` (as
//! Argo lists them), keeping those a ReplicaSet of the Rollout controls
//! ([`crate::observe::pod_state`]). The engine names the pods to replace
//! and how many may go now ([`rollout_core::Decision::restart`]); each is
//! evicted through the Eviction API (`policy/v1`), so PodDisruptionBudgets
//! are honoured. A budget refusing an eviction answers HTTP 429: the API
//! client asks again as its retry policy says, but for at most
//! [`EVICTION_WAIT`] (a reconcile must not wait minutes on a budget); if it
//! is still refused, that pod is skipped until the next look, as in Argo,
//! and the rest of the decision (the status saying the rollout is
//! restarting) is written. A pod
//! already gone (404) is skipped too,
//! where Argo fails the reconcile and retries it: the next list no longer
//! has it either way. When at least one pod was evicted nothing else of the
//! decision is applied (the availability it was computed from no longer
//! holds) and the Rollout is looked at again when its ReplicaSets change,
//! or after Argo's 30 s at the latest. The engine records the finished
//! restart as `status.restartedAt`.

use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, ListParams, PostParams};
use rollout_core::{PodRestart, PodState, Rollout, Time};
use serde_json::json;

use super::Context;
use crate::Error;

/// How soon a Rollout is looked at again after evictions, at the latest
/// (Argo's `restartPodCheckTime`).
pub(super) const RESTART_CHECK: Duration = rollout_core::restart::RESTART_CHECK;

/// The Rollout's pods as the engine sees them when a restart is pending at
/// `now`; `None` (not listed) otherwise.
pub(super) async fn observe(
    ctx: &Context,
    rollout: &Rollout,
    replica_sets: &[ReplicaSet],
    now: Time,
) -> Result<Option<Vec<PodState>>, Error> {
    if !rollout_core::restart::pending(rollout, now) {
        return Ok(None);
    }
    let namespace = rollout.metadata.namespace.clone().unwrap_or_default();
    let selector = super::status::label_selector(rollout.spec.selector.as_ref());
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let params = ListParams::default().labels(&selector);
    let pods = api.list(&params).await.map_err(Error::api(format!(
        "list the pods of rollout {}",
        rollout.object_name()
    )))?;
    let owners: Vec<&ReplicaSet> = replica_sets.iter().collect();
    Ok(Some(
        pods.items
            .iter()
            .filter_map(|pod| crate::observe::pod_state(pod, &owners))
            .collect(),
    ))
}

/// How long one eviction may take, retries of a refusal included, before
/// the pod is left for the next look.
pub(super) const EVICTION_WAIT: Duration = Duration::from_secs(3);

/// Evicts the pods of `restart` in order until `max_evictions` went;
/// returns how many did.
pub(super) async fn evict(
    client: &Client,
    rollout: &Rollout,
    restart: &PodRestart,
) -> Result<usize, Error> {
    let namespace = rollout.metadata.namespace.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let mut evicted = 0;
    for pod in &restart.pods {
        if evicted >= restart.max_evictions {
            break;
        }
        let body = json!({
            "apiVersion": "policy/v1", "kind": "Eviction",
            "metadata": {"name": pod, "namespace": namespace},
        });
        let answer = tokio::time::timeout(
            EVICTION_WAIT,
            api.create_subresource::<_, serde_json::Value>(
                "eviction",
                pod,
                &PostParams::default(),
                &body,
            ),
        )
        .await;
        match answer {
            Err(_elapsed) => {
                tracing::warn!(rollout = %rollout.object_name(), pod = %pod,
                    "eviction still refused after {EVICTION_WAIT:?}; trying again later");
            }
            Ok(Ok(_)) => {
                tracing::info!(rollout = %rollout.object_name(), pod = %pod,
                    "evicted a pod created before spec.restartAt");
                evicted += 1;
            }
            Ok(Err(kube::Error::Api(status))) if status.code == 429 => {
                tracing::warn!(rollout = %rollout.object_name(), pod = %pod, reason = %status.message,
                    "eviction refused (a disruption budget); trying again later");
            }
            Ok(Err(kube::Error::Api(status))) if status.code == 404 => {}
            Ok(Err(e)) => {
                return Err(Error::api(format!("evict pod {namespace}/{pod}"))(e));
            }
        }
    }
    Ok(evicted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollgate_testkit::mock_api::{MockApi, reply, status};

    fn rollout() -> Rollout {
        Rollout::from_value(
            json!({"metadata": {"name": "web", "namespace": "shop"},
                   "spec": {"strategy": {"canary": {}}}}),
            "web",
        )
        .unwrap()
    }

    #[tokio::test]
    async fn pods_are_evicted_in_order_a_refused_or_gone_one_skipped_up_to_the_budget() {
        let (client, mut api) = MockApi::client();
        let restart = PodRestart {
            pods: ["web-a", "web-b", "web-c", "web-d", "web-e"]
                .map(str::to_owned)
                .to_vec(),
            max_evictions: 2,
        };
        let call = tokio::spawn(async move { evict(&client, &rollout(), &restart).await });
        let refused = status(
            429,
            "TooManyRequests",
            "Cannot evict pod as it would violate the pod's disruption budget.",
        );
        let answers = [
            ("web-a", reply(429, &refused)),
            (
                "web-b",
                reply(404, &status(404, "NotFound", "pods \"web-b\" not found")),
            ),
            (
                "web-c",
                reply(201, &json!({"kind": "Status", "status": "Success"})),
            ),
            (
                "web-d",
                reply(201, &json!({"kind": "Status", "status": "Success"})),
            ),
        ];
        for (pod, answer) in answers {
            let seen = api.next(answer).await;
            assert_eq!(seen.method, "POST");
            assert_eq!(
                seen.path,
                format!("/api/v1/namespaces/shop/pods/{pod}/eviction")
            );
            assert_eq!(
                seen.body,
                json!({"apiVersion": "policy/v1", "kind": "Eviction",
                       "metadata": {"name": pod, "namespace": "shop"}})
            );
        }
        assert_eq!(call.await.unwrap().unwrap(), 2, "two went; web-e waits");
        api.no_more_requests().await;
    }

    #[tokio::test]
    async fn another_failure_stops_the_reconcile_naming_the_pod() {
        let (client, mut api) = MockApi::client();
        let restart = PodRestart {
            pods: vec!["web-a".into()],
            max_evictions: 1,
        };
        let call = tokio::spawn(async move { evict(&client, &rollout(), &restart).await });
        api.next(reply(
            403,
            &status(403, "Forbidden", "pods \"web-a\" is forbidden"),
        ))
        .await;
        let error = call.await.unwrap().unwrap_err().to_string();
        assert!(error.starts_with("evict pod shop/web-a: "), "{error}");
    }

    #[tokio::test]
    async fn an_eviction_still_refused_after_the_wait_leaves_the_pod_for_later() {
        let (client, mut api) = MockApi::client();
        let restart = PodRestart {
            pods: vec!["web-a".into(), "web-b".into()],
            max_evictions: 1,
        };
        let call = tokio::spawn(async move { evict(&client, &rollout(), &restart).await });
        // web-a's eviction is never answered within the wait (as when the
        // client keeps retrying a budget's refusals): the next pod is asked.
        let (seen, unanswered) = api
            .next_within(Duration::from_secs(2))
            .await
            .expect("web-a's eviction");
        assert_eq!(seen.path, "/api/v1/namespaces/shop/pods/web-a/eviction");
        let (second, answer) = api
            .next_within(EVICTION_WAIT + Duration::from_secs(5))
            .await
            .expect("web-b's eviction once web-a's wait is over");
        answer.send_response(reply(201, &json!({"kind": "Status", "status": "Success"})));
        assert_eq!(second.path, "/api/v1/namespaces/shop/pods/web-b/eviction");
        assert_eq!(call.await.unwrap().unwrap(), 1, "web-b went; web-a waits");
        drop(unanswered);
    }
}
