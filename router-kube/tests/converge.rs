//! The applier's requests without the watch cache, asserted exactly
//! against the testkit's mock API server: one GET per read, one write per
//! converge, and a fresh read and plan after a conflict or a failed guard.

mod support;

use std::time::Duration;

use rollgate_testkit::mock_api::{self, reply, status};
use router_core::ErrorKind;
use router_kube::{ApplierOptions, Outcome};
use serde_json::json;
use support::*;

#[tokio::test]
async fn an_unchanged_object_costs_one_get_without_the_cache() {
    let (applier, mut api) = applier(ApplierOptions::uncached());
    let call = mock_api::spawn(async move { applier.converge(&web(), want_weight("30")).await });
    let get = api.next(reply(200, &config_map("web", 7, "30"))).await;
    assert_eq!((get.method.as_str(), get.path.as_str()), ("GET", PATH));
    assert_eq!(get.user_agent, "rollgate-test/1.2.3");
    assert_eq!(call.result().await.unwrap(), Outcome::Unchanged);
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_change_is_one_read_and_one_guarded_patch() {
    let (applier, mut api) = applier(ApplierOptions::uncached());
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

/// What an API server answers when a JSON patch's `test` operation fails
/// (kube-apiserver 1.36: a generic message, no causes).
fn failed_test() -> serde_json::Value {
    status(
        422,
        "Invalid",
        "the server rejected our request due to an error in our request",
    )
}

#[tokio::test]
async fn a_failed_guard_reads_the_server_again_and_plans_again() {
    let (applier, mut api) = applier(ApplierOptions::uncached());
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
    let (applier, mut api) = applier(ApplierOptions::uncached());
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
    let (applier, mut api) = applier(ApplierOptions::uncached());
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
async fn an_object_that_keeps_changing_is_a_conflict_after_eight_attempts() {
    let (applier, api) = applier(ApplierOptions::uncached());
    let call = mock_api::spawn(async move { applier.converge(&web(), want_weight("50")).await });
    let mut api = api;
    let seen = api
        .answer_until_quiet(Duration::from_millis(1500), |seen| {
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
    assert_eq!(methods, ["GET", "PATCH"].repeat(8));
    let err = call.result().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        err.to_string(),
        "ConfigMap shop/web: still changing after 8 attempts (the last write: 409 Conflict)"
    );
}

#[tokio::test]
async fn the_request_limit_spaces_requests_out() {
    let (applier, mut api) = applier(limited(2.0));
    let call = mock_api::spawn(async move { applier.converge(&web(), want_weight("50")).await });
    let started = tokio::time::Instant::now();
    let get = api.next(reply(200, &config_map("web", 7, "30"))).await;
    assert_eq!(get.method, "GET", "the first request goes at once");
    // At 2 requests per second with a burst of 1 the patch waits ~500 ms.
    api.assert_quiet_for(Duration::from_millis(350)).await;
    let patch = api.next(reply(200, &config_map("web", 8, "50"))).await;
    assert_eq!(patch.method, "PATCH");
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(call.result().await.unwrap(), Outcome::Written);
}

/// A plan that wants weight 50, with a preflight that refuses a stored
/// object without the label `checked`.
fn with_preflight(
    current: Option<&serde_json::Value>,
) -> Result<Option<router_kube::Write>, router_core::Error> {
    let write = want_weight("50")(current)?;
    Ok(write.map(|w| {
        w.with_preflight(|preview| {
            if preview["metadata"]["labels"]["checked"] == "yes" {
                Ok(())
            } else {
                Err(router_core::Error::unsupported(
                    "ConfigMap shop/web: the server would drop the label checked; nothing was changed",
                ))
            }
        })
    }))
}

#[tokio::test]
async fn a_preflight_error_writes_nothing() {
    let (applier, mut api) = applier(ApplierOptions::uncached());
    let call = mock_api::spawn(async move { applier.converge(&web(), with_preflight).await });
    api.next(reply(200, &config_map("web", 7, "30"))).await;
    let dry = api.next(reply(200, &config_map("web", 7, "50"))).await;
    assert_eq!(dry.method, "PATCH");
    assert!(dry.has_query("dryRun=All"), "{}", dry.query);
    let err = call.result().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert_eq!(
        err.to_string(),
        "ConfigMap shop/web: the server would drop the label checked; nothing was changed"
    );
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_preflight_that_passes_is_followed_by_the_write() {
    let (applier, mut api) = applier(ApplierOptions::uncached());
    let call = mock_api::spawn(async move { applier.converge(&web(), with_preflight).await });
    api.next(reply(200, &config_map("web", 7, "30"))).await;
    let mut preview = config_map("web", 7, "50");
    preview["metadata"]["labels"]["checked"] = json!("yes");
    let dry = api.next(reply(200, &preview)).await;
    assert!(dry.has_query("dryRun=All"), "{}", dry.query);
    let write = api.next(reply(200, &config_map("web", 8, "50"))).await;
    assert_eq!(write.method, "PATCH");
    assert!(!write.has_query("dryRun=All"), "{}", write.query);
    assert_eq!(write.body, dry.body);
    assert_eq!(call.result().await.unwrap(), Outcome::Written);
    api.no_more_requests().await;
}

#[tokio::test]
async fn server_side_apply_is_forced_under_its_field_manager() {
    let (applier, mut api) = applier(ApplierOptions::uncached());
    let call = mock_api::spawn(async move {
        applier
            .converge(&web(), |current| {
                assert!(current.is_none());
                let object = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "web", "namespace": "shop"}, "data": {"weight": "50"}});
                Ok(Some(router_kube::Write::apply(object, "rollgate-test")))
            })
            .await
    });
    let get = api
        .next(reply(
            404,
            &status(404, "NotFound", "configmaps \"web\" not found"),
        ))
        .await;
    assert_eq!(get.method, "GET");
    let apply = api.next(reply(200, &config_map("web", 8, "50"))).await;
    assert_eq!(
        (apply.method.as_str(), apply.path.as_str()),
        ("PATCH", PATH)
    );
    assert_eq!(apply.content_type, "application/apply-patch+yaml");
    assert!(
        apply.has_query("fieldManager=rollgate-test"),
        "{}",
        apply.query
    );
    assert!(apply.has_query("force=true"), "{}", apply.query);
    assert_eq!(apply.body["data"]["weight"], "50");
    assert_eq!(call.result().await.unwrap(), Outcome::Written);
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_create_that_finds_the_object_plans_again_from_it() {
    let (applier, mut api) = applier(ApplierOptions::uncached());
    let call = mock_api::spawn(async move {
        applier
            .converge(&web(), |current| match current {
                None => Ok(Some(router_kube::Write::create(config_map("web", 0, "50")))),
                Some(current) => want_weight("50")(Some(current)),
            })
            .await
    });
    api.next(reply(
        404,
        &status(404, "NotFound", "configmaps \"web\" not found"),
    ))
    .await;
    let create = api
        .next(reply(
            409,
            &status(409, "AlreadyExists", "configmaps \"web\" already exists"),
        ))
        .await;
    assert_eq!(
        (create.method.as_str(), create.path.as_str()),
        ("POST", COLLECTION)
    );
    api.next(reply(200, &config_map("web", 9, "30"))).await;
    let patch = api.next(reply(200, &config_map("web", 10, "50"))).await;
    assert_eq!(patch.method, "PATCH");
    assert_eq!(call.result().await.unwrap(), Outcome::Written);
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_delete_is_conditional_on_the_version_read_and_a_gone_object_is_unchanged() {
    let (applier, mut api) = applier(ApplierOptions::uncached());
    let delete = |_: Option<&serde_json::Value>| Ok(Some(router_kube::Write::delete()));
    let call = mock_api::spawn(async move { applier.converge(&web(), delete).await });
    api.next(reply(200, &config_map("web", 7, "30"))).await;
    let sent = api
        .next(reply(
            404,
            &status(404, "NotFound", "configmaps \"web\" not found"),
        ))
        .await;
    assert_eq!((sent.method.as_str(), sent.path.as_str()), ("DELETE", PATH));
    assert_eq!(
        sent.body["preconditions"],
        json!({"resourceVersion": "7", "uid": "u-1"})
    );
    assert_eq!(call.result().await.unwrap(), Outcome::Unchanged);
    api.no_more_requests().await;
}

#[tokio::test]
async fn an_error_after_writes_names_the_objects_already_updated() {
    let (applier, mut api) = applier(ApplierOptions::uncached());
    let call = mock_api::spawn(async move {
        let mut progress = router_kube::Progress::new();
        for name in ["a", "b", "c"] {
            let object = router_kube::ObjectRef::new(&config_maps(), "shop", name);
            let result = applier.converge(&object, want_weight("50")).await;
            progress.track(&object, result)?;
        }
        Ok::<_, router_core::Error>(progress)
    });
    api.next(reply(200, &config_map("a", 7, "30"))).await;
    api.next(reply(200, &config_map("a", 8, "50"))).await;
    api.next(reply(200, &config_map("b", 7, "30"))).await;
    api.next(reply(200, &config_map("b", 8, "50"))).await;
    let forbidden = status(
        403,
        "Forbidden",
        "configmaps \"c\" is forbidden: User \"x\" cannot get resource \"configmaps\"",
    );
    api.next(reply(403, &forbidden)).await;
    let err = call.result().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    assert_eq!(
        err.to_string(),
        "ConfigMap shop/c: 403 Forbidden: configmaps \"c\" is forbidden: User \"x\" cannot get \
         resource \"configmaps\" (already updated: ConfigMap shop/a, ConfigMap shop/b)"
    );
    api.no_more_requests().await;
}

#[tokio::test]
async fn an_empty_patch_and_a_delete_of_nothing_send_no_write() {
    let (applier, mut api) = applier(ApplierOptions::uncached());
    let call = mock_api::spawn(async move {
        let empty = applier
            .converge(&web(), |_| {
                Ok(Some(router_kube::Write::guarded_patch(json_patch::Patch(
                    Vec::new(),
                ))))
            })
            .await?;
        let gone = applier
            .converge(&web(), |_| Ok(Some(router_kube::Write::delete())))
            .await?;
        Ok::<_, router_core::Error>((empty, gone))
    });
    assert_eq!(
        api.next(reply(200, &config_map("web", 7, "30")))
            .await
            .method,
        "GET"
    );
    let not_found = status(404, "NotFound", "configmaps \"web\" not found");
    assert_eq!(api.next(reply(404, &not_found)).await.method, "GET");
    assert_eq!(
        call.result().await.unwrap(),
        (Outcome::Unchanged, Outcome::Unchanged)
    );
    api.no_more_requests().await;
}

#[tokio::test]
async fn a_replace_of_an_object_that_does_not_exist_is_refused_before_any_write() {
    let (applier, mut api) = applier(ApplierOptions::uncached());
    let call = mock_api::spawn(async move {
        applier
            .converge(&web(), |_| {
                Ok(Some(router_kube::Write::replace(config_map(
                    "web", 1, "50",
                ))))
            })
            .await
    });
    let not_found = status(404, "NotFound", "configmaps \"web\" not found");
    api.next(reply(404, &not_found)).await;
    let err = call.result().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert_eq!(
        err.to_string(),
        "ConfigMap shop/web: a replace needs the object as read, with its resourceVersion \
         (plan a create for an object that does not exist)"
    );
    api.no_more_requests().await;
}
