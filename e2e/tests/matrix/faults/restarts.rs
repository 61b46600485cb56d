//! Control-plane components killed with SIGKILL and started again
//! (`scripts/cluster restart`) right after the promotion at the manual
//! pause.

use rollgate_e2e::{Under, scenario};
use rollgate_testkit::faults::{Component, restart};

use super::Run;

/// Restarts `component` while the update steps, then waits for the end
/// state, timed from when the component serves again.
async fn restarted(name: &str, under: Under, component: Component) {
    let Some(run) = Run::paused(name, under, None, true).await else {
        return;
    };
    run.promote();
    let down = tokio::task::spawn_blocking(move || restart(component))
        .await
        .expect("the restart");
    run.finish(&format!(
        "{component:?} killed and serving again after {:.1} s",
        down.as_secs_f64()
    ))
    .await;
}

scenario!(api_server_restarted);

/// kube-apiserver killed and started again.
async fn api_server_restarted(under: Under) {
    restarted("fault-apiserver", under, Component::ApiServer).await;
}

scenario!(etcd_restarted);

/// etcd killed and started again (kube-apiserver stays up).
async fn etcd_restarted(under: Under) {
    restarted("fault-etcd", under, Component::Etcd).await;
}
