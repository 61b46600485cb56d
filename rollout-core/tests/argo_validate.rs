//! Differential test against Argo Rollouts' own validation: every Rollout of
//! `examples/corpus/` (valid ones) and `examples/corpus-invalid/` (each
//! breaking one of Argo's rules) is judged by Argo's Go code
//! (`interop/argo-validate`: strict decoding, `validation.ValidateRollout` and
//! the controller's reference-config checks, github.com/argoproj/argo-rollouts
//! from the Go module proxy) and by this crate (`Rollout::from_value` then
//! [`validate`]), and the verdicts must agree:
//!
//! * Argo accepts ⇔ the engine accepts (its "not supported yet" results count
//!   as accepted: they say what the engine does not run, not what is wrong);
//! * when both refuse, the field path of Argo's first error (the one its
//!   controller reports) matches a path the engine reports, once both are
//!   normalised (see [`same_field`]).
//!
//! The differences that are deliberate or not fixed yet are listed in
//! [`KNOWN_DIFFERENCES`] with the reason; the test checks that each still
//! differs in the listed way, so whoever closes one also removes it.
//!
//! Needs the Go toolchain (the module asks for a newer Go than some machines
//! have; `GOTOOLCHAIN=auto` fetches it from the Go module proxy). Skipped with
//! a message without `go`, except under CI, where it fails.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use rollout_core::{Error, FieldError, Rollout, unsupported, validate};
use serde::Deserialize;

/// How the two verdicts on one Rollout differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Difference {
    /// Argo refuses the Rollout; the engine accepts it.
    OnlyArgoRefuses,
    /// The engine refuses the Rollout; Argo accepts it.
    OnlyEngineRefuses,
    /// Both refuse, but no path the engine reports matches Argo's first error.
    OtherField,
}

/// A Rollout on which the engine knowingly differs from Argo.
struct KnownDifference {
    /// `<directory>/<file>`, e.g. `corpus-invalid/strategy-both.yaml`.
    file: &'static str,
    /// How it differs today.
    difference: Difference,
    /// Why: deliberate (and what the engine does instead) or not fixed yet.
    reason: &'static str,
}

/// The Rollouts on which the engine differs from Argo today, and why.
const KNOWN_DIFFERENCES: &[KnownDifference] = &[
    KnownDifference {
        file: "corpus-invalid/canary-set-canary-scale-without-traffic-routing.yaml",
        difference: Difference::OtherField,
        reason: "deliberate (see the validate module's docs): Argo names \
         `trafficRouting`; the engine names the step that needs it \
         (`steps[i].setCanaryScale`), with Argo's message",
    },
    KnownDifference {
        file: "corpus-invalid/canary-analysis-arg-unsupported-field-ref.yaml",
        difference: Difference::OtherField,
        reason: "deliberate: Argo names `steps[i].analyses`, a field no Rollout has; the \
         engine names the argument's `valueFrom.fieldRef.fieldPath`",
    },
    KnownDifference {
        file: "corpus-invalid/canary-anti-affinity-weight-zero.yaml",
        difference: Difference::OtherField,
        reason: "deliberate: Argo names `antiAffinity.weight`, a field no Rollout has; the \
         engine names `antiAffinity.preferredDuringSchedulingIgnoredDuringExecution.weight`",
    },
];

/// One of Argo's errors, as the harness prints it.
#[derive(Debug, Deserialize)]
struct ArgoError {
    /// Argo's field path, e.g. `spec.strategy.steps[0].setWeight`.
    field: String,
    /// The error type, the offending value and the explanation.
    message: String,
}

/// Argo's verdict on one document, as the harness prints it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArgoVerdict {
    file: String,
    document: usize,
    kind: String,
    name: String,
    /// Why strict decoding refused the document (empty when it decoded).
    decode_error: String,
    /// Argo's errors in its order; the first is what its controller reports.
    errors: Vec<ArgoError>,
}

impl ArgoVerdict {
    fn is_valid(&self) -> bool {
        self.decode_error.is_empty() && self.errors.is_empty()
    }
}

impl fmt::Display for ArgoVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.errors.first() {
            _ if !self.decode_error.is_empty() => {
                write!(f, "does not decode: {}", self.decode_error)
            }
            Some(e) => write!(f, "{}: {}", e.field, e.message),
            None => f.write_str("valid"),
        }
    }
}

/// The engine's verdict on one document: the problems it reports (empty when
/// it accepts the Rollout), and whether it refused it at parse.
struct EngineVerdict {
    errors: Vec<FieldError>,
    at_parse: bool,
}

impl fmt::Display for EngineVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.errors.is_empty() {
            return f.write_str("valid");
        }
        let stage = if self.at_parse { "parse" } else { "validate" };
        let errors: Vec<_> = self.errors.iter().map(ToString::to_string).collect();
        write!(f, "refused at {stage}: {}", errors.join("; "))
    }
}

fn engine_verdict(value: serde_json::Value, label: &str) -> EngineVerdict {
    match Rollout::from_value(value, label) {
        Err(Error::Parse { field, .. }) => EngineVerdict {
            errors: vec![field],
            at_parse: true,
        },
        Err(other) => EngineVerdict {
            errors: vec![FieldError::new("", other.to_string())],
            at_parse: true,
        },
        Ok(rollout) => EngineVerdict {
            // What the engine does not run yet is a warning, not an error:
            // Argo accepts it, and so does validate.
            errors: validate(&rollout),
            at_parse: false,
        },
    }
}

/// A field path with the strategy's kind left out, since Argo names canary
/// and blue-green fields directly under `spec.strategy`
/// (`spec.strategy.steps[0]`, `spec.strategy.activeService`) and reports
/// the strategy choice itself at `spec.strategy.strategy`.
fn normalise(path: &str) -> String {
    for kind in ["canary", "blueGreen", "strategy"] {
        if let Some(rest) = path
            .strip_prefix("spec.strategy.")
            .and_then(|p| p.strip_prefix(kind))
            .filter(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        {
            return format!("spec.strategy{rest}");
        }
    }
    path.to_owned()
}

/// Whether two field paths name the same field once normalised, or one names
/// a part of the other (`...setHeaderRoute.match[0]` and
/// `...setHeaderRoute.match[0].headerValue`).
fn same_field(argo: &str, engine: &str) -> bool {
    let (a, e) = (normalise(argo), normalise(engine));
    let (short, long) = if a.len() <= e.len() { (a, e) } else { (e, a) };
    long.strip_prefix(&short)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

/// How the engine's verdict differs from Argo's, if it does.
fn compare(argo: &ArgoVerdict, engine: &EngineVerdict) -> Option<Difference> {
    match (argo.is_valid(), engine.errors.is_empty()) {
        (true, true) => None,
        (false, true) => Some(Difference::OnlyArgoRefuses),
        (true, false) => Some(Difference::OnlyEngineRefuses),
        (false, false) => {
            // A decoding refusal has no field path on Argo's side; the engine
            // must then refuse at parse too.
            let agrees = match argo.errors.first() {
                Some(first) if argo.decode_error.is_empty() => engine
                    .errors
                    .iter()
                    .any(|e| same_field(&first.field, &e.path)),
                _ => engine.at_parse,
            };
            (!agrees).then_some(Difference::OtherField)
        }
    }
}

/// A corpus directory under `examples/` and the verdict Argo must give.
const DIRECTORIES: [(&str, &str); 2] = [("corpus", "valid"), ("corpus-invalid", "invalid")];

/// The minimum number of Rollouts in `examples/corpus-invalid/`.
const MIN_INVALID: usize = 40;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let dir = examples().join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// The non-empty documents of a file, numbered as the harness numbers them.
fn documents(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|de| {
            serde_json::Value::deserialize(de).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .filter(|v| !v.is_null())
        .collect()
}

/// Builds the harness; `None` when Go is missing outside CI.
fn build_harness() -> Option<PathBuf> {
    if Command::new("go").arg("version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the differential test against Argo's validation, but `go` is missing"
        );
        eprintln!("skipped: no Go toolchain on this machine");
        return None;
    }
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("interop-argo-validate");
    let build = Command::new("go")
        .args(["build", "-o"])
        .arg(&out)
        .arg(".")
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/argo-validate"))
        // The module names the Go version Argo Rollouts needs; an older local
        // Go fetches that toolchain from the Go module proxy.
        .env("GOTOOLCHAIN", "auto")
        .env("GOFLAGS", "-mod=readonly -buildvcs=false")
        .output()
        .expect("go runs");
    assert!(
        build.status.success(),
        "building interop/argo-validate failed:\n{}",
        String::from_utf8_lossy(&build.stderr)
    );
    Some(out)
}

/// Runs the harness on every file of `dir`, which must all get `expect`.
fn argo_verdicts(harness: &Path, dir: &str, expect: &str) -> Vec<ArgoVerdict> {
    let run = Command::new(harness)
        .args(["-expect", expect])
        .args(yaml_files(dir))
        .output()
        .expect("the harness runs");
    assert!(
        run.status.success(),
        "Argo does not find every Rollout of examples/{dir} {expect}:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    String::from_utf8(run.stdout)
        .expect("UTF-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// One Rollout judged by both sides.
struct Judged {
    /// `<directory>/<file> (document N)`.
    label: String,
    /// `<directory>/<file>`.
    file: String,
    argo: ArgoVerdict,
    engine: EngineVerdict,
}

/// Judges every Rollout of both directories, or `None` when Go is missing.
fn judge_all() -> Option<Vec<Judged>> {
    let harness = build_harness()?;
    let mut judged = Vec::new();
    for (dir, expect) in DIRECTORIES {
        let mut by_document: BTreeMap<(String, usize), ArgoVerdict> =
            argo_verdicts(&harness, dir, expect)
                .into_iter()
                .map(|v| ((v.file.clone(), v.document), v))
                .collect();
        for path in yaml_files(dir) {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            for (index, value) in documents(&path).into_iter().enumerate() {
                let label = format!("{dir}/{name} (document {})", index + 1);
                let argo = by_document
                    .remove(&(name.clone(), index))
                    .unwrap_or_else(|| panic!("{label}: no verdict from Argo"));
                assert_eq!(
                    value.pointer("/metadata/name").and_then(|n| n.as_str()),
                    Some(argo.name.as_str()),
                    "{label}: Argo judged another document"
                );
                if argo.kind != "Rollout" {
                    continue;
                }
                let engine = engine_verdict(value, &label);
                judged.push(Judged {
                    label,
                    file: format!("{dir}/{name}"),
                    argo,
                    engine,
                });
            }
        }
        assert!(
            by_document.is_empty(),
            "Argo judged documents this test did not read: {:?}",
            by_document.keys()
        );
    }
    Some(judged)
}

fn known(file: &str) -> Option<&'static KnownDifference> {
    KNOWN_DIFFERENCES.iter().find(|k| k.file == file)
}

#[test]
fn the_engine_gives_argos_verdicts() {
    let Some(judged) = judge_all() else {
        return;
    };
    let invalid = judged
        .iter()
        .filter(|j| j.file.starts_with("corpus-invalid/"))
        .count();
    assert!(
        invalid >= MIN_INVALID,
        "examples/corpus-invalid holds {invalid} Rollouts, expected at least {MIN_INVALID}"
    );
    let mut unexpected = Vec::new();
    let mut still_differ = Vec::new();
    for j in &judged {
        let difference = compare(&j.argo, &j.engine);
        match (difference, known(&j.file)) {
            (None, None) => {}
            (Some(d), Some(k)) if d == k.difference => still_differ.push(k.file),
            (Some(d), _) => unexpected.push(format!(
                "{}: {d:?}\n    Argo:   {}\n    engine: {}",
                j.label, j.argo, j.engine
            )),
            (None, Some(k)) => unexpected.push(format!(
                "{}: agrees with Argo now; remove it from KNOWN_DIFFERENCES (listed as {:?}: {})",
                j.label, k.difference, k.reason
            )),
        }
    }
    for k in KNOWN_DIFFERENCES {
        if !judged.iter().any(|j| j.file == k.file) {
            unexpected.push(format!(
                "{}: listed in KNOWN_DIFFERENCES but no such Rollout",
                k.file
            ));
        }
    }
    assert!(
        unexpected.is_empty(),
        "{} of {} Rollouts differ from Argo in a way not listed ({} listed differences hold):\n{}",
        unexpected.len(),
        judged.len(),
        still_differ.len(),
        unexpected.join("\n")
    );
}

#[test]
fn every_invalid_rollout_says_which_rule_it_breaks() {
    let mut problems = Vec::new();
    let mut names = BTreeMap::new();
    for path in yaml_files("corpus-invalid") {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        if !text.starts_with("# Breaks: ") {
            problems.push(format!(
                "{file}: does not start with a `# Breaks: ` comment"
            ));
        }
        let docs = documents(&path);
        if docs.len() != 1 || docs[0]["kind"] != "Rollout" {
            problems.push(format!("{file}: must hold exactly one Rollout"));
        }
        for doc in docs {
            let name = doc["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if let Some(other) = names.insert(name.clone(), file.clone()) {
                problems.push(format!(
                    "{file}: Rollout name {name:?} is used by {other} too"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(names.len() >= MIN_INVALID, "{} Rollouts", names.len());
}

#[test]
fn field_paths_are_compared_without_the_strategy_kind() {
    assert!(same_field(
        "spec.strategy.steps[1].setWeight",
        "spec.strategy.canary.steps[1].setWeight"
    ));
    assert!(same_field(
        "spec.strategy.steps[1].setHeaderRoute.match[0]",
        "spec.strategy.canary.steps[1].setHeaderRoute.match[0].headerValue"
    ));
    assert!(same_field(
        "spec.strategy.activeService",
        "spec.strategy.blueGreen.activeService"
    ));
    assert!(same_field("spec.strategy.strategy", "spec.strategy"));
    assert!(!same_field(
        "spec.strategy.steps[1]",
        "spec.strategy.canary.steps[10].setWeight"
    ));
    assert!(!same_field(
        "spec.strategy.canaryService",
        "spec.strategy.canary.stableService"
    ));
    assert!(!same_field("spec.replicas", "spec.replicasCount"));
    assert_eq!(
        normalise("spec.strategy.canaryService"),
        "spec.strategy.canaryService"
    );
}

#[test]
fn not_supported_yet_counts_as_accepted() {
    // `restartAt` on a blue-green Rollout: Argo accepts it, the engine does not run it yet.
    let restart = serde_json::json!({
        "metadata": {"name": "exp"},
        "spec": {
            "selector": {"matchLabels": {"app": "a"}},
            "template": {
                "metadata": {"labels": {"app": "a"}},
                "spec": {"containers": [{"name": "a", "image": "a:1"}]}
            },
            "restartAt": "2026-01-01T00:00:00Z",
            "strategy": {"blueGreen": {"activeService": "a"}}
        }
    });
    let rollout = Rollout::from_value(restart.clone(), "restart").unwrap();
    assert!(validate(&rollout).is_empty());
    let not_run = unsupported(&rollout);
    assert_eq!(not_run.len(), 1, "{not_run:?}");
    assert!(engine_verdict(restart, "restart").errors.is_empty());
}
