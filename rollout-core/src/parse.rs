//! Reading a Rollout from JSON with errors that name the field.

use serde::de::DeserializeOwned;

use crate::error::{Error, FieldError};
use crate::spec::Rollout;

/// Reads `T` from a JSON value as strictly as a Rollout is read: the error
/// names the first offending field relative to `value` (`templates[0].specRef`;
/// empty for `value` itself) and says what was expected, in plain words.
/// The one reader of the blocks kept as written and typed later: a step's
/// `experiment` here, an Experiment's `spec` in the controller.
///
/// ```
/// use rollout_core::read_strict;
/// let err = read_strict::<Vec<u8>>(&serde_json::json!([1, "two"])).unwrap_err();
/// assert_eq!(err.path, "[1]");
/// assert_eq!(read_strict::<Vec<u8>>(&serde_json::json!([1, 2])).unwrap(), [1, 2]);
/// ```
pub fn read_strict<T: DeserializeOwned>(value: &serde_json::Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        FieldError::new(path, plain_words(&e.inner().to_string()))
    })
}

impl Rollout {
    /// Reads a Rollout from a JSON value (a YAML document converted to JSON
    /// works the same). `object` names the source in errors, e.g. a file name.
    ///
    /// ```
    /// use rollout_core::Rollout;
    /// let doc = serde_json::json!({
    ///     "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
    ///     "metadata": {"name": "web"},
    ///     "spec": {"strategy": {"canary": {"steps": [{"setWeight": 20, "pause": {}}]}}}
    /// });
    /// let err = Rollout::from_value(doc, "web.yaml").unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "web.yaml: spec.strategy.canary.steps[0]: a step may set only one of setWeight, \
    ///      pause, experiment, analysis; this one sets setWeight and pause"
    /// );
    /// ```
    pub fn from_value(value: serde_json::Value, object: &str) -> Result<Self, Error> {
        Self::deserialize_from(value, object)
    }

    /// Reads a Rollout from JSON text; see [`Rollout::from_value`].
    pub fn from_json(text: &str, object: &str) -> Result<Self, Error> {
        let mut de = serde_json::Deserializer::from_str(text);
        Self::deserialize_from(&mut de, object)
    }

    /// Reads a Rollout from any serde deserializer (for example a YAML one),
    /// keeping the path of the first offending field.
    pub fn deserialize_from<'de, D>(de: D, object: &str) -> Result<Self, Error>
    where
        D: serde::Deserializer<'de>,
        D::Error: std::fmt::Display,
    {
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            Error::Parse {
                object: object.to_owned(),
                field: FieldError::new(path, plain_words(&e.inner().to_string())),
            }
        })
    }

    /// `<namespace>/<name>` (namespace `default` when unset), for messages.
    pub fn object_name(&self) -> String {
        format!(
            "{}/{}",
            self.metadata.namespace.as_deref().unwrap_or("default"),
            self.metadata.name
        )
    }
}

/// Rewrites serde's messages in the words of someone who writes Kubernetes
/// YAML: no Rust type names (`i32`, `struct RolloutSpec`, `a map`), the
/// value found quoted as it was written. Other crates that read
/// configuration with serde use it for the same words.
///
/// ```
/// assert_eq!(
///     rollout_core::plain_words("invalid type: string \"ten\", expected f64"),
///     "expected a number, found the string \"ten\""
/// );
/// ```
pub fn plain_words(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("invalid type: ")
        && let Some((found, expected)) = rest.split_once(", expected ")
    {
        return format!(
            "expected {}, found {}",
            expected_words(expected),
            found_words(found)
        );
    }
    if let Some(rest) = message.strip_prefix("invalid value: ")
        && let Some((found, expected)) = rest.split_once(", expected ")
    {
        return format!(
            "expected {}, found {}",
            expected_words(expected),
            found_words(found)
        );
    }
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((field, known)) = rest.split_once('`')
    {
        let known = known
            .trim_start_matches(", expected one of ")
            .trim_start_matches(", expected ")
            .replace('`', "");
        return if known.starts_with(", there are no fields") {
            format!("unknown field \"{field}\" (this object has no fields)")
        } else {
            format!("unknown field \"{field}\" (known fields: {known})")
        };
    }
    if let Some(rest) = message.strip_prefix("unknown variant `")
        && let Some((v, known)) = rest.split_once('`')
    {
        let known = known
            .trim_start_matches(", expected one of ")
            .trim_start_matches(", expected ")
            .replace('`', "\"");
        return format!("\"{v}\" is not one of {known}");
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        return format!("the field \"{}\" is required", rest.trim_end_matches('`'));
    }
    if let Some(rest) = message.strip_prefix("duplicate field `") {
        return format!("the field \"{}\" is set twice", rest.trim_end_matches('`'));
    }
    if message.starts_with("data did not match any variant of untagged enum IntOrString") {
        return "expected a number or a string (such as 25% or 30s)".to_owned();
    }
    if let Some(rest) = message.strip_prefix("invalid length ")
        && let Some((n, expected)) = rest.split_once(", expected ")
    {
        return format!("expected {}, found {n} items", expected_words(expected));
    }
    message.to_owned()
}

/// serde's description of an expected type, in YAML terms.
fn expected_words(expected: &str) -> String {
    let range = |lo: &str, hi: &str| format!("an integer from {lo} to {hi}");
    match expected {
        "i8" => range("-128", "127"),
        "i16" => range("-32768", "32767"),
        "i32" => range("-2147483648", "2147483647"),
        "i64" | "i128" | "isize" => "an integer".to_owned(),
        "u8" => range("0", "255"),
        "u16" => range("0", "65535"),
        "u32" => range("0", "4294967295"),
        "u64" | "u128" | "usize" => "an integer of 0 or more".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        "a boolean" | "bool" => "true or false".to_owned(),
        "a string" | "a borrowed string" | "a character" | "char" => "a string".to_owned(),
        "a sequence" => "a list".to_owned(),
        "a map" => "a mapping (field: value)".to_owned(),
        "unit" => "nothing (null)".to_owned(),
        e if e.starts_with("struct ") || e.starts_with("a map ") => {
            "a mapping (field: value)".to_owned()
        }
        e if e.starts_with("enum ") || e.starts_with("variant identifier") => {
            "one of the documented values".to_owned()
        }
        e if e.starts_with("tuple") || e.starts_with("a sequence ") => "a list".to_owned(),
        e => e.to_owned(),
    }
}

/// serde's description of the value found, as the user wrote it.
fn found_words(found: &str) -> String {
    let quoted = |prefix: &str| {
        found
            .strip_prefix(prefix)
            .map(|v| v.trim_matches('`').to_owned())
    };
    if let Some(s) = found.strip_prefix("string ") {
        return format!("the string {s}");
    }
    if let Some(v) = quoted("integer ")
        .or_else(|| quoted("floating point "))
        .or_else(|| quoted("boolean "))
    {
        return v;
    }
    match found {
        "map" => "a mapping".to_owned(),
        "sequence" => "a list".to_owned(),
        "unit value" | "null" | "Option value" => "null".to_owned(),
        f => f.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_canary_field_is_named_with_its_path() {
        let doc = json!({"spec": {"strategy": {"canary": {"stepz": []}}}});
        let err = Rollout::from_value(doc, "r.yaml").unwrap_err().to_string();
        assert!(
            err.starts_with(
                "r.yaml: spec.strategy.canary.stepz: unknown field \"stepz\" (known fields: "
            ),
            "{err}"
        );
    }

    #[test]
    fn messages_name_no_rust_types() {
        let cases = [
            (
                json!({"spec": {"replicas": "three"}}),
                "spec.replicas: expected an integer from -2147483648 to 2147483647, found the string \"three\"",
            ),
            (
                json!({"spec": {"replicas": 3_000_000_000_u64}}),
                "spec.replicas: expected an integer from -2147483648 to 2147483647, found 3000000000",
            ),
            (
                json!({"spec": {"paused": "no"}}),
                "spec.paused: expected true or false, found the string \"no\"",
            ),
            (
                json!({"spec": {"strategy": {"canary": {"steps": {"setWeight": 5}}}}}),
                "spec.strategy.canary.steps: expected a list, found a mapping",
            ),
            (
                json!({"spec": {"strategy": {"canary": {"maxSurge": [1]}}}}),
                "spec.strategy.canary.maxSurge: expected a number or a string (such as 25% or 30s)",
            ),
            (
                json!({"metadata": {"name": "x"}}),
                "the field \"spec\" is required",
            ),
        ];
        for (doc, want) in cases {
            let err = Rollout::from_value(doc, "r.yaml").unwrap_err().to_string();
            assert_eq!(err, format!("r.yaml: {want}"));
            for rust in ["i32", "u32", "i64", "struct", "a map,", "sequence"] {
                assert!(!err.contains(rust), "{err}");
            }
        }
    }

    #[test]
    fn bad_int_or_percent_type_is_named() {
        let doc = json!({"spec": {"strategy": {"canary": {"maxSurge": [1]}}}});
        let err = Rollout::from_value(doc, "r.yaml").unwrap_err().to_string();
        assert!(err.contains("spec.strategy.canary.maxSurge"), "{err}");
    }

    #[test]
    fn status_and_metadata_are_lenient() {
        let doc = json!({"metadata": {"name": "a", "managedFields": []},
            "spec": {}, "status": {"someFutureField": 1, "phase": "Healthy"}});
        let r = Rollout::from_value(doc, "r").unwrap();
        assert_eq!(r.metadata.name, "a");
    }
}
