//! The errors of this crate: each names the object or template and the
//! field it is about, in words (no Rust type names).

use thiserror::Error;

/// What went wrong reading templates or building a run.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    /// An object does not read as its kind: a field of the wrong type, a
    /// field Argo does not define, a required field missing.
    #[error("{object}: {field}: {message}")]
    Shape {
        /// The object, such as `AnalysisTemplate shop/success-rate`.
        object: String,
        /// The field path, such as `spec.metrics[0].provider.prometheus.query`.
        field: String,
        /// What was expected.
        message: String,
    },
    /// A template reference names a template that does not exist.
    #[error("{field}: Invalid value: \"{name}\": {kind} '{name}' not found")]
    TemplateNotFound {
        /// The reference's field path in the Rollout (or the template).
        field: String,
        /// `AnalysisTemplate` or `ClusterAnalysisTemplate`.
        kind: &'static str,
        /// The name referenced.
        name: String,
    },
    /// Templates that include each other.
    #[error("{field}: {template} includes itself through spec.templates")]
    TemplateCycle {
        /// The reference's field path.
        field: String,
        /// The template met twice, such as `AnalysisTemplate a`.
        template: String,
    },
    /// Two templates (or one) define a metric of the same name.
    #[error("two metrics have the same name '{metric}': {first} and {second}")]
    DuplicateMetric {
        /// The metric's name.
        metric: String,
        /// The template that defines it first, such as `AnalysisTemplate a`.
        first: String,
        /// The template that defines it again.
        second: String,
    },
    /// Two templates give one argument different values.
    #[error(
        "Argument `{name}` specified multiple times with different values: '{first}' ({first_template}), '{second}' ({second_template})"
    )]
    ConflictingArgument {
        /// The argument's name.
        name: String,
        /// The first value.
        first: String,
        /// The template of the first value.
        first_template: String,
        /// The second value.
        second: String,
        /// The template of the second value.
        second_template: String,
    },
    /// Two dry-run or measurement-retention rules name one metric.
    #[error("two {rule} metric rules have the same name '{metric}'")]
    DuplicateRule {
        /// `Dry-Run` or `Measurement Retention`.
        rule: &'static str,
        /// The metric name of the rules.
        metric: String,
    },
    /// An argument of the templates has no value and none was passed.
    #[error(
        "args.{name} was not resolved: {template} declares it without a value and the Rollout passes none"
    )]
    UnresolvedArgument {
        /// The argument's name.
        name: String,
        /// The template that declares it.
        template: String,
    },
    /// A field of the Rollout's analysis that does not read, or an
    /// argument whose value cannot be taken from the Rollout.
    #[error("{field}: {message}")]
    RolloutField {
        /// The field path in the Rollout.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A run's metrics that Argo's `ValidateMetrics` refuses.
    #[error("{}{message}", index.map(|i| format!("metrics[{i}]: ")).unwrap_or_default())]
    InvalidMetric {
        /// The metric's index, when the problem is one metric's.
        index: Option<usize>,
        /// Argo's words for the problem.
        message: String,
    },
    /// A metric of a step's analysis that never ends.
    #[error(
        "{template} has metric {metric} which runs indefinitely. Invalid value for count: {count}"
    )]
    Unbounded {
        /// The template that defines it.
        template: String,
        /// Its index in the template's `spec.metrics`.
        index: usize,
        /// Its name.
        metric: String,
        /// Its count as written (`<nil>` when absent).
        count: String,
    },
    /// A measurement recorded for a metric the run does not have.
    #[error("spec.metrics: the run has no metric named \"{metric}\"")]
    UnknownMetric {
        /// The metric's name.
        metric: String,
    },
    /// A measurement resumed or stopped while the metric has none in
    /// flight.
    #[error("status.metricResults: metric \"{metric}\" has no measurement in flight to {action}")]
    NothingInFlight {
        /// The metric's name.
        metric: String,
        /// `resume` or `terminate`.
        action: &'static str,
    },
    /// A new measurement started while the metric's last one is still in
    /// flight (it is resumed or stopped, not started again).
    #[error(
        "status.metricResults: metric \"{metric}\" has a measurement in flight: resume or terminate it instead of measuring again"
    )]
    StillInFlight {
        /// The metric's name.
        metric: String,
    },
    /// A run whose spec Argo refuses (its message, as the run's status
    /// would carry it).
    #[error("{message}")]
    InvalidRun {
        /// Argo's message, such as `Analysis spec invalid: ...`.
        message: String,
    },
}
