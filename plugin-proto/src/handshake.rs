//! The go-plugin handshake line a plugin prints on stdout:
//! `CORE|APP|NETWORK|ADDRESS|PROTOCOL|SERVERCERT[|MUX]`.

use std::fmt;
use std::str::FromStr;

/// go-plugin's core protocol version; always 1.
pub const CORE_PROTOCOL_VERSION: u32 = 1;

/// The application protocol version of Rollgate's native gRPC protocol
/// (`rollgate.trafficrouter.v2`: `Apply` and `Verify` carrying a traffic
/// target). Version 1, one call per aspect, is no longer spoken.
pub const NATIVE_PROTOCOL_VERSION: u32 = 2;

/// The application protocol version Argo Rollouts' traffic-router plugins
/// speak over net/rpc (its handshake's `ProtocolVersion`).
pub const ARGO_PROTOCOL_VERSION: u32 = 1;

/// How the host reaches the plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// A unix socket path.
    Unix,
    /// A TCP `host:port`.
    Tcp,
}

/// What the plugin speaks on that address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// gRPC (Rollgate's native form).
    Grpc,
    /// go-plugin net/rpc (yamux + net/rpc + gob; what Argo Rollouts loads).
    NetRpc,
}

/// A parsed handshake line.
///
/// ```
/// use plugin_proto::handshake::{Handshake, Network, Protocol};
/// let h: Handshake = "1|2|unix|/tmp/plugin123/plugin.sock|grpc|".parse().unwrap();
/// assert_eq!((h.network, h.protocol), (Network::Unix, Protocol::Grpc));
/// assert_eq!(h.app_version, 2);
/// assert_eq!(h.to_string(), "1|2|unix|/tmp/plugin123/plugin.sock|grpc|");
/// assert!("hello".parse::<Handshake>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// Always [`CORE_PROTOCOL_VERSION`].
    pub core_version: u32,
    /// The application protocol version the plugin chose.
    pub app_version: u32,
    /// Unix or TCP.
    pub network: Network,
    /// Socket path or `host:port`.
    pub address: String,
    /// gRPC or net/rpc.
    pub protocol: Protocol,
    /// The server certificate (AutoMTLS), base64; empty without TLS.
    pub server_cert: String,
}

/// Why a handshake line was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid handshake line {line:?}: {reason}")]
pub struct HandshakeError {
    /// The line as read (trimmed).
    pub line: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FromStr for Handshake {
    type Err = HandshakeError;

    fn from_str(line: &str) -> Result<Self, Self::Err> {
        let line = line.trim();
        let err = |reason: String| HandshakeError {
            line: line.to_owned(),
            reason,
        };
        let parts: Vec<&str> = line.split('|').collect();
        if parts.len() < 6 {
            return Err(err(format!(
                "expected 6 or 7 '|'-separated fields, found {}",
                parts.len()
            )));
        }
        let number = |i: usize, what: &str| {
            parts[i]
                .parse::<u32>()
                .map_err(|_| err(format!("{what} {:?} is not a number", parts[i])))
        };
        let core_version = number(0, "core protocol version")?;
        if core_version != CORE_PROTOCOL_VERSION {
            return Err(err(format!(
                "core protocol version {core_version} is not {CORE_PROTOCOL_VERSION}"
            )));
        }
        let app_version = number(1, "app protocol version")?;
        let network = match parts[2] {
            "unix" => Network::Unix,
            "tcp" => Network::Tcp,
            other => return Err(err(format!("unknown network {other:?}"))),
        };
        if parts[3].is_empty() {
            return Err(err("empty address".into()));
        }
        let protocol = match parts[4] {
            "grpc" => Protocol::Grpc,
            "netrpc" => Protocol::NetRpc,
            other => return Err(err(format!("unknown protocol {other:?}"))),
        };
        Ok(Self {
            core_version,
            app_version,
            network,
            address: parts[3].to_owned(),
            protocol,
            server_cert: parts[5].to_owned(),
        })
    }
}

impl fmt::Display for Handshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let network = match self.network {
            Network::Unix => "unix",
            Network::Tcp => "tcp",
        };
        let protocol = match self.protocol {
            Protocol::Grpc => "grpc",
            Protocol::NetRpc => "netrpc",
        };
        write!(
            f,
            "{}|{}|{network}|{}|{protocol}|{}",
            self.core_version, self.app_version, self.address, self.server_cert
        )
    }
}

/// Whether a host that offers `offered` (its `PLUGIN_PROTOCOL_VERSIONS`, a
/// comma list) can speak `version`. A host that offers nothing is
/// go-plugin's legacy form and gets the plugin's version; the host checks
/// the handshake line.
///
/// ```
/// use plugin_proto::handshake::{offers_version, NATIVE_PROTOCOL_VERSION};
/// assert!(offers_version(None, NATIVE_PROTOCOL_VERSION));
/// assert!(offers_version(Some("1, 2"), 2));
/// assert!(!offers_version(Some("1"), NATIVE_PROTOCOL_VERSION));
/// ```
pub fn offers_version(offered: Option<&str>, version: u32) -> bool {
    match offered.map(str::trim).filter(|s| !s.is_empty()) {
        None => true,
        Some(list) => list
            .split(',')
            .filter_map(|v| v.trim().parse::<u32>().ok())
            .any(|v| v == version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_each_bad_field_by_name() {
        for (line, reason) in [
            ("2|1|unix|/s|grpc|", "core protocol version 2"),
            ("1|x|unix|/s|grpc|", "app protocol version \"x\""),
            ("1|1|pipe|/s|grpc|", "unknown network \"pipe\""),
            ("1|1|unix||grpc|", "empty address"),
            ("1|1|unix|/s|soap|", "unknown protocol \"soap\""),
            ("", "found 1"),
        ] {
            let e = line.parse::<Handshake>().unwrap_err();
            assert!(e.reason.contains(reason), "{line}: {e}");
        }
    }

    #[test]
    fn accepts_the_multiplex_field_and_trailing_newline() {
        let h: Handshake = "1|1|tcp|127.0.0.1:1234|netrpc||true\n".parse().unwrap();
        assert_eq!(h.network, Network::Tcp);
        assert_eq!(h.protocol, Protocol::NetRpc);
    }
}
