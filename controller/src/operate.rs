//! The controller as a service: the metrics and health endpoints, leader
//! election, and shutdown on a signal.
//!
//! Without leader election the controller runs at once. With it, the
//! process stands by (ready, `leader_election_master_status` 0, no Rollout
//! caches) until it holds the Lease ([`crate::leader`]); then it runs the
//! controller for as long as it holds it. Losing the Lease drops the
//! running controller at once, reconciles in flight included (a reconcile
//! is idempotent, so the next leader finishes the work), and the process
//! stands by again. On SIGTERM or Ctrl-C the controller finishes the
//! reconciles in flight, the leader releases the Lease and the process
//! ends. Argo's controller exits when it loses the Lease instead, leaving
//! the restart to Kubernetes; standing by again keeps the endpoints up and
//! gives the same result without a restart.

use std::net::IpAddr;
use std::sync::Arc;

use kube::Client;
use tokio_util::sync::CancellationToken;

use crate::leader::{Election, Elector};
use crate::metrics::Metrics;
use crate::run::{Hooks, Settings, run};
use crate::serve::{self, BindError, Readiness};

/// How the process serves and elects.
#[derive(Debug, Clone)]
pub struct Operations {
    /// The election, or `None` to run without one (`--leader-elect=false`).
    pub election: Option<Election>,
    /// The address both ports listen on.
    pub bind_address: IpAddr,
    /// `--metrics-port`.
    pub metrics_port: u16,
    /// `--healthz-port`.
    pub healthz_port: u16,
}

/// Runs the controller as [`Operations`] says, until SIGTERM or Ctrl-C.
/// `metrics` should be the ones whose request layer the client carries
/// ([`Metrics::count_requests`]). Fails only if a port cannot be listened on.
pub async fn operate(
    client: Client,
    metrics: Arc<Metrics>,
    settings: Settings,
    operations: Operations,
) -> Result<(), BindError> {
    let metrics_listener = serve::bind(
        "metrics-port",
        operations.bind_address,
        operations.metrics_port,
    )
    .await?;
    let health_listener = serve::bind(
        "healthz-port",
        operations.bind_address,
        operations.healthz_port,
    )
    .await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    let readiness = Readiness::default();
    let servers = CancellationToken::new();
    for (listener, routes) in [
        (metrics_listener, serve::metrics_routes(metrics.clone())),
        (health_listener, serve::health_routes(readiness.clone())),
    ] {
        tracing::info!(address = ?listener.local_addr().ok(), "serving");
        tokio::spawn(serve::serve(
            listener,
            routes,
            servers.clone().cancelled_owned(),
        ));
    }
    let hooks = Hooks {
        metrics: metrics.clone(),
        readiness: readiness.clone(),
        shutdown: shutdown.clone(),
    };
    match operations.election {
        None => {
            tracing::info!("leader election is off; running");
            run(client, settings, hooks).await;
        }
        Some(election) => elect_and_run(client, settings, hooks, election).await,
    }
    servers.cancel();
    tracing::info!("exiting");
    Ok(())
}

/// Stands by, leads while holding the Lease, stands by again when it is
/// lost; ends on shutdown, releasing the Lease if held.
async fn elect_and_run(client: Client, settings: Settings, hooks: Hooks, election: Election) {
    let lease = election.name.clone();
    tracing::info!(lease = %format!("{}/{}", election.namespace, lease), identity = %election.identity, "standing for leader");
    let mut elector = Elector::new(client.clone(), election);
    loop {
        hooks.readiness.standby();
        hooks.metrics.leading(&lease, false);
        tokio::select! {
            () = hooks.shutdown.cancelled() => return,
            () = elector.acquire() => {}
        }
        hooks.metrics.leading(&lease, true);
        tracing::info!(identity = %elector.election().identity, "leading: running the controller");
        let lost = tokio::select! {
            () = run(client.clone(), settings.clone(), hooks.clone()) => false,
            () = elector.hold() => true,
        };
        hooks.metrics.rollouts().set(None);
        if !lost {
            hooks.metrics.leading(&lease, false);
            elector.release().await;
            return;
        }
        tracing::warn!("lost the lease: stopped reconciling; standing by");
        if hooks.shutdown.is_cancelled() {
            return;
        }
    }
}

/// Cancels `token` on SIGTERM or Ctrl-C.
async fn cancel_on_signal(token: CancellationToken) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch for SIGTERM; Ctrl-C only");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = terminate => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down after the reconciles in flight");
    token.cancel();
}
