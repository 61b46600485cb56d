//! The API server proxy's faults, each for [`FAULT_WINDOW`] from the
//! promotion at the manual pause: the controller (and under Argo the
//! plugin process) talks to kube-apiserver only through the proxy.

use std::time::Duration;

use rollgate_e2e::{Under, scenario};
use rollgate_testkit::faults::{Fault, Proxy};

use super::{FAULT_WINDOW, Run};

/// Runs the update under `fault` from the promotion for [`FAULT_WINDOW`],
/// then clears it and waits for the end state.
async fn under_fault(name: &str, under: Under, fault: Fault) {
    if !super::enabled() {
        return;
    }
    let Some(run) = Run::paused(name, under, Some(Proxy::for_cluster().await), true).await else {
        return;
    };
    let proxy = run.proxy.as_ref().expect("the proxy");
    proxy.set(fault);
    run.promote();
    tokio::time::sleep(FAULT_WINDOW).await;
    proxy.set(Fault::Pass);
    let step = run.invariants.snapshot().rollout["status"]["currentStepIndex"].clone();
    run.finish(&format!(
        "{fault:?} for {} s, at step {step} when it cleared",
        FAULT_WINDOW.as_secs()
    ))
    .await;
}

scenario!(server_errors);

/// Every second request answered 503.
async fn server_errors(under: Under) {
    under_fault("fault-5xx", under, Fault::ServerError { one_in: 2 }).await;
}

scenario!(too_many_requests);

/// Every second request answered 429 with `Retry-After: 1`.
async fn too_many_requests(under: Under) {
    let fault = Fault::TooManyRequests {
        retry_after_seconds: 1,
        one_in: 2,
    };
    under_fault("fault-429", under, fault).await;
}

scenario!(latency);

/// Every request delayed by 1 s.
async fn latency(under: Under) {
    let fault = Fault::Latency(Duration::from_secs(1));
    under_fault("fault-latency", under, fault).await;
}

scenario!(dropped_watches);

/// Every watch stream ended 2 s after it starts (those open, at once).
async fn dropped_watches(under: Under) {
    let fault = Fault::DropWatches {
        after: Duration::from_secs(2),
    };
    under_fault("fault-watch", under, fault).await;
}

scenario!(resets);

/// Every open connection reset, then one request in three.
async fn resets(under: Under) {
    under_fault("fault-reset", under, Fault::Reset { one_in: 3 }).await;
}

scenario!(outage);

/// Every request answered 503: nothing can be read or written.
async fn outage(under: Under) {
    under_fault("fault-outage", under, Fault::ServerError { one_in: 1 }).await;
}
