//! Reading Rollouts from YAML files, with one-line errors that name the file and field.

use std::path::Path;

use anyhow::{Context, bail};
use rollout_core::Rollout;
use serde::Deserialize;

/// Reads every `kind: Rollout` document of a (possibly multi-document) YAML file.
pub(crate) fn rollouts(path: &Path) -> anyhow::Result<Vec<Rollout>> {
    rollouts_from_str(&read(path)?, &path.display().to_string())
}

/// The text of a file, or an error naming it.
pub(crate) fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read the file", path.display()))
}

/// Reads every `kind: Rollout` document of YAML text; `source` names it in errors.
pub(crate) fn rollouts_from_str(text: &str, source: &str) -> anyhow::Result<Vec<Rollout>> {
    let mut found = Vec::new();
    for (i, value) in documents(text, source)? {
        if value.get("kind").and_then(|k| k.as_str()) != Some("Rollout") {
            continue;
        }
        let label = if i == 0 {
            source.to_owned()
        } else {
            format!("{source} (document {})", i + 1)
        };
        found.push(Rollout::from_value(value, &label)?);
    }
    if found.is_empty() {
        bail!("{source}: no document of kind Rollout");
    }
    Ok(found)
}

/// Every non-empty document of YAML text with its position (0 for the
/// first); `source` names the text in errors.
pub(crate) fn documents(
    text: &str,
    source: &str,
) -> anyhow::Result<Vec<(usize, serde_json::Value)>> {
    let mut found = Vec::new();
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = serde_json::Value::deserialize(doc)
            .map_err(|e| anyhow::anyhow!("{source}: not valid YAML: {e}"))?;
        if !value.is_null() {
            found.push((i, value));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_yaml_names_the_file_and_position() {
        let err = rollouts_from_str("kind: Rollout\nspec: [\n", "r.yaml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("r.yaml: not valid YAML:"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }

    #[test]
    fn skips_other_kinds_in_a_multi_document_file() {
        let text = "kind: Service\nmetadata: {name: s}\n---\nkind: Rollout\nmetadata: {name: r}\nspec: {}\n";
        let found = rollouts_from_str(text, "app.yaml").unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].metadata.name, "r");
    }

    #[test]
    fn a_file_without_rollouts_is_an_error() {
        let err = rollouts_from_str("kind: Service\n", "s.yaml").unwrap_err();
        assert_eq!(err.to_string(), "s.yaml: no document of kind Rollout");
    }
}
