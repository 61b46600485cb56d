//! Fault runs: seed 001's HTTPRoute set-up stepping through an update
//! while something fails, under both controllers, with the invariant
//! watcher of `rollgate_testkit::faults` recording every violation
//! throughout and the time the rollout takes to finish once the fault has
//! cleared. One file per group of faults: the API server proxy's faults
//! (`proxy`), control-plane restarts (`restarts`), the plugin process
//! killed (`plugin`), other writers of the route (`writers`).
//!
//! The runs restart the cluster's components and are timed, so they run
//! only with `ROLLGATE_FAULTS=1`, one at a time (`--test-threads 1`), as
//! `scripts/test` and RELIABILITY.md run them; otherwise they return at
//! once, saying so. Each prints one `fault run:` line with what happened.

mod plugin;
mod proxy;
mod restarts;
mod writers;

use std::time::Duration;

use rollgate_e2e::gateway::{self, Gateway};
use rollgate_e2e::{Scene, Under, phase, status};
use rollgate_testkit::faults::{Invariants, Proxy, Snapshot};
use serde_json::{Value, json};

use crate::gateway_api::{ROLLOUT, scene_through, set_image, web};

/// How long a fault of the proxy lasts.
pub(crate) const FAULT_WINDOW: Duration = Duration::from_secs(15);

/// How long the rollout may take to finish once the fault has cleared
/// (three timed pauses of 2 s and the steps between them, on a shared
/// machine).
pub(crate) const CONVERGENCE_BOUND: Duration = Duration::from_secs(120);

/// A fault run: the scene paused at its manual pause (20 % to the canary),
/// the watcher started before the update, and the proxy the controller
/// talks through, if any. Field order is drop order: the controller stops
/// before the proxy goes.
pub(crate) struct Run {
    pub(crate) s: Scene,
    _gateway: Gateway,
    pub(crate) invariants: Invariants,
    pub(crate) proxy: Option<Proxy>,
    old: Value,
    name: String,
}

/// The steps of every run: a manual pause, at which the disturbance
/// starts, then three steps with timed pauses.
fn steps() -> Value {
    json!([{"setWeight": 20}, {"pause": {}},
           {"setWeight": 40}, {"pause": {"duration": "2s"}},
           {"setWeight": 60}, {"pause": {"duration": "2s"}},
           {"setWeight": 80}, {"pause": {"duration": "2s"}}])
}

/// Whether fault runs are asked for (`ROLLGATE_FAULTS=1`, on the
/// real-cluster tier: `ROLLGATE_E2E=1`); says why not when they are not.
pub(crate) fn enabled() -> bool {
    let set = |name| std::env::var(name).as_deref() == Ok("1");
    let on = set("ROLLGATE_FAULTS") && set("ROLLGATE_E2E");
    if !on {
        eprintln!(
            "skipped: fault runs need the real-cluster tier (ROLLGATE_E2E=1), ROLLGATE_FAULTS=1 and --test-threads 1"
        );
    }
    on
}

impl Run {
    /// Seed 001's set-up under `under` (through `proxy` when given),
    /// Healthy on its first revision; the watcher starts, with the user's
    /// rule `users` to keep (byte for byte when `users_fixed`, by name
    /// otherwise), and the update to `example.com/web:2` runs to its
    /// manual pause.
    pub(crate) async fn paused(
        name: &str,
        under: Under,
        proxy: Option<Proxy>,
        users_fixed: bool,
    ) -> Option<Self> {
        if !enabled() {
            return None;
        }
        let (s, gateway) =
            scene_through(name, under, steps(), &[], false, &[], proxy.as_ref()).await?;
        let first = s
            .until("first revision Healthy", |v| {
                phase(v) == "Healthy" && web(v) == (100, 0)
            })
            .await;
        let old = status(&first)["stableRS"].clone();
        let invariants = Invariants::start(
            s.cluster.client.clone(),
            &s.cluster.namespace,
            ROLLOUT,
            "web",
        );
        // As stored: the API server fills in the defaults of its matches.
        let users = gateway::named(&first["route"]["spec"]["rules"], "users")
            .expect("the user's rule")
            .clone();
        invariants.keep("the user's rule `users`", None, move |route| {
            let rule = gateway::named(&route["spec"]["rules"], "users");
            if users_fixed {
                rule == Some(&users)
            } else {
                rule.is_some()
            }
        });
        set_image(&s, "example.com/web:2").await;
        s.until("paused at step 1, 80/20", |v| {
            phase(v) == "Paused" && status(v)["currentStepIndex"] == 1 && web(v) == (80, 20)
        })
        .await;
        Some(Self {
            s,
            _gateway: gateway,
            invariants,
            proxy,
            old,
            name: name.to_owned(),
        })
    }

    /// `kubectl argo rollouts promote`: the rollout steps on.
    pub(crate) fn promote(&self) {
        self.s.kubectl(&["promote", ROLLOUT]);
    }

    /// Waits for the end state (Healthy on the new revision, all traffic
    /// back on the stable Service, its ReplicaSet at 2), records the time
    /// it took from now, prints the `fault run:` line with `what`
    /// happened, and asserts that nothing was violated.
    pub(crate) async fn finish(&self, what: &str) -> Duration {
        let old = self.old.clone();
        let took = self
            .invariants
            .converge("done", CONVERGENCE_BOUND, |snapshot| done(snapshot, &old))
            .await;
        let report = self.invariants.report();
        let proxy = self
            .proxy
            .as_ref()
            .map(|p| format!(", proxy {:?}", p.stats()))
            .unwrap_or_default();
        eprintln!(
            "fault run: {} under {:?}: {what}; {report}{proxy}",
            self.name, self.s.under
        );
        assert!(
            report.violations.is_empty(),
            "{:?}: violations: {:#?}",
            self.s.under,
            report.violations
        );
        took.expect("converged")
    }
}

/// The end state: Healthy on a revision other than `old`, rule `web` all
/// on the stable Service, the new ReplicaSet at 2.
fn done(snapshot: &Snapshot, old: &Value) -> bool {
    let status = &snapshot.rollout["status"];
    let current = &status["currentPodHash"];
    status["phase"] == "Healthy"
        && status["stableRS"] == *current
        && current != old
        && gateway::named(&snapshot.route["spec"]["rules"], "web").map(gateway::weights)
            == Some((100, 0))
        && current.as_str().and_then(|h| snapshot.replica_sets.get(h)) == Some(&2)
}
