//! Walking a Rollout's steps once, front to back, keeping the state they
//! put in effect.

use std::collections::{BTreeMap, HashMap};

use rollout_core::CanaryStrategy;
use rollout_core::replicas::{self, TrafficRoutedCanary};
use rollout_core::spec::{CanaryStep, SetHeaderRoute, SetMirrorRoute, StepAction};
use rollout_core::steps::CanaryScale;

/// The state the steps up to the current one put in effect, kept while the
/// steps are walked once. It follows `rollout_core::steps`: the weight of
/// the last `setWeight` (`set_weight_at`), the last `setCanaryScale`
/// (`canary_scale_at`), and per managed route its last `setHeaderRoute` or
/// `setMirrorRoute` with a match (`header_route_at`, `mirror_route_at`); a
/// test checks both agree. Only the routes in effect are visited per step,
/// so a long list of managed routes costs nothing while they are unused.
pub(super) struct Walk<'a> {
    pub(super) weight: i32,
    pub(super) scale: Option<CanaryScale>,
    /// The position of each managed route in `managedRoutes`.
    order: HashMap<&'a str, usize>,
    /// The routes in effect, rendered, by (position, header 0 / mirror 1).
    routes: BTreeMap<(usize, u8), String>,
}

impl<'a> Walk<'a> {
    pub(super) fn new(c: &'a CanaryStrategy) -> Self {
        Self {
            weight: 0,
            scale: None,
            order: c
                .managed_routes()
                .enumerate()
                .map(|(i, n)| (n, i))
                .collect(),
            routes: BTreeMap::new(),
        }
    }

    /// Takes in the actions of the next step.
    pub(super) fn apply(&mut self, step: &'a CanaryStep) {
        for action in step.actions() {
            match action {
                StepAction::SetWeight(w) => self.weight = *w,
                StepAction::SetCanaryScale(s) => self.scale = CanaryScale::of(s),
                StepAction::SetHeaderRoute(h) => {
                    let route = (!h.matches.is_empty()).then(|| header_route(h));
                    self.set_route(&h.name, 0, route);
                }
                StepAction::SetMirrorRoute(m) => {
                    let route = (!m.matches.is_empty()).then(|| mirror_route(m));
                    self.set_route(&m.name, 1, route);
                }
                _ => {}
            }
        }
    }

    fn set_route(&mut self, name: &str, kind: u8, route: Option<String>) {
        let Some(&i) = self.order.get(name) else {
            return;
        };
        match route {
            Some(r) => self.routes.insert((i, kind), r),
            None => self.routes.remove(&(i, kind)),
        };
    }

    /// (canary weight, canary pods, stable pods) in effect.
    pub(super) fn split(
        &self,
        c: &CanaryStrategy,
        r: i32,
        max_w: i32,
        surge: i32,
    ) -> (i32, i32, i32) {
        if !c.routes_traffic() {
            let (canary, stable) =
                replicas::approximate_weighted_counts(r, self.weight, max_w, surge);
            return (self.weight, canary, stable);
        }
        let (canary_replicas, scale_weight) = match self.scale {
            Some(CanaryScale::Replicas(n)) => (Some(n), 0),
            Some(CanaryScale::Weight(w)) => (None, w),
            None => (None, self.weight),
        };
        let (canary, stable) = replicas::traffic_routed_counts(&TrafficRoutedCanary {
            replicas: r,
            weight: scale_weight,
            canary_replicas,
            max_weight: max_w,
            min_pods_per_replica_set: c.min_pods_per_replica_set,
            dynamic_stable_scale: c.dynamic_stable_scale(),
            current_weights: None,
            aborted: false,
        });
        (self.weight, canary, stable)
    }

    /// The managed routes in effect, in `managedRoutes` order.
    pub(super) fn routes(&self) -> Vec<String> {
        self.routes.values().cloned().collect()
    }
}

/// `header beta [x-beta=yes]`.
pub(super) fn header_route(h: &SetHeaderRoute) -> String {
    let conds: Vec<_> = h
        .matches
        .iter()
        .map(|m| format!("{}{}", m.header_name, m.header_value))
        .collect();
    format!("header {} [{}]", h.name, conds.join(", "))
}

/// `mirror shadow 20%`.
pub(super) fn mirror_route(m: &SetMirrorRoute) -> String {
    format!("mirror {} {}%", m.name, m.percentage.unwrap_or(100))
}
