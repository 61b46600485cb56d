//! The watch cache, against a fake API server on the testkit's mock API:
//! once synced, an unchanged object costs no request; a write is one
//! request and refreshes the cache; the watch's events are seen; a failed
//! guard reads the server, not the cache; lists with selectors are served
//! from the cache; without list permission reads go to the server, and
//! the watch is tried again after a pause.

mod support;

use std::time::Duration;

use kube::core::{Expression, Selector};
use router_kube::{Applier, ApplierOptions, Outcome, REFUSED_PAUSE_FIRST};
use support::fake::Fake;
use support::*;

/// An applier with `options` over the fake server `fake`.
fn over(fake: &Fake, options: ApplierOptions) -> Applier {
    let (applier, api) = applier(options);
    fake.serve(api);
    applier
}

/// Reads `web` until the cache answers (no request to the server), within 2 s.
async fn wait_for_sync(applier: &Applier, fake: &Fake) {
    for _ in 0..200 {
        fake.clear();
        applier.get(&web()).await.unwrap();
        if fake.requests().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the watch cache did not sync: {:?}", fake.requests());
}

#[tokio::test]
async fn before_the_cache_syncs_reads_go_to_the_server_and_after_they_cost_nothing() {
    let fake = Fake::with(&[("web", "30")]);
    let applier = over(&fake, cached());
    let first = applier.get(&web()).await.unwrap().unwrap();
    assert_eq!(first["data"]["weight"], "30");
    assert!(first["metadata"].get("managedFields").is_none());
    wait_for_sync(&applier, &fake).await;
    fake.clear();
    for _ in 0..3 {
        let outcome = applier.converge(&web(), want_weight("30")).await.unwrap();
        assert_eq!(outcome, Outcome::Unchanged);
    }
    let cached = applier.get(&web()).await.unwrap().unwrap();
    assert!(cached["metadata"].get("managedFields").is_none());
    assert_eq!(cached["apiVersion"], "v1");
    assert_eq!(fake.requests(), Vec::<String>::new());
    assert!(
        fake.cache_requests().is_empty(),
        "{:?}",
        fake.cache_requests()
    );
}

#[tokio::test]
async fn one_watch_per_resource_and_namespace_lists_once() {
    let fake = Fake::with(&[("web", "30"), ("api", "10")]);
    let applier = over(&fake, cached());
    wait_for_sync(&applier, &fake).await;
    let api = router_kube::ObjectRef::new(&config_maps(), "shop", "api");
    assert_eq!(
        applier.get(&api).await.unwrap().unwrap()["data"]["weight"],
        "10"
    );
    let missing = router_kube::ObjectRef::new(&config_maps(), "shop", "none");
    assert_eq!(applier.get(&missing).await.unwrap(), None);
    assert_eq!(fake.requests(), Vec::<String>::new());
    assert_eq!(fake.lists_and_watches(), (1, 1));
}

#[tokio::test]
async fn the_cache_lists_in_small_pages() {
    let fake = Fake::with(&[("web", "30")]);
    let (applier, api) = applier(cached());
    fake.serve(api);
    applier.get(&web()).await.unwrap();
    for _ in 0..200 {
        if fake.lists_and_watches().0 > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let lists: Vec<_> = fake
        .cache_requests()
        .into_iter()
        .filter(|seen| !seen.has_query("watch=true"))
        .collect();
    assert!(!lists.is_empty(), "no list request");
    let page = format!("limit={}", router_kube::LIST_PAGE_SIZE);
    for list in &lists {
        assert!(list.has_query(&page), "{}", list.path_and_query);
    }
}

#[tokio::test]
async fn a_write_is_one_request_and_its_answer_refreshes_the_cache() {
    let fake = Fake::with(&[("web", "30")]);
    let applier = over(&fake, cached());
    wait_for_sync(&applier, &fake).await;
    fake.clear();
    let outcome = applier.converge(&web(), want_weight("50")).await.unwrap();
    assert_eq!(outcome, Outcome::Written);
    assert_eq!(fake.requests(), [format!("PATCH {PATH}")]);
    // The watch has not told (the fake sends no event for our own write):
    // the next read comes from the refreshed cache and plans nothing.
    fake.clear();
    let outcome = applier.converge(&web(), want_weight("50")).await.unwrap();
    assert_eq!(outcome, Outcome::Unchanged);
    assert_eq!(fake.requests(), Vec::<String>::new());
    assert_eq!(fake.weight("web"), "50");
}

#[tokio::test]
async fn the_watch_events_are_seen_and_older_ones_do_not_replace_newer() {
    let fake = Fake::with(&[("web", "30")]);
    let applier = over(&fake, cached());
    wait_for_sync(&applier, &fake).await;
    fake.set_weight("web", "40", true);
    let mut seen = String::new();
    for _ in 0..200 {
        seen = applier.get(&web()).await.unwrap().unwrap()["data"]["weight"]
            .as_str()
            .unwrap()
            .to_owned();
        if seen == "40" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(seen, "40", "the watch's change reaches the cache");
    fake.clear();
    assert_eq!(
        applier.converge(&web(), want_weight("40")).await.unwrap(),
        Outcome::Unchanged
    );
    assert_eq!(fake.requests(), Vec::<String>::new());

    // Our write (version 9) refreshes the cache; then the watch delivers
    // an event from before it (version 8): the newer object stays.
    assert_eq!(
        applier.converge(&web(), want_weight("50")).await.unwrap(),
        Outcome::Written
    );
    let (_, watches) = fake.lists_and_watches();
    fake.send_event(serde_json::json!({"type": "MODIFIED", "object": config_map("web", 8, "40")}));
    for _ in 0..200 {
        if fake.lists_and_watches().1 > watches {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        fake.lists_and_watches().1 > watches,
        "the event was delivered"
    );
    fake.clear();
    let cached = applier.get(&web()).await.unwrap().unwrap();
    assert_eq!(cached["data"]["weight"], "50");
    assert_eq!(cached["metadata"]["resourceVersion"], "9");
    assert_eq!(fake.requests(), Vec::<String>::new());
}

#[tokio::test]
async fn a_failed_guard_reads_the_server_not_the_stale_cache() {
    let fake = Fake::with(&[("web", "30")]);
    let applier = over(&fake, cached());
    wait_for_sync(&applier, &fake).await;
    // Changed on the server; the watch has not told yet.
    fake.set_weight("web", "40", false);
    fake.clear();
    let outcome = applier.converge(&web(), want_weight("50")).await.unwrap();
    assert_eq!(outcome, Outcome::Written);
    assert_eq!(
        fake.requests(),
        [
            format!("PATCH {PATH}"),
            format!("GET {PATH}"),
            format!("PATCH {PATH}")
        ]
    );
    assert_eq!(fake.weight("web"), "50");
}

#[tokio::test]
async fn a_list_with_a_selector_is_served_from_the_cache() {
    let fake = Fake::with(&[("web", "30"), ("api", "10")]);
    let applier = over(&fake, cached());
    wait_for_sync(&applier, &fake).await;
    fake.clear();
    let names = |found: Vec<serde_json::Value>| -> Vec<String> {
        found
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let app_web: Selector = Expression::Equal("app".into(), "web".into()).into();
    let found = applier
        .list(&config_maps(), "shop", &app_web)
        .await
        .unwrap();
    assert_eq!(names(found), ["api", "web"]);
    let selectors = [
        (Expression::NotIn("app".into(), ["web".into()].into()), 0),
        (
            Expression::In("app".into(), ["web".into(), "x".into()].into()),
            2,
        ),
        (Expression::Exists("app".into()), 2),
        (Expression::DoesNotExist("app".into()), 0),
        (Expression::DoesNotExist("tier".into()), 2),
        (Expression::NotEqual("app".into(), "web".into()), 0),
    ];
    for (expression, count) in selectors {
        let text = expression.to_string();
        let found = applier
            .list(&config_maps(), "shop", &expression.into())
            .await
            .unwrap();
        assert_eq!(found.len(), count, "{text}");
    }
    assert_eq!(fake.requests(), Vec::<String>::new());
}

#[tokio::test]
async fn without_list_permission_reads_go_to_the_server_and_the_list_waits_for_its_pause() {
    let fake = Fake::with(&[("web", "30")]);
    fake.forbid_list();
    let applier = over(&fake, cached());
    for _ in 0..3 {
        applier.converge(&web(), want_weight("30")).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    fake.clear();
    for _ in 0..3 {
        applier.converge(&web(), want_weight("30")).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.requests(), vec![format!("GET {PATH}"); 3]);
    assert_eq!(
        fake.lists_and_watches(),
        (1, 0),
        "the list is not tried again before {REFUSED_PAUSE_FIRST:?}"
    );
}

#[tokio::test]
async fn a_refused_watch_tried_again_after_its_pause_serves_reads_once_allowed() {
    // As after a kube-apiserver restart: 403 until its authorizer syncs.
    let fake = Fake::with(&[("web", "30")]);
    fake.forbid_list();
    let applier = over(&fake, cached());
    applier.get(&web()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fake.lists_and_watches(), (1, 0), "refused once");
    fake.allow_list();
    tokio::time::sleep(REFUSED_PAUSE_FIRST).await;
    wait_for_sync(&applier, &fake).await;
    assert_eq!(
        fake.lists_and_watches(),
        (2, 1),
        "listed again, then watching"
    );
    fake.clear();
    for _ in 0..3 {
        let outcome = applier.converge(&web(), want_weight("30")).await.unwrap();
        assert_eq!(outcome, Outcome::Unchanged);
    }
    assert_eq!(fake.requests(), Vec::<String>::new(), "served by the cache");
}

#[tokio::test]
async fn without_the_cache_every_read_is_one_get() {
    let fake = Fake::with(&[("web", "30")]);
    let applier = over(&fake, ApplierOptions::uncached());
    for _ in 0..3 {
        applier.converge(&web(), want_weight("30")).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(fake.requests(), vec![format!("GET {PATH}"); 3]);
    assert_eq!(fake.lists_and_watches(), (0, 0));
}

#[tokio::test]
async fn the_request_limit_spaces_the_caches_list_and_watch_too() {
    let fake = Fake::with(&[("web", "30")]);
    let options = ApplierOptions {
        request_limit: Some(router_kube::RequestLimit { qps: 5.0, burst: 1 }),
        watch_cache: true,
    };
    let applier = over(&fake, options);
    // The read (a GET before the cache syncs), the list and the watch.
    applier.get(&web()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (closest, count) = fake.closest_requests();
    assert_eq!(count, 3, "a GET, a list and a watch");
    assert!(
        closest >= Duration::from_millis(150),
        "5 requests per second: {closest:?} between two"
    );
    assert_eq!(fake.lists_and_watches(), (1, 1));
}

#[tokio::test]
async fn a_stopped_watch_answers_no_read_and_a_later_read_starts_another() {
    let fake = Fake::with(&[("web", "30")]);
    let applier = over(&fake, cached());
    wait_for_sync(&applier, &fake).await;
    assert_eq!(fake.lists_and_watches(), (1, 1));
    assert_eq!(applier.stop_watches(&config_maps()), 1);
    assert_eq!(applier.stop_watches(&config_maps()), 0, "already stopped");
    // A change the server would have told the stopped watch of is read
    // from the server: the next read is a GET, and starts a new watch,
    // which then serves reads.
    fake.clear();
    fake.set_weight("web", "40", true);
    let read = applier.get(&web()).await.unwrap().unwrap();
    assert_eq!(read["data"]["weight"], "40");
    assert_eq!(
        fake.requests(),
        ["GET /api/v1/namespaces/shop/configmaps/web"]
    );
    wait_for_sync(&applier, &fake).await;
    assert_eq!(fake.lists_and_watches(), (2, 2));
}
