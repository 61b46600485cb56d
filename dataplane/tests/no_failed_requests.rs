//! No request fails because the weights change: a whole rollout of a
//! healthy version (weight 0 → 20 → 50 → 100, then the previous stable
//! scaled down `scaleDownDelaySeconds` later) under a steady load of 200
//! requests a second through Traefik, every one answered 2xx, none refused
//! or reset. Under Argo's controller (loading `rollgate-gatewayapi`) and
//! under `rollgate-controller` (its in-process router), with the same
//! assertions.

mod support;

use std::time::Duration;

use rollgate_dataplane::Load;
use rollgate_e2e::{Under, scenario};
use serde_json::json;
use support::Stage;

async fn a_whole_rollout_fails_no_request(under: Under) {
    let canary = json!({
        "steps": [{"setWeight": 20}, {"pause": {"duration": "5s"}},
                  {"setWeight": 50}, {"pause": {"duration": "5s"}}]});
    let Some(stage) = Stage::with_rollout(under, "dp-nofail", canary).await else {
        return;
    };
    let limit = Duration::from_secs(200);
    let load = Load::steady(stage.plane.traefik.web, 200, limit)
        .start()
        .unwrap();
    let stable = stage.update_to("2").await;
    stage.wait_promoted(&stable).await;
    stage.wait_old_scaled_down().await;
    stage.wait_all_on("2").await;
    let record = load.stop().await;
    let tally = record.tally();
    eprintln!(
        "{under:?}: {} requests in {:?} over the whole rollout: {} failed; {} answered by version 2",
        tally.answered() + tally.failed,
        tally.elapsed,
        tally.unsuccessful(),
        tally.by_version("2")
    );
    assert!(
        tally.elapsed < limit,
        "{under:?}: the load ended before the rollout did"
    );
    assert!(tally.answered() > 2_000, "{under:?}: {tally:?}");
    assert!(
        tally.by_version("1") > 0 && tally.by_version("2") > 0,
        "{under:?}: {tally:?}"
    );
    assert_eq!(tally.unsuccessful(), 0, "{under:?}: {tally:?}");
    stage.assert_runner_clean();
}

scenario!(a_whole_rollout_fails_no_request);
