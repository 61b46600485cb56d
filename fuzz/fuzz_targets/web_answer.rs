//! A web metric's `jsonPath` of arbitrary text (the input up to the first
//! newline) read from an arbitrary body (the rest), and the value found
//! assessed by a condition: a measurement or a failure, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rollgate_analysis::assess::Outcome;
use rollgate_analysis::condition::Conditions;
use rollgate_providers::KubeJsonPath;
use rollgate_providers::fuzzing::web_answer;

fuzz_target!(|data: &[u8]| {
    let (path, body) = match data.iter().position(|b| *b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&b"{$}"[..], data),
    };
    let Ok(path) = std::str::from_utf8(path) else {
        return;
    };
    let Ok(path) = KubeJsonPath::parse(path) else {
        return;
    };
    let Ok(measured) = web_answer(&path, body) else {
        return;
    };
    if let Outcome::Value { result, .. } = measured.into_outcome() {
        let conditions = Conditions::new(Some("result == true || asFloat(result) > 0.5"), None);
        let _ = conditions.assess(&result);
    }
});
