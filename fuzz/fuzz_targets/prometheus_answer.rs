//! Arbitrary bytes as Prometheus' answer to an instant query (the first
//! byte picks the HTTP status), shaped as conditions read it and assessed
//! by a condition of the kind templates use: a measurement or a failure,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rollgate_analysis::assess::Outcome;
use rollgate_analysis::condition::Conditions;
use rollgate_providers::fuzzing::prometheus_answer;

const STATUSES: [u16; 8] = [200, 204, 400, 422, 500, 503, 301, 404];

fuzz_target!(|data: &[u8]| {
    let Some((first, body)) = data.split_first() else {
        return;
    };
    let status = STATUSES[usize::from(*first) % STATUSES.len()];
    let Ok(measured) = prometheus_answer(status, body) else {
        return;
    };
    let _ = measured.warnings_metadata();
    if let Outcome::Value { result, .. } = measured.into_outcome() {
        let conditions = Conditions::new(
            Some("len(result) == 0 || result[0] >= 0.95"),
            Some("isNaN(result) || result[0] < 0.9"),
        );
        let _ = conditions.assess(&result);
    }
});
