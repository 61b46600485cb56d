//! Argo-shaped templates and Rollouts made into runs: what the run carries,
//! and the errors for what cannot be merged.

use rollgate_analysis::merge::resolve_templates;
use rollgate_analysis::run::{RunSource, analysis_field, new_run};
use rollgate_analysis::validate::bounded;
use rollgate_analysis::{AnalysisRun, AnalysisTemplate, Error, TemplateKind};
use rollout_core::{AnalysisKind, AnalysisRunRequest, Rollout};
use serde_json::{Value, json};

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

const SUCCESS_RATE: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: success-rate
  namespace: shop
spec:
  args:
  - name: service-name
  - name: threshold
    value: "0.95"
  - name: api-token
    valueFrom:
      secretKeyRef:
        name: metrics-token
        key: token
  metrics:
  - name: success-rate
    interval: 1m
    count: 5
    successCondition: result[0] >= {{args.threshold}}
    failureLimit: 2
    provider:
      prometheus:
        address: http://127.0.0.1:9090
        headers:
        - key: Authorization
          value: Bearer {{args.api-token}}
        query: |
          sum(rate(http_requests_total{service="{{args.service-name}}",code!~"5.."}[1m])) /
          sum(rate(http_requests_total{service="{{args.service-name}}"}[1m]))
"#;

const LATENCY: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: ClusterAnalysisTemplate
metadata:
  name: latency
spec:
  args:
  - name: canary-hash
  dryRun:
  - metricName: p99
  measurementRetention:
  - metricName: p99
    limit: 20
  metrics:
  - name: p99
    interval: 30s
    failureCondition: result > 0.5
    provider:
      web:
        url: http://127.0.0.1:8080/latency?hash={{args.canary-hash}}
        jsonPath: "{$.p99}"
        timeoutSeconds: 5
"#;

const ROLLOUT: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: web
  namespace: shop
  uid: 7c1f0e52-0000-4000-8000-000000000001
  labels:
    team: payments
  annotations:
    rollout.argoproj.io/revision: "3"
spec:
  replicas: 4
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.27
  strategy:
    canary:
      analysis:
        startingStep: 1
        templates:
        - templateName: latency
          clusterScope: true
        args:
        - name: canary-hash
          valueFrom:
            podTemplateHashValue: Latest
        analysisRunMetadata:
          labels:
            app: overridden-by-the-selector
            tier: frontend
          annotations:
            owner: payments
      steps:
      - setWeight: 20
      - analysis:
          templates:
          - templateName: success-rate
          args:
          - name: service-name
            valueFrom:
              fieldRef:
                fieldPath: metadata.name
          - name: not-declared
            value: dropped
          dryRun:
          - metricName: success-rate
      - setWeight: 60
"#;

struct World {
    rollout: Rollout,
    json: Value,
    templates: Vec<AnalysisTemplate>,
}

impl World {
    fn new(templates: &[&str]) -> Self {
        let json = yaml(ROLLOUT);
        Self {
            rollout: Rollout::from_value(json.clone(), "web.yaml").unwrap(),
            json,
            templates: templates
                .iter()
                .map(|t| AnalysisTemplate::from_value(yaml(t)).unwrap())
                .collect(),
        }
    }

    fn lookup(&self, kind: TemplateKind, name: &str) -> Result<Option<AnalysisTemplate>, Error> {
        Ok(self
            .templates
            .iter()
            .find(|t| t.template_kind() == kind && t.metadata.name == name)
            .cloned())
    }

    fn run(&self, kind: AnalysisKind, name: &str) -> Result<AnalysisRun, Error> {
        let spec = match kind {
            AnalysisKind::Step(i) => self.rollout.canary().unwrap().steps[i]
                .analysis()
                .unwrap()
                .clone(),
            AnalysisKind::Background => self
                .rollout
                .canary()
                .unwrap()
                .analysis
                .as_ref()
                .unwrap()
                .run
                .clone(),
            AnalysisKind::PrePromotion => self
                .rollout
                .blue_green()
                .unwrap()
                .pre_promotion_analysis
                .clone()
                .unwrap(),
            AnalysisKind::PostPromotion => self
                .rollout
                .blue_green()
                .unwrap()
                .post_promotion_analysis
                .clone()
                .unwrap(),
        };
        let field = format!("{}.templates", analysis_field(kind));
        let templates =
            resolve_templates(&spec.templates, &field, &mut |k, n: &str| self.lookup(k, n))?;
        let request = AnalysisRunRequest {
            name: name.into(),
            kind,
            spec,
        };
        let source = RunSource {
            rollout: &self.rollout,
            rollout_json: &self.json,
            stable_hash: Some("5d8f7c9b4"),
            latest_hash: "6b9c8d7f5",
        };
        new_run(&request, &templates, &source)
    }
}

#[test]
fn a_step_run_carries_argos_name_labels_args_and_owner() {
    let world = World::new(&[SUCCESS_RATE, LATENCY]);
    let run = world
        .run(AnalysisKind::Step(1), "web-6b9c8d7f5-3-1")
        .unwrap();
    let value = serde_json::to_value(&run).unwrap();
    assert_eq!(
        value["metadata"],
        json!({
            "name": "web-6b9c8d7f5-3-1",
            "namespace": "shop",
            "labels": {"rollouts-pod-template-hash": "6b9c8d7f5", "rollout-type": "Step",
                       "step-index": "1", "app": "web"},
            "annotations": {"rollout.argoproj.io/revision": "3"},
            "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                "name": "web", "uid": "7c1f0e52-0000-4000-8000-000000000001",
                "controller": true, "blockOwnerDeletion": true}]
        })
    );
    // The Rollout's value for service-name; the template's default for the
    // threshold; the Secret reference kept for whoever measures; an
    // argument the template does not declare is dropped.
    assert_eq!(
        value["spec"]["args"],
        json!([
            {"name": "service-name", "value": "web"},
            {"name": "threshold", "value": "0.95"},
            {"name": "api-token", "valueFrom": {"secretKeyRef": {"name": "metrics-token", "key": "token"}}}
        ])
    );
    assert_eq!(
        value["spec"]["dryRun"],
        json!([{"metricName": "success-rate"}])
    );
    // Metrics are copied as written: arguments are put in when measuring.
    let metric = &run.spec.metrics[0];
    assert_eq!(metric.name, "success-rate");
    assert_eq!(
        metric.success_condition.as_deref(),
        Some("result[0] >= {{args.threshold}}")
    );
    let prometheus = metric.provider.prometheus.as_ref().unwrap();
    assert!(
        prometheus
            .query
            .as_deref()
            .unwrap()
            .contains("{{args.service-name}}")
    );
    assert_eq!(prometheus.headers[0].value, "Bearer {{args.api-token}}");
    assert!(!run.spec.terminate);
    assert_eq!(run.phase(), rollout_core::AnalysisPhase::Pending);
}

#[test]
fn a_background_run_carries_its_metadata_and_the_templates_rules() {
    let world = World::new(&[SUCCESS_RATE, LATENCY]);
    let run = world
        .run(AnalysisKind::Background, "web-6b9c8d7f5-3")
        .unwrap();
    let labels = &run.metadata.labels;
    assert_eq!(labels["rollout-type"], "Background");
    assert!(!labels.contains_key("step-index"));
    assert_eq!(labels["tier"], "frontend");
    // The selector's labels are put in last, as in Argo.
    assert_eq!(labels["app"], "web");
    assert_eq!(run.metadata.annotations["owner"], "payments");
    assert_eq!(run.spec.args[0].value.as_deref(), Some("6b9c8d7f5"));
    assert_eq!(run.spec.dry_run[0].metric_name, "p99");
    assert_eq!(run.spec.measurement_retention[0].limit, 20);
    let web = run.spec.metrics[0].provider.web.as_ref().unwrap();
    assert_eq!(web.json_path.as_deref(), Some("{$.p99}"));
}

#[test]
fn a_missing_template_is_named_as_argo_names_it() {
    let world = World::new(&[LATENCY]);
    let err = world.run(AnalysisKind::Step(1), "r").unwrap_err();
    assert_eq!(
        err.to_string(),
        "spec.strategy.canary.steps[1].analysis.templates: Invalid value: \"success-rate\": AnalysisTemplate 'success-rate' not found"
    );
    let world = World::new(&[SUCCESS_RATE]);
    let err = world.run(AnalysisKind::Background, "r").unwrap_err();
    assert_eq!(
        err.to_string(),
        "spec.strategy.canary.analysis.templates: Invalid value: \"latency\": ClusterAnalysisTemplate 'latency' not found"
    );
}

fn template(kind: &str, name: &str, spec: Value) -> AnalysisTemplate {
    AnalysisTemplate::from_value(json!({"apiVersion": "argoproj.io/v1alpha1", "kind": kind,
        "metadata": {"name": name}, "spec": spec}))
    .unwrap()
}

fn web_metric(name: &str) -> Value {
    json!({"name": name, "provider": {"web": {"url": "http://127.0.0.1/"}}})
}

fn resolve(refs: Value, templates: &[AnalysisTemplate]) -> Result<Vec<AnalysisTemplate>, Error> {
    let refs = serde_json::from_value::<Vec<_>>(refs).unwrap();
    resolve_templates(
        &refs,
        "spec.strategy.canary.steps[0].analysis.templates",
        &mut |k, n: &str| {
            Ok(templates
                .iter()
                .find(|t| t.template_kind() == k && t.metadata.name == n)
                .cloned())
        },
    )
}

#[test]
fn nested_templates_are_followed_once_namespaced_first() {
    let templates = [
        template(
            "ClusterAnalysisTemplate",
            "base",
            json!({"metrics": [web_metric("c")],
            "templates": [{"templateName": "shared"}]}),
        ),
        template(
            "AnalysisTemplate",
            "shared",
            json!({"metrics": [web_metric("s")]}),
        ),
        template(
            "AnalysisTemplate",
            "app",
            json!({"metrics": [web_metric("a")],
            "templates": [{"templateName": "shared"}]}),
        ),
    ];
    let found = resolve(
        json!([{"templateName": "base", "clusterScope": true}, {"templateName": "app"}]),
        &templates,
    )
    .unwrap();
    let names: Vec<String> = found.iter().map(AnalysisTemplate::describe).collect();
    assert_eq!(
        names,
        [
            "AnalysisTemplate shared",
            "AnalysisTemplate app",
            "ClusterAnalysisTemplate base"
        ]
    );
    let flat = rollgate_analysis::merge::flatten(&found).unwrap();
    let metrics: Vec<&str> = flat.metrics.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(metrics, ["s", "a", "c"]);
}

#[test]
fn templates_that_include_each_other_are_an_error() {
    let templates = [
        template(
            "AnalysisTemplate",
            "a",
            json!({"templates": [{"templateName": "b"}]}),
        ),
        template(
            "AnalysisTemplate",
            "b",
            json!({"templates": [{"templateName": "a"}]}),
        ),
    ];
    let err = resolve(json!([{"templateName": "a"}]), &templates).unwrap_err();
    assert_eq!(
        err.to_string(),
        "AnalysisTemplate b: spec.templates: AnalysisTemplate a includes itself through spec.templates"
    );
}

#[test]
fn merging_errors_name_both_templates() {
    let flatten = |templates: &[AnalysisTemplate]| {
        rollgate_analysis::merge::flatten(templates)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        flatten(&[
            template(
                "AnalysisTemplate",
                "a",
                json!({"args": [{"name": "env", "value": "prod"}]})
            ),
            template(
                "AnalysisTemplate",
                "b",
                json!({"args": [{"name": "env", "value": "staging"}]})
            ),
        ]),
        "Argument `env` specified multiple times with different values: 'prod' (AnalysisTemplate a), 'staging' (AnalysisTemplate b)"
    );
    assert_eq!(
        flatten(&[template(
            "AnalysisTemplate",
            "a",
            json!({"metrics": [web_metric("m"), web_metric("m")]})
        )]),
        "two metrics have the same name 'm': AnalysisTemplate a and AnalysisTemplate a"
    );
    assert_eq!(
        flatten(&[
            template(
                "AnalysisTemplate",
                "a",
                json!({"dryRun": [{"metricName": "m"}]})
            ),
            template(
                "ClusterAnalysisTemplate",
                "b",
                json!({"dryRun": [{"metricName": "m"}]})
            ),
        ]),
        "two Dry-Run metric rules have the same name 'm'"
    );
    // A value wins over none, whichever template comes first.
    let flat = rollgate_analysis::merge::flatten(&[
        template("AnalysisTemplate", "a", json!({"args": [{"name": "env"}]})),
        template(
            "AnalysisTemplate",
            "b",
            json!({"args": [{"name": "env", "value": "prod"}]}),
        ),
    ])
    .unwrap();
    assert_eq!(flat.args[0].0.value.as_deref(), Some("prod"));
    assert_eq!(flat.args[0].1, "AnalysisTemplate b");
}

#[test]
fn an_argument_nobody_gives_a_value_is_an_error() {
    let unset = r#"
apiVersion: argoproj.io/v1alpha1
kind: ClusterAnalysisTemplate
metadata:
  name: latency
spec:
  args:
  - name: canary-hash
  - name: region
  metrics:
  - name: p99
    provider:
      web:
        url: http://127.0.0.1/{{args.region}}
"#;
    let world = World::new(&[SUCCESS_RATE, unset]);
    let err = world.run(AnalysisKind::Background, "r").unwrap_err();
    assert_eq!(
        err.to_string(),
        "args.region was not resolved: ClusterAnalysisTemplate latency declares it without a value and the Rollout passes none"
    );
}

#[test]
fn a_rule_of_the_rollout_and_one_of_a_template_for_one_metric_clash() {
    let world = World::new(&[SUCCESS_RATE, LATENCY]);
    let mut world = world;
    world.json["spec"]["strategy"]["canary"]["analysis"]["dryRun"] = json!([{"metricName": "p99"}]);
    world.rollout = Rollout::from_value(world.json.clone(), "web.yaml").unwrap();
    let err = world.run(AnalysisKind::Background, "r").unwrap_err();
    assert_eq!(
        err.to_string(),
        "two Dry-Run metric rules have the same name 'p99'"
    );
    world.json["spec"]["strategy"]["canary"]["analysis"]["dryRun"] = json!([{"metric": "p99"}]);
    world.rollout = Rollout::from_value(world.json.clone(), "web.yaml").unwrap();
    let err = world.run(AnalysisKind::Background, "r").unwrap_err();
    assert!(
        err.to_string().starts_with(
            "spec.strategy.canary.analysis.dryRun[0].metric: unknown field \"metric\""
        ),
        "{err}"
    );
}

#[test]
fn templates_of_argos_shapes_read() {
    let job = r#"
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: smoke
spec:
  metrics:
  - name: smoke
    provider:
      job:
        metadata:
          labels:
            purpose: smoke
        spec:
          backoffLimit: 1
          template:
            spec:
              restartPolicy: Never
              containers:
              - name: smoke
                image: busybox
                command: [sh, -c, "exit 0"]
  - name: datadog
    interval: 5m
    successCondition: default(result, 0) < 0.05
    failureLimit: 3
    provider:
      datadog:
        apiVersion: v2
        query: sum:requests.error.rate{service:web}
"#;
    let t = AnalysisTemplate::from_value(yaml(job)).unwrap();
    assert_eq!(t.spec.metrics[0].provider.count(), 1);
    assert_eq!(
        t.spec.metrics[0].provider.job.as_ref().unwrap().spec["backoffLimit"],
        1
    );
    assert!(t.spec.metrics[1].provider.datadog.is_some());
    assert_eq!(
        bounded(&t).unwrap_err().to_string(),
        "AnalysisTemplate smoke has metric datadog which runs indefinitely. Invalid value for count: <nil>"
    );
    let misspelt = job.replace("failureLimit", "failureLimits");
    let err = AnalysisTemplate::from_value(yaml(&misspelt)).unwrap_err();
    assert!(
        err.to_string().starts_with(
            "AnalysisTemplate smoke: spec.metrics[1].failureLimits: unknown field \"failureLimits\""
        ),
        "{err}"
    );
}
