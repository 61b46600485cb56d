//! Traffic: the weight the router should apply (Argo's
//! `reconcileTrafficRouting`), the header and mirror routes of the steps
//! passed, and the weights recorded in the status.
//!
//! Contract: without traffic routing there is no desired traffic; the canary
//! never gains weight faster than the stable side can give it up; the
//! recorded weights carry the router's verification only while they are
//! unchanged.

use super::{Pass, VERIFY_RETRY};
use crate::decision::DesiredTraffic;
use crate::pingpong;
use crate::progress;
use crate::spec::SetMirrorRoute;
use crate::status::{TrafficWeights, WeightDestination};
use crate::steps;
use crate::weights::{self, RouterWeight};

impl Pass<'_> {
    /// Argo's desired canary weight for the router (`reconcileTrafficRouting`).
    pub(super) fn desired_weight_now(&self) -> i32 {
        let rolling_back = self.rolling_back_to_stable();
        let stable = if rolling_back {
            self.new_rs()
        } else {
            self.stable_rs()
        };
        weights::router_weight(&RouterWeight {
            state: self.canary_state(),
            fully_promoted: self.fully_promoted(),
            rolling_back_to_stable: rolling_back,
            // Only read on the way through the steps; skip the work otherwise.
            at_desired_replicas: !self.fully_promoted()
                && !self.st.abort
                && !self.st.promote_full
                && !self.steps().is_empty()
                && self.new_rs().is_some_and(|rs| rs.available_replicas > 0)
                && self.at_desired_replicas(),
            canary_available: self.new_rs().map(|rs| rs.available_replicas),
            stable_available: stable.map(|rs| rs.available_replicas),
            current_weight: self.prev.canary.weights.as_ref().map(|w| w.canary.weight),
        })
    }

    /// Argo's `IsDynamicallyRollingBackToStable`: back on the stable template
    /// with `dynamicStableScale` while the router still sends traffic to the
    /// previous canary and the stable ReplicaSet is not fully available.
    fn rolling_back_to_stable(&self) -> bool {
        if !self.fully_promoted() || !self.c.dynamic_stable_scale() {
            return false;
        }
        let Some(weights) = &self.prev.canary.weights else {
            return false;
        };
        weights.canary.pod_template_hash.as_deref() != Some(self.current_hash())
            && self
                .new_rs()
                .is_some_and(|rs| rs.available_replicas < self.r)
    }

    /// The ReplicaSet the canary weight goes to: the current template's,
    /// except while rolling back to stable, when traffic drains from the
    /// previous canary (Argo #3020).
    fn canary_destination_hash(&self) -> String {
        let previous = self
            .prev
            .canary
            .weights
            .as_ref()
            .and_then(|w| w.canary.pod_template_hash.as_deref());
        match previous {
            Some(hash) if self.rolling_back_to_stable() => hash.to_owned(),
            _ => self.current_hash().to_owned(),
        }
    }

    /// Argo's branches of `reconcileTrafficRouting` that add the running
    /// Experiment's weights: not rolling back, promoted or aborted, and
    /// either the canary has no available pod yet or the steps are under
    /// way (not with `promoteFull`).
    fn experiment_weights_apply(&self) -> bool {
        let unavailable = self.new_rs().is_none_or(|rs| rs.available_replicas == 0);
        !self.rolling_back_to_stable()
            && !self.fully_promoted()
            && !self.st.abort
            && (unavailable || (!self.st.promote_full && self.index() < self.steps().len()))
    }

    fn routes_active(&self) -> bool {
        !self.st.abort
            && !self.fully_promoted()
            && !self.st.promote_full
            && self.index() < self.steps().len()
            && self.new_rs().is_some_and(|rs| rs.available_replicas > 0)
    }

    pub(super) fn desired_traffic(&self) -> Option<DesiredTraffic> {
        if !self.c.routes_traffic() {
            return None;
        }
        let mut weight = self.desired_weight_now().clamp(0, self.max_w);
        // Do not move traffic to the canary faster than the stable side can
        // give it up: hold the recorded weight while too few stable pods exist.
        let stable_for_gate = self
            .st
            .stable_rs
            .as_deref()
            .and_then(|h| self.obs.replica_set(h));
        let gate_open = progress::replicas_available_for_weight(
            stable_for_gate,
            self.max_w - weight,
            self.r,
            self.max_w,
            self.c.replica_progress_threshold.as_ref(),
        );
        let held = if gate_open {
            None
        } else {
            self.prev.canary.weights.as_ref()
        };
        if let Some(w) = held {
            weight = w.canary.weight;
        }
        let stable_hash = self.st.stable_rs.clone();
        let mut traffic = DesiredTraffic {
            max_weight: self.max_w,
            canary: WeightDestination {
                weight,
                service_name: self.c.canary_service.clone(),
                pod_template_hash: Some(self.canary_destination_hash()),
            },
            stable: WeightDestination {
                weight: self.max_w - weight,
                service_name: self.c.stable_service.clone(),
                pod_template_hash: stable_hash,
            },
            ..Default::default()
        };
        if self.experiment_weights_apply() {
            traffic.additional = self.experiment_destinations();
            traffic.stable.weight -= traffic.additional.iter().map(|d| d.weight).sum::<i32>();
        }
        if let Some(w) = held {
            // Too few stable pods to take traffic back: keep what the router has.
            traffic.canary = w.canary.clone();
            traffic.stable = w.stable.clone();
            traffic.additional = w.additional.clone();
        }
        if self.routes_active() {
            let index = self.index();
            for name in self.c.managed_routes() {
                if let Some(h) = steps::header_route_at(self.steps(), index, name) {
                    traffic.header_routes.push(h.clone());
                }
                if let Some(m) = steps::mirror_route_at(self.steps(), index, name) {
                    traffic.mirror_routes.push(SetMirrorRoute {
                        percentage: Some(m.percentage.unwrap_or(100)),
                        ..m.clone()
                    });
                }
            }
        }
        pingpong::route(&mut traffic, self.c, self.st.canary.stable_ping_pong);
        Some(traffic)
    }

    /// Records the weights the router is told in the status (with the
    /// router's verification when they are unchanged), emits
    /// `TrafficWeightUpdated` when the canary weight moves, and looks again
    /// soon while the router reports them not in place.
    pub(super) fn record_weights(&mut self, traffic: Option<&DesiredTraffic>) {
        let mut verify_again = false;
        self.st.canary.weights = traffic.map(|t| {
            let mut weights = TrafficWeights {
                canary: t.canary.clone(),
                stable: t.stable.clone(),
                additional: t.additional.clone(),
                verified: None,
            };
            pingpong::record(&mut weights, self.c);
            let unchanged = self.prev.canary.weights.as_ref().is_some_and(|p| {
                p.canary == weights.canary
                    && p.stable == weights.stable
                    && p.additional == weights.additional
            });
            if unchanged {
                weights.verified = self.obs.traffic_verified;
            }
            if weights.verified == Some(false) {
                verify_again = true;
            }
            weights
        });
        if let Some(t) = traffic {
            let before = self
                .prev
                .canary
                .weights
                .as_ref()
                .map_or(0, |w| w.canary.weight);
            if before != t.canary.weight {
                self.event(
                    false,
                    "TrafficWeightUpdated",
                    format!(
                        "Traffic weight updated from {before} to {}",
                        t.canary.weight
                    ),
                );
            }
        }
        if verify_again {
            self.wake_at(self.now + VERIFY_RETRY);
        }
    }
}
