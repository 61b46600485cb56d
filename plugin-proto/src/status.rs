//! Router errors on the native gRPC wire.
//!
//! A router's [`Error`] travels as a gRPC status whose code follows its
//! [`ErrorKind`] (so any gRPC host can act on it) and whose message is the
//! router's, unchanged. The kind's name also travels in the
//! [`KIND_METADATA`] trailer: it marks the status as the router's own
//! answer, which a host must not mistake for a failure of the plugin
//! process or its connection (a router that reports its API server
//! unavailable is alive), and it keeps kinds that share a code apart.

use router_core::{Error, ErrorKind};
use tonic::{Code, Status};

/// The metadata key carrying an error's [`ErrorKind::name`].
pub const KIND_METADATA: &str = "rollgate-error-kind";

/// The gRPC code of each kind.
///
/// ```
/// use plugin_proto::status::code;
/// use router_core::ErrorKind;
/// assert_eq!(code(ErrorKind::Conflict), tonic::Code::Aborted);
/// assert_eq!(code(ErrorKind::Timeout), tonic::Code::DeadlineExceeded);
/// ```
pub fn code(kind: ErrorKind) -> Code {
    match kind {
        ErrorKind::Config => Code::FailedPrecondition,
        ErrorKind::NotFound => Code::NotFound,
        ErrorKind::Conflict => Code::Aborted,
        ErrorKind::Forbidden => Code::PermissionDenied,
        ErrorKind::Invalid => Code::InvalidArgument,
        ErrorKind::Unsupported => Code::Unimplemented,
        ErrorKind::Unavailable => Code::Unavailable,
        ErrorKind::Timeout => Code::DeadlineExceeded,
        _ => Code::Internal,
    }
}

/// A router's error as the status a plugin answers with.
pub fn to_status(error: &Error) -> Status {
    let mut status = Status::new(code(error.kind()), error.message());
    if let Ok(value) = error.kind().name().parse() {
        status.metadata_mut().insert(KIND_METADATA, value);
    }
    status
}

/// The router's error a status carries, when the plugin answered with one
/// (the status is marked with [`KIND_METADATA`]); `None` for any other
/// status, such as a transport failure.
pub fn router_error(status: &Status) -> Option<Error> {
    let kind = status
        .metadata()
        .get(KIND_METADATA)?
        .to_str()
        .ok()
        .and_then(ErrorKind::from_name)?;
    Some(Error::new(kind, status.message()))
}

/// The kind of an unmarked status (from a plugin that does not mark its
/// answers, or from the transport). `FAILED_PRECONDITION` is how plugins
/// that predate the kinds answered with every router error.
pub(crate) fn kind_of(code: Code) -> ErrorKind {
    match code {
        Code::FailedPrecondition => ErrorKind::Config,
        Code::NotFound => ErrorKind::NotFound,
        Code::Aborted | Code::AlreadyExists => ErrorKind::Conflict,
        Code::PermissionDenied | Code::Unauthenticated => ErrorKind::Forbidden,
        Code::InvalidArgument | Code::OutOfRange => ErrorKind::Invalid,
        Code::Unimplemented => ErrorKind::Unsupported,
        Code::DeadlineExceeded => ErrorKind::Timeout,
        Code::Unavailable | Code::Cancelled | Code::Unknown | Code::ResourceExhausted => {
            ErrorKind::Unavailable
        }
        _ => ErrorKind::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_crosses_as_its_code_and_comes_back() {
        for kind in ErrorKind::ALL {
            let error = Error::new(kind, format!("rollout shop/web: {kind} happened"));
            let status = to_status(&error);
            assert_eq!(status.code(), code(kind));
            assert_eq!(kind_of(status.code()), kind, "{kind}");
            assert_eq!(router_error(&status), Some(error));
        }
    }

    #[test]
    fn an_unmarked_status_is_not_the_routers() {
        assert_eq!(router_error(&Status::unavailable("broken pipe")), None);
    }
}
