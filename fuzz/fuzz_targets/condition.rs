//! A metric's `successCondition` and `failureCondition` of arbitrary text,
//! assessed on an arbitrary measured value: the input is the condition, a
//! NUL byte and the value as JSON (a value that is not JSON is a string,
//! as a web metric's body is). A phase or an error message, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rollgate_analysis::condition::{Conditions, from_json};

/// libfuzzer-sys's panic hook aborts at the panic, before any
/// `catch_unwind`; the conditions catch the expression parser's panics
/// (`rollgate_analysis::condition::compile`), so the default hook comes
/// back. A panic that leaves the target still aborts the run (libfuzzer-sys
/// catches it and aborts): a crash as before.
static DEFAULT_PANIC_HOOK: std::sync::Once = std::sync::Once::new();

fuzz_target!(|data: &[u8]| {
    DEFAULT_PANIC_HOOK.call_once(|| drop(std::panic::take_hook()));
    let (condition, value) = match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &b"[0.5]"[..]),
    };
    let Ok(condition) = std::str::from_utf8(condition) else {
        return;
    };
    let result = match serde_json::from_slice::<serde_json::Value>(value) {
        Ok(json) => from_json(&json),
        Err(_) => expr::Value::String(String::from_utf8_lossy(value).into_owned()),
    };
    let _ = Conditions::new(Some(condition), None).assess(&result);
    let _ = Conditions::new(None, Some(condition)).assess(&result);
});
