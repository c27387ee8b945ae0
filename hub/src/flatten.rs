//! One error type out of a timed or joined operation that has its own errors: the
//! flattening of `Result<Result<T, E>, hub::Error>`.

use std::time::Duration;

use crate::{Error, JoinHandle, with_timeout};

/// [`with_timeout`] for a closure that returns a `Result`: one level of `Result`,
/// the timeout (or another hub error) converted into the closure's error type.
/// With `E = std::io::Error` a timeout is an [`ErrorKind::TimedOut`] error; with
/// `E = hub::Error` the closure can use `?` on I/O errors ([`Error::Io`]).
///
/// [`ErrorKind::TimedOut`]: std::io::ErrorKind::TimedOut
///
/// ```
/// use std::io::{self, ErrorKind};
/// use std::time::Duration;
///
/// let r: io::Result<()> = hub::try_with_timeout(Duration::from_millis(5), || {
///     hub::sleep(Duration::from_secs(5))?; // a hub::Error into io::Error
///     Ok(())
/// });
/// assert_eq!(r.unwrap_err().kind(), ErrorKind::TimedOut);
///
/// let r: Result<u8, hub::Error> = hub::try_with_timeout(Duration::from_secs(1), || {
///     Err(io::Error::new(ErrorKind::NotFound, "no such file"))? // io::Error into hub::Error
/// });
/// let back: io::Error = r.unwrap_err().into(); // the original io::Error again
/// assert_eq!(back.kind(), ErrorKind::NotFound);
/// ```
pub fn try_with_timeout<T, E: From<Error>>(
    duration: Duration,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    with_timeout(duration, f)?
}

impl<T, E: From<Error>> JoinHandle<Result<T, E>> {
    /// [`join`](JoinHandle::join) for a greenlet that returns a `Result`: one level
    /// of `Result`, a panic, kill or interrupted wait converted into its error type.
    ///
    /// ```
    /// use std::io;
    /// let h = hub::spawn(|| -> io::Result<usize> { Ok(3) });
    /// assert_eq!(h.try_join().unwrap(), 3);
    /// let h = hub::spawn(|| -> io::Result<usize> { panic!("boom") });
    /// assert!(h.try_join().unwrap_err().to_string().contains("boom"));
    /// ```
    pub fn try_join(&self) -> Result<T, E> {
        self.join()?
    }
}
