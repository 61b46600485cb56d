//! Arbitrary JSON as a traffic router's plugin config
//! (`trafficRouting.plugins[<name>]`), read by each of the three routers:
//! a config or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(config) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let _ = router_gatewayapi::config::Config::parse(&config, "fuzz/web");
    let _ = router_nginx::config::Config::parse(&config, "fuzz/web");
    let _ = router_istio::config::Config::parse(&config, "fuzz/web");
});
