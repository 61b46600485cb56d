//! The `rollgate` binary as a user runs it: exit codes, one-line errors in
//! the `FILE:LINE: namespace/name: field: message` format, standard input,
//! closed output, and the shapes of input `kubectl` and people write.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn rollgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs")
}

/// Runs with `input` on standard input.
fn rollgate_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
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

/// The Rollout with one of each mistake `rollgate lint` must name.
const INVALID: &str = "../rollout-core/tests/data/invalid-rollout.yaml";

/// The 1-based line of `file` (relative to this crate) that contains `needle`.
fn line_of(file: &str, needle: &str) -> usize {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
    1 + text
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in {file}"))
}

/// Runs a failing command and returns its single line of error output.
fn one_line_error(args: &[&str]) -> String {
    let out = rollgate(args);
    assert_eq!(out.status.code(), Some(1), "{args:?} should fail");
    let err = text(&out.stderr) + &text(&out.stdout);
    let lines: Vec<_> = err.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected: {err}");
    assert!(!err.contains("panicked"), "{err}");
    lines[0].to_owned()
}

/// What every complete Rollout has besides its strategy: a selector and a
/// pod template with matching labels (2 lines).
const POD: &str = "  selector: {matchLabels: {app: web}}\n  template: {metadata: {labels: {app: web}}, spec: {containers: [{name: web, image: \"web:1\"}]}}\n";

/// A complete Rollout up to its canary strategy's fields (8 lines).
const HEAD: &str = concat!(
    "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: web}\nspec:\n",
    "  selector: {matchLabels: {app: web}}\n",
    "  template: {metadata: {labels: {app: web}}, spec: {containers: [{name: web, image: \"web:1\"}]}}\n",
    "  strategy:\n    canary:\n"
);

#[test]
fn lint_accepts_the_example_rollouts() {
    let out = rollgate(&[
        "lint",
        "../examples/manifests/seed001-rollout-canary.yaml",
        "../examples/manifests/seed002-rollouts-demo.yaml",
    ]);
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains(
        "../examples/manifests/seed001-rollout-canary.yaml:1: default/rollout-canary: valid"
    ));
}

#[test]
fn lint_exits_1_and_names_each_field_and_line() {
    let out = rollgate(&["lint", INVALID]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "invalid-rollout.yaml:{}: shop/web: spec.strategy.canary.steps[3].setWeight: 250",
            line_of(INVALID, "- setWeight: 250")
        )),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 4, "{stdout}");
}

#[test]
fn a_missing_file_is_one_line() {
    let line = one_line_error(&["plan", "no-such-rollout.yaml"]);
    assert_eq!(
        line,
        "error: no-such-rollout.yaml: cannot read: no such file"
    );
}

#[test]
fn broken_yaml_is_one_line_with_its_line() {
    let path = write("broken.yaml", "kind: Rollout\nspec: {strategy: [\n");
    let line = one_line_error(&["plan", path.to_str().unwrap()]);
    assert!(line.contains("broken.yaml:3: not valid YAML: "), "{line}");
}

#[test]
fn two_fields_in_one_step_is_one_line() {
    let path = write(
        "two.yaml",
        &format!(
            "{HEAD}      steps:\n      - setWeight: 20\n        pause: {{}}\n      - setWeight: 20\n        setMirrorRoute: {{name: m}}\n"
        ),
    );
    let out = rollgate(&["lint", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("two.yaml:10: default/web: spec.strategy.canary.steps[0]"),
        "{stdout}"
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
        line.contains(
            "duration.yaml:10: default/web: spec.strategy.canary.steps[0].pause.duration: "
        ) && line.contains("soon"),
        "{line}"
    );
}

#[test]
fn a_wrong_type_is_in_plain_words() {
    let path = write(
        "type.yaml",
        &format!("{HEAD}      steps:\n      - setWeight: twenty\n"),
    );
    let line = one_line_error(&["lint", path.to_str().unwrap()]);
    assert!(
        line.ends_with("type.yaml:10: default/web: spec.strategy.canary.steps[0].setWeight: expected an integer from -2147483648 to 2147483647, found the string \"twenty\""),
        "{line}"
    );
    let path = write("unknown.yaml", &format!("{HEAD}      stepz: []\n"));
    let line = one_line_error(&["lint", path.to_str().unwrap()]);
    assert!(
        line.contains("unknown.yaml:9: default/web: spec.strategy.canary.stepz: unknown field \"stepz\" (known fields: "),
        "{line}"
    );
}

#[test]
fn duplicate_keys_name_the_key_and_line() {
    let path = write(
        "dup.yaml",
        &format!("{HEAD}      steps: []\n      maxSurge: 1\n      steps: []\n"),
    );
    let line = one_line_error(&["lint", path.to_str().unwrap()]);
    assert_eq!(
        line,
        format!(
            "{}:11: duplicate key \"steps\" (first written at line 9)",
            path.display()
        )
    );
}

#[test]
fn merge_keys_a_byte_order_mark_and_stdin() {
    let input = format!(
        "\u{feff}# shared settings\nx-canary: &canary\n  maxSurge: 1\n  steps: [{{setWeight: 10}}, {{pause: {{}}}}]\n---\n{HEAD}      <<: *canary\n      maxUnavailable: 0\n"
    );
    // Anchors are per document: the alias above refers to another document.
    let out = rollgate_stdin(&["lint", "-"], &input);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout),
        "stdin:14: an alias (*name) refers to no anchor (&name) before it\n"
    );
    let input = format!("\u{feff}{HEAD}      x-defaults: &canary\n        maxSurge: 1\n");
    let out = rollgate_stdin(&["lint", "-"], &input);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout)
            .contains("stdin:9: default/web: spec.strategy.canary.x-defaults: unknown field"),
        "{}",
        text(&out.stdout)
    );
    let input = format!(
        "\u{feff}apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {{name: web}}\nspec:\n  replicas: 4\n{POD}  strategy:\n    canary: &c\n      steps: [{{setWeight: 25}}, {{pause: {{}}}}]\n---\napiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {{name: api}}\nx-base: &base\n  replicas: 4\n{POD}  strategy:\n    canary:\n      steps: [{{setWeight: 25}}]\nspec:\n  <<: *base\n  replicas: 8\n"
    );
    let out = rollgate_stdin(&["plan", "-"], &input);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("Rollout default/web: canary, 4 replicas"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Rollout default/api: canary, 8 replicas"),
        "{stdout}"
    );
}

#[test]
fn a_kubectl_list_is_read_item_by_item() {
    let path = write(
        "list.yaml",
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: argoproj.io/v1alpha1\n  kind: Rollout\n  metadata: {name: one, namespace: shop}\n  spec:\n    selector: {matchLabels: {app: one}}\n    template: {metadata: {labels: {app: one}}, spec: {containers: [{name: one, image: one}]}}\n    strategy: {canary: {steps: [{setWeight: 10}]}}\n- apiVersion: argoproj.io/v1alpha1\n  kind: Rollout\n  metadata: {name: two, namespace: shop}\n  spec:\n    selector: {matchLabels: {app: two}}\n    template: {metadata: {labels: {app: two}}, spec: {containers: [{name: two, image: two}]}}\n    strategy: {canary: {steps: [{setWeight: 500}]}}\nmetadata: {resourceVersion: \"\"}\n",
    );
    let out = rollgate(&["lint", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("list.yaml:4: shop/one: valid"), "{stdout}");
    assert!(
        stdout.contains("list.yaml:17: shop/two: spec.strategy.canary.steps[0].setWeight: 500"),
        "{stdout}"
    );
}

#[test]
fn lint_names_each_rollout_of_a_multi_document_file_and_skips_others() {
    let path = write(
        "multi.yaml",
        &format!(
            "kind: Service\nmetadata: {{name: web}}\n---\n{HEAD}      steps: [{{setWeight: 5}}]\n---\napiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {{name: api}}\nspec:\n{POD}  strategy: {{canary: {{}}}}\n"
        ),
    );
    let other = write("service.yaml", "kind: Service\nmetadata: {name: web}\n");
    let out = rollgate(&["lint", path.to_str().unwrap(), other.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stdout));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("multi.yaml:4: default/web: valid"),
        "{stdout}"
    );
    assert!(
        stdout.contains("multi.yaml:14: default/api: valid"),
        "{stdout}"
    );
    assert!(
        stdout.contains("service.yaml: note: no Rollout in this file, skipped"),
        "{stdout}"
    );
}

#[test]
fn features_not_run_yet_are_warnings_unless_strict() {
    let path = write(
        "restart.yaml",
        &format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {{name: ex}}\nspec:\n{POD}  restartAt: \"2026-01-01T00:00:00Z\"\n  strategy:\n    blueGreen:\n      activeService: web\n"
        ),
    );
    let out = rollgate(&["lint", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stdout));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(": default/ex: spec.restartAt: warning: "),
        "{stdout}"
    );
    assert!(
        stdout.contains("default/ex: valid, with 1 warning"),
        "{stdout}"
    );
    let out = rollgate(&["lint", "--strict", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("spec.restartAt: error: "));
    // Plan describes it instead of failing, and warns.
    let out = rollgate(&["plan", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).starts_with("warning: "),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn experiment_steps_are_valid_and_planned() {
    let path = write(
        "experiment.yaml",
        &format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {{name: ex}}\nspec:\n{POD}  strategy:\n    canary:\n      steps:\n      - experiment:\n          duration: 5m\n          templates: [{{name: c, specRef: canary}}]\n"
        ),
    );
    let out = rollgate(&["lint", "--strict", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("default/ex: valid"),
        "{}",
        text(&out.stdout)
    );
    let out = rollgate(&["plan", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("when experiment c has run 5m (fails: abort)"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn blue_green_is_valid_and_planned_without_a_warning() {
    let path = write(
        "bluegreen.yaml",
        &format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {{name: bg}}\nspec:\n{POD}  strategy:\n    blueGreen:\n      activeService: web\n"
        ),
    );
    let out = rollgate(&["lint", "--strict", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("default/bg: valid"),
        "{}",
        text(&out.stdout)
    );
    let out = rollgate(&["plan", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("the active Service web switches to it"));
    assert_eq!(text(&out.stderr), "");
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
fn plan_shows_background_analysis_paused_and_fractional_weights() {
    let path = write(
        "bg.yaml",
        &format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {{name: web}}\nspec:\n  replicas: 10\n  paused: true\n{POD}  strategy:\n    canary:\n      canaryService: web-canary\n      stableService: web-stable\n      analysis:\n        templates: [{{templateName: error-rate}}]\n        startingStep: 1\n      trafficRouting:\n        maxTrafficWeight: 1000\n        plugins: {{argoproj-labs/gatewayAPI: {{httpRoute: web}}}}\n      steps:\n      - setWeight: 5\n      - pause: {{duration: 24h}}\n"
        ),
    );
    let out = rollgate(&["plan", path.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("Paused (spec.paused: true)"), "{stdout}");
    assert!(
        stdout.contains("Background analysis error-rate runs from step 2 until promotion; if it fails, the rollout aborts."),
        "{stdout}"
    );
    assert!(stdout.contains("0.5%    99.5%"), "{stdout}");
    assert!(stdout.contains("running"), "{stdout}");
    assert!(stdout.contains("after 1d"), "{stdout}");
}

#[test]
fn plan_as_json_and_yaml() {
    let files = [
        "../examples/manifests/seed001-rollout-canary.yaml",
        "../examples/manifests/seed002-rollouts-demo.yaml",
    ];
    let out = rollgate(&["plan", "--output", "json", files[0], files[1]]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plans: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let plans = plans.as_array().unwrap();
    assert_eq!(plans.len(), 2);
    assert_eq!(plans[0]["rollout"], "default/rollout-canary");
    assert_eq!(plans[0]["trafficRouting"]["maxTrafficWeight"], 100);
    assert_eq!(plans[0]["steps"][0]["canaryPercent"], 50.0);
    assert_eq!(plans[0]["steps"][0]["canaryPods"], 1);
    assert_eq!(plans[1]["shortest"]["timedPauseSeconds"], 30);
    assert_eq!(plans[1]["steps"][3]["pauseSeconds"], 10);
    let out = rollgate(&["plan", "-o", "yaml", files[0]]);
    assert!(out.status.success());
    let yaml: serde_json::Value = serde_yaml_ng::from_slice(&out.stdout).unwrap();
    assert_eq!(yaml[0]["steps"][2]["canaryWeight"], 100);
}

#[test]
fn hostile_input_is_answered_at_once() {
    // 200 KB of nested brackets: refused at the nesting limit.
    let n = 100_000;
    let path = write(
        "nested.yaml",
        &format!("kind: Rollout\nspec: {}{}\n", "[".repeat(n), "]".repeat(n)),
    );
    let line = one_line_error(&["lint", path.to_str().unwrap()]);
    assert!(
        line.ends_with("nested.yaml:2: values nested more than 100 levels deep"),
        "{line}"
    );
    // An alias bomb: refused at the expansion limit.
    let mut bomb = String::from("kind: Rollout\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let p = format!("*a{}", i - 1);
        bomb += &format!("a{i}: &a{i} [{}]\n", vec![p; 10].join(", "));
    }
    let path = write("bomb.yaml", &bomb);
    let line = one_line_error(&["lint", path.to_str().unwrap()]);
    assert!(
        line.ends_with("expand to more than 1000000 values"),
        "{line}"
    );
}

#[test]
fn a_300000_step_rollout_is_planned() {
    let mut yaml = format!("{HEAD}      steps:\n");
    for i in 0..300_000 {
        yaml += &format!("      - setWeight: {}\n", i % 100);
    }
    let path = write("steps.yaml", &yaml);
    let out = rollgate(&["plan", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("\n300000  setWeight: 99"),
        "{}",
        &stdout[stdout.len() - 500..]
    );
    let out = rollgate(&["lint", path.to_str().unwrap()]);
    assert!(out.status.success());
}

#[test]
fn oversized_stdin_is_refused() {
    let input = format!("kind: Rollout\n# {}\n", "x".repeat(16 << 20));
    let out = rollgate_stdin(&["lint", "-"], &input);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout),
        "stdin: larger than the limit of 16777216 bytes\n"
    );
}

/// Every command stops quietly when its output is closed, as in
/// `rollgate plan FILE | head -1`.
#[test]
fn a_closed_output_is_not_an_error() {
    let mut yaml = format!("{HEAD}      steps:\n");
    for i in 0..5_000 {
        yaml += &format!("      - setWeight: {}\n", i % 100);
    }
    let big = write("closed.yaml", &yaml);
    let big = big.to_str().unwrap();
    let commands: [&[&str]; 6] = [
        &["plan", big],
        &["plan", "-o", "json", big],
        &["lint", big, big, big],
        &["demo", "--fast"],
        &["completions", "bash"],
        &["--help"],
    ];
    for args in commands {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_rollgate"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}

#[test]
fn version_help_and_completions() {
    let out = rollgate(&["--version"]);
    assert_eq!(
        text(&out.stdout),
        format!("rollgate {}\n", env!("CARGO_PKG_VERSION"))
    );
    let out = rollgate(&["--help"]);
    assert!(text(&out.stdout).contains("Check Rollouts against Argo Rollouts' rules"));
    for shell in ["bash", "zsh", "fish"] {
        let out = rollgate(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = text(&out.stdout);
        assert!(script.contains("rollgate"), "{shell}");
        assert!(script.contains("completions"), "{shell}: {script}");
        assert!(script.contains("strict"), "{shell}");
        for live in [
            "promote",
            "abort",
            "retry",
            "pause",
            "resume",
            "restart",
            "undo",
            "status",
            "to-revision",
            "kubeconfig",
            "all-namespaces",
        ] {
            assert!(script.contains(live), "{shell}: {live}");
        }
    }
}

#[test]
fn live_arguments_are_checked_before_any_connection() {
    // A kubeconfig that does not exist: the argument errors come first.
    let out = rollgate(&[
        "status",
        "web",
        "--timeout",
        "soon",
        "--kubeconfig",
        "/nonexistent",
    ]);
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("expected a duration such as 30s, 5m or 1h, found \"soon\""),
        "{stderr}"
    );
    let out = rollgate(&["get", "rollout", "web", "--kubeconfig", "/nonexistent"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("error: kubeconfig: reading /nonexistent"),
        "{stderr}"
    );
}

#[test]
fn the_demo_names_every_problem_of_its_rollout() {
    let out = rollgate(&["demo", "--fast", INVALID]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 4, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "error: {INVALID}:{}: shop/web: spec.strategy.canary.steps[2].pause.duration: ",
            line_of(INVALID, "- pause: {duration: 1 fortnight}")
        )),
        "{stderr}"
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

/// Every Rollout of the corpus in `examples/corpus/` lints (features not run
/// yet are warnings) and plans.
#[test]
fn the_corpus_lints_and_plans() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/corpus");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("skipped: {} does not exist", dir.display());
        return;
    };
    let mut files: Vec<_> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no YAML in {}", dir.display());
    for file in &files {
        let f = file.to_str().unwrap();
        let out = rollgate(&["lint", f]);
        assert!(out.status.success(), "lint {f}: {}", text(&out.stdout));
        let out = rollgate(&["plan", f]);
        assert!(out.status.success(), "plan {f}: {}", text(&out.stderr));
    }
}

/// The README's `rollgate lint examples/manifests/*.yaml`: every complete
/// seed Rollout is valid (blue-green ones too), files without a
/// Rollout are skipped, and the command exits 0.
#[test]
fn the_readme_lint_of_the_seed_manifests_exits_0() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/manifests");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{files:?}");
    let args: Vec<&str> = std::iter::once("lint")
        .chain(files.iter().map(String::as_str))
        .collect();
    let out = rollgate(&args);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("default/rollouts-demo: valid"), "{stdout}");
    assert!(
        stdout.contains("no Rollout in this file, skipped"),
        "{stdout}"
    );
}
