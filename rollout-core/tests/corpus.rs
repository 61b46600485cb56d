//! The Rollout corpus under `examples/corpus/`: one valid Rollout per shape
//! that Argo Rollouts documents and exercises (every traffic router, header
//! and mirror routes, canary scale, analysis, experiments, blue-green,
//! ping-pong, step plugins, multi-action steps, ...).
//!
//! Every Rollout there is one that Argo's validation accepts, so each must
//! parse and validate here with no error; the shapes the engine does not run
//! yet (`restartAt` on a blue-green Rollout) may carry an *unsupported*
//! warning, and nothing else may. The few files that the engine still rejects are listed
//! in [`KNOWN_GAPS`] with the reason; the test checks that they still fail, so
//! whoever closes a gap also removes it from the list.

use std::path::{Path, PathBuf};

use rollout_core::{Rollout, WarningKind, lint, unsupported};
use serde::Deserialize;

/// The minimum size of the corpus.
const MIN_ROLLOUTS: usize = 70;

/// A corpus file holding a valid Rollout that the engine refuses today.
struct KnownGap {
    /// The file name under `examples/corpus/`.
    file: &'static str,
    /// A fragment of the refusal the gap produces today.
    refusal: &'static str,
    /// Why this is a gap (what Argo accepts that the engine does not).
    reason: &'static str,
}

/// The valid Rollouts that the engine refuses today, and why.
const KNOWN_GAPS: &[KnownGap] = &[];

/// Whether the Rollout uses a shape the engine may report as not supported
/// yet: `restartAt` on a blue-green Rollout.
fn uses_shape_not_run_yet(rollout: &Rollout) -> bool {
    rollout.spec.strategy.blue_green.is_some() && rollout.spec.restart_at.is_some()
}

/// One YAML document of a corpus file.
struct Document {
    /// The file name, e.g. `canary-istio-subset-level.yaml`.
    file: String,
    /// The document's position in its file (0 for the first).
    index: usize,
    /// Whether the file starts with a comment (saying what shape it covers).
    starts_with_comment: bool,
    /// The document as JSON.
    value: serde_json::Value,
}

impl Document {
    fn label(&self) -> String {
        format!("{} (document {})", self.file, self.index + 1)
    }

    fn is_rollout(&self) -> bool {
        self.value.get("kind").and_then(|k| k.as_str()) == Some("Rollout")
    }
}

fn corpus_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn documents() -> Vec<Document> {
    let mut docs = Vec::new();
    for path in corpus_files() {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let starts_with_comment = text.trim_start().starts_with('#');
        for (index, de) in serde_yaml_ng::Deserializer::from_str(&text).enumerate() {
            let value = serde_json::Value::deserialize(de)
                .unwrap_or_else(|e| panic!("{file} (document {}): {e}", index + 1));
            docs.push(Document {
                file: file.clone(),
                index,
                starts_with_comment,
                value,
            });
        }
    }
    docs
}

/// Parses and validates one document: `Err` names what the engine refused.
fn accept(doc: &Document) -> Result<(), String> {
    let rollout = Rollout::from_value(doc.value.clone(), &doc.label())
        .map_err(|e| format!("refused at parse: {e}"))?;
    let allowed = uses_shape_not_run_yet(&rollout);
    let report = lint(&rollout);
    let refused: Vec<String> = report
        .errors
        .iter()
        .map(ToString::to_string)
        .chain(
            report
                .warnings
                .iter()
                .filter(|w| w.kind == WarningKind::Unsupported && !allowed)
                .map(|w| format!("unsupported: {w}")),
        )
        .collect();
    if refused.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}: refused by validate: {}",
            doc.label(),
            refused.join("; ")
        ))
    }
}

fn is_known_gap(file: &str) -> bool {
    KNOWN_GAPS.iter().any(|g| g.file == file)
}

#[test]
fn the_corpus_holds_enough_commented_rollouts() {
    let docs = documents();
    let mut problems = Vec::new();
    for doc in &docs {
        if !doc.is_rollout() {
            problems.push(format!("{}: is not a Rollout", doc.label()));
        }
        if !doc.starts_with_comment {
            problems.push(format!(
                "{}: does not start with a comment saying what shape it covers",
                doc.file
            ));
        }
    }
    let mut names: Vec<_> = docs
        .iter()
        .filter_map(|d| d.value.pointer("/metadata/name").and_then(|n| n.as_str()))
        .collect();
    names.sort_unstable();
    for pair in names.windows(2) {
        if pair[0] == pair[1] {
            problems.push(format!("Rollout name {:?} is used twice", pair[0]));
        }
    }
    problems.dedup();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let rollouts = docs.iter().filter(|d| d.is_rollout()).count();
    assert!(
        rollouts >= MIN_ROLLOUTS,
        "the corpus holds {rollouts} Rollouts, expected at least {MIN_ROLLOUTS}"
    );
}

#[test]
fn every_rollout_outside_the_known_gaps_is_accepted() {
    let mut checked = 0;
    let failures: Vec<String> = documents()
        .iter()
        .filter(|d| d.is_rollout() && !is_known_gap(&d.file))
        .filter_map(|d| {
            checked += 1;
            accept(d).err()
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {checked} Rollouts refused:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 0, "no Rollout checked");
}

#[test]
fn every_known_gap_is_still_refused() {
    let docs = documents();
    for gap in KNOWN_GAPS {
        let file = gap.file;
        let in_file: Vec<_> = docs.iter().filter(|d| d.file == file).collect();
        assert_eq!(
            in_file.len(),
            1,
            "{file}: a known gap must be a file holding exactly one Rollout"
        );
        match accept(in_file[0]) {
            Ok(()) => panic!(
                "{file} is accepted now; remove it from KNOWN_GAPS (listed because: {})",
                gap.reason
            ),
            Err(e) => assert!(
                e.contains(gap.refusal),
                "{file}: refused for another reason than the known gap ({}): {e}",
                gap.reason
            ),
        }
    }
}

#[test]
fn not_supported_yet_is_only_allowed_for_the_shapes_not_run_yet() {
    // A canary using none of those shapes gets no "unsupported" pass.
    let plain = Rollout::from_value(
        serde_json::json!({"spec": {"strategy": {"canary": {"steps": [{"setWeight": 10}]}}}}),
        "plain",
    )
    .unwrap();
    assert!(!uses_shape_not_run_yet(&plain));
    assert!(unsupported(&plain).is_empty());
    // Experiment steps run.
    let experiment = Rollout::from_value(
        serde_json::json!({"spec": {"strategy": {"canary": {"steps": [
            {"experiment": {"templates": [{"name": "a", "specRef": "canary"}]}}
        ]}}}}),
        "experiment",
    )
    .unwrap();
    assert!(!uses_shape_not_run_yet(&experiment));
    assert!(unsupported(&experiment).is_empty());
    let restart = Rollout::from_value(
        serde_json::json!({"spec": {"restartAt": "2026-01-01T00:00:00Z",
            "strategy": {"blueGreen": {"activeService": "web"}}}}),
        "restart",
    )
    .unwrap();
    assert!(uses_shape_not_run_yet(&restart));
    let not_run = unsupported(&restart);
    assert_eq!(not_run.len(), 1, "{not_run:?}");
    assert_eq!(not_run[0].path, "spec.restartAt");
}
