//! Arbitrary bytes from a peer never panic the gob decoder or a net/rpc
//! session (yamux frames, gob, net/rpc); they end in an error or a closed
//! session. The same code is exercised by the fuzz targets in `fuzz/`.

use std::sync::Arc;
use std::time::Duration;

use plugin_proto::gob::Decoder;
use plugin_proto::netrpc::serve_connection;
use proptest::prelude::*;
use router_core::test_util::JournalRouter;
use tokio::io::AsyncWriteExt;

fn recorded() -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/netrpc/argo-session.bin"),
    )
    .unwrap()
}

fn session(bytes: Vec<u8>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let (mut host, plugin) = tokio::io::duplex(1 << 16);
        let served = tokio::spawn(serve_connection(
            plugin,
            Arc::new(JournalRouter::new()),
            "rollgate/journal".into(),
        ));
        let _ = host.write_all(&bytes).await;
        let _ = host.shutdown().await;
        drop(host);
        let ended = tokio::time::timeout(Duration::from_secs(5), served).await;
        assert!(
            matches!(ended, Ok(Ok(()))),
            "the session neither ended nor reported an error: {ended:?}"
        );
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn gob_decoding_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut dec = Decoder::new(&bytes[..]);
        while dec.decode().is_ok() {}
    }

    #[test]
    fn mutated_gob_streams_never_panic(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/gob/plugin-calls.gob")).unwrap();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let mut dec = Decoder::new(&bytes[..]);
        while dec.decode().is_ok() {}
    }

    #[test]
    fn random_sessions_end_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        session(bytes);
    }

    #[test]
    fn mutated_sessions_end_cleanly(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let mut bytes = recorded();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        session(bytes);
    }
}
