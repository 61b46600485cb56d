//! Arbitrary text through what `rollgate lint` does with a file: YAML read
//! with the default limits, every Rollout read and linted (and, when valid,
//! taken by the engine), every AnalysisTemplate read, its metrics checked
//! and its conditions compiled. Errors or values, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rollgate_analysis::AnalysisTemplate;
use rollgate_analysis::condition::Conditions;
use rollout_core::manifest::{self, Limits};

/// libfuzzer-sys's panic hook aborts at the panic, before any
/// `catch_unwind`; the conditions catch the expression parser's panics
/// (`rollgate_analysis::condition::compile`), so the default hook comes
/// back. A panic that leaves the target still aborts the run (libfuzzer-sys
/// catches it and aborts): a crash as before.
static DEFAULT_PANIC_HOOK: std::sync::Once = std::sync::Once::new();

fuzz_target!(|data: &[u8]| {
    DEFAULT_PANIC_HOOK.call_once(|| drop(std::panic::take_hook()));
    // `rollgate lint` refuses input that is not UTF-8 before reading YAML.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(objects) = manifest::read_with(text, "fuzz.yaml", &Limits::default()) else {
        return;
    };
    for object in &objects {
        if object.is_rollout() {
            let Ok(rollout) = object.rollout() else {
                continue;
            };
            let report = rollout_core::lint(&rollout);
            for e in report
                .errors
                .iter()
                .chain(report.warnings.iter().map(|w| &w.field))
            {
                let _ = object.diagnostic(e.clone()).to_string();
            }
            if report.errors.is_empty() {
                let _ = rollout_core::ValidRollout::new(rollout);
            }
        } else if let Ok(template) = AnalysisTemplate::from_value(object.value.clone()) {
            let _ = rollgate_analysis::validate::metrics(&template.spec.metrics);
            for metric in &template.spec.metrics {
                let _ = Conditions::of(metric).describe();
            }
        }
    }
});
