//! The judge's configuration, classification and scoring rules, metric by
//! metric and run by run, on hand-made samples.

use rollgate_judge::{
    Classification, JudgeConfig, JudgeError, MetricConfig, RunResult, Samples, Verdict, classify,
    judge,
};
use serde_json::{Value, json};

/// 100 baseline values spread from 100 to 199.
fn baseline() -> Vec<f64> {
    (0..100).map(|i| 100.0 + f64::from(i)).collect()
}

/// 100 values from 100 to 109.9: a narrow spread, where small shifts are significant.
fn narrow(by: f64) -> Vec<f64> {
    (0..100)
        .map(|i| (100.0 + f64::from(i) / 10.0) * by)
        .collect()
}

fn scaled(by: f64) -> Vec<f64> {
    baseline().iter().map(|v| v * by).collect()
}

fn metric(value: Value) -> MetricConfig {
    serde_json::from_value(value).expect("valid metric")
}

fn config(value: Value) -> JudgeConfig {
    JudgeConfig::from_value(value, "test").expect("valid configuration")
}

fn config_error(value: Value) -> String {
    JudgeConfig::from_value(value, "template web")
        .unwrap_err()
        .to_string()
}

fn thresholds() -> Value {
    json!({"marginal": 50, "pass": 75})
}

#[test]
fn configuration_reads_from_yaml_as_a_template_carries_it() {
    let yaml = r"
metrics:
  - name: latency-p99
    direction: increase
    critical: true
    groups: [latency]
    nanStrategy: replace
    outliers: {strategy: remove, outlierFactor: 2.5}
    effectSize: {allowedIncrease: 1.1, criticalIncrease: 1.5}
  - name: success-rate
    direction: decrease
    mustHaveData: true
    groups: [errors]
groupWeights: {latency: 70, errors: 30}
scoreThresholds: {marginal: 60, pass: 80}
";
    let value: Value = serde_yaml_ng::from_str(yaml).expect("yaml");
    let c = config(value);
    assert_eq!(c.metrics.len(), 2);
    assert!(c.metrics[0].critical && c.metrics[1].must_have_data);
    assert_eq!(c.metrics[0].effect_size.allowed_increase, Some(1.1));
    assert_eq!(c.group_weights["latency"], 70.0);
}

#[test]
fn bad_configuration_is_refused_naming_the_field() {
    let m = |extra: Value| {
        let mut base = json!({"name": "latency"});
        base.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"metrics": [base], "scoreThresholds": thresholds()})
    };
    let cases = [
        (
            m(json!({"tolerance": 0.2})),
            "template web: metrics[0].tolerance: unknown field \"tolerance\" (known fields: name, direction, critical, mustHaveData, muted, groups, nanStrategy, outliers, effectSize)",
        ),
        (
            m(json!({"effectSize": {"allowedIncrease": "ten"}})),
            "template web: metrics[0].effectSize.allowedIncrease: expected a number, found the string \"ten\"",
        ),
        (
            m(json!({"critical": "yes"})),
            "template web: metrics[0].critical: expected true or false, found the string \"yes\"",
        ),
        (
            m(json!({"effectSize": {"measure": "cles", "allowedIncrease": 1.5}})),
            "template web: metrics[0].effectSize.allowedIncrease: expected a probability from 0 to 1, found 1.5",
        ),
        (
            m(json!({"outliers": {"strategy": "remove", "outlierFactor": 0}})),
            "template web: metrics[0].outliers.outlierFactor: expected a number above 0, found 0",
        ),
        (
            json!({"metrics": [{"name": "a"}, {"name": "a"}], "scoreThresholds": thresholds()}),
            "template web: metrics[1].name: \"a\" is also the name of metrics[0]",
        ),
        (
            json!({"metrics": [{"name": "a", "groups": ["x"]}], "groupWeights": {"y": 10}, "scoreThresholds": thresholds()}),
            "template web: groupWeights.y: no metric is in the group \"y\" (groups: \"x\")",
        ),
        (
            json!({"metrics": [{"name": "a", "groups": ["x"]}, {"name": "b", "groups": ["y"]}],
                   "groupWeights": {"x": 60, "y": 30}, "scoreThresholds": thresholds()}),
            "template web: groupWeights: the weights total 90; they must total 100",
        ),
        (
            json!({"metrics": [{"name": "a"}], "scoreThresholds": {"marginal": 80, "pass": 70}}),
            "template web: scoreThresholds: marginal (80) must not exceed pass (70)",
        ),
        (
            json!({"metrics": [{"name": "a"}]}),
            "template web: the field \"scoreThresholds\" is required",
        ),
        (
            json!({"metrics": [], "scoreThresholds": thresholds()}),
            "template web: metrics: expected at least one metric",
        ),
        (
            json!({"metrics": [{"name": "a", "muted": true}], "scoreThresholds": thresholds()}),
            "template web: metrics: every metric is muted, so nothing would be scored",
        ),
    ];
    for (value, expected) in cases {
        let message = config_error(value);
        assert_eq!(message, expected);
        for rust in ["f64", "bool", "struct", "Option", "enum"] {
            assert!(!message.contains(rust), "{message}");
        }
    }
}

#[test]
fn a_significantly_higher_canary_is_high_unless_the_direction_allows_it() {
    let m = metric(json!({"name": "latency", "direction": "increase"}));
    let r = classify(&m, &scaled(1.2), &baseline());
    assert_eq!(r.classification, Classification::High, "{}", r.reason);
    assert!(
        r.reason
            .starts_with("canary higher: the 98% interval of the shift"),
        "{}",
        r.reason
    );
    let c = r.comparison.expect("compared");
    assert!(c.shift.lower > 0.0 && c.test.p_value < 1e-6);
    assert!((c.effect_size - 1.2).abs() < 1e-12);
    assert!(!r.critical);

    let lower = classify(&m, &scaled(0.8), &baseline());
    assert_eq!(lower.classification, Classification::Pass);
    assert_eq!(lower.reason, "lower, which direction increase allows");

    let either = metric(json!({"name": "latency"}));
    assert_eq!(
        classify(&either, &scaled(0.8), &baseline()).classification,
        Classification::Low
    );
}

#[test]
fn the_effect_size_tolerance_lets_small_significant_changes_pass() {
    let m = metric(
        json!({"name": "latency", "direction": "increase", "effectSize": {"allowedIncrease": 1.1}}),
    );
    let small = classify(&m, &narrow(1.05), &narrow(1.0));
    assert_eq!(small.classification, Classification::Pass);
    assert!(
        small
            .reason
            .starts_with("higher, but mean ratio 1.05 is below allowedIncrease 1.1"),
        "{}",
        small.reason
    );
    assert_eq!(
        classify(&m, &scaled(1.2), &baseline()).classification,
        Classification::High
    );

    let cles = metric(
        json!({"name": "latency", "effectSize": {"measure": "cles", "allowedIncrease": 0.9}}),
    );
    let r = classify(&cles, &scaled(1.1), &baseline());
    assert_eq!(r.classification, Classification::Pass, "{}", r.reason);
    let effect = r.comparison.expect("compared").effect_size;
    assert!(effect > 0.5 && effect < 0.9, "{effect}");
}

#[test]
fn a_shift_too_small_for_the_tolerance_band_passes() {
    // The interval excludes 0 but not a quarter of the estimate (Kayenta's tolerance).
    let m = metric(json!({"name": "latency"}));
    let r = classify(&m, &narrow(1.011), &narrow(1.0));
    assert_eq!(r.classification, Classification::Pass);
    assert!(r.reason.starts_with("no clear shift"), "{}", r.reason);
    let s = r.comparison.expect("compared").shift;
    assert!(s.lower > 0.0 && s.lower < 0.25 * s.estimate, "{s:?}");
}

#[test]
fn identical_and_constant_samples_pass() {
    let m = metric(json!({"name": "errors"}));
    let r = classify(&m, &baseline(), &baseline());
    assert_eq!(
        (r.classification, r.reason.as_str()),
        (
            Classification::Pass,
            "the canary and baseline samples are identical"
        )
    );
    let r = classify(&m, &[0.0; 5], &[0.0; 8]);
    assert_eq!(
        (r.classification, r.reason.as_str()),
        (Classification::Pass, "every sample is 0")
    );
    // Each side constant, the two different: the shift is exact, no noise needed.
    let r = classify(&m, &[2.0; 5], &[1.0; 8]);
    assert_eq!(r.classification, Classification::High);
    assert_eq!(r.comparison.expect("compared").shift.lower, 1.0);
}

#[test]
fn missing_data_follows_the_nan_strategy() {
    let m = metric(json!({"name": "latency"}));
    let r = classify(&m, &[f64::NAN, f64::NAN], &baseline());
    assert_eq!(
        (r.classification, r.reason.as_str()),
        (Classification::NoData, "the canary has no samples")
    );
    assert!(!r.critical && !r.missing_required_data);

    let replace = metric(json!({"name": "latency", "nanStrategy": "replace"}));
    let r = classify(&replace, &[f64::NAN, 1.0, 2.0], &[1.0, 2.0, 3.0]);
    assert_eq!(r.canary.count, 3);
    assert_eq!(r.canary.median, 1.0);
    assert_eq!(
        classify(&replace, &[], &[]).classification,
        Classification::Pass
    );

    let required = metric(json!({"name": "latency", "mustHaveData": true}));
    assert!(classify(&required, &[], &baseline()).missing_required_data);
    let critical = metric(json!({"name": "latency", "critical": true}));
    assert!(classify(&critical, &[], &baseline()).critical);
}

#[test]
fn outliers_are_removed_from_each_side_when_asked() {
    let mut canary = baseline();
    canary.push(1e6);
    let keep = metric(json!({"name": "latency"}));
    assert_eq!(classify(&keep, &canary, &baseline()).canary.count, 101);
    let remove = metric(json!({"name": "latency", "outliers": {"strategy": "remove"}}));
    let r = classify(&remove, &canary, &baseline());
    assert_eq!((r.canary.count, r.baseline.count), (100, 100));
    assert_eq!(r.reason, "the canary and baseline samples are identical");
}

#[test]
fn an_infinite_sample_is_an_error_naming_it() {
    let m = metric(json!({"name": "latency", "critical": true}));
    let r = classify(&m, &[1.0, f64::INFINITY], &[1.0]);
    assert_eq!(r.classification, Classification::Error);
    assert_eq!(
        r.reason,
        "canary sample 2 is inf; only finite values can be compared"
    );
    assert!(r.critical);
}

fn run(config: &JudgeConfig, samples: &[(&str, Vec<f64>, Vec<f64>)]) -> Verdict {
    let samples: Vec<Samples<'_>> = samples
        .iter()
        .map(|(metric, canary, baseline)| Samples {
            metric,
            canary,
            baseline,
        })
        .collect();
    judge(config, &samples).expect("judged")
}

#[test]
fn groups_score_their_pass_share_and_unweighted_groups_share_the_rest() {
    let c = config(json!({
        "metrics": [
            {"name": "a", "groups": ["latency"]},
            {"name": "b", "groups": ["errors"]},
            {"name": "c", "groups": ["errors", "saturation"]},
            {"name": "muted", "muted": true, "groups": ["latency"]}
        ],
        "groupWeights": {"latency": 50},
        "scoreThresholds": {"marginal": 60, "pass": 90}
    }));
    let v = run(
        &c,
        &[
            ("a", baseline(), baseline()),
            ("b", scaled(1.5), baseline()),
            ("c", baseline(), baseline()),
            ("muted", scaled(3.0), baseline()),
        ],
    );
    // latency 100 · 0.5 + errors 50 · 0.25 + saturation 100 · 0.25
    assert_eq!(v.score, 87.5);
    assert_eq!(v.result, RunResult::Marginal);
    let weights: Vec<(&str, f64, f64)> = v
        .groups
        .iter()
        .map(|g| (g.name.as_str(), g.score, g.weight))
        .collect();
    assert_eq!(
        weights,
        [
            ("errors", 50.0, 25.0),
            ("latency", 100.0, 50.0),
            ("saturation", 100.0, 25.0)
        ]
    );
    assert_eq!(v.metrics[3].classification, Classification::High);
}

#[test]
fn a_failing_critical_metric_fails_the_run_on_its_own() {
    let c = config(json!({
        "metrics": [
            {"name": "latency", "critical": true, "effectSize": {"criticalIncrease": 1.4}},
            {"name": "a"}, {"name": "b"}, {"name": "d"}
        ],
        "scoreThresholds": {"marginal": 50, "pass": 70}
    }));
    let others = |latency: Vec<f64>| {
        vec![
            ("latency", latency, baseline()),
            ("a", baseline(), baseline()),
            ("b", baseline(), baseline()),
            ("d", baseline(), baseline()),
        ]
    };
    let v = run(&c, &others(scaled(1.5)));
    assert_eq!((v.result, v.score), (RunResult::Fail, 0.0));
    assert!(
        v.reason
            .as_deref()
            .unwrap()
            .starts_with("critical metric latency is High: canary higher (critical)"),
        "{v:?}"
    );
    // High, but under criticalIncrease: scored as any High metric.
    let v = run(&c, &others(scaled(1.2)));
    assert_eq!(
        (v.result, v.score, v.reason.as_deref()),
        (RunResult::Pass, 75.0, None)
    );
}

#[test]
fn no_data_on_half_the_metrics_fails_and_required_data_counts_as_failure() {
    let c = config(json!({
        "metrics": [{"name": "a"}, {"name": "b"}, {"name": "c", "mustHaveData": true}, {"name": "d"}],
        "scoreThresholds": {"marginal": 50, "pass": 75}
    }));
    let v = run(
        &c,
        &[
            ("a", vec![], baseline()),
            ("b", vec![], vec![]),
            ("c", baseline(), baseline()),
            ("d", baseline(), baseline()),
        ],
    );
    assert_eq!((v.result, v.score), (RunResult::Fail, 0.0));
    assert_eq!(
        v.reason.as_deref(),
        Some("2 of 4 metrics have no data (50% or more fails)")
    );

    let v = run(
        &c,
        &[
            ("a", vec![], baseline()),
            ("b", baseline(), baseline()),
            ("c", vec![], baseline()),
            ("d", baseline(), baseline()),
        ],
    );
    // a: no data, scored 100 as a group without data; c: required data missing, 0.
    assert_eq!(v.score, 75.0);
    assert_eq!(v.result, RunResult::Pass);
}

#[test]
fn samples_must_match_the_configured_metrics() {
    let c = config(json!({"metrics": [{"name": "a"}], "scoreThresholds": thresholds()}));
    let x = baseline();
    let s = |metric| Samples {
        metric,
        canary: &x,
        baseline: &x,
    };
    assert_eq!(
        judge(&c, &[s("a"), s("z")]).unwrap_err(),
        JudgeError::UnknownMetric("z".into())
    );
    assert_eq!(
        judge(&c, &[s("a"), s("a")]).unwrap_err(),
        JudgeError::DuplicateSamples("a".into())
    );
    assert_eq!(
        judge(&c, &[]).unwrap_err(),
        JudgeError::MissingSamples("a".into())
    );
}

#[test]
fn the_verdict_prints_as_a_short_table() {
    let c = config(json!({
        "metrics": [{"name": "latency-p99", "direction": "increase"}, {"name": "errors", "muted": true}],
        "scoreThresholds": {"marginal": 50, "pass": 75}
    }));
    let v = run(
        &c,
        &[
            ("latency-p99", scaled(1.2), baseline()),
            ("errors", vec![], vec![]),
        ],
    );
    let text = v.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "Fail, score 0 (pass 75, marginal 50)");
    assert!(
        lines[1].starts_with(
            "METRIC       RESULT          CANARY med/mean  BASELINE med/mean  SHIFT [98% CI]"
        ),
        "{text}"
    );
    assert!(
        lines[2].starts_with(
            "latency-p99  High            179.4/179.4      149.5/149.5        +29.9 ["
        ),
        "{text}"
    );
    assert!(
        lines[3].starts_with("errors       NoData (muted)  -/-"),
        "{text}"
    );
    assert!(
        lines[3].ends_with("neither the canary nor the baseline has samples"),
        "{text}"
    );
    assert_eq!(lines.len(), 4);
}
