//! TCP and UDP sockets with std's API whose blocking calls switch to the hub
//! (`std::net` → `monkey::net`; gevent's `gevent.socket`).
//!
//! Every socket here is a std socket kept in non-blocking mode by the kernel, plus
//! its registration with this thread's hub. A call first tries the syscall; when it
//! would block, the greenlet parks until the fd is ready (or its timeout passes) and
//! the call is retried: the other greenlets run meanwhile.
//!
//! # Where it differs from std
//! - Sockets are `!Send`: they belong to the hub of the thread that made them.
//!   Convert one into the std type to move it to another thread, and back there with
//!   `From`.
//! - Two greenlets reading one socket at the same time (or two writing) is refused:
//!   the second gets [`io::ErrorKind::ResourceBusy`] (gevent raises
//!   `ConcurrentObjectUseError`). One reading while another writes is fine.
//! - [`ToSocketAddrs`] is this crate's trait (same implementors as std's), so that
//!   host names can be resolved on the hub's thread pool.
//! - The fd behind `AsRawFd`/`AsFd` is always `O_NONBLOCK`; `IntoRawFd` and the
//!   conversions into std types restore the mode std's user would expect. The mode
//!   belongs to the open file description, which `try_clone` shares: convert only the
//!   last of several clones back to std, or the remaining monkey handles would find
//!   their fd blocking and stall the thread.
//! - Timeouts are kept exactly (the kernel rounds `SO_RCVTIMEO` to its tick).
//! - [`TcpListener::bind`] listens with std's backlog (128);
//!   [`TcpListener::bind_reuseport`] with 1024.

/// The conversions every monkey socket shares with its std twin: `Debug`, `From` both
/// ways (adopting a std socket on this thread's hub, and back to std in the blocking
/// mode set with `set_nonblocking`), and the fd traits.
macro_rules! std_socket_conversions {
    ($ours:ident, $std:ty) => {
        impl std::fmt::Debug for $ours {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(self.inner.socket(), f)
            }
        }

        impl From<$std> for $ours {
            /// Adopts a std socket on this thread's hub, keeping its blocking mode and
            /// timeouts.
            fn from(socket: $std) -> $ours {
                $ours {
                    inner: $crate::net::Evented::adopt(socket),
                }
            }
        }

        impl From<$ours> for $std {
            /// Back to std, in the blocking mode set with `set_nonblocking`.
            fn from(socket: $ours) -> $std {
                socket.inner.into_socket()
            }
        }

        impl std::os::fd::AsFd for $ours {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                std::os::fd::AsFd::as_fd(self.inner.socket())
            }
        }

        impl std::os::fd::AsRawFd for $ours {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(self.inner.socket())
            }
        }

        impl std::os::fd::FromRawFd for $ours {
            /// # Safety
            /// As for the std type's `from_raw_fd`: `fd` is an open socket of that kind
            /// that nothing else owns.
            unsafe fn from_raw_fd(fd: std::os::fd::RawFd) -> $ours {
                // SAFETY: the caller's contract, forwarded.
                $ours::from(unsafe { <$std as std::os::fd::FromRawFd>::from_raw_fd(fd) })
            }
        }

        impl std::os::fd::IntoRawFd for $ours {
            fn into_raw_fd(self) -> std::os::fd::RawFd {
                std::os::fd::IntoRawFd::into_raw_fd(<$std>::from(self))
            }
        }
    };
}

/// The socket options every monkey socket has, as std's do: TTL, the pending error, and
/// non-blocking mode (kept by monkey, shared with `try_clone`s: the fd itself is
/// always non-blocking).
macro_rules! std_socket_options {
    ($ours:ident) => {
        impl $ours {
            /// `IP_TTL`.
            pub fn set_ttl(&self, ttl: u32) -> std::io::Result<()> {
                self.inner.socket().set_ttl(ttl)
            }

            /// `IP_TTL`.
            pub fn ttl(&self) -> std::io::Result<u32> {
                self.inner.socket().ttl()
            }

            /// Takes the pending socket error (`SO_ERROR`).
            pub fn take_error(&self) -> std::io::Result<Option<std::io::Error>> {
                self.inner.socket().take_error()
            }

            /// In non-blocking mode calls fail with `WouldBlock` instead of waiting, as
            /// with std. Shared with the `try_clone`s.
            pub fn set_nonblocking(&self, nonblocking: bool) -> std::io::Result<()> {
                self.inner.set_nonblocking(nonblocking);
                Ok(())
            }
        }
    };
}

/// std's read and write timeouts, for the sockets that read and write. They are kept
/// by monkey and enforced with hub timers: a call that waits longer fails with
/// `WouldBlock`, as std's does on Unix.
macro_rules! std_socket_timeouts {
    ($ours:ident) => {
        impl $ours {
            /// Read timeout: a read that waits longer fails with `WouldBlock`. `None`
            /// waits forever; a zero duration is `InvalidInput`.
            pub fn set_read_timeout(&self, dur: Option<Duration>) -> std::io::Result<()> {
                self.inner.set_timeout(hub::Direction::Read, dur)
            }

            /// Write timeout: a write that waits longer fails with `WouldBlock`.
            pub fn set_write_timeout(&self, dur: Option<Duration>) -> std::io::Result<()> {
                self.inner.set_timeout(hub::Direction::Write, dur)
            }

            /// The read timeout.
            pub fn read_timeout(&self) -> std::io::Result<Option<Duration>> {
                Ok(self.inner.timeout(hub::Direction::Read))
            }

            /// The write timeout.
            pub fn write_timeout(&self) -> std::io::Result<Option<Duration>> {
                Ok(self.inner.timeout(hub::Direction::Write))
            }
        }
    };
}

mod addr;
mod tcp;
mod udp;

pub use addr::ToSocketAddrs;
pub use std::net::{
    AddrParseError, IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, SocketAddrV4, SocketAddrV6,
};
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;

use std::cell::{Cell, OnceCell};
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use hub::{Direction, Registration};
use socket2::SockRef;

/// What std keeps in the kernel and therefore shares between `try_clone`d handles:
/// the blocking mode (a flag of the open file description) and the timeouts (socket
/// options). Here the kernel socket always stays non-blocking, so they live in user
/// space, shared the same way.
#[derive(Default, Debug)]
struct Settings {
    /// `set_nonblocking(true)`: calls return `WouldBlock` instead of waiting.
    nonblocking: Cell<bool>,
    read_timeout: Cell<Option<Duration>>,
    write_timeout: Cell<Option<Duration>>,
}

/// A std socket in non-blocking mode, its hub registration, and its settings: the
/// one place that turns "the syscall would block" into "park this greenlet until the
/// fd is ready, then retry".
///
/// The registration is made on the first wait (sockets that never wait cost no
/// `epoll_ctl`), on this thread's hub; it holds an `Rc`, which makes every socket
/// type built on this `!Send`.
pub(crate) struct Evented<S: AsFd> {
    // Field order matters: fields drop in declaration order, and the registration
    // must be gone (deregistered from epoll) before the socket closes its fd.
    registration: OnceCell<Registration>,
    socket: S,
    settings: Rc<Settings>,
    /// `!Send` and `!Sync` even before the registration exists: the socket belongs
    /// to this thread's hub.
    _hub_bound: PhantomData<Rc<()>>,
}

impl<S: AsFd> Evented<S> {
    /// Wraps a socket that is already in non-blocking mode, with std's defaults
    /// (blocking calls, no timeouts).
    fn new(socket: S) -> Evented<S> {
        Evented::with_settings(socket, Rc::default())
    }

    fn with_settings(socket: S, settings: Rc<Settings>) -> Evented<S> {
        Evented {
            registration: OnceCell::new(),
            socket,
            settings,
            _hub_bound: PhantomData,
        }
    }

    /// Adopts a socket made elsewhere (a std socket, a raw fd): keeps its blocking
    /// mode and timeouts as this handle's settings and puts the kernel socket into
    /// non-blocking mode.
    ///
    /// # Panics
    /// If `fcntl` fails, which it only does on an fd that is not open (the owning
    /// std type promises it is).
    fn adopt(socket: S) -> Evented<S> {
        let sock = SockRef::from(&socket);
        let settings = Settings {
            nonblocking: Cell::new(sock.nonblocking().unwrap_or(false)),
            read_timeout: Cell::new(sock.read_timeout().ok().flatten()),
            write_timeout: Cell::new(sock.write_timeout().ok().flatten()),
        };
        if let Err(e) = sock.set_nonblocking(true) {
            panic!(
                "cannot put fd {} in non-blocking mode: {e}",
                socket.as_fd().as_raw_fd()
            );
        }
        Evented::with_settings(socket, Rc::new(settings))
    }

    /// The socket, back in the blocking mode its user asked for (the timeouts are
    /// already in the kernel: the setters write them through). For `From` and
    /// `IntoRawFd`, which cannot fail: if `fcntl` fails the socket stays non-blocking.
    fn into_socket(self) -> S {
        let Evented {
            registration,
            socket,
            settings,
            ..
        } = self;
        drop(registration);
        let _ = SockRef::from(&socket).set_nonblocking(settings.nonblocking.get());
        socket
    }

    fn socket(&self) -> &S {
        &self.socket
    }

    /// A second handle on a `dup` of the fd, sharing the settings (as std's
    /// `try_clone` shares them through the kernel). It gets its own registration.
    fn try_clone_with(&self, dup: impl FnOnce(&S) -> io::Result<S>) -> io::Result<Evented<S>> {
        Ok(Evented::with_settings(
            dup(&self.socket)?,
            self.settings.clone(),
        ))
    }

    /// Runs `op` until it does not say `WouldBlock`, parking the greenlet in between
    /// until the fd is ready in `direction`; honours `set_nonblocking` and the
    /// timeout for `direction`. The one retry loop of every socket call.
    ///
    /// A blocking call on an fd known to be drained (see [`drained`](Self::drained))
    /// parks before trying `op`, saving the syscall that would say `WouldBlock`.
    fn io<R>(
        &self,
        direction: Direction,
        mut op: impl FnMut(&S) -> io::Result<R>,
    ) -> io::Result<R> {
        let mut deadline = None;
        loop {
            if self.nonblocking() || self.may_be_ready(direction) {
                match op(&self.socket) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock && !self.nonblocking() => {}
                    result => return result,
                }
            }
            // A timeout too large for an Instant waits for ever.
            let deadline = *deadline.get_or_insert_with(|| {
                self.timeout(direction)
                    .and_then(|t| Instant::now().checked_add(t))
            });
            if !self.wait(direction, deadline).map_err(io::Error::from)? {
                // What std returns when SO_RCVTIMEO / SO_SNDTIMEO expire on Unix.
                return Err(io::Error::from_raw_os_error(libc::EAGAIN));
            }
        }
    }

    /// Returns once a call in `direction` may not block: at once if the hub saw
    /// readiness since the fd was last found drained, else after parking until it
    /// does. A socket not registered yet is registered and waited on: epoll reports
    /// readiness that is already there. The timeout for `direction` applies, as in
    /// [`io`](Self::io).
    fn ready(&self, direction: Direction) -> io::Result<()> {
        let known = self.registration.get().is_some();
        if self.nonblocking() || (known && self.may_be_ready(direction)) {
            return Ok(());
        }
        let deadline = self
            .timeout(direction)
            .and_then(|t| Instant::now().checked_add(t));
        if self.wait(direction, deadline).map_err(io::Error::from)? {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(libc::EAGAIN))
        }
    }

    /// Parks until the fd is ready in `direction`: `Ok(true)`, or `Ok(false)` once
    /// `deadline` has passed. The errors are the hub's: a [`hub::Timeout`] of the
    /// caller's, a second waiter (`Busy`), a wait from a hub callback. A kill unwinds
    /// from here.
    fn wait(&self, direction: Direction, deadline: Option<Instant>) -> Result<bool, WaitError> {
        let remaining = match deadline {
            Some(at) => match at.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => return Ok(false),
            },
            None => None,
        };
        let registration = match self.registration.get() {
            Some(r) => r,
            None => {
                let r = Registration::new(self.socket.as_fd().as_raw_fd())
                    .map_err(WaitError::Register)?;
                self.registration.get_or_init(|| r)
            }
        };
        match registration.wait(direction, remaining) {
            Ok(()) => Ok(true),
            Err(hub::Error::Timeout) if deadline.is_some_and(|at| Instant::now() >= at) => {
                Ok(false)
            }
            Err(e) => Err(WaitError::Hub(e)),
        }
    }

    /// False when the fd was found drained in `direction` and the hub has reported
    /// no readiness since.
    fn may_be_ready(&self, direction: Direction) -> bool {
        self.registration
            .get()
            .is_none_or(|r| r.may_be_ready(direction))
    }

    /// Tells the hub that a syscall just drained the fd in `direction` (a short read
    /// or write on a stream socket: the kernel had no more data, or no more room).
    /// Only the hub's next event makes the next blocking call try the syscall again.
    fn drained(&self, direction: Direction) {
        if let Some(r) = self.registration.get() {
            r.clear_ready(direction);
        }
    }

    fn nonblocking(&self) -> bool {
        self.settings.nonblocking.get()
    }

    fn set_nonblocking(&self, nonblocking: bool) {
        self.settings.nonblocking.set(nonblocking);
    }

    fn timeout(&self, direction: Direction) -> Option<Duration> {
        match direction {
            Direction::Read => self.settings.read_timeout.get(),
            Direction::Write => self.settings.write_timeout.get(),
        }
    }

    /// std's `set_read_timeout` / `set_write_timeout`: a zero duration is refused; the
    /// value is also written to the kernel so it survives conversion into std.
    fn set_timeout(&self, direction: Direction, timeout: Option<Duration>) -> io::Result<()> {
        if timeout == Some(Duration::ZERO) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        let sock = SockRef::from(&self.socket);
        match direction {
            Direction::Read => {
                sock.set_read_timeout(timeout)?;
                self.settings.read_timeout.set(timeout);
            }
            Direction::Write => {
                sock.set_write_timeout(timeout)?;
                self.settings.write_timeout.set(timeout);
            }
        }
        Ok(())
    }
}

/// Why a wait for readiness failed.
#[derive(Debug)]
enum WaitError {
    /// The fd could not be registered with the hub.
    Register(io::Error),
    /// The hub ended the wait: a `hub::Timeout`, `Busy`, a wait in a hub callback.
    Hub(hub::Error),
}

impl From<WaitError> for io::Error {
    fn from(e: WaitError) -> io::Error {
        match e {
            WaitError::Register(e) => e,
            WaitError::Hub(e) => e.into(),
        }
    }
}

/// Tries `f` on each address in turn, as std does: the first success, or the last
/// error, or `InvalidInput` when there was no address at all.
fn each_addr<A: ToSocketAddrs + ?Sized, T>(
    addr: &A,
    mut f: impl FnMut(&SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last_err = None;
    for addr in addr.to_socket_addrs()? {
        match f(&addr) {
            Ok(t) => return Ok(t),
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(no_addresses))
}

/// std's error for an address that resolved to nothing.
fn no_addresses() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "could not resolve to any addresses",
    )
}
