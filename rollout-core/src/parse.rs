//! Reading a Rollout from JSON with errors that name the field.

use crate::error::{Error, FieldError};
use crate::spec::Rollout;

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
                field: FieldError::new(path, e.inner().to_string()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_canary_field_is_named_with_its_path() {
        let doc = json!({"spec": {"strategy": {"canary": {"stepz": []}}}});
        let err = Rollout::from_value(doc, "r.yaml").unwrap_err().to_string();
        assert!(
            err.starts_with("r.yaml: spec.strategy.canary.stepz: unknown field `stepz`"),
            "{err}"
        );
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
