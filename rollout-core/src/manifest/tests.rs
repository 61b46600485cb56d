use super::*;

fn one(text: &str) -> Object {
    let mut objects = read(text, "t.yaml").unwrap();
    assert_eq!(objects.len(), 1, "{objects:?}");
    objects.remove(0)
}

fn error(text: &str) -> String {
    read(text, "t.yaml").unwrap_err().to_string()
}

#[test]
fn lines_of_fields_and_items() {
    let o = one(
        "kind: Rollout\nmetadata:\n  name: web\n  annotations:\n    rollout.argoproj.io/revision: \"3\"\nspec:\n  strategy:\n    canary:\n      steps:\n      - setWeight: 20\n      - pause: {}\n      - setWeight: 40\n",
    );
    assert_eq!(o.lines.line_of(""), 1);
    assert_eq!(o.lines.line_of("metadata.name"), 3);
    assert_eq!(
        o.lines
            .line_of("metadata.annotations.rollout.argoproj.io/revision"),
        5
    );
    assert_eq!(o.lines.line_of("spec.strategy.canary.steps"), 9);
    assert_eq!(o.lines.line_of("spec.strategy.canary.steps[2]"), 12);
    assert_eq!(
        o.lines.line_of("spec.strategy.canary.steps[2].setWeight"),
        12
    );
    assert_eq!(
        o.lines
            .line_of("spec.strategy.canary.steps[1].pause.duration"),
        11
    );
    // A missing field is reported where its parent is written.
    assert_eq!(o.lines.line_of("spec.strategy.canary.maxSurge"), 8);
    assert_eq!(o.lines.line_of("spec.strategy.canary.steps[9]"), 9);
    assert_eq!(o.object_name(), "default/web");
}

#[test]
fn merge_keys_take_defaults_and_explicit_keys_win() {
    let o = one(
        "defaults: &d {replicas: 3, paused: true}\nmore: &m {revisionHistoryLimit: 2, replicas: 9}\nspec:\n  <<: [*d, *m]\n  paused: false\n",
    );
    assert_eq!(
        o.value["spec"],
        serde_json::json!({"replicas": 3, "paused": false, "revisionHistoryLimit": 2})
    );
    // A merged field is reported where it was written.
    assert_eq!(o.lines.line_of("spec.replicas"), 1);
    assert_eq!(o.lines.line_of("spec.paused"), 5);
}

#[test]
fn merging_a_scalar_is_an_error() {
    assert_eq!(
        error("spec:\n  <<: 3\n"),
        "t.yaml:2: `<<` merges a mapping or a list of mappings"
    );
}

#[test]
fn a_byte_order_mark_and_several_documents() {
    let text = "\u{feff}kind: Service\nmetadata: {name: a}\n---\n# only a comment\n---\nkind: Rollout\nmetadata: {name: b, namespace: shop}\n";
    let objects = read(text, "t.yaml").unwrap();
    let names: Vec<_> = objects.iter().map(Object::object_name).collect();
    assert_eq!(names, ["default/a", "shop/b"]);
    assert_eq!(objects[1].line(), 6);
    assert!(objects[1].is_rollout() && !objects[0].is_rollout());
}

#[test]
fn a_list_is_read_item_by_item() {
    let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: argoproj.io/v1alpha1\n  kind: Rollout\n  metadata: {name: one}\n- kind: Rollout\n  metadata:\n    name: two\nmetadata: {resourceVersion: \"\"}\n";
    let objects = read(text, "t.yaml").unwrap();
    assert_eq!(objects.len(), 2);
    assert_eq!(objects[1].object_name(), "default/two");
    assert_eq!(objects[1].line(), 7);
    assert_eq!(objects[1].lines.line_of("metadata.name"), 9);
}

#[test]
fn duplicate_keys_name_the_key_and_both_lines() {
    assert_eq!(
        error("kind: Rollout\nspec:\n  replicas: 1\n  paused: true\n  replicas: 2\n"),
        "t.yaml:5: duplicate key \"replicas\" (first written at line 3)"
    );
}

/// A deliberate difference from Kubernetes' own reader (YAML 1.1, where
/// `yes`, `on` and `no` are booleans): plain scalars resolve by the YAML 1.2
/// core schema, so `d: yes` stays the string "yes".
#[test]
fn scalars_follow_the_core_schema() {
    let o = one(
        "a: 1\nb: -2\nc: 1.5\nd: yes\ne: ~\nf: true\ng: \"3\"\nh: 0x1F\ni: !!str 4\nj: 1e3\nk: 12345678901234567890\nl: .inf\n",
    );
    assert_eq!(
        o.value,
        serde_json::json!({"a": 1, "b": -2, "c": 1.5, "d": "yes", "e": null, "f": true,
            "g": "3", "h": 31, "i": "4", "j": 1000.0, "k": 12345678901234567890u64, "l": ".inf"})
    );
    assert_eq!(
        error("a: !!int twelve\n"),
        "t.yaml:1: \"twelve\" is not an integer, as its tag says"
    );
}

#[test]
fn syntax_errors_name_the_line() {
    let e = error("kind: Rollout\nspec: {strategy: [\n");
    assert!(e.starts_with("t.yaml:3: not valid YAML: "), "{e}");
    let e = error("a: b: c\n");
    assert!(e.starts_with("t.yaml:1: not valid YAML: "), "{e}");
}

#[test]
fn a_document_that_is_not_a_mapping_is_an_error() {
    assert_eq!(
        error("kind: Service\n---\n- 1\n"),
        "t.yaml:3: a document must be a mapping (a Kubernetes object), not a list or a single value"
    );
}

#[test]
fn deep_nesting_is_refused_early() {
    // 200 KB of brackets: refused at the 101st level, not parsed for minutes.
    let n = 100_000;
    let text = format!("spec: {}{}\n", "[".repeat(n), "]".repeat(n));
    assert_eq!(
        error(&text),
        "t.yaml:1: values nested more than 100 levels deep"
    );
    let e = read_with(
        "a: {b: {c: 1}}\n",
        "t.yaml",
        &Limits {
            max_depth: 2,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "t.yaml:1: values nested more than 2 levels deep"
    );
}

#[test]
fn alias_expansion_is_capped() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        text += &format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        );
    }
    let e = error(&text);
    assert!(
        e.ends_with("aliases (*name) expand to more than 1000000 values"),
        "{e}"
    );
}

#[test]
fn the_size_limit_is_checked_first() {
    let limits = Limits {
        max_bytes: 10,
        ..Limits::default()
    };
    let e = read_with("kind: Rollout\n", "big.yaml", &limits).unwrap_err();
    assert_eq!(
        e.to_string(),
        "big.yaml: the input is 14 bytes, more than the limit of 10 bytes"
    );
}

#[test]
fn many_steps_read_in_one_pass() {
    let mut text = String::from(
        "kind: Rollout\nmetadata: {name: big}\nspec:\n  strategy:\n    canary:\n      steps:\n",
    );
    for i in 0..300_000 {
        text += &format!("      - setWeight: {}\n", i % 100);
    }
    let o = one(&text);
    let r = o.rollout().unwrap();
    assert_eq!(r.canary().unwrap().steps.len(), 300_000);
    assert_eq!(
        o.lines
            .line_of("spec.strategy.canary.steps[299999].setWeight"),
        300_006
    );
}
