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
    /// a number, or a string holding a 32-bit number, is seconds; any other
    /// string is a Go duration such as `30s`, `5m`, `1h30m` or `1.5h`,
    /// truncated to whole seconds. `None` when Argo would reject it: a
    /// negative value, a string that is not a Go duration (Go has no `d` unit),
    /// or more seconds than a 32-bit number holds.
    ///
    /// ```
    /// use rollout_core::intstr::IntOrString;
    /// use std::time::Duration;
    /// assert_eq!(IntOrString::from(30).as_duration(), Some(Duration::from_secs(30)));
    /// assert_eq!(IntOrString::from("90").as_duration(), Some(Duration::from_secs(90)));
    /// assert_eq!(IntOrString::from("1h30m").as_duration(), Some(Duration::from_secs(5400)));
    /// assert_eq!(IntOrString::from("1.5h").as_duration(), Some(Duration::from_secs(5400)));
    /// assert_eq!(IntOrString::from("1d").as_duration(), None);
    /// assert_eq!(IntOrString::from("soon").as_duration(), None);
    /// ```
    pub fn as_duration(&self) -> Option<Duration> {
        let seconds = match self {
            Self::Int(n) => i32::try_from(*n).ok()?,
            // The common `<digits><s|m|h>` first: it is never a plain number.
            Self::String(s) => match simple_duration(s) {
                Some(d) => i32::try_from(d.as_secs()).ok()?,
                None => match s.parse::<i32>() {
                    Ok(n) => n,
                    Err(_) => i32::try_from(go_duration_nanos(s)? / 1_000_000_000).ok()?,
                },
            },
        };
        u64::try_from(seconds).ok().map(Duration::from_secs)
    }
}

/// The common case `<digits><s|m|h>` read directly; anything else is left to
/// the general parser.
fn simple_duration(s: &str) -> Option<Duration> {
    let scale = match s.as_bytes().last()? {
        b's' => 1,
        b'm' => 60,
        b'h' => 3600,
        _ => return None,
    };
    // The unit is one ASCII byte, so the digits end on a char boundary.
    let digits = &s[..s.len() - 1];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    n.checked_mul(scale).map(Duration::from_secs)
}

/// Go's `time.ParseDuration`, in nanoseconds: an optional sign, then one or
/// more `<number><unit>` with a decimal number (`1`, `1.5`, `.5`) and a unit
/// of `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h`; `"0"` alone is zero. `None`
/// on anything else or on overflow of 64-bit nanoseconds.
///
/// ```
/// use rollout_core::intstr::go_duration_nanos;
/// assert_eq!(go_duration_nanos("1m30s"), Some(90_000_000_000));
/// assert_eq!(go_duration_nanos("1.5h"), Some(5_400_000_000_000));
/// assert_eq!(go_duration_nanos("5"), None);
/// ```
pub fn go_duration_nanos(s: &str) -> Option<i64> {
    let (negative, mut rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after) = rest.split_at(int_len);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(a) => a.split_at(a.bytes().take_while(u8::is_ascii_digit).count()),
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        let unit_len = after
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(after.len(), |(i, _)| i);
        let (unit, after) = after.split_at(unit_len);
        let scale: u64 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        let whole: u64 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().ok()?
        };
        let mut value = whole.checked_mul(scale)?;
        // The fraction, digit by digit, as Go does (extra digits are dropped
        // once they no longer change the result).
        let mut unit_fraction = scale;
        for d in frac_part.bytes() {
            unit_fraction /= 10;
            value = value.checked_add(u64::from(d - b'0') * unit_fraction)?;
        }
        total = total.checked_add(value)?;
        rest = after;
    }
    let total = i64::try_from(total).ok()?;
    Some(if negative { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_without_sign_is_a_percentage() {
        assert_eq!(IntOrString::from("50").resolve(4, Rounding::Down), Ok(2));
    }

    #[test]
    fn a_duration_of_one_wide_character_is_no_duration() {
        // Found by the manifest fuzz target: `pause: {duration: Ȓ}` split
        // the text inside its one character and panicked.
        for text in ["\u{212}", "5\u{212}", "\u{212}s", "\u{3bc}", "1\u{3bc}"] {
            assert_eq!(IntOrString::from(text).as_duration(), None, "{text:?}");
        }
        assert_eq!(
            IntOrString::from("1\u{3bc}s").as_duration(),
            Some(Duration::ZERO)
        );
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
            let general = go_duration_nanos(s).map(|n| Duration::from_nanos(n as u64));
            assert_eq!(simple_duration(s), general, "{s}");
        }
        assert_eq!(simple_duration("1h30m"), None);
        assert_eq!(simple_duration("m"), None);
        assert_eq!(simple_duration("5d"), None);
    }

    #[test]
    fn go_duration_syntax() {
        let secs = |s: &str| go_duration_nanos(s).map(|n| n / 1_000_000_000);
        assert_eq!(secs("1h30m"), Some(5400));
        assert_eq!(secs("1.5h"), Some(5400));
        assert_eq!(secs(".5m"), Some(30));
        assert_eq!(secs("2m3.9s"), Some(123));
        assert_eq!(secs("0"), Some(0));
        assert_eq!(secs("-1s"), Some(-1));
        assert_eq!(secs("+7s"), Some(7));
        assert_eq!(go_duration_nanos("1500\u{b5}s"), Some(1_500_000));
        for bad in [
            "",
            "1",
            "1d",
            "1 h",
            "h",
            ".s",
            "1hh",
            "-",
            "1.5",
            "9999999999999h",
        ] {
            assert_eq!(go_duration_nanos(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn pause_durations_follow_argo() {
        assert_eq!(IntOrString::from("-5").as_duration(), None);
        assert_eq!(IntOrString::from("-5s").as_duration(), None);
        assert_eq!(
            IntOrString::from(i64::from(i32::MAX) + 1).as_duration(),
            None
        );
        assert_eq!(IntOrString::from("1w").as_duration(), None);
        assert_eq!(
            IntOrString::from("700000h").as_duration(),
            None,
            "beyond 32-bit seconds"
        );
    }

    #[test]
    fn sub_second_durations_truncate() {
        assert_eq!(
            IntOrString::from("1500ms").as_duration(),
            Some(Duration::from_secs(1))
        );
    }
}
