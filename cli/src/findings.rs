//! What validation found in a Rollout: errors, features Rollgate does not
//! run yet (warnings unless `--strict`), and settings without effect.

use rollout_core::{FieldError, Rollout, WarningKind};

/// The problems of one Rollout, sorted by kind, each in field order.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    /// Broken rules: Argo Rollouts refuses the Rollout.
    pub(crate) errors: Vec<FieldError>,
    /// Valid for Argo Rollouts, but not run by Rollgate yet.
    pub(crate) unsupported: Vec<FieldError>,
    /// Valid and run, but without effect or with a surprising one.
    pub(crate) suspicious: Vec<FieldError>,
}

/// Validates a Rollout and sorts what is found.
pub(crate) fn of(rollout: &Rollout) -> Findings {
    let report = rollout_core::lint(rollout);
    let mut found = Findings {
        errors: report.errors,
        ..Findings::default()
    };
    for w in report.warnings {
        match w.kind {
            WarningKind::Unsupported => found.unsupported.push(w.field),
            _ => found.suspicious.push(w.field),
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blue_green_is_valid_and_run() {
        let r = Rollout::from_value(
            serde_json::json!({"metadata": {"name": "bg"},
                "spec": {"selector": {"matchLabels": {"app": "bg"}},
                    "template": {"metadata": {"labels": {"app": "bg"}},
                        "spec": {"containers": [{"name": "bg", "image": "bg:1"}]}},
                    "strategy": {"blueGreen": {"activeService": "web"}}}}),
            "bg.yaml",
        )
        .unwrap();
        let f = of(&r);
        assert!(f.errors.is_empty(), "{:?}", f.errors);
        assert!(f.unsupported.is_empty(), "{:?}", f.unsupported);
    }
}
