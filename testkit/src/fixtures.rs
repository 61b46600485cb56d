//! Table tests from YAML files: every `*.yaml` file in a folder is the
//! objects a router reads, the call it plans, and what is expected.
//!
//! The runner owns the expectation keys of every fixture:
//!
//! - `description`: what the fixture shows (in every failure message);
//! - `expect`: the object after the change;
//! - `unchanged: true`: the plan changes nothing;
//! - `delete: true`: the plan deletes the object;
//! - `error`: a part of the expected error message.
//!
//! The rest of the file (the objects and the call) is the router's own
//! shape, read by its [`Adapter`]. A change must also be stable: planning
//! the same call again over the result must change nothing.
//!
//! ```
//! use rollgate_testkit::fixtures::{Adapter, Outcome};
//! use serde_json::Value;
//!
//! /// A "router" that sets `spec.weight`.
//! struct SetWeight;
//!
//! #[derive(serde::Deserialize)]
//! #[serde(rename_all = "camelCase", deny_unknown_fields)]
//! struct Fixture {
//!     object: Value,
//!     weight: i64,
//! }
//!
//! impl Adapter for SetWeight {
//!     type Fixture = Fixture;
//!     fn input(&self, fixture: &Fixture) -> Value {
//!         fixture.object.clone()
//!     }
//!     fn plan(&self, fixture: &Fixture, object: &Value) -> Result<Outcome, String> {
//!         if object["spec"]["weight"] == fixture.weight {
//!             return Ok(Outcome::Unchanged);
//!         }
//!         let mut after = object.clone();
//!         after["spec"]["weight"] = fixture.weight.into();
//!         Ok(Outcome::Changed(after))
//!     }
//! }
//!
//! let dir = std::env::temp_dir().join(format!("fixtures-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! std::fs::write(
//!     dir.join("01-weight.yaml"),
//!     "description: the weight is set\nweight: 30\n\
//!      object: {spec: {weight: 0}}\nexpect: {spec: {weight: 30}}\n",
//! )
//! .unwrap();
//! rollgate_testkit::fixtures::run_all(&SetWeight, &dir, 1);
//! std::fs::remove_dir_all(&dir).unwrap();
//! ```

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::Value;

/// What a plan does to the object it was given.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Nothing to write.
    Unchanged,
    /// The object as it is after the write.
    Changed(Value),
    /// The object is deleted.
    Delete,
}

/// What a fixture expects (the keys the runner owns).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// What the fixture shows.
    pub description: String,
    /// The object after the change.
    #[serde(default)]
    pub expect: Option<Value>,
    /// The plan changes nothing.
    #[serde(default)]
    pub unchanged: bool,
    /// The plan deletes the object.
    #[serde(default)]
    pub delete: bool,
    /// A part of the expected error message.
    #[serde(default)]
    pub error: Option<String>,
}

const EXPECTATION_KEYS: [&str; 5] = ["description", "expect", "unchanged", "delete", "error"];

/// How one router plans a fixture's call.
pub trait Adapter {
    /// The router's part of a fixture file (every key but the
    /// expectation keys).
    type Fixture: DeserializeOwned;

    /// The object the first plan is made over.
    fn input(&self, fixture: &Self::Fixture) -> Value;

    /// Plans the fixture's call over `object`; an error as its message.
    ///
    /// # Errors
    ///
    /// The router's error, as text.
    fn plan(&self, fixture: &Self::Fixture, object: &Value) -> Result<Outcome, String>;

    /// The object the second plan is made over, after the first one
    /// changed `input` to `changed` (by default `changed` itself; a
    /// router whose writes the API server merges says how).
    fn stored_after(&self, fixture: &Self::Fixture, input: &Value, changed: &Value) -> Value {
        let _ = (fixture, input);
        changed.clone()
    }
}

/// The `*.yaml` files in `dir`, sorted by name.
///
/// # Panics
///
/// When the folder cannot be read.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a readable folder entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// Reads one fixture file: the router's part and the expectation.
///
/// # Panics
///
/// When the file cannot be read or does not have the router's shape,
/// naming the file.
pub fn load<A: Adapter>(path: &Path) -> (A::Fixture, Expected) {
    let name = path.display();
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut value: Value = serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let map = value
        .as_object_mut()
        .unwrap_or_else(|| panic!("{name}: expected a mapping"));
    let expected: serde_json::Map<String, Value> = EXPECTATION_KEYS
        .iter()
        .filter_map(|key| map.remove(*key).map(|v| ((*key).to_owned(), v)))
        .collect();
    let expected: Expected =
        serde_json::from_value(Value::Object(expected)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let fixture = serde_json::from_value(value).unwrap_or_else(|e| panic!("{name}: {e}"));
    (fixture, expected)
}

/// Runs one fixture file.
///
/// # Panics
///
/// When the plan is not what the file expects, or planning again over a
/// changed object changes something; the message names the file.
pub fn run<A: Adapter>(adapter: &A, path: &Path) {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let (fixture, expected) = load::<A>(path);
    let description = &expected.description;
    let input = adapter.input(&fixture);
    let result = adapter.plan(&fixture, &input);
    if let Some(want) = &expected.error {
        let err = result
            .err()
            .unwrap_or_else(|| panic!("{name}: expected an error ({description})"));
        assert!(
            err.contains(want.as_str()),
            "{name}: error {err:?} lacks {want:?}"
        );
        return;
    }
    match result.unwrap_or_else(|e| panic!("{name}: {e}")) {
        Outcome::Unchanged => assert!(expected.unchanged, "{name}: unexpectedly unchanged"),
        Outcome::Delete => assert!(expected.delete, "{name}: unexpectedly deleted"),
        Outcome::Changed(after) => {
            assert!(
                !expected.unchanged && !expected.delete,
                "{name}: expected no change or a delete, got {after:#}"
            );
            let want = expected
                .expect
                .as_ref()
                .unwrap_or_else(|| panic!("{name}: no expectation; got {after:#}"));
            assert_eq!(&after, want, "{name}: {description}");
            let stored = adapter.stored_after(&fixture, &input, &after);
            let again = adapter
                .plan(&fixture, &stored)
                .unwrap_or_else(|e| panic!("{name}: planning again: {e}"));
            assert_eq!(
                again,
                Outcome::Unchanged,
                "{name}: planning again over the result changes something"
            );
        }
    }
}

/// Runs every fixture file in `dir` (at least `at_least` of them, so that a
/// moved folder fails instead of passing empty).
///
/// # Panics
///
/// On the first fixture that fails, or on too few files.
pub fn run_all<A: Adapter>(adapter: &A, dir: &Path, at_least: usize) {
    let files = files(dir);
    assert!(
        files.len() >= at_least,
        "{}: {} fixtures, expected at least {at_least}",
        dir.display(),
        files.len()
    );
    for path in files {
        run(adapter, &path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sets `spec.weight`; with `sloppy`, it writes even when the weight is
    /// already in place (not idempotent).
    struct SetWeight {
        sloppy: bool,
    }

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Fixture {
        object: Value,
        weight: i64,
    }

    impl Adapter for SetWeight {
        type Fixture = Fixture;
        fn input(&self, fixture: &Fixture) -> Value {
            fixture.object.clone()
        }
        fn plan(&self, fixture: &Fixture, object: &Value) -> Result<Outcome, String> {
            if fixture.weight < 0 {
                return Err(format!("weight {} is below 0", fixture.weight));
            }
            if !self.sloppy && object["spec"]["weight"] == fixture.weight {
                return Ok(Outcome::Unchanged);
            }
            let mut after = object.clone();
            after["spec"]["weight"] = fixture.weight.into();
            Ok(Outcome::Changed(after))
        }
    }

    /// Runs `yaml` as a fixture file.
    fn run_text(adapter: &SetWeight, name: &str, yaml: &str) {
        let dir = std::env::temp_dir().join(format!("fixtures-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("01.yaml");
        std::fs::write(&path, yaml).unwrap();
        let result = std::panic::catch_unwind(|| run(adapter, &path));
        std::fs::remove_dir_all(&dir).unwrap();
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    }

    const CHANGE: &str = "description: d\nweight: 30\nobject: {spec: {weight: 0}}\n";

    #[test]
    fn a_matching_fixture_passes() {
        let strict = SetWeight { sloppy: false };
        run_text(
            &strict,
            "ok",
            &format!("{CHANGE}expect: {{spec: {{weight: 30}}}}\n"),
        );
        run_text(
            &strict,
            "unchanged",
            "description: d\nweight: 0\nobject: {spec: {weight: 0}}\nunchanged: true\n",
        );
        run_text(
            &strict,
            "error",
            "description: d\nweight: -1\nobject: {}\nerror: below 0\n",
        );
    }

    #[test]
    #[should_panic(expected = "01.yaml: d")]
    fn a_different_result_fails() {
        let yaml = format!("{CHANGE}expect: {{spec: {{weight: 31}}}}\n");
        run_text(&SetWeight { sloppy: false }, "differs", &yaml);
    }

    #[test]
    #[should_panic(expected = "planning again over the result changes something")]
    fn a_plan_that_is_not_idempotent_fails() {
        let yaml = format!("{CHANGE}expect: {{spec: {{weight: 30}}}}\n");
        run_text(&SetWeight { sloppy: true }, "again", &yaml);
    }

    #[test]
    #[should_panic(expected = "expected an error")]
    fn a_missing_error_fails() {
        run_text(
            &SetWeight { sloppy: false },
            "noerror",
            &format!("{CHANGE}error: below 0\n"),
        );
    }

    #[test]
    #[should_panic(expected = "unknown field")]
    fn an_unknown_key_fails() {
        run_text(
            &SetWeight { sloppy: false },
            "unknown",
            &format!("{CHANGE}expected: {{}}\n"),
        );
    }
}
