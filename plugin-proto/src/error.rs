//! The one error type of this crate.

use std::time::Duration;

/// What can go wrong when routing traffic, in-process or through a plugin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The router itself failed; the message is the router's, unchanged,
    /// also when it crossed a plugin boundary.
    #[error("{0}")]
    Router(String),
    /// The rollout does not configure this router as expected.
    #[error("rollout {rollout}: {message}")]
    Config {
        /// `<namespace>/<name>`.
        rollout: String,
        /// What is wrong and where.
        message: String,
    },
    /// The plugin process could not be started, spoke an invalid handshake,
    /// or the connection to it failed.
    #[error("plugin {plugin}: {message}")]
    Plugin {
        /// The plugin's program.
        plugin: String,
        /// What went wrong.
        message: String,
    },
    /// A call to the plugin did not finish within its deadline.
    #[error("plugin {plugin}: {call} did not answer within {}", humantime::format_duration(*.timeout))]
    Deadline {
        /// The plugin's program.
        plugin: String,
        /// The operation, e.g. `SetWeight`.
        call: &'static str,
        /// The deadline that passed.
        timeout: Duration,
    },
}

impl Error {
    /// A router error with this message.
    pub fn router(message: impl Into<String>) -> Self {
        Self::Router(message.into())
    }
}
