//! The measured split: a Rollout routed by the Gateway API router, Traefik
//! in front, a real backend per pod, under Argo's controller (loading
//! `rollgate-gatewayapi`) and under `rollgate-controller` (its in-process
//! router), with the same assertions. At weight 0, at every `setWeight`
//! step (20, 50) and after promotion, 2,000 requests through Traefik find
//! the canary's share within 3 points of the weight, none failing, and
//! every upstream Traefik is configured with is a loopback address.
//!
//! Runs on `ROLLGATE_DATAPLANE=1 scripts/cluster up`; without the data
//! plane it says so and returns (and fails when `ROLLGATE_DATAPLANE=1` is
//! set but Traefik is missing).

mod support;

use rollgate_e2e::{Under, scenario};
use serde_json::json;
use support::Stage;

async fn measured_split_follows_each_set_weight_step(under: Under) {
    let canary =
        json!({"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}]});
    let Some(stage) = Stage::with_rollout(under, "dp-split", canary).await else {
        return;
    };
    stage.wait_weight(0).await;
    stage.assert_split(0).await;

    let stable = stage.update_to("2").await;
    for (step, weight) in [(1, 20), (3, 50)] {
        stage.wait_pause(step).await;
        stage.wait_weight(weight).await;
        stage.assert_split(weight).await;
        stage.promote();
    }

    // Promoted: version 2 is stable and takes everything.
    stage.wait_promoted(&stable).await;
    stage.wait_weight(0).await;
    stage.wait_all_on("2").await;
    stage.assert_split(100).await;
    stage.assert_runner_clean();
}

scenario!(measured_split_follows_each_set_weight_step);
