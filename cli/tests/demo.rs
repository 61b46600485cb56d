//! `rollgate demo FILE --fast` as a user runs it: the story is told with the
//! file's own workload, containers and images, and the views are drawn like
//! `kubectl argo rollouts get rollout`.

use std::path::PathBuf;
use std::process::{Command, Output};

/// Writes `content` to a fresh file in the test's temporary directory.
fn manifest(name: &str, content: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("demo");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// Runs `rollgate demo --fast [FILE]` with extra environment variables;
/// stdout is a pipe. `NO_COLOR` and `CLICOLOR_FORCE` from the test's own
/// environment are removed first.
fn demo(file: Option<&PathBuf>, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rollgate"));
    cmd.arg("demo").arg("--fast");
    if let Some(f) = file {
        cmd.arg(f);
    }
    cmd.env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE");
    cmd.envs(env.iter().copied());
    cmd.output().expect("the binary runs")
}

/// The standard output of a run that must succeed.
fn story(file: Option<&PathBuf>, env: &[(&str, &str)]) -> String {
    let out = demo(file, env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    String::from_utf8(out.stdout).unwrap()
}

const CANARY: &str = "  strategy:
    canary:
      canaryService: checkout-canary
      stableService: checkout-stable
      trafficRouting:
        plugins:
          argoproj-labs/gatewayAPI: {httpRoute: checkout}
      steps:
      - setWeight: 30
      - pause: {}
      - setWeight: 60
      - pause: {duration: 20s}
";

/// A Rollout named `name` with its own two-container pod template.
fn template_rollout(name: &str) -> String {
    format!(
        "apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: {name}
spec:
  replicas: 3
  selector:
    matchLabels: {{app: checkout}}
  template:
    metadata:
      labels: {{app: checkout}}
    spec:
      containers:
      - name: checkout-api
        image: registry.local/shop/checkout:2.7.4
      - name: metrics-sidecar
        image: registry.local/shop/exporter:0.9
{CANARY}"
    )
}

const WORKLOAD_REF: &str = "apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: checkout
spec:
  replicas: 3
  workloadRef:
    apiVersion: apps/v1
    kind: Deployment
    name: checkout-deploy
";

const DEPLOYMENT: &str = "---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout-deploy
spec:
  replicas: 0
  selector:
    matchLabels: {app: checkout}
  template:
    metadata:
      labels: {app: checkout}
    spec:
      containers:
      - name: api
        image: registry.local/shop/checkout:5.0.1
";

#[test]
fn the_story_uses_the_files_containers_and_images() {
    let file = manifest("template.yaml", &template_rollout("checkout"));
    let out = story(Some(&file), &[]);
    assert!(
        out.contains("Workload: the Rollout's own pod template; containers checkout-api (registry.local/shop/checkout:2.7.4), metrics-sidecar (registry.local/shop/exporter:0.9)"),
        "{out}"
    );
    assert!(
        out.contains("Images:          registry.local/shop/checkout:2.7.4 (stable)\n                 registry.local/shop/exporter:0.9 (stable)\n"),
        "{out}"
    );
    // During the update, the sidecar's image runs in both ReplicaSets.
    assert!(
        out.contains("registry.local/shop/checkout:2.7.5 (canary)\n                 registry.local/shop/exporter:0.9 (canary, stable)\n"),
        "{out}"
    );
    assert!(out.contains("ready:2/2"), "{out}");
    assert!(!out.contains("hello"), "{out}");
}

#[test]
fn a_template_rollout_is_updated_with_kubectl_argo_rollouts_set_image() {
    let file = manifest("set-image.yaml", &template_rollout("checkout"));
    let out = story(Some(&file), &[]);
    assert!(
        out.contains("\n$ kubectl argo rollouts set image checkout checkout-api=registry.local/shop/checkout:2.7.5\nrollout \"checkout\" image updated\n"),
        "{out}"
    );
    assert!(
        out.contains("$ kubectl argo rollouts promote checkout\nrollout 'checkout' promoted\n")
    );
    assert!(!out.contains("kubectl patch"), "{out}");
    assert!(!out.contains("kubectl set image"), "{out}");
}

#[test]
fn a_workload_ref_rollout_is_updated_by_patching_its_deployment() {
    let file = manifest(
        "workload-ref.yaml",
        &format!("{WORKLOAD_REF}{CANARY}{DEPLOYMENT}"),
    );
    let out = story(Some(&file), &[]);
    assert!(
        out.contains("Workload: spec.workloadRef to Deployment checkout-deploy, found in "),
        "{out}"
    );
    assert!(
        out.contains("\n$ kubectl set image deployment/checkout-deploy api=registry.local/shop/checkout:5.0.2\ndeployment.apps/checkout-deploy image updated\n"),
        "{out}"
    );
    assert!(
        out.contains("registry.local/shop/checkout:5.0.1 (stable)"),
        "{out}"
    );
    assert!(!out.contains("kubectl argo rollouts set image"), "{out}");
}

#[test]
fn a_deployment_missing_from_the_file_is_said_so() {
    let file = manifest("ref-only.yaml", &format!("{WORKLOAD_REF}{CANARY}"));
    let out = story(Some(&file), &[]);
    assert!(
        out.contains(&format!(
            "Workload: spec.workloadRef to Deployment checkout-deploy, which is not in {}: the demo gives it one container, checkout-deploy (checkout-deploy:1.0.0)",
            file.display()
        )),
        "{out}"
    );
    assert!(out.contains(
        "$ kubectl set image deployment/checkout-deploy checkout-deploy=checkout-deploy:1.0.1"
    ));
}

#[test]
fn the_failing_release_is_labelled_as_the_demos() {
    let file = manifest("labelled.yaml", &template_rollout("checkout"));
    let out = story(Some(&file), &[]);
    let label = format!(
        "▶ Release 3, a failing release added by the demo (not part of {}): image registry.local/shop/checkout:2.7.6 for container checkout-api; the demo adds a background analysis (template success-rate)",
        file.display()
    );
    assert!(out.contains(&label), "{out}");
    let release3 = out.split("▶ Release 3").nth(1).unwrap();
    assert!(
        release3.contains("Status:          ✖ Degraded"),
        "{release3}"
    );
    assert!(release3.contains("RolloutAborted"), "{release3}");
    // Releases 1 and 2 are the file's own and succeed.
    let before = out.split("▶ Release 3").next().unwrap();
    assert!(!before.contains("Degraded"), "{before}");
    assert!(before.contains("▶ Release 2: a new image for container checkout-api"));
}

#[test]
fn no_colour_when_piped_or_with_no_color() {
    let file = manifest("colour.yaml", &template_rollout("checkout"));
    assert!(!story(Some(&file), &[]).contains('\x1b'));
    // Forcing colour shows the view is coloured when colour is wanted...
    let forced = story(Some(&file), &[("CLICOLOR_FORCE", "1")]);
    assert!(forced.contains("\x1b[32m✔\x1b[0m Healthy"), "{forced}");
    assert!(forced.contains("(\x1b[33mcanary\x1b[0m)"), "{forced}");
    // ...and NO_COLOR with any non-empty value turns it off even then.
    for value in ["1", "true", "0"] {
        let out = story(Some(&file), &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", value)]);
        assert!(!out.contains('\x1b'), "NO_COLOR={value}");
    }
    // An empty NO_COLOR does not count.
    let empty = story(Some(&file), &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "")]);
    assert!(empty.contains('\x1b'));
}

#[test]
fn the_tree_is_drawn_like_get_rollout() {
    let out = story(None, &[]);
    for needle in [
        "NAME ",
        "  KIND ",
        "  STATUS ",
        "  AGE ",
        "  INFO\n",
        "⟳ rollout-canary ",
        "├──# revision:2\n",
        "└──# revision:1\n",
        "│  └──⧉ rollout-canary-",
        "   └──⧉ rollout-canary-",
        "├──□ rollout-canary-",
        "└──□ rollout-canary-",
        "└──α rollout-canary-",
        "$ kubectl set image deployment/web web=example/web:1.4.1",
    ] {
        assert!(out.contains(needle), "{needle:?} missing from:\n{out}");
    }
    // AGE comes from the virtual clock: 2m30s into the story, as kubectl prints it.
    assert!(out.contains("✖ Degraded    2m30s"), "{out}");
}

/// For every NAME / KIND / STATUS / AGE / INFO table in `out`, checks that
/// each column starts at the same character on every line, after at least
/// two spaces. Returns how many tables it checked.
fn assert_columns_aligned(out: &str) -> usize {
    let mut tables = 0;
    let lines: Vec<&str> = out.lines().collect();
    for (i, header) in lines.iter().enumerate() {
        if !header.starts_with("NAME ") {
            continue;
        }
        tables += 1;
        let starts: Vec<usize> = ["KIND", "STATUS", "AGE"]
            .iter()
            .map(|h| header.find(h).map(|b| header[..b].chars().count()).unwrap())
            .collect();
        for row in lines[i + 1..].iter().take_while(|l| !l.is_empty()) {
            if row.contains("# revision:") {
                continue;
            }
            if !row.starts_with(['⟳', '├', '└', '│']) && !row.starts_with("   ") {
                break; // the events and pod lines after the table
            }
            let cells: Vec<char> = row.chars().collect();
            for &at in &starts {
                assert!(cells.len() > at, "short row {row:?}");
                assert_eq!(
                    &cells[at - 2..at],
                    [' ', ' '],
                    "no gap before column {at}: {row:?}"
                );
                assert_ne!(
                    cells[at], ' ',
                    "column {at} does not start in place: {row:?}"
                );
            }
        }
    }
    tables
}

#[test]
fn long_names_keep_the_columns_aligned() {
    let name = "checkout-service-for-the-european-storefront-with-a-very-long-name";
    let file = manifest("long.yaml", &template_rollout(name));
    let out = story(Some(&file), &[]);
    assert!(out.contains(&format!("⟳ {name}  ")), "{out}");
    assert!(assert_columns_aligned(&out) >= 6, "{out}");
    assert!(assert_columns_aligned(&story(None, &[])) >= 6);
}

#[test]
fn a_workload_it_cannot_run_is_a_one_line_error() {
    let text = format!("{WORKLOAD_REF}{CANARY}").replace("kind: Deployment", "kind: StatefulSet");
    let file = manifest("statefulset.yaml", &text);
    let out = demo(Some(&file), &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim_end(),
        format!(
            "error: {}: rollout default/checkout: spec.workloadRef.kind: \"StatefulSet\" is not supported; expected Deployment, ReplicaSet or PodTemplate",
            file.display()
        )
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_rollout_that_finishes_before_the_analysis_fails_is_not_said_to_abort() {
    let text =
        template_rollout("quick").replace(&CANARY[CANARY.find("      steps:").unwrap()..], "");
    let file = manifest("no-steps.yaml", &text);
    let out = story(Some(&file), &[]);
    assert!(!out.contains("Degraded"), "{out}");
    assert!(
        out.ends_with(
            "so there was nothing left to abort: no step of this Rollout waits that long.\n"
        ),
        "{out}"
    );
}

/// The seed's blue-green Rollout: `notifications-service-blue` active,
/// `notifications-service-green` preview, promoted by hand.
fn seed_blue_green() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/manifests/seed000-notifications-service-bluegreen.yaml"
    ))
}

/// The lines of `out` that contain `needle`, in order.
fn lines_with<'a>(out: &'a str, needle: &str) -> Vec<&'a str> {
    out.lines().filter(|l| l.contains(needle)).collect()
}

#[test]
fn a_blue_green_rollout_previews_switches_on_promotion_and_keeps_the_old_pods_a_while() {
    let out = story(Some(&seed_blue_green()), &[]);
    assert!(out.contains("Strategy:        BlueGreen\n"), "{out}");
    assert!(
        !out.contains("SetWeight"),
        "a blue-green view has no weights: {out}"
    );
    assert!(
        out.contains("Blue-green: the new version comes up beside the current one, behind the preview Service notifications-service-green; the active Service notifications-service-blue keeps sending users to the current version and switches on promote (kubectl argo rollouts promote)"),
        "{out}"
    );
    // Each Service pointed at a revision is a line: the preview at each new
    // revision, the active one at the first deploy and at promotion only.
    let preview = lines_with(&out, "preview Service notifications-service-green selects");
    let revisions: Vec<&str> = preview
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap())
        .collect();
    assert_eq!(revisions, ["1)", "2)", "3)"], "{out}");
    let active = lines_with(&out, "active Service notifications-service-blue selects");
    assert_eq!(active.len(), 2, "{out}");
    assert!(active[1].ends_with("(revision 2)"), "{out}");
    // Release 2 waits for a person, then switches.
    let paused = out.find("Message:         BlueGreenPause").expect("paused");
    let promoted = out
        .find("$ kubectl argo rollouts promote notifications-service-bluegreen\n")
        .expect("promoted");
    assert!(paused < promoted && promoted < out.find(active[1]).unwrap());
    assert!(
        out.contains("salaboy/notifications-service-<HASH>:v1.0.1 (preview)"),
        "{out}"
    );
    assert!(
        out.contains("salaboy/notifications-service-<HASH>:v1.0.1 (active, stable)"),
        "{out}"
    );
    // After the switch the old ReplicaSet keeps its pods for scaleDownDelaySeconds.
    assert!(
        out.lines()
            .any(|l| l.contains("ReplicaSet  ✔ Healthy") && l.ends_with("delay:30s")),
        "{out}"
    );
    // Release 3 fails its pre-promotion analysis: never switched, preview scaled down.
    assert!(
        out.contains("the demo adds a pre-promotion analysis (template success-rate)"),
        "{out}"
    );
    assert!(out.contains(
        "Warning RolloutAborted: Rollout aborted update to revision 3: Blue/green pre-promotion analysis phase error/failed"
    ));
    let last = out.rsplit("── ").next().unwrap();
    assert!(last.contains("Status:          ✖ Degraded"), "{last}");
    assert!(last.contains("-3-pre "), "the pre-promotion run: {last}");
    assert!(
        last.lines().any(|l| l.contains("ReplicaSet")
            && l.contains("• ScaledDown")
            && l.contains("preview")),
        "{last}"
    );
    assert!(
        last.contains("Images:          salaboy/notifications-service-<HASH>:v1.0.1 (active, stable)\nReplicas:"),
        "{last}"
    );
    assert!(
        out.ends_with("never left the stable version, and the new version was scaled down 30s (abortScaleDownDelaySeconds) after the abort.\n"),
        "{out}"
    );
}

const EXPERIMENT: &str = "  strategy:
    canary:
      canaryService: checkout-canary
      stableService: checkout-stable
      trafficRouting:
        plugins:
          argoproj-labs/gatewayAPI: {httpRoute: checkout}
      steps:
      - setWeight: 20
      - experiment:
          duration: 2m
          templates:
          - {name: preview, specRef: canary, weight: 10, service: {}}
          - {name: baseline, specRef: stable}
      - setWeight: 50
      - pause: {}
";

#[test]
fn an_experiment_step_shows_its_experiment_its_traffic_and_a_failing_one_aborts() {
    let text = template_rollout("checkout").replace(CANARY, EXPERIMENT);
    let file = manifest("experiment.yaml", &text);
    let out = story(Some(&file), &[]);
    let created = lines_with(
        &out,
        "Normal  ExperimentCreated: Created Experiment 'checkout-",
    );
    assert_eq!(created.len(), 2, "one per release: {out}");
    let name = created[0].split('\'').nth(1).unwrap().to_owned();
    assert!(name.ends_with("-2-1"), "{name}");
    // The Experiment and its templates' ReplicaSets in the tree.
    assert!(out.contains(&format!("Σ {name}  ")), "{out}");
    assert!(
        lines_with(&out, &format!("Σ {name}"))
            .iter()
            .any(|l| l.contains("Experiment  ◌ Running")),
        "{out}"
    );
    assert!(out.contains(&format!("⧉ {name}-preview ")), "{out}");
    assert!(out.contains(&format!("⧉ {name}-baseline ")), "{out}");
    // While it runs, its weighted template is an extra destination.
    assert!(
        out.contains(&format!(
            "traffic: canary 20 · experiment {name}-preview 10 · stable 70 (of 100)\n"
        )),
        "{out}"
    );
    assert!(
        out.contains("traffic: canary 20 · stable 80 (of 100)\n"),
        "{out}"
    );
    assert!(out.contains("RolloutStepCompleted: Rollout step 2/4 completed (experiment)"));
    // Release 3's Experiment fails: the update aborts.
    assert!(
        out.contains("the demo makes every Experiment and AnalysisRun of this release fail"),
        "{out}"
    );
    assert!(
        out.contains("Rollout aborted update to revision 3: Experiment analysis phase is error/failed: Experiment checkout-"),
        "{out}"
    );
    let last = out.rsplit("── ").next().unwrap();
    assert!(last.contains("Experiment  ✖ Failed"), "{last}");
    assert!(out.ends_with("the canary was scaled down after its abort delay.\n"));
}
