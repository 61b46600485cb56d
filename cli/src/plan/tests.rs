use rollout_core::steps;

use super::walk::{header_route, mirror_route};
use super::*;
use crate::load::rollouts_from_str;

const SEED_002: &str = include_str!("../../../examples/manifests/seed002-rollouts-demo.yaml");
const SEED_001: &str = include_str!("../../../examples/manifests/seed001-rollout-canary.yaml");

fn plan_of(text: &str) -> Plan {
    plan(&rollouts_from_str(text, "t.yaml").unwrap()[0]).unwrap()
}

fn splits(p: &Plan) -> Vec<(i32, i32, i32)> {
    p.steps
        .iter()
        .map(|r| (r.canary_weight, r.canary_pods, r.stable_pods))
        .collect()
}

#[test]
fn seed002_basic_canary_timeline() {
    let p = plan_of(SEED_002);
    assert_eq!(
        splits(&p),
        [
            (20, 1, 4),
            (20, 1, 4),
            (40, 2, 3),
            (40, 2, 3),
            (60, 3, 2),
            (60, 3, 2),
            (80, 4, 1),
            (80, 4, 1)
        ]
    );
    assert_eq!(p.shortest.timed_pause_seconds, 30);
    assert_eq!(p.shortest.manual_promotions, 1);
    assert!(
        crate::plan_text::render(&p)
            .contains("Shortest duration: 30s of timed pauses, plus 1 manual promotion")
    );
}

#[test]
fn seed001_traffic_routed_timeline() {
    let p = plan_of(SEED_001);
    assert_eq!(splits(&p), [(50, 1, 2), (50, 1, 2), (100, 2, 2)]);
    let t = p.traffic_routing.as_ref().unwrap();
    assert_eq!(t.providers, ["plugins (argoproj-labs/gatewayAPI)"]);
    assert!(crate::plan_text::render(&p).contains("on promote"));
}

const ROUTED: &str = "kind: Rollout\nmetadata: {name: web}\nspec:\n  replicas: 4\n  strategy:\n    canary:\n      trafficRouting:\n        managedRoutes: [{name: beta}, {name: shadow}]\n        plugins: {rollgate/gatewayapi: {}}\n";

#[test]
fn routes_show_while_in_effect() {
    let p = plan_of(&format!(
        "{ROUTED}      steps:
      - setHeaderRoute: {{name: beta, match: [{{headerName: x-beta, headerValue: {{exact: \"yes\"}}}}]}}
      - pause: {{duration: 1m}}
      - setHeaderRoute: {{name: beta}}
"
    ));
    assert_eq!(p.steps[1].routes, ["header beta [x-beta=yes]"]);
    assert!(p.steps[2].routes.is_empty());
}

#[test]
fn the_one_pass_walk_agrees_with_the_step_lookups() {
    let r = &rollouts_from_str(
        &format!(
            "{ROUTED}      steps:
      - pause: {{}}
      - setCanaryScale: {{replicas: 2}}
      - setWeight: 10
      - setMirrorRoute: {{name: shadow, percentage: 20, match: [{{method: {{exact: GET}}}}]}}
      - setHeaderRoute: {{name: beta, match: [{{headerName: x, headerValue: {{prefix: a}}}}]}}
      - setCanaryScale: {{weight: 75}}
      - setWeight: 30
      - setCanaryScale: {{matchTrafficWeight: true}}
      - setMirrorRoute: {{name: shadow}}
      - pause: {{duration: 1h}}
        setCanaryScale: {{replicas: 3}}
        setHeaderRoute: {{name: beta}}
      - setWeight: 60
        setMirrorRoute: {{name: shadow, match: [{{method: {{exact: POST}}}}]}}
"
        ),
        "t.yaml",
    )
    .unwrap()[0];
    let c = r.canary().unwrap();
    let mut walk = Walk::new(c);
    for (i, step) in c.steps.iter().enumerate() {
        walk.apply(step);
        assert_eq!(
            walk.weight,
            steps::set_weight_at(&c.steps, i, 100),
            "step {i}"
        );
        assert_eq!(walk.scale, steps::canary_scale_at(c, i, false), "step {i}");
        let mut expected = Vec::new();
        for name in c.managed_routes() {
            expected.extend(steps::header_route_at(&c.steps, i, name).map(header_route));
            expected.extend(steps::mirror_route_at(&c.steps, i, name).map(mirror_route));
        }
        assert_eq!(walk.routes(), expected, "step {i}");
    }
}

#[test]
fn fractional_weights_under_max_traffic_weight() {
    let p = plan_of(
        "kind: Rollout\nmetadata: {name: web}\nspec:\n  replicas: 10\n  strategy:\n    canary:\n      trafficRouting:\n        maxTrafficWeight: 1000\n        plugins: {rollgate/gatewayapi: {}}\n      steps:\n      - setWeight: 5\n      - setWeight: 333\n",
    );
    assert_eq!(p.steps[0].canary_weight, 5);
    assert_eq!(p.steps[0].canary_percent, 0.5);
    assert_eq!(p.steps[0].stable_percent, 99.5);
    assert_eq!(p.steps[1].canary_percent, 33.3);
    let text = crate::plan_text::render(&p);
    assert!(text.contains("0.5%    99.5%"), "{text}");
}

#[test]
fn background_analysis_and_paused_are_shown() {
    let p = plan_of(
        "kind: Rollout\nmetadata: {name: web}\nspec:\n  paused: true\n  strategy:\n    canary:\n      analysis:\n        templates: [{templateName: error-rate}]\n        startingStep: 2\n      steps:\n      - setWeight: 20\n      - pause: {duration: 24h}\n      - setWeight: 50\n      - pause: {duration: 90m}\n",
    );
    assert!(p.paused);
    let bg = p.background_analysis.as_ref().unwrap();
    assert_eq!(
        (bg.templates.as_slice(), bg.starts_at_step),
        (&["error-rate".to_owned()][..], 3)
    );
    let running: Vec<_> = p.steps.iter().map(|s| s.background_analysis).collect();
    assert_eq!(running, [false, false, true, true]);
    let text = crate::plan_text::render(&p);
    assert!(text.contains("Paused (spec.paused: true)"), "{text}");
    assert!(
        text.contains("Background analysis error-rate runs from step 3 until promotion; if it fails, the rollout aborts."),
        "{text}"
    );
    assert!(text.contains("after 1d"), "{text}");
    assert!(
        text.contains("Shortest duration: 1d1h30m of timed pauses"),
        "{text}"
    );
}

#[test]
fn durations_read_as_users_write_them() {
    let cases = [
        (0, "0s"),
        (45, "45s"),
        (90, "1m30s"),
        (3600, "1h"),
        (86_400 + 7200, "1d2h"),
    ];
    for (secs, want) in cases {
        assert_eq!(duration_words(Duration::from_secs(secs)), want);
    }
    assert_eq!(duration_words(Duration::from_millis(1500)), "1s500ms");
}

#[test]
fn blue_green_gets_a_summary() {
    let p = plan_of(
        "kind: Rollout\nmetadata: {name: bg}\nspec:\n  strategy:\n    blueGreen:\n      activeService: web\n      previewService: web-preview\n      autoPromotionEnabled: false\n",
    );
    assert_eq!(p.strategy, "blueGreen");
    assert!(p.steps.is_empty());
    assert!(
        p.finish
            .contains("the active Service web switches to it on promote"),
        "{}",
        p.finish
    );
    assert!(p.unsupported.is_empty(), "{:?}", p.unsupported);
    let timed = plan_of(
        "kind: Rollout\nmetadata: {name: bg}\nspec:\n  strategy:\n    blueGreen:\n      activeService: web\n      autoPromotionSeconds: 30\n      prePromotionAnalysis: {templates: [{templateName: smoke}]}\n",
    );
    assert!(
        timed.finish.contains(
            "switches to it 30s after it is available, or on promote; before the switch, pre-promotion analysis must succeed"
        ),
        "{}",
        timed.finish
    );
}

const SEED_000_BLUE_GREEN: &str =
    include_str!("../../../examples/manifests/seed000-notifications-service-bluegreen.yaml");

#[test]
fn seed000_blue_green_timeline() {
    let p = plan_of(SEED_000_BLUE_GREEN);
    let rows: Vec<(&str, &str, Option<&str>, i32, i32)> = p
        .blue_green
        .iter()
        .map(|r| (r.phase, r.active, r.preview, r.new_pods, r.old_pods))
        .collect();
    assert_eq!(
        rows,
        [
            ("preview", "old", Some("new"), 2, 2),
            ("promotion", "old", Some("new"), 2, 2),
            ("switch", "new", Some("new"), 2, 2),
            ("scale-down delay", "new", Some("new"), 2, 2),
        ]
    );
    assert_eq!(
        p.blue_green[0].ends,
        "when 2 new pods are available behind the preview Service notifications-service-green"
    );
    assert_eq!(
        p.blue_green[1].ends,
        "on promote (kubectl argo rollouts promote)"
    );
    assert!(
        p.blue_green[2]
            .ends
            .contains("the active Service notifications-service-blue selects the new version"),
        "{:?}",
        p.blue_green[2]
    );
    assert_eq!(p.shortest.manual_promotions, 1);
    let text = plan_text::render(&p);
    assert!(
        text.contains("STEP  PHASE             ACTIVE  PREVIEW  PODS new/old  ENDS\n"),
        "{text}"
    );
    assert!(
        text.contains("\n4     scale-down delay  new     new      2/2           the old version keeps its 2 pods 30s (scaleDownDelaySeconds), then is scaled down\n"),
        "{text}"
    );
    assert!(text.contains("plus 1 manual promotion"), "{text}");
}

#[test]
fn blue_green_analyses_preview_pods_and_auto_promotion_are_phases() {
    let p = plan_of(
        "kind: Rollout\nmetadata: {name: bg}\nspec:\n  replicas: 4\n  strategy:\n    blueGreen:\n      activeService: web\n      previewService: web-preview\n      previewReplicaCount: 1\n      autoPromotionSeconds: 45\n      scaleDownDelaySeconds: 90\n      prePromotionAnalysis: {templates: [{templateName: smoke}]}\n      postPromotionAnalysis: {templates: [{templateName: error-rate}]}\n",
    );
    let phases: Vec<(&str, i32)> = p.blue_green.iter().map(|r| (r.phase, r.new_pods)).collect();
    assert_eq!(
        phases,
        [
            ("preview", 1),
            ("pre-promotion analysis", 1),
            ("promotion", 1),
            ("switch", 4),
            ("post-promotion analysis", 4),
            ("scale-down delay", 4),
        ]
    );
    assert_eq!(
        p.blue_green[2].ends,
        "45s after it is available, or on promote; the new version is scaled to 4 pods first"
    );
    assert!(p.blue_green[1].ends.contains("analysis smoke succeeds"));
    assert!(
        p.blue_green[4]
            .ends
            .contains("goes back to the old version")
    );
    assert!(p.blue_green[5].ends.contains("90s (scaleDownDelaySeconds)"));
    assert_eq!(
        (
            p.shortest.timed_pause_seconds,
            p.shortest.analysis_runs,
            p.shortest.manual_promotions
        ),
        (45, 2, 0)
    );
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["blueGreen"][3]["active"], "new");
    assert_eq!(json["blueGreen"][0]["newPods"], 1);
    assert!(json["steps"].as_array().unwrap().is_empty());
}

#[test]
fn an_experiment_steps_weighted_templates_come_from_the_stable_share() {
    let p = plan_of(
        "kind: Rollout\nmetadata: {name: web}\nspec:\n  replicas: 4\n  strategy:\n    canary:\n      canaryService: web-canary\n      stableService: web-stable\n      trafficRouting:\n        plugins:\n          argoproj-labs/gatewayAPI: {httpRoute: web}\n      steps:\n      - setWeight: 20\n      - experiment:\n          duration: 2m\n          templates:\n          - {name: preview, specRef: canary, weight: 10}\n          - {name: baseline, specRef: stable, weight: 5}\n      - setWeight: 50\n",
    );
    let step = &p.steps[1];
    assert_eq!((step.canary_percent, step.stable_percent), (20.0, 65.0));
    let weights: Vec<(&str, i32)> = step
        .experiment_weights
        .iter()
        .map(|w| (w.template.as_str(), w.weight))
        .collect();
    assert_eq!(weights, [("preview", 10), ("baseline", 5)]);
    assert!(
        step.ends
            .contains("when experiment preview, baseline has run 2m")
    );
    assert_eq!(p.steps[2].stable_percent, 50.0);
    assert!(p.steps[2].experiment_weights.is_empty());
    let text = plan_text::render(&p);
    assert!(
        text.contains("experiment preview 10%; experiment baseline 5%"),
        "{text}"
    );
}
