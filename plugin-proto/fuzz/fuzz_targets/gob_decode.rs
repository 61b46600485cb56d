//! Arbitrary bytes into the gob decoder: values or errors, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plugin_proto::gob::Decoder;

fuzz_target!(|data: &[u8]| {
    let mut decoder = Decoder::new(data);
    while decoder.decode().is_ok() {}
});
