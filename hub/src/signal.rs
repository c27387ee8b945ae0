//! Unix signals delivered through the loop (gevent's `signal_handler`).
//!
//! signal-hook's handler does the async-signal-safe part: it records the signal and
//! writes a byte to a self-pipe. The pipe's read end is registered with this hub like
//! any socket, so a greenlet waiting for a signal parks as it would on a read, and a
//! signal arriving while every greenlet is parked wakes the loop.
//!
//! Nothing is installed until a [`Signals`] (or [`signal_handler`]) asks for a signal:
//! a program that registers nothing keeps the default dispositions. Once signal-hook
//! has installed its handler for a signal, it stays: dropping the last [`Signals`] for
//! `SIGTERM` leaves `SIGTERM` ignored rather than fatal (signal-hook-registry cannot
//! restore the default). Register termination signals for the life of the program.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use signal_hook::iterator::backend::SignalDelivery;
use signal_hook::iterator::exfiltrator::SignalOnly;

use crate::io::{Direction, Registration};
use crate::{Error, JoinHandle};

pub use signal_hook::consts::signal::{
    SIGALRM, SIGCHLD, SIGHUP, SIGINT, SIGPIPE, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH,
};

/// A set of signals this greenlet can wait for (signal-hook's `Signals`, on the hub).
///
/// ```no_run
/// use hub::signal::{SIGINT, SIGTERM, Signals};
///
/// let signals = Signals::new(&[SIGINT, SIGTERM]).unwrap();
/// // Other greenlets keep running while this one waits.
/// let which = signals.wait().unwrap();
/// eprintln!("stopping on signal {which}");
/// ```
pub struct Signals {
    // Deregistered before the pipe closes: fields drop in order.
    registration: Registration,
    delivery: RefCell<SignalDelivery<UnixStream, SignalOnly>>,
    /// Signals read from signal-hook and not handed out yet.
    queue: RefCell<VecDeque<i32>>,
}

impl Signals {
    /// Starts catching `signals` for this hub. A signal that cannot be caught
    /// (`SIGKILL`, `SIGSTOP`) or that signal-hook refuses to take over because the
    /// program would misbehave (`SIGSEGV`, `SIGILL`, `SIGFPE`) is `InvalidInput`.
    pub fn new(signals: &[i32]) -> io::Result<Signals> {
        if let Some(bad) = signals
            .iter()
            .find(|s| signal_hook::consts::FORBIDDEN.contains(s) || **s <= 0 || **s >= 65)
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("signal {bad} cannot be caught"),
            ));
        }
        let (read, write) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        let registration = Registration::new(read.as_raw_fd())?;
        let delivery = SignalDelivery::with_pipe(read, write, SignalOnly, signals)?;
        Ok(Signals {
            registration,
            delivery: RefCell::new(delivery),
            queue: RefCell::new(VecDeque::new()),
        })
    }

    /// A signal that has arrived and was not handed out yet, without waiting. Several
    /// deliveries of one signal between two looks count once (as with any Unix
    /// signal).
    pub fn try_next(&self) -> Option<i32> {
        let mut queue = self.queue.borrow_mut();
        if queue.is_empty() {
            queue.extend(self.delivery.borrow_mut().pending());
        }
        queue.pop_front()
    }

    /// Parks until one of the signals arrives and returns it. Only one greenlet may
    /// wait on a `Signals` at a time (another gets [`Error::Busy`]).
    pub fn wait(&self) -> Result<i32, Error> {
        self.wait_inner(None)
    }

    /// Like [`wait`](Self::wait), giving up with [`Error::Timeout`] after `timeout`.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<i32, Error> {
        self.wait_inner(Some(crate::timer::deadline_after(timeout)))
    }

    fn wait_inner(&self, deadline: Option<std::time::Instant>) -> Result<i32, Error> {
        loop {
            // `pending` drains the pipe first: a signal after it writes a new byte,
            // which is a new edge for the wait below.
            if let Some(signal) = self.try_next() {
                return Ok(signal);
            }
            let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
            if left == Some(Duration::ZERO) {
                return Err(Error::Timeout);
            }
            self.registration.wait(Direction::Read, left)?;
        }
    }
}

impl fmt::Debug for Signals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signals")
            .field("fd", &self.registration.fd())
            .field("queued", &self.queue.borrow().len())
            .finish()
    }
}

/// Runs `handler` in a new greenlet each time `signal` arrives (gevent's
/// `gevent.signal_handler(signum, handler)`), until the returned handle is cancelled
/// or dropped.
///
/// ```no_run
/// use std::rc::Rc;
///
/// let reloads = Rc::new(std::cell::Cell::new(0));
/// let counter = reloads.clone();
/// let _on_hup = hub::signal::signal_handler(hub::signal::SIGHUP, move || {
///     counter.set(counter.get() + 1);
/// })
/// .unwrap();
/// ```
pub fn signal_handler(signal: i32, handler: impl Fn() + 'static) -> io::Result<SignalHandler> {
    let signals = Signals::new(&[signal])?;
    let handler = std::rc::Rc::new(handler);
    let watcher = crate::Builder::new()
        .name(format!("signal_handler({signal})"))
        .spawn(move || {
            while signals.wait().is_ok() {
                let handler = handler.clone();
                crate::Builder::new()
                    .name(format!("signal {signal}"))
                    .spawn(move || handler());
            }
        });
    Ok(SignalHandler { watcher, signal })
}

/// A handler installed by [`signal_handler`]; cancelled when dropped.
#[must_use = "dropping the handle cancels the handler"]
pub struct SignalHandler {
    watcher: JoinHandle<()>,
    signal: i32,
}

impl SignalHandler {
    /// Stops running the handler for new deliveries (gevent's `cancel()`); handler
    /// greenlets already running carry on.
    pub fn cancel(&self) {
        self.watcher.kill_nowait();
    }

    /// The signal it handles.
    pub fn signal(&self) -> i32 {
        self.signal
    }
}

impl Drop for SignalHandler {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl fmt::Debug for SignalHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalHandler")
            .field("signal", &self.signal)
            .finish()
    }
}
