//! gevent's `monkey.patch_all()` for Rust: the C library's blocking calls,
//! interposed, so that code never written for the hub — `std::net`,
//! `std::thread::sleep`, the `redis` and `ureq` crates, libpq, a C library —
//! cooperates with it unchanged.
//!
//! # The model
//! This crate defines `recv`, `send`, `connect`, `poll`, `clock_nanosleep`, … itself.
//! Linked into a binary, those definitions take the place of glibc's for the whole
//! process: Rust's std (which calls them through `libc`), static C code and shared C
//! libraries all reach them. Each one first asks whether it may cooperate:
//! - the family is patched ([`patch_all`], or [`patch`] for a subset);
//! - the caller is a greenlet of its thread's hub — a spawned one, or the thread's own
//!   code once the hub exists (`hub::run_hubs` threads included);
//! - it is not a hub callback, not inside [`unpatched`], not in a `fork` child.
//!
//! If not, it is the plain call (found with `dlsym(RTLD_NEXT)`; [`original`] reaches
//! it directly, gevent's `get_original`). If so, a call that would block parks the
//! greenlet on the hub instead, and the other greenlets run meanwhile:
//!
//! | family ([`Patch`] field) | hooked | how it waits |
//! |---|---|---|
//! | `sockets` | `connect`, `accept`, `accept4`, `recv`, `recvfrom`, `recvmsg`, `send`, `sendto`, `sendmsg`; `read`, `readv`, `write`, `writev` on sockets | the call made non-blocking; on `EAGAIN` the fd's readiness through the hub's epoll |
//! | `poll` | `poll`, `select` (one fd or many) | a private epoll instance over the fds, registered with the hub |
//! | `sleep` | `clock_nanosleep` (std's `thread::sleep`), `nanosleep`, `usleep`, `sleep` | a hub timer |
//! | `dns` | `getaddrinfo` | the hub's thread pool |
//! | (always) | `close`, `dup2`, `dup3` | no wait: waiters on the fd are woken with `EBADF`, its registration dropped |
//!
//! What a program can observe of std and libc is kept:
//! - a socket the user set non-blocking answers `WouldBlock` at once;
//! - `SO_RCVTIMEO`/`SO_SNDTIMEO` (std's `set_read_timeout`/`set_write_timeout`) end
//!   the wait with the kernel's answer (`EAGAIN`: `WouldBlock`) while other greenlets
//!   run;
//! - a [`hub::Timeout`] interrupts a hooked wait: I/O fails with `ETIMEDOUT`
//!   (`TimedOut`), a sleep ends early and `with_timeout` reports the timeout;
//! - a greenlet killed while parked in a hook never unwinds through it (that would
//!   abort the process): the call fails with `ECANCELED`, which std and the usual
//!   clients do not retry, the kill is raised again at the greenlet's next wait in
//!   Rust code, and `join` says `Killed` even if its function returns first;
//! - closing an fd another greenlet of the thread waits on wakes it with `EBADF`
//!   (gevent: "file descriptor was closed in another greenlet"; a `poll` sees
//!   `POLLNVAL`, a `select` fails with `EBADF`); a new file that reuses the number is
//!   never mistaken for the old one;
//! - `errno` is the call's own after a failure and the caller's after a success;
//! - `send`/`write` on a blocking socket return once everything is sent, and `recv`
//!   with `MSG_WAITALL` once everything has come (or the peer ended), as in the
//!   kernel; `sendmsg`/`writev` may return a short count when the socket buffer
//!   fills, as a signal could make them do anyway (std's `write_all` loops);
//! - in a `fork` child every hook passes through (its copy of the hub shares the
//!   parent's epoll instance).
//!
//! # What does not cooperate, and why
//! Only calls that go through the C library's symbols can be caught. These cannot:
//! - waits on thread primitives — std's `Mutex`, `Condvar`, `thread::park`, channels
//!   — are raw `futex` system calls: an `r2d2` pool waiting for a free connection,
//!   `reqwest::blocking` (it parks the thread while its own tokio runtime works on
//!   another);
//! - crates with their own event loop: the `postgres` crate runs a tokio runtime
//!   inside and blocks the calling thread on it, so its queries run one after another
//!   (use libpq through `pq-sys`/diesel instead, which waits in `poll`);
//! - system calls glibc makes internally (the resolver's own socket I/O — hence the
//!   thread pool for `getaddrinfo`), and raw `syscall`s.
//!
//! Those stalls are not silent: the hub's slow-loop monitor
//! ([`hub::Hub::set_max_blocking_time`], 100 ms by default) reports on stderr which
//! greenlet held the loop and for how long, or as a `tracing` event when a
//! subscriber is installed ([`hub::set_blocking_report`]).
//!
//! # Linking decides
//! The hooks are in the binary only if this crate is: listed in `Cargo.toml` *and*
//! named in the code (calling [`patch_all`] does). That is why this is a crate of its
//! own and not a feature of `monkey`: a feature would put the hooks into every binary
//! of a build that unifies it. Until [`patch_all`] runs, each hook costs a counter
//! increment ([`probe`]), a load of a global flag and a branch (measured in
//! `docs/BENCHMARKS.md`).
//!
//! Other limits:
//! - a close on another thread cannot wake this thread's greenlets waiting on that fd
//!   (the number is still never confused with a new file);
//! - while a thread exits, once its thread-locals are being torn down, every hook
//!   passes through: a greenlet still looping on hooked calls then blocks the thread
//!   as unpatched code would, and can delay the exit.
//!
//! ```
//! use std::cell::Cell;
//! use std::io::{Read, Write};
//! use std::net::{TcpListener, TcpStream};
//! use std::rc::Rc;
//! use std::time::Duration;
//!
//! monkey_patch::patch_all();
//! // Plain std code, unaware of the hub: a server and two clients in greenlets.
//! let listener = TcpListener::bind("127.0.0.1:0").unwrap();
//! let addr = listener.local_addr().unwrap();
//! let (asleep, most_asleep) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
//! let (a, m) = (asleep.clone(), most_asleep.clone());
//! let server = hub::spawn(move || {
//!     for _ in 0..2 {
//!         let (mut conn, _) = listener.accept().unwrap();
//!         let (asleep, most_asleep) = (a.clone(), m.clone());
//!         hub::spawn(move || {
//!             asleep.set(asleep.get() + 1);
//!             most_asleep.set(most_asleep.get().max(asleep.get()));
//!             std::thread::sleep(Duration::from_millis(100)); // a slow answer
//!             asleep.set(asleep.get() - 1);
//!             conn.write_all(b"hi").unwrap();
//!         });
//!     }
//! });
//! let clients: Vec<_> = (0..2)
//!     .map(|_| hub::spawn(move || {
//!         let mut reply = String::new();
//!         TcpStream::connect(addr).unwrap().read_to_string(&mut reply).unwrap();
//!         reply
//!     }))
//!     .collect();
//! for c in clients {
//!     assert_eq!(c.join().unwrap(), "hi");
//! }
//! server.join().unwrap();
//! // Both slow answers were asleep at once, on one thread.
//! assert_eq!(most_asleep.get(), 2);
//! ```
//!
//! # From gevent
//!
//! | gevent                                  | monkey_patch                          |
//! |-----------------------------------------|---------------------------------------|
//! | `gevent.monkey.patch_all()`             | [`patch_all`]                         |
//! | `patch_socket()`, `patch_time()`, `patch_select()`, `patch_dns()` | [`patch`] with [`Patch`]'s `sockets`, `sleep`, `poll`, `dns` |
//! | `is_module_patched(name)`, `is_anything_patched()` | [`is_patched`], [`patched`] |
//! | `get_original(module, name)`            | [`original`]`::{recv, send, connect, poll, …}` |
//! | (none)                                  | [`unpatched`]: run a closure with the hooks passing through |
//!
//! gevent patches more than this: `threading` (greenlets for threads; here threads
//! stay threads, and futex waits cannot be hooked), `subprocess` and `signal` (use
//! `monkey`'s and `hub`'s), `ssl` (TLS libraries here do their I/O through the
//! hooked socket calls, so they cooperate without a patch of their own), `os.fork`
//! (here the child simply gets the plain calls). Patching cannot be undone, as in
//! gevent.

mod close;
mod dns;
mod fds;
mod net;
pub mod original;
mod park;
mod poll;
pub mod probe;
mod sleep;
mod state;

/// Which families of calls [`patch`] makes cooperative (gevent's `patch_*` flags).
/// `Patch::default()` is everything, like `patch_all()`; start from
/// [`Patch::none`] to pick a subset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Patch {
    /// `connect`, `accept`/`accept4`, the `recv` and `send` families, and
    /// `read`/`readv`/`write`/`writev` on sockets.
    pub sockets: bool,
    /// `clock_nanosleep`, `nanosleep`, `usleep`, `sleep`.
    pub sleep: bool,
    /// `getaddrinfo`, run on the hub's thread pool.
    pub dns: bool,
    /// `poll` and `select`.
    pub poll: bool,
}

impl Patch {
    /// Every family.
    pub const fn all() -> Patch {
        Patch {
            sockets: true,
            sleep: true,
            dns: true,
            poll: true,
        }
    }

    /// No family: a base for `Patch { sleep: true, ..Patch::none() }`.
    pub const fn none() -> Patch {
        Patch {
            sockets: false,
            sleep: false,
            dns: false,
            poll: false,
        }
    }

    fn bits(self) -> u8 {
        [
            (self.sockets, state::SOCKETS),
            (self.sleep, state::SLEEP),
            (self.dns, state::DNS),
            (self.poll, state::POLL),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .fold(0, |bits, (_, bit)| bits | bit)
    }
}

impl Default for Patch {
    fn default() -> Patch {
        Patch::all()
    }
}

/// Makes every hooked family cooperative, for the whole process (gevent's
/// `patch_all()`). Greenlets of any hub, made before or after, cooperate from now
/// on; threads without a hub are unaffected. Calling it again does nothing.
pub fn patch_all() {
    patch(Patch::all());
}

/// Makes the chosen families cooperative (adding to what is patched already).
pub fn patch(families: Patch) {
    state::enable(families.bits());
}

/// True if anything is patched (gevent's `is_anything_patched()`). False in a `fork`
/// child, where every hook passes through.
pub fn is_patched() -> bool {
    state::patched_bits() != 0
}

/// The families patched now (all false in a `fork` child).
pub fn patched() -> Patch {
    let bits = state::patched_bits();
    Patch {
        sockets: bits & state::SOCKETS != 0,
        sleep: bits & state::SLEEP != 0,
        dns: bits & state::DNS != 0,
        poll: bits & state::POLL != 0,
    }
}

/// Runs `f` with the hooks passing through for the current greenlet: its calls block
/// the thread as if nothing were patched. Other greenlets that run meanwhile (if `f`
/// itself waits on the hub) still cooperate.
pub fn unpatched<R>(f: impl FnOnce() -> R) -> R {
    let _bypass = state::Bypass::enter();
    f()
}
