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

/// A yamux frame whose header announces a body over 1 MiB (the yamux
/// crate's frame limit, and more than a stream's 256 KiB window) ends the
/// session at once: its body is never waited for, though the host keeps
/// the connection open.
#[test]
fn a_frame_over_the_size_limit_ends_the_session() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (mut host, plugin) = tokio::io::duplex(1 << 16);
        let served = tokio::spawn(serve_connection(
            plugin,
            Arc::new(JournalRouter::new()),
            "rollgate/journal".into(),
        ));
        // Version 0, a data frame, SYN, stream 1, a body of 1 MiB + 1.
        let mut header = vec![0u8, 0, 0, 1];
        header.extend_from_slice(&1u32.to_be_bytes());
        header.extend_from_slice(&((1u32 << 20) + 1).to_be_bytes());
        host.write_all(&header).await.unwrap();
        let ended = tokio::time::timeout(Duration::from_secs(5), served).await;
        assert!(
            matches!(ended, Ok(Ok(()))),
            "the session did not end: {ended:?}"
        );
        drop(host);
    });
}
