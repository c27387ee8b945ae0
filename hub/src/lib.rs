//! A per-thread event loop that runs greenlets: gevent's hub, over mio.
//!
//! Each thread gets one [`Hub`], made on first use and running in a greenlet of its
//! own. Code written in plain blocking style (`sleep`, `join`, waiting for a socket)
//! switches to the hub instead of blocking the thread; the hub runs the other
//! greenlets, polls for I/O (epoll through mio) until the next timer is due, and
//! switches back when the awaited thing has happened. The thread's own code (`main`)
//! is a greenlet like the others: a blocking call there runs the loop until it can
//! return.
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! let start = Instant::now();
//! let sleepers: Vec<_> = (1..=3u64)
//!     .map(|i| hub::spawn(move || {
//!         hub::sleep(Duration::from_millis(30 * i)).unwrap();
//!         i
//!     }))
//!     .collect();
//! let total: u64 = sleepers.iter().map(|h| h.join().unwrap()).sum();
//! assert_eq!(total, 6);
//! // The sleeps overlapped: the total is the longest, not the sum.
//! assert!(start.elapsed() < Duration::from_millis(170));
//! ```
//!
//! Code that was never written for the hub (a crate's own `std::net` sockets,
//! `std::thread::sleep`, a C library) cooperates too once the `monkey-patch` crate's
//! `patch_all()` has run; its docs explain that model and its limits. The
//! [`hooks`] module is the support it needs here, and the slow-loop monitor
//! ([`set_blocking_report`]) is how a call that still blocks the loop shows.

//! # From gevent
//!
//! | gevent                              | hub                                         |
//! |-------------------------------------|---------------------------------------------|
//! | `gevent.get_hub()`                  | [`Hub::current`]                            |
//! | `gevent.spawn(f)`, `spawn_later`    | [`spawn`], [`spawn_later`], [`Builder`]     |
//! | `g.join()`, `g.get()`, `g.value`    | [`JoinHandle::wait`], [`JoinHandle::join`], [`JoinHandle::value`] |
//! | `g.kill()`, `gevent.killall`        | [`JoinHandle::kill`], [`killall`]           |
//! | `gevent.joinall(gs, timeout, count)`| [`joinall`]                                 |
//! | `g.link(cb)`                        | [`JoinHandle::link`]                        |
//! | `gevent.sleep(s)`, `sleep(0)`       | [`sleep`], [`yield_now`]                    |
//! | `gevent.Timeout`, `with_timeout`    | [`Timeout`], [`with_timeout`]               |
//! | `hub.wait(io watcher)`              | [`Registration::wait`]                      |
//! | `LoopExit`                          | [`Error::WouldBlockForever`]                |
//! | `GreenletExit`                      | [`greenlet::GreenletExit`]; `join` gives [`Error::Killed`] |
//! | `get_hub().loop.async_`, threadsafe | [`Remote`]                                  |
//! | `loop.run_callback_threadsafe(f)`, for another hub | [`HubHandle::call`], [`HubHandle::spawn`] |
//! | (none: one hub per core)            | [`run_hubs`], [`run_hubs_with`], [`cores`]  |
//! | cross-hub messages                  | [`channel`]: [`Sender`] (any thread), [`Receiver`] (parks the greenlet) |
//! | `max_blocking_time` monitor         | [`Hub::set_max_blocking_time`]; reports on stderr or `tracing`: [`set_blocking_report`] |
//! | `monkey.patch_all()`                | the `monkey-patch` crate (its docs explain the model); [`hooks`] is its support here |
//! | `gevent.event.Event`                | [`Event`]                                   |
//! | `gevent.event.AsyncResult`          | [`AsyncResult`]                             |
//! | `gevent.queue.Queue`, `JoinableQueue` | [`Queue`] (`put`/`get`/`peek`, `*_nowait` → `try_*`, `task_done`/`join`, `close`) |
//! | `gevent.queue.Empty`, `Full`        | [`QueueError::Empty`], [`QueueError::Full`] |
//! | `gevent.queue.Channel`              | [`Channel`]                                 |
//! | `gevent.lock.Semaphore`             | [`Semaphore`]                               |
//! | `gevent.lock.BoundedSemaphore`      | [`BoundedSemaphore`]; `ValueError` → [`ReleaseError`] |
//! | `gevent.lock.Lock`, `with lock:`    | [`Lock`], [`LockGuard`]                     |
//! | `gevent.pool.Group`                 | [`Group`] (`spawn`, `add`, `join`, `kill`)   |
//! | `gevent.pool.Pool`                  | [`Pool`] (`spawn` waits for a free slot)    |
//! | `map`, `imap`, `imap_unordered`     | [`Pool::map`], [`Pool::imap`] ([`Imap`]), [`Pool::imap_unordered`] ([`ImapUnordered`]); same on [`Group`] |
//! | `gevent.threadpool.ThreadPool`      | [`ThreadPool`]                              |
//! | `get_hub().threadpool.apply(f)`     | [`spawn_blocking`], [`Hub::threadpool`]     |
//!
//! # Rules
//! - Spawned greenlets start at the hub's next turn, in spawn order. A panic inside one
//!   never reaches the hub: it is logged through `tracing` and `join` returns it.
//! - A greenlet that is killed unwinds from the wait it is in with `GreenletExit`, so
//!   its destructors run; waits never leave registrations or stale wake-ups behind.
//! - When a wait of the thread's root greenlet could never end (nothing ready, no
//!   timers, no I/O waits, no [`Remote`] alive), it returns
//!   [`Error::WouldBlockForever`] instead of hanging.
//! - The hub polls I/O between runs of the ready queue, so greenlets that keep
//!   yielding cannot starve I/O or timers.
//! - Each spawned greenlet runs inside a `tracing` span named `greenlet` (with its id
//!   and name), so what it logs says who logged it; spawn and kill are `trace`/`debug`
//!   events, failures `error` events.
//! - When a thread exits, its hub is torn down: greenlets still alive are killed (their
//!   destructors run, and a destructor that tries to block gets [`Error::HubGone`]),
//!   and the loop's fds and stacks are freed.

pub mod hooks;
mod hub;
mod io;
pub mod monitor;
mod multicore;
mod pool;
mod remote;
mod sync;
mod task;
mod threadpool;
mod timeout;
mod timer;
mod wait;

pub use hub::Hub;
pub use io::{Direction, Registration};
pub use monitor::{BlockingReport, blocking_report, set_blocking_report};
pub use multicore::{HubHandle, Receiver, Sender, channel, cores, run_hubs, run_hubs_with};
pub use pool::{Group, Imap, ImapUnordered, Pool};
pub use remote::Remote;
pub use sync::{
    AsyncResult, BoundedSemaphore, Channel, Event, Lock, LockGuard, PutError, Queue, QueueError,
    ReleaseError, Semaphore, SemaphoreGuard,
};
pub use task::{Builder, JoinHandle, joinall, killall, spawn, spawn_later};
pub use threadpool::{ThreadPool, spawn_blocking};
pub use timeout::{Timeout, sleep, with_timeout, yield_now};
pub use wait::Waiter;

pub use gen_core::Payload;
pub use greenlet::GreenletExit;

use std::fmt;

/// Why a hub operation did not give its normal result.
#[non_exhaustive]
pub enum Error {
    /// A [`Timeout`] or an operation's own deadline passed.
    Timeout,
    /// Nothing could ever end this wait (gevent's `LoopExit`).
    WouldBlockForever,
    /// The greenlet was killed.
    Killed,
    /// The greenlet panicked; the payload is kept.
    Panicked(Payload),
    /// A blocking call was made from a hub callback, which cannot block.
    BlockingInHub,
    /// Another greenlet already waits on this fd in this direction.
    Busy,
    /// The result was already taken by an earlier `join`.
    Taken,
    /// The hub's thread has exited, or is exiting (a destructor that runs while the
    /// hub is torn down cannot block).
    HubGone,
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Panicked(p) => write!(f, "Panicked({:?})", panic_message(p)),
            other => fmt::Display::fmt(other, f),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Timeout => f.write_str("timed out"),
            Error::WouldBlockForever => f.write_str(
                "this wait would block forever: no other greenlet, timer or I/O can end it",
            ),
            Error::Killed => f.write_str("the greenlet was killed"),
            Error::Panicked(p) => write!(f, "the greenlet panicked: {}", panic_message(p)),
            Error::BlockingInHub => f.write_str("cannot block inside a hub callback"),
            Error::Busy => {
                f.write_str("another greenlet is already waiting on this file descriptor")
            }
            Error::Taken => f.write_str("the greenlet's result was already taken"),
            Error::HubGone => f.write_str("the hub's thread has exited or is exiting"),
        }
    }
}

impl std::error::Error for Error {}

impl PartialEq for Error {
    /// Same variant; two panics are never equal (their payloads cannot be compared).
    fn eq(&self, other: &Error) -> bool {
        !matches!(self, Error::Panicked(_))
            && std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> std::io::Error {
        use std::io::ErrorKind;
        let kind = match &e {
            Error::Timeout => ErrorKind::TimedOut,
            Error::Busy => ErrorKind::ResourceBusy,
            Error::WouldBlockForever => ErrorKind::Deadlock,
            Error::HubGone => ErrorKind::BrokenPipe,
            _ => ErrorKind::Other,
        };
        // The payload of a panic is not Sync, so the error travels as its message.
        std::io::Error::new(kind, e.to_string())
    }
}

/// The text of a panic payload, for reports.
pub fn panic_message(payload: &Payload) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if payload.is::<GreenletExit>() {
        "GreenletExit".to_string()
    } else {
        "<non-string panic payload>".to_string()
    }
}
