//! Points in time, as values.
//!
//! The engine never reads a clock: the caller passes `now` into
//! [`decide`](crate::decide). Kubernetes stores times as RFC 3339 strings with
//! second precision (`metav1.Time`), so a [`Time`] is a whole number of
//! seconds since the Unix epoch and (de)serializes as `2026-11-22T05:00:00Z`.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time with second precision, as Kubernetes records it.
///
/// ```
/// use rollout_core::Time;
/// let t: Time = "2026-11-22T05:00:00Z".parse().unwrap();
/// assert_eq!(t.to_string(), "2026-11-22T05:00:00Z");
/// assert_eq!((t + std::time::Duration::from_secs(90)).to_string(), "2026-11-22T05:01:30Z");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(u64);

impl Time {
    /// The time `secs` seconds after 1970-01-01T00:00:00Z.
    pub const fn from_unix_seconds(secs: u64) -> Self {
        Self(secs)
    }

    /// Seconds since 1970-01-01T00:00:00Z.
    pub const fn unix_seconds(self) -> u64 {
        self.0
    }

    /// The time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Self) -> Duration {
        Duration::from_secs(self.0.saturating_sub(earlier.0))
    }

    /// Converts a [`SystemTime`], truncating to whole seconds (times before
    /// 1970 become the epoch). This is how a controller turns its clock into
    /// the engine's `now`.
    pub fn from_system_time(t: SystemTime) -> Self {
        Self(t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
    }
}

impl std::ops::Add<Duration> for Time {
    type Output = Self;
    fn add(self, rhs: Duration) -> Self {
        Self(self.0.saturating_add(rhs.as_secs()))
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = UNIX_EPOCH + Duration::from_secs(self.0);
        write!(f, "{}", humantime::format_rfc3339_seconds(t))
    }
}

/// A string that is not an RFC 3339 time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an RFC 3339 time (expected e.g. 2026-11-22T05:00:00Z)")]
pub struct ParseTimeError(String);

impl FromStr for Time {
    type Err = ParseTimeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        humantime::parse_rfc3339_weak(s.trim_end_matches('Z').trim_end_matches("+00:00"))
            .or_else(|_| humantime::parse_rfc3339(s))
            .map(Self::from_system_time)
            .map_err(|_| ParseTimeError(s.to_owned()))
    }
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_rfc3339() {
        for s in ["1970-01-01T00:00:00Z", "2026-11-22T05:17:34Z"] {
            assert_eq!(s.parse::<Time>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn accepts_fractional_seconds_and_truncates() {
        let t: Time = "2026-11-22T05:17:34.999Z".parse().unwrap();
        assert_eq!(t.to_string(), "2026-11-22T05:17:34Z");
    }

    #[test]
    fn rejects_garbage() {
        let err = "yesterday".parse::<Time>().unwrap_err();
        assert!(err.to_string().contains("\"yesterday\""));
    }
}
