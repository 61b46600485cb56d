//! A header route on the data plane: at a `setHeaderRoute` step every
//! request carrying the header reaches the canary, and requests without it
//! follow the weights (within 3 points over 2,000 requests); after an abort
//! the managed route is gone and the header reaches the stable version.
//! Under Argo's controller (loading `rollgate-gatewayapi`) and under
//! `rollgate-controller` (its in-process router), with the same assertions.
//!
//! Mirror routes (`setMirrorRoute`) are not measured: Traefik v3.6.12's
//! Gateway API provider does not implement the HTTPRoute `RequestMirror`
//! filter (it refuses a rule carrying one as an unsupported filter, and
//! v3.7 does not add it), so no mirrored request would reach the canary
//! whatever the router writes. The mirror rule itself is checked on the
//! route objects by the router's and the controller's tests.

mod support;

use rollgate_dataplane::Load;
use rollgate_e2e::{Under, scenario};
use serde_json::json;
use support::{REQUESTS, Stage, assert_split};

async fn header_route_sends_every_matching_request_to_the_canary(under: Under) {
    let canary = json!({
        "trafficRouting": {"managedRoutes": [{"name": "beta"}]},
        "steps": [{"setWeight": 20},
                  {"setHeaderRoute": {"name": "beta",
                      "match": [{"headerName": "x-canary", "headerValue": {"exact": "yes"}}]}},
                  {"pause": {}}]});
    let Some(stage) = Stage::with_rollout(under, "dp-header", canary).await else {
        return;
    };
    stage.update_to("2").await;
    stage.wait_pause(2).await;
    stage.wait_rule("x-canary", true).await;
    stage.wait_weight(20).await;

    let with_header = || Load::new(stage.plane.traefik.web, REQUESTS).header("x-canary", "yes");
    let tally = with_header().run().await.unwrap();
    assert!(
        tally.answered() == REQUESTS && tally.unsuccessful() == 0 && tally.share("2") == 100.0,
        "{under:?}: requests with the header: {tally:?}"
    );
    eprintln!("{under:?}: {REQUESTS} requests with the header, all on the canary");
    let tally = stage.plane.measure(REQUESTS).await.unwrap();
    assert_split(under, &tally, 20);

    // Aborted: the managed route goes, and the header no longer matters.
    stage.abort();
    stage.wait_rollout("aborted", |s| s["abort"] == true).await;
    stage.wait_rule("x-canary", false).await;
    stage.wait_weight(0).await;
    let tally = with_header().run().await.unwrap();
    assert!(
        tally.unsuccessful() == 0 && tally.share("1") == 100.0,
        "{under:?}: requests with the header after the abort: {tally:?}"
    );
    stage.assert_runner_clean();
}

scenario!(header_route_sends_every_matching_request_to_the_canary);
