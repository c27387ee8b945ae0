//! Failures nobody looked at, made visible (gevent prints the traceback of every
//! greenlet that dies with an exception).
//!
//! A greenlet that panics, or returns an `Err`, and whose result nobody takes (no
//! `join`, `wait` or `link` before its last [`JoinHandle`](crate::JoinHandle) is gone)
//! is reported once, when the result is dropped: `<Greenlet "name"> failed: error`.
//! By default the report goes to stderr; [`set_failure_reports`] routes it to
//! `tracing` (an `error` event) or turns it off.
//!
//! Rust cannot ask of any `T` whether it is an error, so returned errors are found
//! for the result types greenlets return in practice: `Result<(), E>` with `E` one of
//! `std::io::Error`, [`crate::Error`], `String`, `&'static str`,
//! `Box<dyn std::error::Error>` (with or without `Send + Sync`). Panics are always
//! found; a kill is not a failure.

use std::any::Any;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::{Error, panic_message};

/// Where reports of unobserved failures go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureReports {
    /// One line on stderr (the default, as gevent prints tracebacks).
    Stderr,
    /// A `tracing` error event (seen only if a subscriber is installed).
    Tracing,
    /// Nowhere.
    Off,
}

static MODE: AtomicU8 = AtomicU8::new(0);

/// Chooses where reports of failed greenlets nobody joined go, for every hub of the
/// process.
pub fn set_failure_reports(to: FailureReports) {
    let code = match to {
        FailureReports::Stderr => 0,
        FailureReports::Tracing => 1,
        FailureReports::Off => 2,
    };
    MODE.store(code, Ordering::Relaxed);
}

/// Where reports go now.
pub fn failure_reports() -> FailureReports {
    match MODE.load(Ordering::Relaxed) {
        0 => FailureReports::Stderr,
        1 => FailureReports::Tracing,
        _ => FailureReports::Off,
    }
}

/// The error a greenlet ended with, as text, if it failed (not for a kill).
pub(crate) fn describe<T: 'static>(result: &Result<T, Error>) -> Option<String> {
    match result {
        Err(Error::Killed) => None,
        Err(Error::Panicked(p)) => Some(format!("panicked: {}", panic_message(p))),
        Err(other) => Some(other.to_string()),
        Ok(value) => returned_error(value),
    }
}

/// The `Err` of the common `Result<(), E>` return types.
fn returned_error(value: &dyn Any) -> Option<String> {
    fn err<E: std::fmt::Display + 'static>(value: &dyn Any) -> Option<Option<String>> {
        value
            .downcast_ref::<Result<(), E>>()
            .map(|r| r.as_ref().err().map(|e| format!("returned Err: {e}")))
    }
    err::<std::io::Error>(value)
        .or_else(|| err::<Error>(value))
        .or_else(|| err::<String>(value))
        .or_else(|| err::<&'static str>(value))
        .or_else(|| err::<Box<dyn std::error::Error>>(value))
        .or_else(|| err::<Box<dyn std::error::Error + Send + Sync>>(value))
        .flatten()
}

/// Reports a failure no caller can see (a server's accept error), from `source`,
/// where [`failure_reports`] says.
pub fn report_error(source: &str, message: &str) {
    match failure_reports() {
        FailureReports::Stderr => eprintln!("{source}: {message}"),
        FailureReports::Tracing => tracing::error!(source, "{message}"),
        FailureReports::Off => {}
    }
}

/// Sends one report where [`failure_reports`] says.
pub(crate) fn emit(name: Option<&str>, error: &str) {
    let name = name.unwrap_or("<unnamed>");
    match failure_reports() {
        FailureReports::Stderr => {
            eprintln!("<Greenlet {name:?}> failed and was never joined: {error}")
        }
        FailureReports::Tracing => {
            tracing::error!(greenlet = name, "failed and was never joined: {error}")
        }
        FailureReports::Off => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_panics_and_common_errors_but_not_kills_or_values() {
        let panicked: Result<(), Error> = Err(Error::Panicked(Box::new("boom")));
        assert_eq!(describe(&panicked).unwrap(), "panicked: boom");
        assert_eq!(describe::<()>(&Err(Error::Killed)), None);
        let io: Result<std::io::Result<()>, Error> = Ok(Err(std::io::Error::other("disk")));
        assert_eq!(describe(&io).unwrap(), "returned Err: disk");
        let fine: Result<std::io::Result<()>, Error> = Ok(Ok(()));
        assert_eq!(describe(&fine), None);
        let text: Result<Result<(), String>, Error> = Ok(Err("bad".into()));
        assert_eq!(describe(&text).unwrap(), "returned Err: bad");
        assert_eq!(describe(&Ok::<u32, Error>(7)), None);
    }
}
