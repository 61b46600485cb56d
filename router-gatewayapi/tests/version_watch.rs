//! The watch cache follows a Gateway API version change (the testkit's
//! `mock_api`): Gateway API CRDs upgraded under a running router start
//! serving TCPRoute at `v1` beside `v1alpha2`; a route request that comes
//! back 404 makes the router discover the versions again and move to `v1`,
//! and the applier's watch of `v1alpha2`, which the server would go on
//! serving, is stopped: no request goes to `v1alpha2` any more, and the
//! watch of `v1` serves the reads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rollgate_testkit::mock_api::{ApiResponse, MockApi, Seen, empty_reply, reply, status};
use router_core::{ErrorKind, RolloutContext, TrafficRouter};
use router_gatewayapi::{GatewayApiRouter, KubeRouter};
use serde_json::{Value, json};

const GROUP: &str = "/apis/gateway.networking.k8s.io";

/// How long the mock keeps a watch open before ending it (the watcher then
/// watches again, so a running watch shows as a request this often).
const WATCH_PERIOD: Duration = Duration::from_millis(100);

/// The mock API server's state: whether the CRDs are upgraded, and the
/// weights of the TCPRoute `db` (the same object at either version).
#[derive(Default)]
struct Server {
    upgraded: AtomicBool,
    canary_weight: Mutex<u64>,
    log: Mutex<Vec<String>>,
}

impl Server {
    /// The versions TCPRoute is served at.
    fn tcp_versions(&self) -> &'static [&'static str] {
        if self.upgraded.load(Ordering::SeqCst) {
            &["v1", "v1alpha2"]
        } else {
            &["v1alpha2"]
        }
    }

    fn route(&self, version: &str) -> Value {
        let canary = *self.canary_weight.lock().unwrap();
        json!({"apiVersion": format!("gateway.networking.k8s.io/{version}"), "kind": "TCPRoute",
               "metadata": {"name": "db", "namespace": "default",
                            "resourceVersion": (10 + canary).to_string()},
               "spec": {"rules": [{"backendRefs": [
                   {"name": "web-canary", "port": 5432, "weight": canary},
                   {"name": "web-stable", "port": 5432, "weight": 100 - canary}]}]}})
    }

    /// The requests after the first `from`, as `METHOD path[?watch]`.
    fn requests_since(&self, from: usize) -> Vec<String> {
        self.log.lock().unwrap()[from..].to_vec()
    }

    fn requests(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    fn answer(&self, seen: &Seen) -> Option<ApiResponse> {
        let watch = seen.has_query("watch=true");
        self.log.lock().unwrap().push(format!(
            "{} {}{}",
            seen.method,
            seen.path,
            if watch { " (watch)" } else { "" }
        ));
        let path = seen.path.as_str();
        let tcp_versions = self.tcp_versions();
        if watch {
            return None;
        }
        let not_found = || {
            reply(
                404,
                &status(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                ),
            )
        };
        if path == "/apis" {
            let versions: Vec<Value> = ["v1", "v1alpha2"]
                .iter()
                .map(|v| json!({"groupVersion": format!("gateway.networking.k8s.io/{v}"), "version": v}))
                .collect();
            return Some(reply(
                200,
                &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [{
                    "name": "gateway.networking.k8s.io", "versions": versions,
                    "preferredVersion": versions[0]}]}),
            ));
        }
        for version in ["v1", "v1alpha2"] {
            let base = format!("{GROUP}/{version}");
            let serves_tcp = tcp_versions.contains(&version);
            if path == base {
                let mut kinds = if version == "v1" {
                    vec!["HTTPRoute", "GRPCRoute"]
                } else {
                    Vec::new()
                };
                if serves_tcp {
                    kinds.push("TCPRoute");
                }
                return Some(reply(200, &resources(version, &kinds)));
            }
            let collection = format!("{base}/namespaces/default/tcproutes");
            if !serves_tcp || !path.starts_with(&collection) {
                continue;
            }
            if path == collection {
                return Some(reply(
                    200,
                    &json!({"apiVersion": format!("gateway.networking.k8s.io/{version}"),
                            "kind": "TCPRouteList", "metadata": {"resourceVersion": "100"},
                            "items": [self.route(version)]}),
                ));
            }
            if path == format!("{collection}/db") {
                if seen.method == "PATCH" {
                    *self.canary_weight.lock().unwrap() = 60;
                }
                return Some(reply(200, &self.route(version)));
            }
            return Some(not_found());
        }
        Some(not_found())
    }
}

fn resources(version: &str, kinds: &[&str]) -> Value {
    let resources: Vec<Value> = kinds
        .iter()
        .map(|k| {
            json!({"name": format!("{}s", k.to_lowercase()), "singularName": k.to_lowercase(),
                   "namespaced": true, "kind": k, "verbs": ["get", "list", "patch", "watch"]})
        })
        .collect();
    json!({"kind": "APIResourceList", "apiVersion": "v1",
           "groupVersion": format!("gateway.networking.k8s.io/{version}"), "resources": resources})
}

/// Answers every request in the background, each in its own task, so that
/// an open watch does not hold up the other requests.
fn serve(mut api: MockApi, server: Arc<Server>) {
    tokio::spawn(async move {
        while let Some((seen, send)) = api.next_within(Duration::from_secs(3600)).await {
            let response = server.answer(&seen);
            tokio::spawn(async move {
                let response = match response {
                    Some(response) => response,
                    None => {
                        tokio::time::sleep(WATCH_PERIOD).await;
                        empty_reply()
                    }
                };
                send.send_response(response);
            });
        }
    });
}

fn ctx(route: &str) -> RolloutContext {
    RolloutContext {
        name: "db".into(),
        namespace: "default".into(),
        canary_service: "web-canary".into(),
        stable_service: "web-stable".into(),
        plugin_name: "argoproj-labs/gatewayAPI".into(),
        config: json!({"tcpRoute": route, "disableInProgressLabel": true}),
        ..Default::default()
    }
}

/// Reads and writes (not the watch cache's list and watch requests) among `requests`.
fn reads_and_writes(requests: &[String]) -> Vec<&String> {
    requests
        .iter()
        .filter(|r| !r.ends_with(" (watch)") && !r.ends_with("/tcproutes"))
        .collect()
}

/// Calls `set_weight(60)` on `db` until one call makes no read or write:
/// the watch cache serves it.
async fn until_served_from_the_cache(router: &GatewayApiRouter, server: &Server) {
    let start = Instant::now();
    loop {
        let before = server.requests();
        router.set_weight(&ctx("db"), 60, &[]).await.unwrap();
        let sent = server.requests_since(before);
        if reads_and_writes(&sent).is_empty() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "still reading from the server after 5 s: {sent:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_version_change_stops_the_watch_of_the_old_version() {
    let (service, api) = MockApi::new();
    let server = Arc::new(Server::default());
    serve(api, server.clone());
    let client = router_kube::client::client_with_service(
        service,
        "default",
        &GatewayApiRouter::user_agent(),
    );
    // The default options: the watch cache on.
    let router = GatewayApiRouter::with_client(client);
    router.init().await.unwrap();
    router.set_weight(&ctx("db"), 60, &[]).await.unwrap();
    until_served_from_the_cache(&router, &server).await;
    let old = format!("{GROUP}/v1alpha2/namespaces/default/tcproutes");
    assert!(
        server
            .requests_since(0)
            .iter()
            .any(|r| r == &format!("GET {old} (watch)")),
        "watching v1alpha2: {:?}",
        server.requests_since(0)
    );

    // The CRDs now serve v1 too. A route that does not exist is a 404,
    // which makes the router discover the versions again.
    server.upgraded.store(true, Ordering::SeqCst);
    let err = router
        .set_weight(&ctx("missing"), 60, &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    until_served_from_the_cache(&router, &server).await;
    let mark = server.requests();
    // A running watch asks again every WATCH_PERIOD: ten periods of silence at v1alpha2.
    tokio::time::sleep(WATCH_PERIOD * 10).await;
    router.set_weight(&ctx("db"), 60, &[]).await.unwrap();
    let after = server.requests_since(mark);
    assert!(
        after.iter().all(|r| !r.contains("/v1alpha2/")),
        "requests at v1alpha2 after the version change: {after:?}"
    );
    let new = format!("GET {GROUP}/v1/namespaces/default/tcproutes (watch)");
    assert!(
        after.iter().any(|r| r == &new),
        "the watch of v1 runs: {after:?}"
    );
    assert!(
        reads_and_writes(&after).is_empty(),
        "reads come from the watch of v1: {after:?}"
    );
}
