//! The plugin host against real plugin processes (the journal router binary
//! built from this crate): calls, errors, restarts, deadlines, concurrency
//! and shutdown. Starting up and the handshake are in `handshake.rs`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use plugin_proto::{HostOptions, PluginRouter};
use rollout_core::spec::{HeaderMatch, MirrorMatch, SetHeaderRoute, SetMirrorRoute, StringMatch};
use rollout_core::status::WeightDestination;
use rollout_core::{DesiredTraffic, Rollout};
use router_core::test_util::JOURNAL_ENV;
use router_core::{
    Error, ErrorKind, RolloutContext, TrafficRouter, TrafficTarget, Verified, apply_traffic,
};
use serde_json::{Value, json};

const PLUGIN: &str = env!("CARGO_BIN_EXE_rollgate-journal-router");

fn rollout(config: Value) -> Rollout {
    Rollout::from_value(
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"strategy": {"canary": {
                "canaryService": "web-canary", "stableService": "web-stable",
                "steps": [
                    {"setHeaderRoute": {"name": "beta", "match": [{"headerName": "x-beta", "headerValue": {"exact": "yes"}}]}},
                    {"setMirrorRoute": {"name": "shadow", "percentage": 20, "match": [{"method": {"exact": "GET"}}]}}
                ],
                "trafficRouting": {
                    "maxTrafficWeight": 1000,
                    "managedRoutes": [{"name": "beta"}, {"name": "shadow"}],
                    "plugins": {"rollgate/journal": config}
                }}}}
        }),
        "test",
    )
    .unwrap()
}

fn context(config: Value) -> RolloutContext {
    RolloutContext::new(&rollout(config), "rollgate/journal").unwrap()
}

/// A fresh journal file and a host writing to it.
fn host(options: HostOptions) -> (PluginRouter, PathBuf) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("journals");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!(
        "{}-{}.jsonl",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let mut options = options;
    options
        .env
        .push((JOURNAL_ENV.into(), file.display().to_string()));
    (PluginRouter::new(PLUGIN, options), file)
}

fn journal(file: &PathBuf) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn calls(file: &PathBuf) -> Vec<String> {
    journal(file)
        .iter()
        .map(|e| e["call"].as_str().unwrap().to_owned())
        .collect()
}

fn beta() -> SetHeaderRoute {
    SetHeaderRoute {
        name: "beta".into(),
        matches: vec![HeaderMatch {
            header_name: "x-beta".into(),
            header_value: StringMatch {
                regex: Some("^y.*".into()),
                ..Default::default()
            },
        }],
    }
}

fn shadow() -> SetMirrorRoute {
    SetMirrorRoute {
        name: "shadow".into(),
        matches: vec![MirrorMatch {
            method: Some(StringMatch {
                exact: Some("GET".into()),
                ..Default::default()
            }),
            path: Some(StringMatch {
                prefix: Some("/api".into()),
                ..Default::default()
            }),
            headers: [(
                "x-user".to_owned(),
                StringMatch {
                    exact: Some("1".into()),
                    ..Default::default()
                },
            )]
            .into(),
        }],
        percentage: Some(20),
    }
}

/// The calls and the targets the plugin received.
fn received(file: &PathBuf) -> Vec<(String, Value)> {
    journal(file)
        .into_iter()
        .map(|e| (e["call"].as_str().unwrap().to_owned(), e["target"].clone()))
        .collect()
}

fn sent(call: &str, target: &TrafficTarget) -> (String, Value) {
    (call.to_owned(), serde_json::to_value(target).unwrap())
}

/// Argo's per-aspect operations, provided by the trait on the host, cross
/// as one `Apply` (or `Verify`) each, carrying that one aspect; the plugin
/// receives exactly the target the host was given.
#[tokio::test]
async fn every_operation_round_trips_through_the_plugin() {
    let (router, file) = host(HostOptions::default());
    let ctx = context(json!({"httpRoute": "web"}));
    let extra = [WeightDestination {
        weight: 50,
        service_name: Some("web-exp".into()),
        pod_template_hash: Some("abc".into()),
    }];
    assert_eq!(router.name().await.unwrap(), "rollgate/journal");
    router
        .update_hash(&ctx, "canary1", "stable1", &extra)
        .await
        .unwrap();
    router.set_weight(&ctx, 200, &extra).await.unwrap();
    router.set_header_route(&ctx, &beta()).await.unwrap();
    router.set_mirror_route(&ctx, &shadow()).await.unwrap();
    assert_eq!(
        router.verify_weight(&ctx, 200, &extra).await.unwrap(),
        Verified::Verified
    );
    router.remove_managed_routes(&ctx).await.unwrap();
    let not_yet = context(json!({"verify": "NotVerified"}));
    assert_eq!(
        router.verify_weight(&not_yet, 1, &[]).await.unwrap(),
        Verified::NotVerified
    );
    let not_implemented = context(json!({"verify": "NotImplemented"}));
    assert_eq!(
        router
            .verify(&not_implemented, &TrafficTarget::default())
            .await
            .unwrap(),
        Verified::NotImplemented
    );

    assert_eq!(
        received(&file),
        [
            ("Init".to_owned(), Value::Null),
            sent(
                "Apply",
                &TrafficTarget::hashes("canary1", "stable1", &extra)
            ),
            sent("Apply", &TrafficTarget::weight(200, &extra)),
            sent("Apply", &TrafficTarget::header_route(beta())),
            sent("Apply", &TrafficTarget::mirror_route(shadow())),
            sent("Verify", &TrafficTarget::weight(200, &extra)),
            sent("Apply", &TrafficTarget::no_managed_routes()),
            sent("Verify", &TrafficTarget::weight(1, &[])),
            sent("Verify", &TrafficTarget::default()),
        ]
    );
    // The typed context crossed too.
    let entries = journal(&file);
    assert_eq!(entries[1]["rollout"], "shop/web");
    assert_eq!(entries[1]["maxTrafficWeight"], 1000);
    assert_eq!(entries[1]["plugin"], "rollgate/journal");
    assert_eq!(
        entries[1]["managedRoutes"],
        json!([{"name": "beta", "kind": "setHeaderRoute"}, {"name": "shadow", "kind": "setMirrorRoute"}])
    );
    router.shutdown().await;
}

/// A step that changes the weight and a header route together (and every
/// other aspect of the desired traffic) is one `Apply` across the process
/// boundary, with all of them in it; so is the step back to stable.
#[tokio::test]
async fn a_step_is_one_apply_across_the_process_boundary() {
    let (router, file) = host(HostOptions::default());
    let r = rollout(json!({}));
    let ctx = RolloutContext::new(&r, "rollgate/journal").unwrap();
    let mut desired = DesiredTraffic {
        max_weight: 1000,
        canary: WeightDestination {
            weight: 100,
            service_name: Some("web-canary".into()),
            pod_template_hash: Some("c1".into()),
        },
        stable: WeightDestination {
            weight: 850,
            service_name: Some("web-stable".into()),
            pod_template_hash: Some("s1".into()),
        },
        additional: vec![WeightDestination {
            weight: 50,
            service_name: Some("web-exp".into()),
            pod_template_hash: Some("e1".into()),
        }],
        header_routes: vec![beta()],
        ..Default::default()
    };
    assert_eq!(
        apply_traffic(&router, &ctx, &desired).await.unwrap(),
        Verified::Verified
    );
    let step = TrafficTarget::desired(&desired);
    assert_eq!(
        received(&file),
        [
            ("Init".to_owned(), Value::Null),
            sent("Apply", &step),
            sent("Verify", &step)
        ]
    );
    let apply = &journal(&file)[1]["target"];
    assert_eq!(apply["canaryWeight"], 100);
    assert_eq!(
        apply["routes"]["exactly"]["header"][0],
        serde_json::to_value(beta()).unwrap()
    );
    assert_eq!(
        apply["routes"]["exactly"].get("mirror"),
        None,
        "the mirror route is not in effect, so it goes"
    );

    // Back to stable, every managed route removed: one call again.
    desired.canary.weight = 0;
    desired.header_routes.clear();
    apply_traffic(&router, &ctx, &desired).await.unwrap();
    let back = TrafficTarget::desired(&desired);
    assert_eq!(
        received(&file)[3..],
        [sent("Apply", &back), sent("Verify", &back)]
    );
    router.shutdown().await;
}

#[tokio::test]
async fn a_route_managed_routes_does_not_list_is_refused_before_the_plugin_starts() {
    let (router, file) = host(HostOptions::default());
    let step = TrafficTarget {
        canary_weight: Some(100),
        ..TrafficTarget::header_route(SetHeaderRoute {
            name: "gamma".into(),
            ..beta()
        })
    };
    let err = router.apply(&context(json!({})), &step).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(
        err.to_string()
            .starts_with("rollout shop/web: setHeaderRoute gamma: the route is not listed"),
        "{err}"
    );
    assert_eq!(router.starts(), 0);
    assert!(journal(&file).is_empty());
}

#[tokio::test]
async fn router_errors_arrive_intact() {
    let (router, _) = host(HostOptions::default());
    let ctx = context(json!({"fail": "HTTPRoute shop/web: rule 2 has no backendRef web-canary"}));
    let err = router.set_weight(&ctx, 10, &[]).await.unwrap_err();
    assert_eq!(
        err,
        Error::config("HTTPRoute shop/web: rule 2 has no backendRef web-canary")
    );
    assert_eq!(router.starts(), 1, "a router error is not a crash");
    router.shutdown().await;
}

/// Every kind crosses the plugin process's gRPC wire and comes back as the
/// same kind with the message unchanged; none restarts the plugin, not even
/// `unavailable` or `internal`: the router answered, so it is alive.
#[tokio::test]
async fn every_error_kind_crosses_the_wire_and_comes_back() {
    let (router, _) = host(HostOptions::default());
    for kind in ErrorKind::ALL {
        let message = format!("HTTPRoute shop/web: a {kind} failure: \"quoted\", 100%");
        let ctx = context(json!({"fail": message, "failKind": kind.name()}));
        let err = router.set_weight(&ctx, 10, &[]).await.unwrap_err();
        assert_eq!(err, Error::new(kind, message.as_str()), "{kind}");
        let err = router.verify_weight(&ctx, 10, &[]).await.unwrap_err();
        assert_eq!(err.kind(), kind);
    }
    assert_eq!(router.starts(), 1, "router errors are not crashes");
    let err = router
        .set_weight(&context(json!({"fail": "x", "failKind": "bogus"})), 1, &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(
        err.to_string()
            .starts_with("rollout shop/web: failKind: expected one of config, not-found,"),
        "{err}"
    );
    router.shutdown().await;
}

#[tokio::test]
async fn a_plugin_killed_mid_call_is_restarted_and_reinitialised() {
    let (router, file) = host(HostOptions::default());
    let router = Arc::new(router);
    let ctx = context(json!({}));
    router.set_weight(&ctx, 1, &[]).await.unwrap();
    let pid = router.pid().await.unwrap();

    let slow = context(json!({"delayMs": 10_000}));
    let call = {
        let router = router.clone();
        tokio::spawn(async move { router.set_weight(&slow, 2, &[]).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let err = call.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
    assert!(err.to_string().starts_with("plugin "), "{err}");

    router.set_weight(&ctx, 3, &[]).await.unwrap();
    assert_eq!(router.starts(), 2);
    assert_ne!(router.pid().await, Some(pid));
    assert_eq!(calls(&file), ["Init", "Apply", "Init", "Apply"]);
    router.shutdown().await;
}

#[tokio::test]
async fn a_hanging_call_hits_its_deadline_and_the_host_stays_usable() {
    let (router, _) = host(HostOptions {
        call_timeout: Duration::from_millis(300),
        ..HostOptions::default()
    });
    let hang = context(json!({"delayMs": 5_000}));
    let err = router.set_weight(&hang, 1, &[]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    assert!(
        err.to_string()
            .contains("Apply did not answer within 300ms"),
        "{err}"
    );
    router
        .set_weight(&context(json!({})), 2, &[])
        .await
        .unwrap();
    assert_eq!(router.starts(), 1, "no restart for a slow call");
    router.shutdown().await;
}

#[tokio::test]
async fn sixty_four_concurrent_callers() {
    let (router, file) = host(HostOptions::default());
    let router = Arc::new(router);
    let ctx = Arc::new(context(json!({})));
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let (router, ctx) = (router.clone(), ctx.clone());
            tokio::spawn(async move { router.set_weight(&ctx, i, &[]).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let mut weights: Vec<i64> = journal(&file)
        .iter()
        .filter(|e| e["call"] == "Apply")
        .map(|e| e["target"]["canaryWeight"].as_i64().unwrap())
        .collect();
    weights.sort_unstable();
    assert_eq!(weights, (0..64).collect::<Vec<_>>());
    assert_eq!(router.starts(), 1);
    router.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_the_process_gracefully() {
    let (router, _) = host(HostOptions::default());
    router.init().await.unwrap();
    let pid = router.pid().await.unwrap();
    let started = std::time::Instant::now();
    router.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "exited on Shutdown, not killed after the grace period"
    );
    let alive = std::process::Command::new("kill")
        .args(["-0", &pid.to_string()])
        .status()
        .unwrap();
    assert!(!alive.success(), "process {pid} still running");
}
