//! Every Rollout under `examples/manifests/` parses unchanged; complete ones
//! validate. The seeds' excerpts (a Rollout cut down to its strategy) are kept
//! apart in `examples/manifests/fragments/`: they parse, but they are not
//! complete Rollouts (no selector, no pod template).

use std::path::{Path, PathBuf};

use rollout_core::{Rollout, WarningKind, lint, validate};

fn manifests() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/manifests");
    let mut files: Vec<_> = [dir.clone(), dir.join("fragments")]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).expect("examples/manifests and its fragments exist"))
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// Whether the file is one of the seeds' excerpts, not a complete Rollout.
fn is_fragment(path: &Path) -> bool {
    path.parent().is_some_and(|d| d.ends_with("fragments"))
}

fn rollouts() -> Vec<(PathBuf, Rollout)> {
    manifests()
        .into_iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(&path).expect("readable manifest");
            let mut value: serde_json::Value = serde_yaml_ng::from_str(&text).expect("valid YAML");
            if value.get("kind").is_none() && value.get("strategy").is_some() {
                // A bare `strategy:` excerpt: read it as the spec of a Rollout.
                value = serde_json::json!({"kind": "Rollout", "spec": value});
            }
            if value.get("kind").and_then(|k| k.as_str()) != Some("Rollout") {
                return None;
            }
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let rollout = Rollout::from_value(value, &name).unwrap_or_else(|e| panic!("{e}"));
            Some((path, rollout))
        })
        .collect()
}

#[test]
fn every_seed_rollout_parses() {
    let all = rollouts();
    assert!(
        all.len() >= 21,
        "expected the seed Rollouts, found {}",
        all.len()
    );
}

#[test]
fn complete_canary_rollouts_validate_cleanly() {
    let mut checked = 0;
    for (path, rollout) in rollouts() {
        if is_fragment(&path) || rollout.canary().is_none() {
            continue;
        }
        let errors = validate(&rollout);
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        checked += 1;
    }
    assert!(checked >= 5, "checked {checked}");
}

#[test]
fn blue_green_rollouts_are_valid_and_run() {
    let (path, rollout) = rollouts()
        .into_iter()
        .find(|(p, r)| !is_fragment(p) && r.spec.strategy.blue_green.is_some())
        .expect("a complete blue-green seed");
    let report = lint(&rollout);
    assert!(
        report.errors.is_empty(),
        "{}: {:?}",
        path.display(),
        report.errors
    );
    assert!(
        !report
            .warnings
            .iter()
            .any(|w| w.kind == WarningKind::Unsupported),
        "{}: {:?}",
        path.display(),
        report.warnings
    );
    assert!(
        rollout_core::ValidRollout::new(rollout).is_ok(),
        "{}",
        path.display()
    );
}

#[test]
fn round_trip_keeps_every_spec_field() {
    for (path, rollout) in rollouts() {
        let json = serde_json::to_value(&rollout).unwrap();
        let again = Rollout::from_value(json, "round trip").unwrap();
        assert_eq!(again, rollout, "{}", path.display());
    }
}
