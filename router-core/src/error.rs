//! The one error type of the router contract.

/// What kind of failure an [`Error`] is: what a host can act on (retry,
/// report as a configuration problem, restart a plugin) without reading
/// the message.
///
/// The kind survives the native gRPC plugin wire as a status code (and
/// comes back as the same kind); on Argo's net/rpc wire only the message
/// crosses, as Argo has nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The rollout (or the router's own config block, or its environment)
    /// does not configure the router as it needs. Retrying does not help
    /// until the configuration changes.
    Config,
    /// An object the router needs does not exist (HTTP 404).
    NotFound,
    /// A write lost a race with another writer (HTTP 409); retry.
    Conflict,
    /// The router's identity may not do what it tried (HTTP 403).
    Forbidden,
    /// The API server refused a write as invalid (HTTP 422), or a request
    /// carried an invalid argument.
    Invalid,
    /// The router cannot express what the rollout asks for.
    Unsupported,
    /// The data plane's API (or the plugin process) cannot be reached or
    /// answered with a server error; retry.
    Unavailable,
    /// A call or request did not finish within its deadline; retry.
    Timeout,
    /// A bug in the router.
    Internal,
}

impl ErrorKind {
    /// Every kind, for exhaustive tests and tables.
    pub const ALL: [Self; 9] = [
        Self::Config,
        Self::NotFound,
        Self::Conflict,
        Self::Forbidden,
        Self::Invalid,
        Self::Unsupported,
        Self::Unavailable,
        Self::Timeout,
        Self::Internal,
    ];

    /// The kind's name, e.g. `not-found` (stable: it crosses process boundaries).
    ///
    /// ```
    /// use router_core::ErrorKind;
    /// for kind in ErrorKind::ALL {
    ///     assert_eq!(ErrorKind::from_name(kind.name()), Some(kind));
    /// }
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::NotFound => "not-found",
            Self::Conflict => "conflict",
            Self::Forbidden => "forbidden",
            Self::Invalid => "invalid",
            Self::Unsupported => "unsupported",
            Self::Unavailable => "unavailable",
            Self::Timeout => "timeout",
            Self::Internal => "internal",
        }
    }

    /// The kind named `name` (as [`ErrorKind::name`] spells it).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The kind of an HTTP status code from the Kubernetes API: 401 and 403
    /// forbidden, 404 and 410 not found, 409 conflict, 400 and 422 invalid,
    /// 408 and 504 timeout, 429 and other 5xx unavailable; anything else
    /// internal.
    ///
    /// ```
    /// use router_core::ErrorKind;
    /// assert_eq!(ErrorKind::from_http_status(409), ErrorKind::Conflict);
    /// assert_eq!(ErrorKind::from_http_status(503), ErrorKind::Unavailable);
    /// ```
    pub fn from_http_status(code: u16) -> Self {
        match code {
            401 | 403 => Self::Forbidden,
            404 | 410 => Self::NotFound,
            409 => Self::Conflict,
            400 | 422 => Self::Invalid,
            408 | 504 => Self::Timeout,
            429 | 500..=599 => Self::Unavailable,
            _ => Self::Internal,
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What can go wrong routing traffic, in-process or through a plugin: a
/// [`ErrorKind`] and a one-line message (naming the rollout or object, the
/// field and what was expected). The message is shown as it is; it is the
/// same on both sides of a plugin boundary.
///
/// ```
/// use router_core::{Error, ErrorKind};
/// let err = Error::conflict("HTTPRoute shop/web: 409 Conflict: the object has been modified");
/// assert_eq!(err.kind(), ErrorKind::Conflict);
/// assert_eq!(err.to_string(), "HTTPRoute shop/web: 409 Conflict: the object has been modified");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// A [`ErrorKind::Config`] error about the rollout `<namespace>/<name>`:
    /// `rollout <rollout>: <message>`.
    pub fn rollout_config(rollout: &str, message: impl std::fmt::Display) -> Self {
        Self::config(format!("rollout {rollout}: {message}"))
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, unchanged.
    pub fn message(&self) -> &str {
        &self.message
    }
}

macro_rules! constructors {
    ($($name:ident => $kind:ident),* $(,)?) => {
        impl Error {
            $(
                #[doc = concat!("An [`ErrorKind::", stringify!($kind), "`] error.")]
                pub fn $name(message: impl Into<String>) -> Self {
                    Self::new(ErrorKind::$kind, message)
                }
            )*
        }
    };
}

constructors! {
    config => Config,
    not_found => NotFound,
    conflict => Conflict,
    forbidden => Forbidden,
    invalid => Invalid,
    unsupported => Unsupported,
    unavailable => Unavailable,
    timeout => Timeout,
    internal => Internal,
}
