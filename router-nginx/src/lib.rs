//! NGINX canary Ingress routing for canary Rollouts, and weighted splits on
//! F5 NGINX Ingress Controller VirtualServers ([`virtual_server`]).
//!
//! For each stable Ingress the rollout names, a canary Ingress
//! `<rollout>-<stable ingress>-canary` built from it as Argo Rollouts builds
//! it (see [`plan`]) carries ingress-nginx's canary annotations: the weight,
//! and — what Argo's built-in NGINX support cannot do — a header route set
//! by a `setHeaderRoute` step, plus an optional `canary-by-cookie`.
//! Configuration is Argo's `trafficRouting.nginx` shape under
//! `trafficRouting.plugins["rollgate/nginx"]` (see [`config`]).
//!
//! ```text
//!   stable Ingress ───┐
//!   canary Ingress ───┼─▶ plan::plan ──▶ server-side apply, delete, or nothing
//!   TrafficTarget ────┘    (pure)
//! ```
//!
//! [`NginxRouter`] is the I/O layer: for any target (weight and header
//! route together, or Argo's one aspect at a time) one read of each stable
//! and canary Ingress and at most one write per canary Ingress. Mirror routes are refused: an
//! ingress-nginx canary cannot mirror traffic. After full promotion the canary
//! Ingress stays at weight 0, as Argo leaves it, unless
//! `deleteCanaryIngressOnCompletion` is set.
//!
//! Under the same plugin key, `virtualServer` and `virtualServerRoute`
//! name F5 NGINX Ingress Controller VirtualServers and VirtualServerRoutes
//! (`k8s.nginx.org/v1`) whose routes the rollout splits (see
//! [`virtual_server`]): one guarded JSON patch per object, or none. A config
//! may carry both kinds of keys.
//!
//! The router implements `router-core`'s [`TrafficRouter`](router_core::TrafficRouter):
//! it reads only the typed [`RolloutContext`](router_core::RolloutContext) and
//! reports failures as `router-core` errors of a kind (a Kubernetes API error by
//! its status code). It does not depend on `plugin-proto`: the `rollgate-nginx`
//! binary (`bin/`) adds that to serve it as a plugin.
#![warn(missing_docs)]

pub mod config;
mod error;
pub mod plan;
mod router;
pub mod virtual_server;

pub use error::Error;
pub use router::NginxRouter;
/// The constructors every router shares (`with_client`, `from_environment`,
/// `from_config`) and its `user_agent`: bring it into scope to call them.
pub use router_kube::client::KubeRouter;
