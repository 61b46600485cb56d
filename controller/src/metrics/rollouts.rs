//! The per-Rollout gauges, computed at each scrape from the controller's
//! Rollout cache (each Rollout unpacked for it, [`crate::cache`]), as
//! Argo's `rolloutCollector` computes them from its lister: `rollout_info`, `rollout_info_replicas_{available,unavailable,
//! desired,updated}` and the deprecated `rollout_phase`.

use std::sync::{Arc, Mutex};

use kube::api::DynamicObject;

use crate::cache::{Cache, unpack_or_warn};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use serde_json::Value;

/// Argo's phases of `rollout_info` and `rollout_phase` (not the status's
/// `phase`: these come from the conditions, as Argo's `calculatePhase`).
pub const PHASES: [&str; 6] = [
    "Completed",
    "Progressing",
    "Paused",
    "Timeout",
    "Error",
    "Abort",
];

/// The Rollouts the gauges are about: the running controller's cache, or
/// none while this process is not leading (a standby has no cache, as
/// Argo's, whose informers start with leadership).
#[derive(Debug, Clone, Default)]
pub struct RolloutCache(Arc<Mutex<Option<Cache<DynamicObject>>>>);

impl RolloutCache {
    /// Points the gauges at `store` (`None`: no Rollouts).
    pub fn set(&self, store: Option<Cache<DynamicObject>>) {
        if let Ok(mut cache) = self.0.lock() {
            *cache = store;
        }
    }

    /// The cached Rollouts, unpacked (one that does not read back is left
    /// out, with a warning).
    fn rollouts(&self) -> Vec<DynamicObject> {
        let packed = self
            .0
            .lock()
            .ok()
            .and_then(|s| s.as_ref().map(Cache::state))
            .unwrap_or_default();
        packed.iter().filter_map(|r| unpack_or_warn(r)).collect()
    }
}

/// What the gauges say about one Rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutGauges {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `canary`, `blueGreen` or `none`.
    pub strategy: &'static str,
    /// Argo's name of the traffic router (`Istio`, `Nginx`, ...), or empty
    /// (also for a plugin, as in Argo).
    pub traffic_router: &'static str,
    /// One of [`PHASES`] or `InvalidSpec`.
    pub phase: &'static str,
    /// `status.availableReplicas`.
    pub available: i64,
    /// `status.replicas - status.availableReplicas`.
    pub unavailable: i64,
    /// `spec.replicas` (default 1).
    pub desired: i64,
    /// `status.updatedReplicas`.
    pub updated: i64,
}

/// The gauges of one Rollout, from its object as the API server returns it.
///
/// ```
/// use rollgate_controller::metrics::rollouts::gauges;
/// let rollout = serde_json::json!({
///     "metadata": {"namespace": "shop", "name": "web"},
///     "spec": {"replicas": 5, "strategy": {"canary": {"trafficRouting": {"nginx": {}}}}},
///     "status": {"replicas": 5, "availableReplicas": 4, "updatedReplicas": 1,
///                "conditions": [{"type": "Progressing", "reason": "RolloutPaused"}]}});
/// let g = gauges(&rollout);
/// assert_eq!((g.strategy, g.traffic_router, g.phase), ("canary", "Nginx", "Paused"));
/// assert_eq!((g.available, g.unavailable, g.desired, g.updated), (4, 1, 5, 1));
/// ```
pub fn gauges(rollout: &Value) -> RolloutGauges {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let int = |v: &Value| v.as_i64().unwrap_or(0);
    let spec = &rollout["spec"];
    let status = &rollout["status"];
    let (strategy, traffic_router) = strategy(&spec["strategy"]);
    RolloutGauges {
        namespace: text(&rollout["metadata"]["namespace"]),
        name: text(&rollout["metadata"]["name"]),
        strategy,
        traffic_router,
        phase: phase(status),
        available: int(&status["availableReplicas"]),
        unavailable: int(&status["replicas"]) - int(&status["availableReplicas"]),
        desired: spec["replicas"].as_i64().unwrap_or(1),
        updated: int(&status["updatedReplicas"]),
    }
}

/// Argo's `getStrategyAndTrafficRouter`: of several routers, the last in
/// its order wins.
fn strategy(strategy: &Value) -> (&'static str, &'static str) {
    if strategy.get("blueGreen").is_some_and(|b| !b.is_null()) {
        return ("blueGreen", "");
    }
    let Some(canary) = strategy.get("canary").filter(|c| !c.is_null()) else {
        return ("none", "");
    };
    let routing = &canary["trafficRouting"];
    let router = [
        ("alb", "ALB"),
        ("ambassador", "Ambassador"),
        ("istio", "Istio"),
        ("nginx", "Nginx"),
        ("smi", "SMI"),
        ("appMesh", "AppMesh"),
    ]
    .into_iter()
    .rev()
    .find(|(key, _)| routing.get(key).is_some_and(|r| !r.is_null()))
    .map_or("", |(_, name)| name);
    ("canary", router)
}

/// Argo's `calculatePhase`: from the Progressing condition's reason, and
/// `InvalidSpec` whenever that condition is present.
fn phase(status: &Value) -> &'static str {
    let conditions = status["conditions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let condition = |kind: &str| conditions.iter().find(|c| c["type"] == kind);
    if condition("InvalidSpec").is_some() {
        return "InvalidSpec";
    }
    match condition("Progressing").and_then(|c| c["reason"].as_str()) {
        Some("NewReplicaSetAvailable") => "Completed",
        Some("RolloutPaused") => "Paused",
        Some("ReplicaSetCreateError") => "Error",
        Some("ProgressDeadlineExceeded") => "Timeout",
        Some("RolloutAborted") => "Abort",
        _ => "Progressing",
    }
}

impl Collector for RolloutCache {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let all: Vec<RolloutGauges> = self
            .rollouts()
            .iter()
            .filter_map(|o| serde_json::to_value(o).ok())
            .map(|v| gauges(&v))
            .collect();
        let mut family = |name: &str,
                          help: &str,
                          rows: &mut dyn Iterator<Item = (Vec<(&str, String)>, i64)>|
         -> Result<(), std::fmt::Error> {
            let mut metric = encoder.encode_descriptor(
                name,
                help,
                None,
                prometheus_client::metrics::MetricType::Gauge,
            )?;
            for (labels, value) in rows {
                ConstGauge::new(value).encode(metric.encode_family(&labels)?)?;
            }
            Ok(())
        };
        let base =
            |g: &RolloutGauges| vec![("namespace", g.namespace.clone()), ("name", g.name.clone())];
        family(
            "rollout_info",
            "Information about rollout.",
            &mut all.iter().map(|g| {
                let mut l = base(g);
                l.extend([
                    ("strategy", g.strategy.to_owned()),
                    ("traffic_router", g.traffic_router.to_owned()),
                    ("phase", g.phase.to_owned()),
                ]);
                (l, 1)
            }),
        )?;
        type Pick = fn(&RolloutGauges) -> i64;
        let replicas: [(&str, &str, Pick); 4] = [
            (
                "rollout_info_replicas_available",
                "The number of available replicas per rollout.",
                |g| g.available,
            ),
            (
                "rollout_info_replicas_unavailable",
                "The number of unavailable replicas per rollout.",
                |g| g.unavailable,
            ),
            (
                "rollout_info_replicas_desired",
                "The number of desired replicas per rollout.",
                |g| g.desired,
            ),
            (
                "rollout_info_replicas_updated",
                "The number of updated replicas per rollout.",
                |g| g.updated,
            ),
        ];
        for (name, help, pick) in replicas {
            family(name, help, &mut all.iter().map(|g| (base(g), pick(g))))?;
        }
        family(
            "rollout_phase",
            "Information on the state of the rollout (DEPRECATED - use rollout_info)",
            &mut all.iter().flat_map(|g| {
                PHASES.iter().map(move |p| {
                    let mut l = base(g);
                    l.extend([
                        ("strategy", g.strategy.to_owned()),
                        ("phase", (*p).to_owned()),
                    ]);
                    (l, i64::from(g.phase == *p))
                })
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn phases_follow_argos_reasons_and_invalid_spec_wins() {
        let with = |conditions: Value| phase(&json!({"conditions": conditions}));
        assert_eq!(with(json!([])), "Progressing");
        for (reason, expected) in [
            ("NewReplicaSetAvailable", "Completed"),
            ("RolloutPaused", "Paused"),
            ("ReplicaSetCreateError", "Error"),
            ("ProgressDeadlineExceeded", "Timeout"),
            ("RolloutAborted", "Abort"),
            ("ReplicaSetUpdated", "Progressing"),
        ] {
            assert_eq!(
                with(json!([{"type": "Progressing", "reason": reason}])),
                expected
            );
        }
        assert_eq!(
            with(
                json!([{"type": "Progressing", "reason": "RolloutPaused"}, {"type": "InvalidSpec"}])
            ),
            "InvalidSpec"
        );
    }

    #[test]
    fn strategy_and_router_as_argo_names_them() {
        assert_eq!(strategy(&json!({"blueGreen": {}})), ("blueGreen", ""));
        assert_eq!(strategy(&json!({})), ("none", ""));
        assert_eq!(strategy(&json!({"canary": {}})), ("canary", ""));
        // A plugin router has no name in Argo's metric.
        assert_eq!(
            strategy(
                &json!({"canary": {"trafficRouting": {"plugins": {"argoproj-labs/gatewayAPI": {}}}}})
            ),
            ("canary", "")
        );
        // Of several, the last in Argo's order.
        assert_eq!(
            strategy(&json!({"canary": {"trafficRouting": {"istio": {}, "smi": {}}}})),
            ("canary", "SMI")
        );
    }

    #[test]
    fn a_rollout_without_status_has_one_desired_replica_by_default() {
        let g = gauges(&json!({"metadata": {"namespace": "a", "name": "b"}, "spec": {}}));
        assert_eq!(
            (g.desired, g.available, g.unavailable, g.updated),
            (1, 0, 0, 0)
        );
        assert_eq!(g.phase, "Progressing");
    }
}
