//! What every Rollgate traffic router shares.
//!
//! * [`check_listed`]: a header or mirror route must be listed in
//!   `spec.strategy.canary.trafficRouting.managedRoutes`, or it is refused
//!   before anything is written (a route not listed there could never be
//!   removed).
//! * With the `kube` feature, [`client`]: the one way a router builds its
//!   Kubernetes client (identified by a `User-Agent` such as
//!   `rollgate-gatewayapi/0.1.0`, so that audit logs and API priority and
//!   fairness can tell the routers apart), built lazily on first use, and
//!   [`Error::Request`]: an API request's failure as one line naming the
//!   object, the status code and the server's message.
#![warn(missing_docs)]

#[cfg(feature = "kube")]
pub mod client;
mod error;
mod managed;

pub use error::Error;
pub use managed::{RouteStep, check_listed};
