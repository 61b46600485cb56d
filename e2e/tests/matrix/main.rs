//! The scenario matrix: every end-to-end scenario of the real-cluster tier
//! under Argo's controller and under `rollgate-controller`, with the same
//! assertions (see the crate's documentation). Driven with the real
//! `kubectl argo rollouts` wherever a user would type a command.

mod analysis;
mod blue_green;
mod experiment;
mod faults;
mod gateway_api;
mod gitops;
mod install;
mod istio;
mod nginx;
mod nginx_virtual_server;
mod operations;
mod ping_pong;
mod routes;
mod shared_route;

use rollgate_e2e::{Router, Scene};

/// Every write of `verbs` on object `name` of `resource` (plural) by a
/// Rollgate process came from the process that runs the router under the
/// controller under test (see `Under::route_writer`), and there was one.
async fn assert_route_writer(
    s: &Scene,
    router: Router,
    resource: &str,
    name: &str,
    verbs: &[&str],
) {
    s.cluster.audit_barrier().await;
    let agent = s.under.route_writer(router);
    let writes: Vec<_> = s
        .cluster
        .audited_requests(resource, name)
        .into_iter()
        .filter(|r| verbs.contains(&r.verb.as_str()) && r.user_agent.starts_with("rollgate-"))
        .collect();
    assert!(
        !writes.is_empty() && writes.iter().all(|r| r.user_agent == agent),
        "{:?}: the writes to {resource}/{name} come from {agent}: {writes:?}",
        s.under
    );
}
