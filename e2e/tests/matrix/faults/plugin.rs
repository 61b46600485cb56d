//! The Gateway API plugin process killed with SIGKILL under Argo's
//! controller right after the promotion at the manual pause. Argo's
//! controller starts a plugin again when it finds it exited. Under
//! `rollgate-controller` the router runs in-process: there is no plugin
//! process to kill (the controller killed is `controller/tests/crash.rs`).

use std::time::Duration;

use rollgate_e2e::Under;
use rollgate_testkit::faults::{children_named, kill_9};

use super::Run;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_killed_under_argo() {
    let Some(run) = Run::paused("fault-plugin", Under::Argo, None, true).await else {
        return;
    };
    let argo = run.s.controller_pid().expect("Argo's controller");
    // The plugin processes are the controller's only children.
    let plugins = children_named(argo, "");
    assert!(
        !plugins.is_empty(),
        "a plugin process under Argo's controller"
    );
    run.promote();
    // Mid-step: once the controller has moved on from the manual pause.
    run.s
        .until("stepping past the manual pause", |v| {
            v["rollout"]["status"]["currentStepIndex"].as_i64() >= Some(2)
        })
        .await;
    for pid in &plugins {
        kill_9(*pid);
    }
    let took = run
        .finish(&format!("plugin process {plugins:?} killed with SIGKILL"))
        .await;
    assert!(took < Duration::from_secs(120));
    // The rollout finished through a plugin process started again.
    let again = children_named(argo, "");
    assert!(
        !again.is_empty() && again.iter().all(|pid| !plugins.contains(pid)),
        "a new plugin process: {again:?} (killed {plugins:?})"
    );
}
