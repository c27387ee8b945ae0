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
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use std::time::Duration;
//!
//! let log = Rc::new(RefCell::new(Vec::new()));
//! let sleepers: Vec<_> = (1..=3u64)
//!     .map(|i| {
//!         let log = log.clone();
//!         hub::spawn(move || {
//!             log.borrow_mut().push(format!("{i} sleeps"));
//!             hub::sleep(Duration::from_millis(30 * i)).unwrap();
//!             log.borrow_mut().push(format!("{i} wakes"));
//!             i
//!         })
//!     })
//!     .collect();
//! let total: u64 = sleepers.iter().map(|h| h.join().unwrap()).sum();
//! assert_eq!(total, 6);
//! // The sleeps overlapped: all three were asleep before the first woke.
//! assert_eq!(
//!     *log.borrow(),
//!     ["1 sleeps", "2 sleeps", "3 sleeps", "1 wakes", "2 wakes", "3 wakes"]
//! );
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
//! | `killall(block=False)`              | [`killall_nowait`]                          |
//! | `g.kill(exception)`                 | [`JoinHandle::kill_with`], [`JoinHandle::kill_with_nowait`] |
//! | `gevent.joinall(gs, timeout, count)`| [`joinall`]                                 |
//! | `joinall(raise_error=True)`         | [`joinall_raise_error`]                     |
//! | `gevent.wait(objects, timeout, count)`, `gevent.iwait` | [`wait`], [`iwait`] ([`Iwait`]) over [`Waitable`]s: join handles, [`Event`], [`AsyncResult`], queues |
//! | `g.link(cb)`                        | [`JoinHandle::link`] (callback without arguments), [`JoinHandle::link_result`] (with the outcome) |
//! | `g.link_value`, `g.link_exception`, `g.unlink` | [`JoinHandle::link_value`], [`JoinHandle::link_exception`], [`JoinHandle::unlink`] ([`LinkId`]) |
//! | one `Greenlet` object held in many places | `JoinHandle: Clone` (clones share the one result) |
//! | `gevent.sleep(s)`, `sleep(0)`       | [`sleep`], [`yield_now`]                    |
//! | `gevent.Timeout`, `with_timeout`    | [`Timeout`], [`with_timeout`]               |
//! | `with_timeout` of a function that fails, `g.get()` of one | [`try_with_timeout`], [`JoinHandle::try_join`]: one `Result`, [`Error::Io`] / `From` both ways |
//! | `InvalidSwitchError`                | [`Error::InvalidSwitch`]                    |
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
//! | `gevent.queue.LifoQueue`, `PriorityQueue` | [`LifoQueue`], [`PriorityQueue`] (a [`Queue`] with another [`Order`]: [`Lifo`], [`Priority`]; [`Fifo`] is the default) |
//! | `gevent.lock.Semaphore`             | [`Semaphore`]                               |
//! | `gevent.lock.BoundedSemaphore`      | [`BoundedSemaphore`]; `ValueError` → [`ReleaseError`] |
//! | `gevent.lock.Lock`, `with lock:`    | [`Lock`], [`LockGuard`]                     |
//! | `gevent.lock.RLock`                 | [`RLock`], [`RLockGuard`]                   |
//! | `gevent.pool.Group`                 | [`Group`] (`spawn`, `add`, `join`, `kill`, [`Group::killone`]) |
//! | `gevent.pool.Pool`                  | [`Pool`] (`spawn` waits for a free slot; same `Result` type as [`Group::spawn`]) |
//! | `pool.apply(f)`, `apply_async(f)`   | [`Pool::apply`], [`Pool::apply_async`] (and on [`Group`]) |
//! | `map`, `imap`, `imap_unordered`     | [`Pool::map`], [`Pool::imap`] ([`Imap`]), [`Pool::imap_unordered`] ([`ImapUnordered`]); same on [`Group`] |
//! | `gevent.threadpool.ThreadPool`      | [`ThreadPool`]                              |
//! | `get_hub().threadpool.apply(f)`     | [`spawn_blocking`], [`Hub::threadpool`]     |
//! | `gevent.local.local` (subclassed)   | [`local!`] declares a [`LocalKey`]: one value per greenlet, made on first access, dropped when it ends |
//! | `local` attributes added at will    | none: Rust has no dynamic attributes; declare one typed key per value |
//! | `gevent.signal_handler(sig, f)`     | [`signal::signal_handler`] (a greenlet per delivery; dropping the handle cancels) |
//! | waiting for a signal in a greenlet  | [`signal::Signals`] (`wait`, `wait_timeout`, `try_next`) |
//! | `gevent.util.print_run_info()`      | [`print_run_info`], [`run_info`] (greenlets only: name, state, wait, spawner; no stack traces of suspended greenlets, which Rust cannot walk) |
//! | tracebacks printed by `hub.handle_error` | failures nobody joins, on stderr: [`set_failure_reports`], [`FailureReports`]; [`report_error`] |
//!
//! ## What gevent has and hub does not
//!
//! | gevent                              | here, and why                               |
//! |-------------------------------------|---------------------------------------------|
//! | `gevent.wait()` with no objects (run the loop until idle) | not offered: wait on the handles ([`joinall`], [`Group::join`]); an idle loop is [`Error::WouldBlockForever`] |
//! | `Timeout(seconds, exception)`, `with_timeout(..., timeout_value=)` | errors are typed: a wait gives [`Error::Timeout`], [`Timeout::interrupted`] says whose |
//! | `Event.rawlink`, `AsyncResult.rawlink` | not offered: callbacks on the hub are [`JoinHandle::link`]s; wait on several things with [`iwait`] |
//! | `kill(exception)` of a greenlet not yet started | it never runs; `join` gives [`Error::Killed`], not the payload |
//! | `Channel.put_nowait` that yields to the getter | [`Channel::try_put`] never parks; [`Channel::put`] is the rendezvous |
//! | `gevent.queue.SimpleQueue`, `JoinableQueue` | one [`Queue`] type does both              |
//! | `DummySemaphore`                    | `Option<Semaphore>`                         |
//! | `getcurrent()` as a `Greenlet` with `.link`, `.kill` | [`greenlet::getcurrent`] gives the raw greenlet; keep the [`JoinHandle`] (it is `Clone`) |
//! | `gevent.fileobject`, `gevent.os`    | [`spawn_blocking`] for file I/O             |
//! | sockets, `select`, `subprocess`, `ssl`, `monkey.patch_all` | the `monkey` and `monkey-patch` crates |
//! | `gevent.backdoor`, `gevent.pywsgi`  | out of scope (the examples have an HTTP/1.1 server on `monkey`'s `StreamServer`) |
//!
//! # Rules
//! - Spawned greenlets start at the hub's next turn, in spawn order. A panic inside one
//!   never reaches the hub: it is logged through `tracing` and `join` returns it. A
//!   greenlet that fails (panics, or returns an `Err`) and is never joined, waited for
//!   or linked is reported once on stderr with its name and error, as gevent prints a
//!   traceback (see [`set_failure_reports`] to turn that off or route it to `tracing`).
//! - Signals are delivered through the loop ([`signal`]); nothing is installed until a
//!   program asks for a signal.
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

mod flatten;
pub mod hooks;
mod hub;
mod io;
mod local;
pub mod monitor;
mod multicore;
mod pool;
mod remote;
mod report;
mod run_info;
pub mod signal;
mod sync;
mod task;
mod threadpool;
mod timeout;
mod timer;
mod wait;
mod wait_many;

pub use flatten::try_with_timeout;
pub use hub::Hub;
pub use io::{Direction, Registration};
pub use local::{LocalAccessError, LocalKey};
pub use monitor::{BlockingReport, blocking_report, set_blocking_report};
pub use multicore::{HubHandle, Receiver, Sender, channel, cores, run_hubs, run_hubs_with};
pub use pool::{Group, Imap, ImapUnordered, Pool};
pub use remote::Remote;
pub use report::{FailureReports, failure_reports, report_error, set_failure_reports};
pub use run_info::{print_run_info, run_info};
pub use sync::{
    AsyncResult, BoundedSemaphore, Channel, Event, Lock, LockGuard, PutError, Queue, QueueError,
    ReleaseError, Semaphore, SemaphoreGuard,
};
pub use sync::{Fifo, Lifo, LifoQueue, Order, Priority, PriorityQueue, RLock, RLockGuard};
pub use task::{Builder, JoinHandle, LinkId, joinall, killall, spawn, spawn_later};
pub use threadpool::{ThreadPool, spawn_blocking};
pub use timeout::{Timeout, sleep, with_timeout, yield_now};
pub use wait::Waiter;
pub use wait_many::{Iwait, Waitable, iwait, joinall_raise_error, killall_nowait, wait};

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
    /// A greenlet switched straight into a parked one, instead of the hub waking it
    /// (gevent's `InvalidSwitchError`); the wait is over, unfinished.
    InvalidSwitch,
    /// An I/O error, carried so that code under [`with_timeout`] or in a greenlet
    /// can use `?` on both kinds (see [`try_with_timeout`], [`JoinHandle::try_join`]);
    /// converting back into `std::io::Error` gives the original.
    Io(std::io::Error),
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
            Error::InvalidSwitch => f.write_str(
                "invalid switch into a waiting greenlet: only the hub may resume a wait",
            ),
            Error::Io(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::Io(e)
    }
}

impl PartialEq for Error {
    /// Same variant (and the same kind for I/O errors); two panics are never equal
    /// (their payloads cannot be compared).
    fn eq(&self, other: &Error) -> bool {
        if let (Error::Io(a), Error::Io(b)) = (self, other) {
            return a.kind() == b.kind();
        }
        !matches!(self, Error::Panicked(_))
            && std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> std::io::Error {
        use std::io::ErrorKind;
        if let Error::Io(e) = e {
            return e;
        }
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
