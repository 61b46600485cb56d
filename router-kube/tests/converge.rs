//! The applier's requests without the watch cache, asserted exactly
//! against the testkit's mock API server: one GET per read, one write per
//! converge, and a fresh read and plan after a conflict or a failed guard.

mod support;

use std::time::Duration;

use rollgate_testkit::mock_api::{self, reply, status};
use router_core::ErrorKind;
use router_kube::Outcome;
use serde_json::json;
use support::*;

#[tokio::test]
async fn an_unchanged_object_costs_one_get_without_the_cache() {
    let (applier, mut api) = applier(direct());
    let call = mock_api::spawn(async move { applier.converge(&web(), want_weight("30")).await });
    let get = api.next(reply(200, &config_map("web", 7, "30"))).await;
    assert_eq!((get.method.as_str(), get.path.as_str()), ("GET", PATH));
    assert_eq!(get.user_agent, "rollgate-test/1.2.3");
    assert_eq!(call.result().await.unwrap(), Outcome::Unchanged);
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_change_is_one_read_and_one_guarded_patch() {
    let (applier, mut api) = applier(direct());
    let call = mock_api::spawn(async move { applier.converge(&web(), want_weight("50")).await });
    api.next(reply(200, &config_map("web", 7, "30"))).await;
    let patch = api.next(reply(200, &config_map("web", 8, "50"))).await;
    assert_eq!(
        (patch.method.as_str(), patch.path.as_str()),
        ("PATCH", PATH)
    );
    assert_eq!(patch.content_type, "application/json-patch+json");
    assert_eq!(
        patch.body,
        json!([{"op": "test", "path": "/data/weight", "value": "30"},
               {"op": "replace", "path": "/data/weight", "value": "50"}])
    );
    assert_eq!(call.result().await.unwrap(), Outcome::Written);
    api.no_more_requests().await;
}

/// What an API server answers when a JSON patch's `test` operation fails.
fn failed_test() -> serde_json::Value {
    status(
        422,
        "Invalid",
        "the server rejected our request due to an error in our request: testing value \
         /data/weight failed: test failed",
    )
}

#[tokio::test]
async fn a_failed_guard_reads_the_server_again_and_plans_again() {
    let (applier, mut api) = applier(direct());
    let call = mock_api::spawn(async move { applier.converge(&web(), want_weight("50")).await });
    api.next(reply(200, &config_map("web", 7, "30"))).await;
    let first = api.next(reply(422, &failed_test())).await;
    assert_eq!(first.body[0]["value"], "30");
    // Someone set 40 in between: the second patch guards 40.
    let get = api.next(reply(200, &config_map("web", 9, "40"))).await;
    assert_eq!((get.method.as_str(), get.path.as_str()), ("GET", PATH));
    let second = api.next(reply(200, &config_map("web", 10, "50"))).await;
    assert_eq!(second.method, "PATCH");
    assert_eq!(second.body[0]["value"], "40");
    assert_eq!(call.result().await.unwrap(), Outcome::Written);
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_conflict_reads_again_and_a_replace_carries_the_version_read() {
    let (applier, mut api) = applier(direct());
    let call = mock_api::spawn(async move {
        applier
            .converge(&web(), |current| {
                let mut object = current.expect("it exists").clone();
                if object["data"]["weight"] == "50" {
                    return Ok(None);
                }
                object["data"]["weight"] = json!("50");
                object["metadata"]
                    .as_object_mut()
                    .unwrap()
                    .remove("resourceVersion");
                Ok(Some(router_kube::Write::replace(object)))
            })
            .await
    });
    api.next(reply(200, &config_map("web", 7, "30"))).await;
    let first = api
        .next(reply(
            409,
            &status(409, "Conflict", "the object has been modified"),
        ))
        .await;
    assert_eq!((first.method.as_str(), first.path.as_str()), ("PUT", PATH));
    assert_eq!(first.body["metadata"]["resourceVersion"], "7");
    assert!(first.body["metadata"].get("managedFields").is_none());
    let get = api.next(reply(200, &config_map("web", 9, "40"))).await;
    assert_eq!(get.method, "GET");
    let second = api.next(reply(200, &config_map("web", 10, "50"))).await;
    assert_eq!(second.method, "PUT");
    assert_eq!(second.body["metadata"]["resourceVersion"], "9");
    assert_eq!(call.result().await.unwrap(), Outcome::Written);
    api.no_more_requests().await;
}

#[tokio::test]
async fn another_invalid_answer_is_returned_at_once_with_the_server_message() {
    let (applier, mut api) = applier(direct());
    let call = mock_api::spawn(async move { applier.converge(&web(), want_weight("50")).await });
    api.next(reply(200, &config_map("web", 7, "30"))).await;
    let invalid = status(
        422,
        "Invalid",
        "ConfigMap \"web\" is invalid: data[weight]: Invalid value: \"50\": too much",
    );
    api.next(reply(422, &invalid)).await;
    let err = call.result().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert_eq!(
        err.to_string(),
        "ConfigMap shop/web: 422 Invalid: ConfigMap \"web\" is invalid: data[weight]: \
         Invalid value: \"50\": too much"
    );
    api.no_more_requests().await;
}

#[tokio::test]
async fn an_object_that_keeps_changing_is_a_conflict_after_five_attempts() {
    let (applier, api) = applier(direct());
    let call = mock_api::spawn(async move { applier.converge(&web(), want_weight("50")).await });
    let mut api = api;
    let seen = api
        .answer_until_quiet(Duration::from_millis(500), |seen| {
            if seen.method == "GET" {
                reply(200, &config_map("web", 7, "30"))
            } else {
                reply(
                    409,
                    &status(409, "Conflict", "the object has been modified"),
                )
            }
        })
        .await;
    let methods: Vec<&str> = seen.iter().map(|s| s.method.as_str()).collect();
    assert_eq!(methods, ["GET", "PATCH"].repeat(5));
    let err = call.result().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        err.to_string(),
        "ConfigMap shop/web: still changing after 5 attempts"
    );
}
