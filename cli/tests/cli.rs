//! The `rollgate` binary as a user runs it: exit codes and one-line errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn rollgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Writes `content` to a fresh file in the target directory and returns its path.
fn write(name: &str, content: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// Runs a failing command and returns its single line of error output.
fn one_line_error(args: &[&str]) -> String {
    let out = rollgate(args);
    assert!(!out.status.success(), "{args:?} should fail");
    let err = text(&out.stderr) + &text(&out.stdout);
    let lines: Vec<_> = err.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected: {err}");
    assert!(!err.contains("panicked"), "{err}");
    lines[0].to_owned()
}

const HEAD: &str = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: web}\nspec:\n  strategy:\n    canary:\n";

#[test]
fn lint_accepts_the_example_rollouts() {
    let out = rollgate(&[
        "lint",
        "../examples/manifests/seed001-rollout-canary.yaml",
        "../examples/manifests/seed002-rollouts-demo.yaml",
    ]);
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("rollout default/rollout-canary is valid"));
}

#[test]
fn lint_exits_1_and_names_each_field() {
    let out = rollgate(&["lint", "../rollout-core/tests/data/invalid-rollout.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout
            .contains("spec.strategy.canary.steps[3].setWeight: 250 is above maxTrafficWeight 200"),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 4, "{stdout}");
}

#[test]
fn a_missing_file_is_one_line() {
    let line = one_line_error(&["plan", "no-such-rollout.yaml"]);
    assert!(
        line.starts_with("error: no-such-rollout.yaml: cannot read the file"),
        "{line}"
    );
}

#[test]
fn broken_yaml_is_one_line() {
    let path = write("broken.yaml", "kind: Rollout\nspec: {strategy: [\n");
    let line = one_line_error(&["plan", path.to_str().unwrap()]);
    assert!(line.contains("broken.yaml: not valid YAML"), "{line}");
}

#[test]
fn two_fields_in_one_step_is_one_line() {
    let path = write(
        "two.yaml",
        &format!("{HEAD}      steps:\n      - setWeight: 20\n        pause: {{}}\n"),
    );
    let line = one_line_error(&["lint", path.to_str().unwrap()]);
    assert!(
        line.ends_with("two.yaml: spec.strategy.canary.steps[0]: a step must set exactly one action; this one sets setWeight and pause"),
        "{line}"
    );
}

#[test]
fn a_bad_duration_is_one_line() {
    let path = write(
        "duration.yaml",
        &format!("{HEAD}      steps:\n      - pause: {{duration: soon}}\n"),
    );
    let line = one_line_error(&["plan", path.to_str().unwrap()]);
    assert!(
        line.contains("spec.strategy.canary.steps[0].pause.duration: \"soon\" is not a duration"),
        "{line}"
    );
}

#[test]
fn a_bad_int_or_percent_is_one_line() {
    let path = write("surge.yaml", &format!("{HEAD}      maxSurge: plenty\n"));
    let line = one_line_error(&["plan", path.to_str().unwrap()]);
    assert!(
        line.contains("spec.strategy.canary.maxSurge: \"plenty\" is not a count or a percentage"),
        "{line}"
    );
}

#[test]
fn plan_prints_the_timeline() {
    let out = rollgate(&["plan", "../examples/manifests/seed002-rollouts-demo.yaml"]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("3     setWeight: 40  40%     60%     2/3"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Shortest duration: 30s of timed pauses, plus 1 manual promotion"),
        "{stdout}"
    );
}

#[test]
fn the_demo_runs_to_the_end() {
    let out = rollgate(&["demo", "--fast"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("✖ Degraded"));
    assert!(stdout.contains("✔ Healthy"));
}
