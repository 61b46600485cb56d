//! A stand-in gateway controller for HTTPRoutes: it accepts each new
//! generation of a route (`status.parents` with `Accepted` and
//! `ResolvedRefs` for that generation), as a real gateway would, so that
//! the Gateway API router's weight verification passes, and it records the
//! route's rules at every generation it accepted.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

/// The task accepting HTTPRoute generations; stopped when dropped.
pub struct Gateway {
    task: tokio::task::JoinHandle<()>,
    api: Api<DynamicObject>,
    route: String,
    /// (generation, spec.rules) of each generation accepted.
    seen: Arc<Mutex<Vec<(i64, Value)>>>,
}

impl Gateway {
    /// Accepts every generation of HTTPRoute `route` through `api`.
    pub fn serve(api: Api<DynamicObject>, route: &str) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(accept(api.clone(), route.to_owned(), Arc::clone(&seen)));
        Self {
            task,
            api,
            route: route.to_owned(),
            seen,
        }
    }

    /// The route's `spec.rules` at each generation accepted, in order, once
    /// the route's current generation is among them (a minute at most).
    ///
    /// # Panics
    ///
    /// When the current generation is not accepted within a minute.
    pub async fn seen(&self) -> Vec<Value> {
        let started = std::time::Instant::now();
        loop {
            let current = self
                .api
                .get(&self.route)
                .await
                .ok()
                .and_then(|r| r.metadata.generation);
            let seen = self
                .seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            if current.is_some() && seen.last().map(|(g, _)| *g) == current {
                return seen.into_iter().map(|(_, rules)| rules).collect();
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the gateway did not accept generation {current:?} of HTTPRoute {}",
                self.route
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The (stable, canary) weights of rule `rule` at each generation
    /// accepted, repeats folded, as [`Gateway::seen`].
    pub async fn weights_seen(&self, rule: &str) -> Vec<(i64, i64)> {
        let mut weights: Vec<_> = self
            .seen()
            .await
            .iter()
            .filter_map(|rules| named(rules, rule))
            .map(weights)
            .collect();
        weights.dedup();
        weights
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(api: Api<DynamicObject>, name: String, seen: Arc<Mutex<Vec<(i64, Value)>>>) {
    let mut accepted = 0;
    loop {
        if let Ok(route) = api.get(&name).await {
            let generation = route.metadata.generation.unwrap_or_default();
            if generation != accepted {
                let condition = |kind: &str| {
                    json!({"type": kind, "status": "True", "reason": kind, "message": "",
                           "observedGeneration": generation,
                           "lastTransitionTime": "2026-11-22T00:00:00Z"})
                };
                let status = json!({"status": {"parents": [{
                    "parentRef": {"name": "gw"}, "controllerName": "example.com/gateway",
                    "conditions": [condition("Accepted"), condition("ResolvedRefs")]
                }]}});
                if api
                    .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                    .await
                    .is_ok()
                {
                    accepted = generation;
                    seen.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push((generation, route.data["spec"]["rules"].clone()));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The rule named `name` among `rules`.
pub fn named<'a>(rules: &'a Value, name: &str) -> Option<&'a Value> {
    rules.as_array()?.iter().find(|r| r["name"] == name)
}

/// The names of `rules`, in order.
pub fn names(rules: &Value) -> Vec<String> {
    rules
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The (stable, canary) weights of `rule`'s backends `web-stable` and
/// `web-canary` (a backend without a weight has weight 1; -1 when absent).
pub fn weights(rule: &Value) -> (i64, i64) {
    weights_of(rule, "web-stable", "web-canary")
}

/// The (stable, canary) weights of `rule`'s backends `stable` and `canary`,
/// as [`weights`] reads them.
pub fn weights_of(rule: &Value, stable: &str, canary: &str) -> (i64, i64) {
    let weight = |service: &str| {
        rule["backendRefs"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|b| b["name"] == service)
            .map_or(-1, |b| b["weight"].as_i64().unwrap_or(1))
    };
    (weight(stable), weight(canary))
}
