//! What a harness sees of its namespace: the Rollouts' phases and the
//! routes' canary weights, kept from one watch of each kind.
//!
//! Waiting on a watch costs the API server only the changes it sends
//! anyway to every controller's watch, where polling a list of 1,000
//! Rollouts every half second cost it seconds of encoding per list on this
//! machine and slowed down the side that waits on the API server most. A
//! watch also sees every weight a route passes through, not only those a
//! poll happens to land on.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::{WatchStreamExt, watcher};

use super::canary_weight;

/// A route's canary weight now and the highest since it was last reset.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Weight {
    pub(super) now: Option<i64>,
    pub(super) highest: i64,
}

/// The latest state of the watched objects, by name.
#[derive(Default)]
pub(super) struct View {
    phases: Mutex<HashMap<String, Option<String>>>,
    weights: Mutex<HashMap<String, Weight>>,
    rollouts_listed: AtomicBool,
    routes_listed: AtomicBool,
}

impl View {
    /// Watches `rollouts` and `routes` into a new view; the watches end
    /// when the returned handles are aborted.
    pub(super) fn watch(
        rollouts: Api<DynamicObject>,
        routes: Api<DynamicObject>,
    ) -> (Arc<Self>, Vec<tokio::task::AbortHandle>) {
        let view = Arc::new(Self::default());
        let watching = [
            tokio::spawn(follow(
                rollouts,
                view.clone(),
                |view| &view.rollouts_listed,
                |view, name, object| {
                    let phase = object
                        .and_then(|o| o.data["status"]["phase"].as_str())
                        .map(str::to_owned);
                    let mut phases = lock(&view.phases);
                    match object {
                        Some(_) => phases.insert(name, phase),
                        None => phases.remove(&name),
                    };
                },
            ))
            .abort_handle(),
            tokio::spawn(follow(
                routes,
                view.clone(),
                |view| &view.routes_listed,
                |view, name, object| {
                    let mut weights = lock(&view.weights);
                    match object {
                        Some(route) => {
                            let now = canary_weight(&route.data);
                            let seen = weights.entry(name).or_default();
                            seen.now = now;
                            seen.highest = seen.highest.max(now.unwrap_or(0));
                        }
                        None => {
                            weights.remove(&name);
                        }
                    }
                },
            ))
            .abort_handle(),
        ];
        (view, watching.into())
    }

    /// Whether both watches have listed what was there when they started.
    pub(super) fn listed(&self) -> bool {
        self.rollouts_listed.load(Ordering::Acquire) && self.routes_listed.load(Ordering::Acquire)
    }

    /// How many Rollouts are in `phase`.
    pub(super) fn in_phase(&self, phase: &str) -> usize {
        lock(&self.phases)
            .values()
            .filter(|p| p.as_deref() == Some(phase))
            .count()
    }

    /// How many routes have a canary weight of `weight` now.
    pub(super) fn at_weight(&self, weight: i64) -> usize {
        lock(&self.weights)
            .values()
            .filter(|w| w.now == Some(weight))
            .count()
    }

    /// Each route's highest canary weight from now on starts at its weight now.
    pub(super) fn reset_highest(&self) {
        for seen in lock(&self.weights).values_mut() {
            seen.highest = seen.now.unwrap_or(0);
        }
    }

    /// How many routes have carried a canary weight of at least `weight`
    /// since the last reset.
    pub(super) fn reached(&self, weight: i64) -> usize {
        lock(&self.weights)
            .values()
            .filter(|seen| seen.highest >= weight)
            .count()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Follows `api`'s watch, calling `seen` with each object's name and the
/// object (`None` once deleted), and setting the `listed` flag after its
/// first list.
async fn follow(
    api: Api<DynamicObject>,
    view: Arc<View>,
    listed: fn(&View) -> &AtomicBool,
    seen: impl Fn(&View, String, Option<&DynamicObject>),
) {
    let mut events = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Apply(object) | watcher::Event::InitApply(object)) => {
                let name = object.metadata.name.clone().unwrap_or_default();
                seen(&view, name, Some(&object));
            }
            Ok(watcher::Event::Delete(object)) => {
                seen(
                    &view,
                    object.metadata.name.clone().unwrap_or_default(),
                    None,
                );
            }
            Ok(watcher::Event::InitDone) => listed(&view).store(true, Ordering::Release),
            Ok(watcher::Event::Init) => {}
            Err(e) => eprintln!("the benchmark's watch failed ({e}); watching again"),
        }
    }
}
