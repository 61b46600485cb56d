//! Reading Kubernetes objects from YAML files as users and `kubectl` write
//! them, with the line of every field (feature `yaml`).
//!
//! A file may hold several documents (`---`), `kind: List` objects (what
//! `kubectl get -o yaml` prints; each item is read as an object), anchors,
//! aliases and merge keys (`<<: *defaults`), and start with a UTF-8 byte
//! order mark. A key written twice in one mapping is an error naming the key
//! and both lines. Reading is linear in the size of the input; [`Limits`]
//! caps the size, the nesting depth and what aliases may expand to, so a
//! hostile file is refused in milliseconds.
//!
//! Every problem is a [`Diagnostic`]: `FILE:LINE: namespace/name:
//! field.path: message`.
//!
//! ```
//! use rollout_core::manifest;
//! let text = "\
//! apiVersion: argoproj.io/v1alpha1
//! kind: Rollout
//! metadata: {name: web}
//! spec:
//!   strategy:
//!     canary:
//!       steps:
//!       - setWeight: 20
//!       - setWeight: twenty
//! ";
//! let objects = manifest::read(text, "web.yaml").unwrap();
//! let err = objects[0].rollout().unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "web.yaml:9: default/web: spec.strategy.canary.steps[1].setWeight: \
//!      expected an integer from -2147483648 to 2147483647, found the string \"twenty\""
//! );
//! ```

mod lines;
mod yaml;

use serde_json::Value;

use crate::error::{Diagnostic, FieldError};
use crate::spec::Rollout;

pub use lines::LineIndex;

/// Caps on what one input may cost to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The largest input, in bytes.
    pub max_bytes: usize,
    /// The deepest nesting of lists and mappings.
    pub max_depth: usize,
    /// How many values aliases (`*name`) may add in total.
    pub max_alias_values: usize,
}

impl Default for Limits {
    /// 16 MiB (an object the Kubernetes API server accepts is at most 3 MiB;
    /// the rest is room for many objects in one file), 100 levels, 1,000,000
    /// aliased values.
    fn default() -> Self {
        Self {
            max_bytes: 16 << 20,
            max_depth: 100,
            max_alias_values: 1_000_000,
        }
    }
}

/// One Kubernetes object read from a file: a document, or an item of a
/// `kind: List` document.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// The object as JSON.
    pub value: Value,
    /// The line of each of its fields.
    pub lines: LineIndex,
    /// The file it was read from.
    pub file: String,
}

/// Reads every object of YAML `text` with the default [`Limits`]; `file`
/// names the source in errors (`-` for standard input).
pub fn read(text: &str, file: &str) -> Result<Vec<Object>, Diagnostic> {
    read_with(text, file, &Limits::default())
}

/// Reads every object of YAML `text`: empty documents are skipped, the items
/// of a `kind: List` document (or of any `kind: ...List` with `items`) are
/// objects of their own.
pub fn read_with(text: &str, file: &str, limits: &Limits) -> Result<Vec<Object>, Diagnostic> {
    let fail = |line: Option<usize>, message: String| Diagnostic {
        file: file.to_owned(),
        line,
        object: None,
        field: FieldError::new("", message),
    };
    if text.len() > limits.max_bytes {
        return Err(fail(
            None,
            format!(
                "the input is {} bytes, more than the limit of {} bytes",
                text.len(),
                limits.max_bytes
            ),
        ));
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let docs = yaml::documents(text, limits).map_err(|e| fail(Some(e.line), e.message))?;
    let mut objects = Vec::new();
    for doc in docs {
        let is_list = doc
            .value
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k.ends_with("List"))
            && doc.value.get("items").is_some_and(Value::is_array);
        match doc.value {
            Value::Null => {}
            Value::Object(mut map) if is_list => {
                let Some(Value::Array(items)) = map.remove("items") else {
                    unreachable!("checked above")
                };
                let lines = match LineIndex(doc.lines).child("items") {
                    Some(lines::LineNode::Seq(_, lines)) => lines.clone(),
                    _ => Vec::new(),
                };
                for (i, item) in items.into_iter().enumerate() {
                    let node = lines
                        .get(i)
                        .cloned()
                        .unwrap_or(lines::LineNode::Leaf(doc.line));
                    objects.push(Object {
                        value: item,
                        lines: LineIndex(node),
                        file: file.to_owned(),
                    });
                }
            }
            Value::Object(_) => objects.push(Object {
                value: doc.value,
                lines: LineIndex(doc.lines),
                file: file.to_owned(),
            }),
            _ => {
                return Err(fail(
                    Some(doc.line),
                    "a document must be a mapping (a Kubernetes object), not a list or a single value"
                        .to_owned(),
                ));
            }
        }
    }
    Ok(objects)
}

impl Object {
    /// `kind`, or `""` when it is missing.
    pub fn kind(&self) -> &str {
        self.value.get("kind").and_then(Value::as_str).unwrap_or("")
    }

    /// Whether this is an Argo Rollouts `Rollout` (`kind: Rollout`, with an
    /// `argoproj.io` apiVersion or none).
    pub fn is_rollout(&self) -> bool {
        let api = self.value.get("apiVersion").and_then(Value::as_str);
        self.kind() == "Rollout" && api.is_none_or(|a| a.starts_with("argoproj.io/"))
    }

    /// `<namespace>/<name>` (namespace `default` when unset, as
    /// [`Rollout::object_name`]), or `<unnamed Kind>` without a name.
    pub fn object_name(&self) -> String {
        let meta = self.value.get("metadata");
        let get = |k: &str| meta.and_then(|m| m.get(k)).and_then(Value::as_str);
        match get("name") {
            Some(name) => format!("{}/{name}", get("namespace").unwrap_or("default")),
            None => format!("<unnamed {}>", self.kind()),
        }
    }

    /// The line where this object starts.
    pub fn line(&self) -> usize {
        self.lines.line_of("")
    }

    /// Locates a problem with one of this object's fields.
    pub fn diagnostic(&self, field: FieldError) -> Diagnostic {
        Diagnostic {
            file: self.file.clone(),
            line: Some(self.lines.line_of(&field.path)),
            object: Some(self.object_name()),
            field,
        }
    }

    /// Reads this object as a Rollout; a problem names the line and field.
    pub fn rollout(&self) -> Result<Rollout, Diagnostic> {
        Rollout::deserialize_from(&self.value, "").map_err(|e| match e {
            crate::Error::Parse { field, .. } => self.diagnostic(field),
            other => self.diagnostic(FieldError::new("", other.to_string())),
        })
    }
}

#[cfg(test)]
mod tests;
