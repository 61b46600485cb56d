//! Kubernetes `IntOrString` values and the two ways Argo reads them:
//! int-or-percent (`maxSurge: 25%`) and pause durations (`pause: {duration: 1h}`).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A field that holds either a number or a string, as Kubernetes' `intstr.IntOrString`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    /// A plain number: `maxSurge: 1`, `duration: 30`.
    Int(i64),
    /// A string: `maxSurge: "25%"`, `duration: 5m`.
    String(String),
}

impl fmt::Display for IntOrString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(n) => write!(f, "{n}"),
            Self::String(s) => f.write_str(s),
        }
    }
}

impl From<i64> for IntOrString {
    fn from(n: i64) -> Self {
        Self::Int(n)
    }
}

impl From<&str> for IntOrString {
    fn from(s: &str) -> Self {
        Self::String(s.to_owned())
    }
}

/// How a value is rounded when a percentage is resolved against a total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// Round up (Argo's `maxSurge`).
    Up,
    /// Round down (Argo's `maxUnavailable`).
    Down,
}

/// Why an int-or-percent value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntOrPercentError {
    /// The value is negative.
    #[error("{0} is negative (expected a count or a percentage such as 25%)")]
    Negative(IntOrString),
    /// The string is not a number followed by an optional `%`.
    #[error("{0:?} is not a count or a percentage such as 25%")]
    NotAPercentage(String),
}

impl IntOrString {
    /// Resolves an int-or-percent against `total`, the way Argo resolves
    /// `maxSurge`/`maxUnavailable`: a number is taken as it is, a string is
    /// a percentage with or without the `%` sign (Argo's deprecated helper
    /// treats `"25"` as 25%), rounded as asked.
    ///
    /// ```
    /// use rollout_core::intstr::{IntOrString, Rounding};
    /// assert_eq!(IntOrString::from("25%").resolve(10, Rounding::Up), Ok(3));
    /// assert_eq!(IntOrString::from("25%").resolve(10, Rounding::Down), Ok(2));
    /// assert_eq!(IntOrString::from(1).resolve(10, Rounding::Up), Ok(1));
    /// assert!(IntOrString::from("a lot").resolve(10, Rounding::Up).is_err());
    /// ```
    pub fn resolve(&self, total: i32, rounding: Rounding) -> Result<i32, IntOrPercentError> {
        match self {
            Self::Int(n) if *n < 0 => Err(IntOrPercentError::Negative(self.clone())),
            Self::Int(n) => Ok(i32::try_from(*n).unwrap_or(i32::MAX)),
            Self::String(s) => {
                let digits = s.strip_suffix('%').unwrap_or(s);
                let pct: i64 = digits
                    .parse()
                    .map_err(|_| IntOrPercentError::NotAPercentage(s.clone()))?;
                if pct < 0 {
                    return Err(IntOrPercentError::Negative(self.clone()));
                }
                let scaled = pct.saturating_mul(i64::from(total));
                let value = match rounding {
                    Rounding::Up => scaled.saturating_add(99) / 100,
                    Rounding::Down => scaled / 100,
                };
                Ok(i32::try_from(value).unwrap_or(i32::MAX))
            }
        }
    }

    /// Reads a pause duration the way Argo does (`RolloutPause.DurationSeconds`):
    /// a number, or a string holding a number, is seconds; any other string is a
    /// duration such as `30s`, `5m`, `1h30m`, truncated to whole seconds.
    /// `None` when the value is negative or not a duration.
    ///
    /// ```
    /// use rollout_core::intstr::IntOrString;
    /// use std::time::Duration;
    /// assert_eq!(IntOrString::from(30).as_duration(), Some(Duration::from_secs(30)));
    /// assert_eq!(IntOrString::from("90").as_duration(), Some(Duration::from_secs(90)));
    /// assert_eq!(IntOrString::from("1h30m").as_duration(), Some(Duration::from_secs(5400)));
    /// assert_eq!(IntOrString::from("soon").as_duration(), None);
    /// ```
    pub fn as_duration(&self) -> Option<Duration> {
        match self {
            Self::Int(n) => u64::try_from(*n).ok().map(Duration::from_secs),
            Self::String(s) => {
                if let Ok(n) = s.parse::<i64>() {
                    return u64::try_from(n).ok().map(Duration::from_secs);
                }
                if let Some(d) = simple_duration(s) {
                    return Some(d);
                }
                humantime::parse_duration(s)
                    .ok()
                    .map(|d| Duration::from_secs(d.as_secs()))
            }
        }
    }
}

/// The common case `<digits><s|m|h>` read directly, without the general
/// parser; anything else is left to it.
fn simple_duration(s: &str) -> Option<Duration> {
    let (digits, unit) = s.split_at(s.len().checked_sub(1)?);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return None,
    };
    n.checked_mul(scale).map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_without_sign_is_a_percentage() {
        assert_eq!(IntOrString::from("50").resolve(4, Rounding::Down), Ok(2));
    }

    #[test]
    fn negative_values_are_errors() {
        assert!(IntOrString::from(-1).resolve(4, Rounding::Up).is_err());
        assert!(IntOrString::from("-5%").resolve(4, Rounding::Up).is_err());
        assert_eq!(IntOrString::from(-1).as_duration(), None);
    }

    #[test]
    fn the_fast_path_agrees_with_the_general_parser() {
        for s in ["0s", "30s", "5m", "1h", "90m", "48h", "007s"] {
            assert_eq!(simple_duration(s), humantime::parse_duration(s).ok(), "{s}");
        }
        assert_eq!(simple_duration("1h30m"), None);
        assert_eq!(simple_duration("m"), None);
        assert_eq!(simple_duration("5d"), None);
    }

    #[test]
    fn sub_second_durations_truncate() {
        assert_eq!(
            IntOrString::from("1500ms").as_duration(),
            Some(Duration::from_secs(1))
        );
    }
}
