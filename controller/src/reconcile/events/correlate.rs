//! What becomes of an event before it is written, as client-go's event
//! correlator decides it (`k8s.io/client-go/tools/record/events_cache.go`,
//! the recorder Argo's controller uses), in three stages:
//!
//! 1. **Aggregation.** Events alike but for their message (same object,
//!    type, reason and source) are counted by message. An event whose
//!    message makes the tenth distinct one within 10 minutes of the last
//!    such event becomes one combined event, "(combined from similar
//!    events): <its message>", kept under a key without the message: from
//!    then on each new message is a further occurrence of that combined
//!    event. The window slides: every similar event restarts it.
//! 2. **Deduplication.** An event identical to one seen before (same object,
//!    type, reason, message and source) is a patch of that Event's `count`,
//!    `lastTimestamp` and `message`, not a new Event. There is no time
//!    limit but the cache's size.
//! 3. **Spam filter.** Each object has a token bucket per event type and
//!    source: 25 events at once, then one more every 5 minutes. An event
//!    past it is dropped, after stages 1 and 2 counted it (as client-go's
//!    does: the next identical event's count takes the dropped ones in).
//!
//! Every cache is an LRU of 4096 entries, so memory is bounded whatever the
//! number of objects.
//!
//! Four details differ from client-go, none visible in what is written:
//! a key is a 128-bit keyed hash of its parts ([`KeyHasher`]) instead of
//! their text, and a message counted for aggregation is kept as its hash,
//! so that full caches hold about 1.8 MB instead of about 4.6 MB (the
//! texts were 150 to 300 bytes per key); the parts are hashed with their
//! lengths (client-go joins them with nothing, so "ab"+"c" and "a"+"bc"
//! collide); an identity key and an aggregate key never meet, though both
//! kinds share the cache of written Events (client-go's texts could
//! coincide); and once ten messages are counted the least recently seen is
//! forgotten (client-go forgets one at random).

use std::collections::VecDeque;
use std::hash::Hasher;
use std::num::NonZeroUsize;

use hashlink::LruCache;
use k8s_openapi::api::core::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value};
use siphasher::sip128::{Hasher128, SipHasher13};

/// Entries per cache, as client-go's `maxLruCacheEntries`.
pub(crate) const CACHE_ENTRIES: usize = 4096;
/// Distinct messages of similar events before they are combined.
pub(crate) const AGGREGATE_MAX_EVENTS: usize = 10;
/// How long after the last similar event the messages are still counted.
pub(crate) const AGGREGATE_WINDOW: SignedDuration = SignedDuration::from_secs(600);
/// Events an object may have at once before the spam filter drops any.
pub(crate) const SPAM_BURST: f64 = 25.0;
/// Events per second the spam filter lets through after the burst (one per
/// 5 minutes).
pub(crate) const SPAM_REFILL_PER_SECOND: f64 = 1.0 / 300.0;

/// The prefix of a combined event's message.
pub(crate) const COMBINED_PREFIX: &str = "(combined from similar events): ";

/// What to write for one event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Correlated {
    /// A new Event.
    Create(Event),
    /// A strategic merge patch of the Event named in `event` (its `count`,
    /// `lastTimestamp` and `message`); `event` is the Event as it should
    /// then stand, to create instead when it is gone.
    Patch { event: Event, patch: Value },
    /// Nothing: the spam filter dropped it.
    Skip,
}

/// The messages counted for similar events (their hashes, least recently
/// seen first).
struct Aggregate {
    messages: VecDeque<Key>,
    last: Timestamp,
}

/// A cache key: the hash of its parts.
type Key = u128;

/// Hashes keys and messages with SipHash-1-3 (128 bits) under a key drawn
/// at random for each correlator, so that no object's name or message can
/// be chosen to share a key with another's; two different keys share a
/// hash with a probability of about 2^-128.
#[derive(Clone, Copy)]
struct KeyHasher(u64, u64);

impl KeyHasher {
    fn random() -> Self {
        match (getrandom::u64(), getrandom::u64()) {
            (Ok(a), Ok(b)) => Self(a, b),
            (Err(e), _) | (_, Err(e)) => {
                // Still a good hash of the parts, only a predictable one.
                tracing::warn!(error = %e, "no randomness for the event correlator's keys: fixed keys");
                Self(0x5eed, 0xc0ffee)
            }
        }
    }

    /// The key of `parts`, tagged with its `kind` so that keys of different
    /// caches or stages never meet. Each part is hashed with its length; a
    /// missing part is an empty one, as in client-go (whose parts are
    /// strings, empty when unset), so an Event read back without a field
    /// sent empty keeps its key.
    fn key(self, kind: u8, parts: &[Option<&str>]) -> Key {
        let mut hasher = SipHasher13::new_with_keys(self.0, self.1);
        hasher.write_u8(kind);
        for part in parts {
            let text = part.unwrap_or_default();
            hasher.write_usize(text.len());
            hasher.write(text.as_bytes());
        }
        hasher.finish128().as_u128()
    }
}

/// The Event last written for an identical event.
#[derive(Clone)]
struct Observation {
    count: i32,
    first_timestamp: Option<Time>,
    name: Option<String>,
    resource_version: Option<String>,
}

/// A token bucket that fills as time passes (client-go's passive rate
/// limiter: full at first, never above its burst).
struct TokenBucket {
    tokens: f64,
    last: Timestamp,
}

impl TokenBucket {
    fn try_accept(&mut self, now: Timestamp) -> bool {
        let elapsed = now.duration_since(self.last).as_secs_f64().max(0.0);
        self.tokens = (self.tokens + elapsed * SPAM_REFILL_PER_SECOND).min(SPAM_BURST);
        self.last = self.last.max(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The correlator's caches; one per recorder.
pub(crate) struct Correlator {
    hasher: KeyHasher,
    aggregates: LruCache<Key, Aggregate>,
    observations: LruCache<Key, Observation>,
    spam: LruCache<Key, TokenBucket>,
}

impl Default for Correlator {
    fn default() -> Self {
        Self::with_capacity(NonZeroUsize::new(CACHE_ENTRIES).expect("4096 is not zero"))
    }
}

impl Correlator {
    /// A correlator whose caches keep `capacity` entries each.
    pub(crate) fn with_capacity(capacity: NonZeroUsize) -> Self {
        Self {
            hasher: KeyHasher::random(),
            aggregates: LruCache::new(capacity.get()),
            observations: LruCache::new(capacity.get()),
            spam: LruCache::new(capacity.get()),
        }
    }

    /// Decides what to write for `event` (a new Event of count 1, as the
    /// recorder makes it) at `now`, and remembers it.
    pub(crate) fn correlate(&mut self, event: Event, now: Timestamp) -> Correlated {
        let (event, key) = self.aggregate(event, now);
        let (event, patch) = self.observe(event, key);
        if !self.accept(&event, now) {
            return Correlated::Skip;
        }
        match patch {
            Some(patch) => Correlated::Patch { event, patch },
            None => Correlated::Create(event),
        }
    }

    /// Remembers the Event the API server returned for a write, so that
    /// the next identical event patches it.
    pub(crate) fn written(&mut self, event: &Event) {
        self.observations.insert(
            event_key(self.hasher, event),
            Observation {
                count: event.count.unwrap_or_default(),
                first_timestamp: event.first_timestamp.clone(),
                name: event.metadata.name.clone(),
                resource_version: event.metadata.resource_version.clone(),
            },
        );
    }

    /// Stage 1: the event itself and its identity key, or the combined
    /// event and the key of its kind.
    fn aggregate(&mut self, event: Event, now: Timestamp) -> (Event, Key) {
        let key = aggregate_key(self.hasher, &event);
        let message = event.message.clone().unwrap_or_default();
        let mut aggregate = self
            .aggregates
            .remove(&key)
            .filter(|aggregate| now.duration_since(aggregate.last) <= AGGREGATE_WINDOW)
            .unwrap_or_else(|| Aggregate {
                messages: VecDeque::new(),
                last: now,
            });
        // A message seen again becomes the newest (the one forgotten at ten
        // is the least recently seen).
        let counted = self.hasher.key(MESSAGE, &[Some(&message)]);
        if let Some(at) = aggregate.messages.iter().position(|m| *m == counted) {
            aggregate.messages.remove(at);
        }
        aggregate.messages.push_back(counted);
        aggregate.last = now;
        let combine = aggregate.messages.len() >= AGGREGATE_MAX_EVENTS;
        if combine {
            aggregate.messages.pop_front();
        }
        self.aggregates.insert(key, aggregate);
        if !combine {
            let identity = event_key(self.hasher, &event);
            return (event, identity);
        }
        let now = Time(now);
        let combined = Event {
            metadata: ObjectMeta {
                name: Some(event_name(&event, now.0)),
                namespace: event.metadata.namespace.clone(),
                ..Default::default()
            },
            message: Some(format!("{COMBINED_PREFIX}{message}")),
            count: Some(1),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            ..event
        };
        (combined, key)
    }

    /// Stage 2: the event as a further occurrence of the one last written
    /// under `key` (and the patch that makes it so), or as it is.
    fn observe(&mut self, mut event: Event, key: Key) -> (Event, Option<Value>) {
        let last = self.observations.get(&key).cloned();
        let patch = match last {
            Some(last) if last.count > 0 => {
                event.metadata.name = last.name;
                event.metadata.resource_version = last.resource_version;
                event.first_timestamp = last.first_timestamp;
                event.count = Some(last.count.saturating_add(1));
                Some(count_patch(&event))
            }
            _ => None,
        };
        self.observations.insert(
            key,
            Observation {
                count: event.count.unwrap_or_default(),
                first_timestamp: event.first_timestamp.clone(),
                name: event.metadata.name.clone(),
                resource_version: event.metadata.resource_version.clone(),
            },
        );
        (event, patch)
    }

    /// Stage 3: whether the object's bucket lets the event through.
    fn accept(&mut self, event: &Event, now: Timestamp) -> bool {
        let key = spam_key(self.hasher, event);
        if let Some(bucket) = self.spam.get_mut(&key) {
            return bucket.try_accept(now);
        }
        let mut bucket = TokenBucket {
            tokens: SPAM_BURST,
            last: now,
        };
        let accepted = bucket.try_accept(now);
        self.spam.insert(key, bucket);
        accepted
    }
}

/// `<object name>.<nanoseconds since the epoch, in hex>`, as client-go
/// names an Event.
pub(crate) fn event_name(event: &Event, at: Timestamp) -> String {
    format!(
        "{}.{:x}",
        event.involved_object.name.as_deref().unwrap_or_default(),
        at.as_nanosecond()
    )
}

/// The patch client-go sends for a repeated event: what differs from the
/// Event with no count, no message and a last timestamp at the epoch.
fn count_patch(event: &Event) -> Value {
    let mut patch = Map::new();
    if let Some(count) = event.count.filter(|c| *c != 0) {
        patch.insert("count".into(), count.into());
    }
    if let Some(last) = &event.last_timestamp {
        patch.insert(
            "lastTimestamp".into(),
            serde_json::to_value(last).unwrap_or(Value::Null),
        );
    }
    if let Some(message) = event.message.as_deref().filter(|m| !m.is_empty()) {
        patch.insert("message".into(), message.into());
    }
    Value::Object(patch)
}

/// The kinds of keys, so that the keys of different stages never meet.
const IDENTITY: u8 = 0;
const SIMILAR: u8 = 1;
const SPAM: u8 = 2;
const MESSAGE: u8 = 3;

/// An event's source, object and type, the parts every key starts with.
fn object_parts(event: &Event) -> [Option<&str>; 7] {
    let source = event.source.as_ref();
    let object = &event.involved_object;
    [
        source.and_then(|s| s.component.as_deref()),
        source.and_then(|s| s.host.as_deref()),
        object.kind.as_deref(),
        object.namespace.as_deref(),
        object.name.as_deref(),
        object.uid.as_deref(),
        object.api_version.as_deref(),
    ]
}

/// Identical events share this key (client-go's `getEventKey`).
fn event_key(hasher: KeyHasher, event: &Event) -> Key {
    let mut parts = object_parts(event).to_vec();
    parts.extend([
        event.involved_object.field_path.as_deref(),
        event.type_.as_deref(),
        event.reason.as_deref(),
        event.message.as_deref(),
    ]);
    hasher.key(IDENTITY, &parts)
}

/// Similar events share this key (client-go's
/// `EventAggregatorByReasonFunc`, without the message).
fn aggregate_key(hasher: KeyHasher, event: &Event) -> Key {
    let mut parts = object_parts(event).to_vec();
    parts.extend([
        event.type_.as_deref(),
        event.reason.as_deref(),
        event.reporting_component.as_deref(),
        event.reporting_instance.as_deref(),
    ]);
    hasher.key(SIMILAR, &parts)
}

/// Events of one object, type and source share this key (client-go's
/// `getSpamKey`).
fn spam_key(hasher: KeyHasher, event: &Event) -> Key {
    let mut parts = object_parts(event).to_vec();
    parts.push(event.type_.as_deref());
    hasher.key(SPAM, &parts)
}

#[cfg(test)]
#[path = "correlate_tests.rs"]
mod tests;
