//! Readers for the fields of `status` that other parties write freely:
//! `null` reads as the default, an unknown phase as none, a number where a
//! string belongs as its digits.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer};

use super::Phase;

/// `null` reads as the default, as Go's JSON decoder reads it.
pub(super) fn or_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A known phase, or `None` for an unknown one (or `null`).
pub(super) fn known_phase<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Phase>, D::Error> {
    let s = Option::<Cow<'de, str>>::deserialize(d)?;
    Ok(match s.as_deref() {
        Some("Healthy") => Some(Phase::Healthy),
        Some("Progressing") => Some(Phase::Progressing),
        Some("Paused") => Some(Phase::Paused),
        Some("Degraded") => Some(Phase::Degraded),
        _ => None,
    })
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StringOrNumber<'a> {
    String(Cow<'a, str>),
    Number(i64),
}

/// A string, or a number read as its decimal digits.
pub(super) fn string_or_number<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    Ok(
        Option::<StringOrNumber<'de>>::deserialize(d)?.map(|v| match v {
            StringOrNumber::String(s) => s.into_owned(),
            StringOrNumber::Number(n) => n.to_string(),
        }),
    )
}
