//! The judge's configuration: what a `rollgate/judge` metric provider block
//! carries, in Kayenta's vocabulary (its canary config's
//! `analysisConfigurations.canary`, `classifier.groupWeights` and the score
//! thresholds), written camelCase and read strictly: an unknown field is
//! refused with its name.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// How a whole judgement is configured.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JudgeConfig {
    /// The metrics compared, each by its own name.
    pub metrics: Vec<MetricConfig>,
    /// Weights of metric groups, out of 100. Groups without a weight share
    /// what is left of 100 equally (Kayenta's `WeightedSumScorer`).
    #[serde(default)]
    pub group_weights: BTreeMap<String, f64>,
    /// The score a run needs to pass, and to be marginal rather than fail.
    pub score_thresholds: ScoreThresholds,
}

/// Score thresholds, from 0 to 100: `pass` or more passes, `marginal` or
/// more is marginal, anything lower fails.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScoreThresholds {
    /// The lowest marginal score.
    pub marginal: f64,
    /// The lowest passing score.
    pub pass: f64,
}

/// How one metric is compared.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricConfig {
    /// The metric's name, unique in the configuration.
    pub name: String,
    /// Which change is bad (default: `either`).
    #[serde(default)]
    pub direction: Direction,
    /// A critical metric that fails fails the whole run, whatever the score.
    #[serde(default)]
    pub critical: bool,
    /// With no data, count the metric as failed in its groups instead of
    /// leaving it out (Kayenta's `mustHaveData`).
    #[serde(default)]
    pub must_have_data: bool,
    /// Classify and report the metric, but leave it out of the score.
    #[serde(default)]
    pub muted: bool,
    /// The groups the metric counts in. Without any, the metric is a group of
    /// its own, named after it.
    #[serde(default)]
    pub groups: Vec<String>,
    /// What to do with NaN samples (default: `remove`).
    #[serde(default)]
    pub nan_strategy: NanStrategy,
    /// Outlier removal (default: keep every sample).
    #[serde(default)]
    pub outliers: Outliers,
    /// How large a change must be to count (default: any significant change).
    #[serde(default)]
    pub effect_size: EffectSize,
}

/// Which direction of change fails a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Direction {
    /// Only a canary higher than the baseline fails (latency, errors).
    Increase,
    /// Only a canary lower than the baseline fails (throughput, success rate).
    Decrease,
    /// Any significant change fails.
    #[default]
    Either,
}

/// What to do with NaN samples (a Prometheus division by zero, for one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum NanStrategy {
    /// Drop them; a sample left empty makes the metric NoData.
    #[default]
    Remove,
    /// Read them as 0; a metric with no samples at all then passes.
    Replace,
}

/// Outlier removal, by Kayenta's interquartile-range detector.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Outliers {
    /// `keep` (default) or `remove`.
    #[serde(default)]
    pub strategy: OutlierStrategy,
    /// With `remove`, values beyond `Q1 - f·IQR` and `Q3 + f·IQR` (widened to
    /// the 1st and 99th percentiles) are dropped; `f` defaults to 3.
    #[serde(default)]
    pub outlier_factor: Option<f64>,
}

/// Whether outliers are removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum OutlierStrategy {
    /// Every sample counts.
    #[default]
    Keep,
    /// Samples outside the fences are dropped from each side separately.
    Remove,
}

/// The effect-size tolerance: a significant change fails only when the effect
/// reaches these bounds. The defaults (1 for `meanRatio`, 0.5 for `cles`)
/// fail any significant change.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EffectSize {
    /// `meanRatio` (default: canary mean / baseline mean) or `cles` (the
    /// probability that a canary value exceeds a baseline value).
    #[serde(default)]
    pub measure: EffectMeasure,
    /// A High classification needs an effect of at least this.
    pub allowed_increase: Option<f64>,
    /// A Low classification needs an effect of at most this.
    pub allowed_decrease: Option<f64>,
    /// A critical metric's High fails the run only at an effect of at least this.
    pub critical_increase: Option<f64>,
    /// A critical metric's Low fails the run only at an effect of at most this.
    pub critical_decrease: Option<f64>,
}

/// How the size of a change is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum EffectMeasure {
    /// The canary's mean over the baseline's (not defined when either is 0).
    #[default]
    MeanRatio,
    /// The common-language effect size, `U / (n1·n2)`, from 0 to 1.
    Cles,
}

/// Effect-size bounds with their defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Tolerance {
    pub(crate) allowed_increase: f64,
    pub(crate) allowed_decrease: f64,
    pub(crate) critical_increase: f64,
    pub(crate) critical_decrease: f64,
}

impl EffectSize {
    /// The bounds, defaults filled in as Kayenta's NetflixACAJudge fills them.
    pub(crate) fn tolerance(&self) -> Tolerance {
        let default = match self.measure {
            EffectMeasure::MeanRatio => 1.0,
            EffectMeasure::Cles => 0.5,
        };
        Tolerance {
            allowed_increase: self.allowed_increase.unwrap_or(default),
            allowed_decrease: self.allowed_decrease.unwrap_or(default),
            critical_increase: self.critical_increase.unwrap_or(default),
            critical_decrease: self.critical_decrease.unwrap_or(default),
        }
    }
}

impl MetricConfig {
    /// A metric with every setting at its default.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            direction: Direction::default(),
            critical: false,
            must_have_data: false,
            muted: false,
            groups: Vec::new(),
            nan_strategy: NanStrategy::default(),
            outliers: Outliers::default(),
            effect_size: EffectSize::default(),
        }
    }

    /// The groups the metric counts in (its own name when none is given).
    pub fn effective_groups(&self) -> Vec<&str> {
        if self.groups.is_empty() {
            vec![self.name.as_str()]
        } else {
            self.groups.iter().map(String::as_str).collect()
        }
    }
}

impl JudgeConfig {
    /// Reads and checks a configuration from JSON (a YAML document converted
    /// to JSON reads the same). `object` names the source in errors.
    ///
    /// ```
    /// use rollgate_judge::JudgeConfig;
    /// let err = JudgeConfig::from_value(
    ///     serde_json::json!({"metrics": [{"name": "latency", "direction": "up"}],
    ///                        "scoreThresholds": {"marginal": 50, "pass": 75}}),
    ///     "template web-judge",
    /// )
    /// .unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "template web-judge: metrics[0].direction: \"up\" is not one of \"increase\", \"decrease\", \"either\""
    /// );
    /// ```
    pub fn from_value(value: serde_json::Value, object: &str) -> Result<Self, ConfigError> {
        let config: Self = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            ConfigError::new(
                object,
                path,
                rollout_core::plain_words(&e.inner().to_string()),
            )
        })?;
        config.check(object)?;
        Ok(config)
    }

    /// Checks the rules serde cannot: unique names, ranges, weights and
    /// thresholds. [`JudgeConfig::from_value`] calls it; call it yourself on
    /// a configuration built in code.
    pub fn check(&self, object: &str) -> Result<(), ConfigError> {
        let err = |path: String, message: String| Err(ConfigError::new(object, path, message));
        if self.metrics.is_empty() {
            return err("metrics".into(), "expected at least one metric".into());
        }
        if self.metrics.iter().all(|m| m.muted) {
            return err(
                "metrics".into(),
                "every metric is muted, so nothing would be scored".into(),
            );
        }
        let mut names = BTreeMap::new();
        let mut groups = BTreeSet::new();
        for (i, m) in self.metrics.iter().enumerate() {
            let at = |field: &str| format!("metrics[{i}].{field}");
            if m.name.trim().is_empty() {
                return err(
                    at("name"),
                    "expected a metric name, found an empty string".into(),
                );
            }
            if let Some(first) = names.insert(m.name.as_str(), i) {
                return err(
                    at("name"),
                    format!("\"{}\" is also the name of metrics[{first}]", m.name),
                );
            }
            for (g, group) in m.groups.iter().enumerate() {
                if group.trim().is_empty() {
                    return err(
                        at(&format!("groups[{g}]")),
                        "expected a group name, found an empty string".into(),
                    );
                }
            }
            groups.extend(m.effective_groups());
            if let Some(f) = m.outliers.outlier_factor
                && !(f.is_finite() && f > 0.0)
            {
                return err(
                    at("outliers.outlierFactor"),
                    format!("expected a number above 0, found {f}"),
                );
            }
            let e = &m.effect_size;
            let (hi, what) = match e.measure {
                EffectMeasure::MeanRatio => (f64::INFINITY, "a ratio of 0 or more"),
                EffectMeasure::Cles => (1.0, "a probability from 0 to 1"),
            };
            for (field, value) in [
                ("allowedIncrease", e.allowed_increase),
                ("allowedDecrease", e.allowed_decrease),
                ("criticalIncrease", e.critical_increase),
                ("criticalDecrease", e.critical_decrease),
            ] {
                if let Some(v) = value
                    && !(v.is_finite() && (0.0..=hi).contains(&v))
                {
                    return err(
                        at(&format!("effectSize.{field}")),
                        format!("expected {what}, found {v}"),
                    );
                }
            }
        }
        let mut total = 0.0;
        for (group, &weight) in &self.group_weights {
            let at = format!("groupWeights.{group}");
            if !groups.contains(group.as_str()) {
                let known: Vec<_> = groups.iter().map(|g| format!("\"{g}\"")).collect();
                return err(
                    at,
                    format!(
                        "no metric is in the group \"{group}\" (groups: {})",
                        known.join(", ")
                    ),
                );
            }
            if !(weight.is_finite() && weight >= 0.0) {
                return err(
                    at,
                    format!("expected a weight of 0 or more, found {weight}"),
                );
            }
            total += weight;
        }
        let all_weighted = groups.iter().all(|g| self.group_weights.contains_key(*g));
        if total > 100.0 + 1e-9 || (all_weighted && (total - 100.0).abs() > 1e-9) {
            let rule = if all_weighted {
                "total 100"
            } else {
                "total at most 100"
            };
            return err(
                "groupWeights".into(),
                format!("the weights total {total}; they must {rule}"),
            );
        }
        let t = self.score_thresholds;
        for (field, v) in [("marginal", t.marginal), ("pass", t.pass)] {
            if !(v.is_finite() && (0.0..=100.0).contains(&v)) {
                return err(
                    format!("scoreThresholds.{field}"),
                    format!("expected a score from 0 to 100, found {v}"),
                );
            }
        }
        if t.marginal > t.pass {
            return err(
                "scoreThresholds".into(),
                format!(
                    "marginal ({}) must not exceed pass ({})",
                    t.marginal, t.pass
                ),
            );
        }
        Ok(())
    }
}
