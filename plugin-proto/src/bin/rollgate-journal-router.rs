//! A traffic-router plugin that records its calls instead of routing:
//! the reference plugin for tests and benchmarks. Set `ROLLGATE_JOURNAL`
//! to a file to have the journal appended there, one JSON object per line.

use std::process::ExitCode;

use router_core::test_util::{JOURNAL_ENV, JournalRouter};

fn main() -> ExitCode {
    let router = match std::env::var_os(JOURNAL_ENV) {
        Some(path) => JournalRouter::with_file(path),
        None => JournalRouter::new(),
    };
    plugin_proto::serve(router, "rollgate/journal")
}
