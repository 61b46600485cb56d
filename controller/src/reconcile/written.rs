//! The resourceVersion of this controller's last write to each object, so
//! that a reconcile on a watch cache that has not seen that write yet waits
//! instead of writing the same thing again.
//!
//! A write is remembered only until the cache is seen to have caught up
//! with it: a watch never goes back to an older version of an object (a
//! re-list reads the newest), so past that point the entry would only say
//! "not stale" forever. Settled objects therefore cost nothing here, and
//! the map holds only the writes still in flight.

use std::collections::HashMap;
use std::sync::Mutex;

/// (kind, namespace, name) of a written object.
type Key = (&'static str, String, String);

/// Our last writes not yet seen in the caches.
#[derive(Debug, Default)]
pub(super) struct Written(Mutex<HashMap<Key, u64>>);

impl Written {
    /// Remembers that we wrote `kind` `namespace/name` and the API server
    /// answered with `version` (nothing when it is not a number: it cannot
    /// be compared).
    pub(super) fn record(
        &self,
        kind: &'static str,
        namespace: &str,
        name: &str,
        version: Option<&str>,
    ) {
        if let (Ok(mut written), Some(v)) = (self.0.lock(), version.and_then(|v| v.parse().ok())) {
            written.insert((kind, namespace.to_owned(), name.to_owned()), v);
        }
    }

    /// Whether the cached `version` of an object is older than our last
    /// write to it; when it is not, the write is forgotten.
    pub(super) fn stale(
        &self,
        kind: &'static str,
        namespace: &str,
        name: &str,
        version: Option<&str>,
    ) -> bool {
        let Some(cached) = version.and_then(|v| v.parse::<u64>().ok()) else {
            return false;
        };
        let Ok(mut written) = self.0.lock() else {
            return false;
        };
        let key = (kind, namespace.to_owned(), name.to_owned());
        match written.get(&key) {
            Some(&last) if cached < last => true,
            Some(_) => {
                written.remove(&key);
                false
            }
            None => false,
        }
    }

    /// How many writes are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().map(|w| w.len()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_behind_our_write_is_stale_until_it_catches_up() {
        let written = Written::default();
        written.record("ReplicaSet", "shop", "web-abc", Some("12"));
        assert!(written.stale("ReplicaSet", "shop", "web-abc", Some("11")));
        assert!(
            !written.stale("Service", "shop", "web-abc", Some("11")),
            "another kind"
        );
        assert!(
            !written.stale("ReplicaSet", "shop", "web-def", Some("11")),
            "another object"
        );
        assert_eq!(written.len(), 1, "still waiting for the cache");
        assert!(!written.stale("ReplicaSet", "shop", "web-abc", Some("12")));
        assert_eq!(written.len(), 0, "caught up: forgotten");
        assert!(!written.stale("ReplicaSet", "shop", "web-abc", Some("11")));
    }

    #[test]
    fn versions_that_are_not_numbers_are_not_compared() {
        let written = Written::default();
        written.record("Rollout", "shop", "web", Some("not-a-number"));
        written.record("Rollout", "shop", "api", None);
        assert_eq!(written.len(), 0);
        written.record("Rollout", "shop", "web", Some("7"));
        assert!(!written.stale("Rollout", "shop", "web", Some("seven")));
        assert!(!written.stale("Rollout", "shop", "web", None));
        assert_eq!(written.len(), 1, "nothing to compare: kept");
    }
}
