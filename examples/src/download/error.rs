//! The one error type of the downloader.
//!
//! Every way a URL can fail ends up as a [`DownloadError`] variant, so the per-URL report line
//! can say exactly what went wrong and the retry loop can ask [`DownloadError::is_retryable`]
//! instead of guessing from strings.

use std::fmt;
use std::io;

use monkey::tls::rustls;

/// Which step of a request ran out of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutPhase {
    /// Establishing the TCP connection.
    Connect,
    /// Waiting for the next bytes of the response (a stalled server).
    Read,
}

/// Why one URL could not be downloaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum DownloadError {
    /// The URL does not parse, is not `http`/`https`, or has no host.
    BadUrl { url: String, reason: String },
    /// The TCP connection could not be established (refused, unreachable, no address).
    Connect {
        host: String,
        port: u16,
        source: io::Error,
    },
    /// A connect or read took longer than the configured timeout.
    Timeout(TimeoutPhase),
    /// The TLS handshake or record layer failed, e.g. an untrusted certificate.
    Tls(rustls::Error),
    /// A `--ca` file could not be read or holds no usable certificate.
    CaFile { path: String, reason: String },
    /// The server answered with a status that is neither success nor a followable redirect.
    /// `retry_after` is the server's `Retry-After`, if it sent one that parses.
    Status {
        code: u16,
        reason: String,
        retry_after: Option<std::time::Duration>,
    },
    /// The proxy refused to open a tunnel (`CONNECT`) to the target.
    Proxy { code: u16, reason: String },
    /// More redirects than the configured limit.
    TooManyRedirects { limit: usize },
    /// A redirect pointed back to a URL already visited in this chain.
    RedirectLoop { url: String },
    /// The response head (status line plus headers) exceeds the configured limit.
    HeaderTooLarge { limit: usize },
    /// The response is not valid HTTP/1.x.
    Protocol(String),
    /// The connection closed before any response arrived.
    NoResponse,
    /// The connection closed before the whole body arrived.
    Incomplete {
        received: u64,
        expected: Option<u64>,
    },
    /// Any other error on the connection, e.g. a reset.
    Network(io::Error),
    /// Creating, writing or renaming the local file failed.
    File(io::Error),
    /// The download's greenlet ended without a result (it panicked or was killed): a bug
    /// or a shutdown, reported for that URL instead of taking the others down.
    Aborted(String),
    /// The run was stopped by a signal before this download finished (or started).
    Interrupted(super::stop::Signal),
}

impl DownloadError {
    /// Whether trying the same URL again may succeed: connection trouble, 408 (request
    /// timeout), 429 (too many requests) and 5xx answers (but 501 and 505, which say the
    /// server never will) are transient; everything else (404, bad certificate, bad URL,
    /// disk full) is not.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Connect { .. }
            | Self::Timeout(_)
            | Self::NoResponse
            | Self::Incomplete { .. }
            | Self::Network(_) => true,
            Self::Proxy { code, .. } => matches!(code, 429 | 502 | 503 | 504),
            Self::Status { code, .. } => {
                matches!(code, 408 | 429)
                    || ((500..600).contains(code) && !matches!(code, 501 | 505))
            }
            _ => false,
        }
    }

    /// Classifies an error raised while reading from or writing to the connection.
    ///
    /// rustls reports its failures as `io::Error`s wrapping a `rustls::Error`; those are
    /// unwrapped so a certificate problem reads as one rather than as "invalid data".
    pub(crate) fn from_stream(err: io::Error) -> Self {
        if let Some(tls) = err
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>())
        {
            return Self::Tls(tls.clone());
        }
        match err.kind() {
            // std reports an expired `set_read_timeout` as `WouldBlock` on Unix.
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
                Self::Timeout(TimeoutPhase::Read)
            }
            _ => Self::Network(err),
        }
    }

    pub(crate) fn bad_url(url: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::BadUrl {
            url: super::auth::redact(&url.into()),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for DownloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadUrl { url, reason } => write!(f, "bad URL {url:?}: {reason}"),
            Self::Connect { host, port, source } => {
                write!(f, "cannot connect to {host}:{port}: {source}")
            }
            Self::Timeout(TimeoutPhase::Connect) => f.write_str("timed out connecting"),
            Self::Timeout(TimeoutPhase::Read) => {
                f.write_str("timed out waiting for data (server stalled)")
            }
            Self::Tls(e) => write!(f, "TLS error: {e}"),
            Self::CaFile { path, reason } => write!(f, "cannot use CA file {path}: {reason}"),
            Self::Status { code, reason, .. } if reason.is_empty() => write!(f, "HTTP {code}"),
            Self::Status { code, reason, .. } => write!(f, "HTTP {code} {reason}"),
            Self::Proxy { code, reason } => {
                write!(f, "the proxy refused the tunnel: HTTP {code} {reason}")
            }
            Self::TooManyRedirects { limit } => write!(f, "more than {limit} redirects"),
            Self::RedirectLoop { url } => write!(f, "redirect loop back to {url}"),
            Self::HeaderTooLarge { limit } => {
                write!(f, "response header larger than {limit} bytes")
            }
            Self::Protocol(msg) => write!(f, "malformed HTTP response: {msg}"),
            Self::NoResponse => f.write_str("connection closed before a response arrived"),
            Self::Incomplete {
                received,
                expected: Some(total),
            } => write!(
                f,
                "connection closed after {received} of {total} body bytes"
            ),
            Self::Incomplete { received, .. } => write!(
                f,
                "connection closed after {received} body bytes, before the end of the body"
            ),
            Self::Network(e) => write!(f, "connection error: {e}"),
            Self::File(e) => write!(f, "file error: {e}"),
            Self::Aborted(why) => write!(f, "download aborted: {why}"),
            Self::Interrupted(signal) => write!(f, "interrupted by {signal}"),
        }
    }
}

impl std::error::Error for DownloadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Connect { source, .. } => Some(source),
            Self::Tls(e) => Some(e),
            Self::Network(e) | Self::File(e) => Some(e),
            _ => None,
        }
    }
}
