//! Parking a greenlet from inside a hook: on one fd, on a set of fds, or for a time.
//!
//! Every wait here is wrapped by [`guarded`]: a kill (or any panic) thrown into the
//! parked greenlet is caught before it can reach the hook's `extern "C"` frame, which
//! would abort the process. The kill is handed to the hub to raise again at the
//! greenlet's next wait in Rust code, and the hook fails with `ECANCELED`, which
//! std and the common clients do not retry.

use std::os::fd::RawFd;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use hub::{Direction, Error, Registration};
use libc::c_int;

use crate::{fds, original};

pub(crate) fn errno() -> c_int {
    // SAFETY: glibc's errno location is valid for the calling thread.
    unsafe { *libc::__errno_location() }
}

pub(crate) fn set_errno(value: c_int) {
    // SAFETY: as above; written last, after any hub code that ran while parked.
    unsafe { *libc::__errno_location() = value };
}

/// Fails with `errno` set: `-1` of the hook's return type.
pub(crate) fn fail<T: From<i8>>(errno: c_int) -> T {
    set_errno(errno);
    T::from(-1)
}

/// The errno a hub wait's failure becomes. `Timeout` is only a [`hub::Timeout`]
/// here: a hook's own deadline is told apart by [`Deadline::passed`].
fn errno_of(e: Error) -> c_int {
    match e {
        Error::Timeout => libc::ETIMEDOUT,
        Error::WouldBlockForever => libc::EDEADLK,
        Error::Killed => libc::ECANCELED,
        Error::HubGone => libc::EPIPE,
        Error::Busy => libc::EBUSY,
        _ => libc::EINVAL,
    }
}

/// Runs a hub wait so that no unwind leaves it: a kill becomes `ECANCELED` (the hub
/// raises it again later). Another panic thrown into the greenlet cannot be carried
/// further either; it is turned into a kill of the greenlet, the closest outcome
/// that keeps the process alive.
pub(crate) fn guarded<T>(wait: impl FnOnce() -> Result<T, Error>) -> Result<T, c_int> {
    match panic::catch_unwind(AssertUnwindSafe(wait)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(errno_of(e)),
        Err(payload) => {
            if hub::hooks::defer_kill(payload).is_err() {
                let _ = hub::hooks::defer_kill(Box::new(hub::GreenletExit));
            }
            Err(libc::ECANCELED)
        }
    }
}

/// A hook's own time limit (a socket timeout, `poll`'s timeout), as opposed to a
/// [`hub::Timeout`] armed by the greenlet.
#[derive(Clone, Copy)]
pub(crate) struct Deadline(Option<Instant>);

impl Deadline {
    pub(crate) fn after(limit: Option<Duration>) -> Deadline {
        Deadline(limit.and_then(|d| Instant::now().checked_add(d)))
    }

    /// What is left; `Some(ZERO)` once passed, `None` for no limit.
    pub(crate) fn remaining(self) -> Option<Duration> {
        self.0
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    pub(crate) fn passed(self) -> bool {
        self.0.is_some_and(|at| Instant::now() >= at)
    }
}

/// How a wait for readiness ended, when not with readiness.
pub(crate) enum Interrupted {
    /// The hook's own deadline passed.
    Deadline,
    /// Fail with this errno (`EBADF` when the fd was closed meanwhile, `ETIMEDOUT`
    /// for a `hub::Timeout`, `ECANCELED` for a kill).
    Errno(c_int),
    /// Some fds of a [`wait_any`] were closed meanwhile: their `revents` say
    /// `POLLNVAL`, the others' are cleared.
    Closed,
}

fn interrupted(errno: c_int, deadline: Deadline) -> Interrupted {
    if errno == libc::ETIMEDOUT && deadline.passed() {
        Interrupted::Deadline
    } else {
        Interrupted::Errno(errno)
    }
}

/// Parks until `fd` may be ready in `direction`. Call it after the call said
/// `EAGAIN`. Uses this thread's registration of the fd, or a private epoll instance
/// when the fd has none (or another greenlet already waits on it that way).
pub(crate) fn wait_fd(
    fd: RawFd,
    direction: Direction,
    deadline: Deadline,
) -> Result<(), Interrupted> {
    if hub::hooks::kill_deferred() {
        return Err(Interrupted::Errno(libc::ECANCELED));
    }
    if deadline.remaining() == Some(Duration::ZERO) {
        return Err(Interrupted::Deadline);
    }
    if let Some(entry) = fds::entry(fd) {
        match guarded(|| entry.registration.wait(direction, deadline.remaining())) {
            Ok(()) if entry.closed.get() => return Err(Interrupted::Errno(libc::EBADF)),
            Ok(()) => return Ok(()),
            Err(libc::EBUSY) => {}
            Err(e) => return Err(interrupted(e, deadline)),
        }
    }
    let events = match direction {
        Direction::Read => libc::POLLIN,
        Direction::Write => libc::POLLOUT,
    };
    let mut set = [libc::pollfd {
        fd,
        events,
        revents: 0,
    }];
    match wait_any(&mut set, deadline) {
        Err(Interrupted::Closed) => Err(Interrupted::Errno(libc::EBADF)),
        other => other,
    }
}

/// Parks until one of `set` may be ready (as `poll` would see it), through a private
/// epoll instance registered with the hub (the fds may belong to anyone, monkey's
/// sockets included). Call it after a `poll` with timeout 0 found none ready.
pub(crate) fn wait_any(set: &mut [libc::pollfd], deadline: Deadline) -> Result<(), Interrupted> {
    if hub::hooks::kill_deferred() {
        return Err(Interrupted::Errno(libc::ECANCELED));
    }
    if deadline.remaining() == Some(Duration::ZERO) {
        return Err(Interrupted::Deadline);
    }
    let watch = Watch::new(set).map_err(Interrupted::Errno)?;
    if watch.always_ready {
        return Ok(());
    }
    let registration = Registration::new(watch.epoll)
        .map_err(|e| Interrupted::Errno(e.raw_os_error().unwrap_or(libc::ENOMEM)))?;
    let fds = set.iter().map(|p| p.fd).collect();
    let active = fds::PollWait::start(fds, registration);
    let result = guarded(|| {
        active
            .registration
            .wait(Direction::Read, deadline.remaining())
    });
    let closed = std::mem::take(&mut *active.closed.borrow_mut());
    drop(active);
    if !closed.is_empty() {
        // Closed by another greenlet: `POLLNVAL`, as poll says of a closed fd. Not
        // asked of poll, because the number may already name another file.
        for p in set.iter_mut() {
            p.revents = if closed.contains(&p.fd) {
                libc::POLLNVAL
            } else {
                0
            };
        }
        return Err(Interrupted::Closed);
    }
    result.map_err(|e| interrupted(e, deadline))
}

/// A private epoll instance watching a set of fds, level-triggered.
struct Watch {
    epoll: RawFd,
    /// An fd epoll refuses (a regular file) is always ready for `poll`.
    always_ready: bool,
}

impl Watch {
    fn new(set: &[libc::pollfd]) -> Result<Watch, c_int> {
        // SAFETY: no pointers; the result is checked.
        let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epoll < 0 {
            return Err(errno());
        }
        let mut watch = Watch {
            epoll,
            always_ready: false,
        };
        for p in set.iter().filter(|p| p.fd >= 0) {
            let mut events = 0u32;
            if p.events & (libc::POLLIN | libc::POLLPRI) != 0 {
                events |= (libc::EPOLLIN | libc::EPOLLPRI | libc::EPOLLRDHUP) as u32;
            }
            if p.events & libc::POLLOUT != 0 {
                events |= libc::EPOLLOUT as u32;
            }
            let mut event = libc::epoll_event {
                events,
                u64: p.fd as u64,
            };
            // SAFETY: `event` is a valid epoll_event for the duration of the call.
            let r = unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, p.fd, &mut event) };
            if r < 0 {
                match errno() {
                    libc::EEXIST => {}
                    libc::EPERM => watch.always_ready = true,
                    e => return Err(e),
                }
            }
        }
        Ok(watch)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // SAFETY: our own epoll fd, closed once, past the close hook (nothing to
        // track for it).
        unsafe { original::close(self.epoll) };
    }
}

/// True if the user put `fd` in non-blocking mode (then a call must not wait).
pub(crate) fn nonblocking(fd: RawFd) -> bool {
    // SAFETY: F_GETFL takes no argument; an invalid fd gives -1.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    flags >= 0 && flags & libc::O_NONBLOCK != 0
}

/// Sets or clears `O_NONBLOCK`; gives the previous flags.
pub(crate) fn set_nonblocking(fd: RawFd, on: bool) -> Option<c_int> {
    // SAFETY: F_GETFL/F_SETFL with an int argument; failures are reported.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 {
            return None;
        }
        let wanted = if on {
            flags | libc::O_NONBLOCK
        } else {
            flags & !libc::O_NONBLOCK
        };
        if wanted != flags && libc::fcntl(fd, libc::F_SETFL, wanted) < 0 {
            return None;
        }
        Some(flags)
    }
}

pub(crate) fn restore_flags(fd: RawFd, flags: c_int) {
    // SAFETY: F_SETFL with an int argument.
    unsafe { libc::fcntl(fd, libc::F_SETFL, flags) };
}

/// The socket's `SO_RCVTIMEO` or `SO_SNDTIMEO` (std's read/write timeout), read just
/// before parking so that no `setsockopt` needs hooking.
pub(crate) fn socket_timeout(fd: RawFd, direction: Direction) -> Option<Duration> {
    let option = match direction {
        Direction::Read => libc::SO_RCVTIMEO,
        Direction::Write => libc::SO_SNDTIMEO,
    };
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let mut len = size_of::<libc::timeval>() as libc::socklen_t;
    // SAFETY: `tv` and `len` are valid for writes of the option's size.
    let r =
        unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, option, (&raw mut tv).cast(), &mut len) };
    if r < 0 || (tv.tv_sec == 0 && tv.tv_usec == 0) {
        return None;
    }
    Some(Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000))
}
