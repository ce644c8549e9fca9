use std::error::Error as StdError;

/// Why a fetch failed. Display strings are short and safe to show to clients: they name
/// the host the caller asked for, never a resolved address or an internal error chain
/// (those go to `tracing` at debug level).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("invalid URL: {0}")]
    BadUrl(String),
    #[error("scheme not allowed: {0}")]
    SchemeNotAllowed(String),
    #[error("destination not allowed: {host} ({reason} address)")]
    Denied { host: String, reason: &'static str },
    #[error("could not resolve {0}")]
    Resolve(String),
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("timed out")]
    Timeout,
    #[error("too many redirects (limit {0})")]
    TooManyRedirects(usize),
    #[error("response larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("response is not an image")]
    NotAnImage,
    #[error("upstream error: {0}")]
    Http(String),
    #[error("invalid allow rule: {0}")]
    BadAllowRule(String),
}

impl FetchError {
    /// True when the fetch was refused because of where it would have gone.
    pub fn is_denied(&self) -> bool {
        matches!(self, FetchError::Denied { .. })
    }

    /// A stable, low-cardinality label for logs and metrics.
    pub fn short_reason(&self) -> &'static str {
        match self {
            FetchError::BadUrl(_) => "bad_url",
            FetchError::SchemeNotAllowed(_) => "scheme",
            FetchError::Denied { .. } => "denied",
            FetchError::Resolve(_) => "resolve",
            FetchError::Connect(_) => "connect",
            FetchError::Timeout => "timeout",
            FetchError::TooManyRedirects(_) => "redirects",
            FetchError::TooLarge { .. } => "too_large",
            FetchError::NotAnImage => "not_image",
            FetchError::Http(_) => "http",
            FetchError::BadAllowRule(_) => "bad_allow_rule",
        }
    }

    /// Maps a reqwest error from sending a request. The resolver's own refusals travel
    /// through reqwest as boxed sources, so the chain is searched for them first: a
    /// denied name must surface as `Denied`, not as a generic connect failure.
    pub(crate) fn from_send(err: reqwest::Error) -> FetchError {
        let err = err.without_url();
        let mut cause: Option<&(dyn StdError + 'static)> = Some(&err);
        while let Some(c) = cause {
            if let Some(refusal) = c.downcast_ref::<ResolveError>() {
                return refusal.to_fetch_error();
            }
            cause = c.source();
        }
        tracing::debug!(error = ?err, "fetch request failed");
        if err.is_timeout() {
            FetchError::Timeout
        } else if err.is_connect() {
            FetchError::Connect(innermost(&err))
        } else {
            FetchError::Http(innermost(&err))
        }
    }

    /// Maps a reqwest error from reading a body.
    pub(crate) fn from_body(err: reqwest::Error) -> FetchError {
        let err = err.without_url();
        tracing::debug!(error = ?err, "fetch body read failed");
        if err.is_timeout() {
            FetchError::Timeout
        } else {
            FetchError::Http(innermost(&err))
        }
    }
}

/// The resolver's refusal. It travels through reqwest as the source of its connect
/// error, where [`FetchError::from_send`] finds it; it lives here, beside the error it
/// becomes, so that the resolver depends on the error types and not the other way round.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ResolveError {
    #[error("{host}: {reason} address")]
    Denied { host: String, reason: &'static str },
    #[error("could not resolve {0}")]
    NotFound(String),
}

impl ResolveError {
    pub(crate) fn to_fetch_error(&self) -> FetchError {
        match self {
            ResolveError::Denied { host, reason } => FetchError::Denied {
                host: host.clone(),
                reason,
            },
            ResolveError::NotFound(host) => FetchError::Resolve(host.clone()),
        }
    }
}

/// The deepest cause is the specific one ("Connection refused", "invalid peer
/// certificate"); the outer layers only say which library noticed.
fn innermost(err: &(dyn StdError + 'static)) -> String {
    let mut deepest = err;
    while let Some(next) = deepest.source() {
        deepest = next;
    }
    deepest.to_string()
}
