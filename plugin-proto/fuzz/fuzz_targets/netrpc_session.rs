//! Arbitrary bytes from a host into a net/rpc plugin session (yamux frame
//! reader, gob decoder, net/rpc and go-plugin control): the session ends,
//! it never panics or hangs.
#![no_main]

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use router_core::test_util::JournalRouter;
use plugin_proto::netrpc::serve_connection;
use tokio::io::AsyncWriteExt;

/// One runtime for every input: building one per input costs more than
/// most sessions.
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
});

fuzz_target!(|data: &[u8]| {
    let bytes = data.to_vec();
    RUNTIME.block_on(async move {
        let (mut host, plugin) = tokio::io::duplex(1 << 16);
        let served = tokio::spawn(serve_connection(plugin, Arc::new(JournalRouter::new()), "rollgate/journal".into()));
        let _ = host.write_all(&bytes).await;
        let _ = host.shutdown().await;
        drop(host);
        let ended = tokio::time::timeout(Duration::from_secs(5), served).await;
        assert!(ended.is_ok(), "the session did not end");
    });
});
