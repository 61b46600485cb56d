//! What validation found in a Rollout: errors, and features Rollgate does not
//! run yet (reported as warnings unless `--strict`).

use rollout_core::{FieldError, Rollout};

/// The problems of one Rollout, split by kind.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    /// Broken rules: the Rollout is invalid.
    pub(crate) errors: Vec<FieldError>,
    /// Valid for Argo Rollouts, but not run by Rollgate yet.
    pub(crate) unsupported: Vec<FieldError>,
}

/// Validates a Rollout and sorts what is found.
pub(crate) fn of(rollout: &Rollout) -> Findings {
    let (unsupported, errors) = rollout_core::validate(rollout)
        .into_iter()
        .partition(is_unsupported);
    Findings {
        errors,
        unsupported,
    }
}

/// Whether a validation result is a feature Rollgate does not run yet rather
/// than a broken rule. Validation says so in its message for now; once it
/// reports such features apart, [`of`] takes them from there instead.
fn is_unsupported(e: &FieldError) -> bool {
    e.message.contains("not supported yet") || e.message.contains("not run by this engine yet")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blue_green_is_unsupported_not_invalid() {
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
        assert_eq!(f.unsupported.len(), 1);
    }
}
