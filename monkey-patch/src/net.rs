//! The socket hooks: connect, accept, the recv and send families, and read/write
//! family calls on sockets.
//!
//! Each call made by a cooperating greenlet on a socket in blocking mode is made
//! non-blocking (`MSG_DONTWAIT`, or `O_NONBLOCK` for the length of the call for
//! `connect` and `accept`); when it says `EAGAIN`, the greenlet parks until the
//! socket is ready and tries again. The socket's own timeouts (`SO_RCVTIMEO`,
//! `SO_SNDTIMEO`: std's `set_read_timeout`/`set_write_timeout`) bound the wait with
//! the kernel's answer (`EAGAIN`, `EINPROGRESS` for connect). A socket the user put in
//! non-blocking mode gets the plain call.

use std::os::fd::RawFd;

use hub::Direction;
use libc::{c_int, c_void, iovec, msghdr, size_t, sockaddr, socklen_t, ssize_t};

use crate::original;
use crate::park::{
    Deadline, Interrupted, errno, fail, nonblocking, restore_flags, set_errno, set_nonblocking,
    socket_timeout, wait_fd,
};
use crate::state::{SOCKETS, cooperative};

/// Tries `attempt` (the call in non-blocking form) until it says something other than
/// `EAGAIN`, parking in between; the result keeps the call's own errno.
fn retry(fd: RawFd, direction: Direction, mut attempt: impl FnMut() -> ssize_t) -> ssize_t {
    let mut deadline = None;
    let entry_errno = errno();
    loop {
        let r = attempt();
        if r >= 0 {
            // A success leaves errno as the caller had it, whatever ran while parked.
            set_errno(entry_errno);
            return r;
        }
        let e = errno();
        if (e != libc::EAGAIN && e != libc::EWOULDBLOCK) || nonblocking(fd) {
            set_errno(e);
            return r;
        }
        let deadline =
            *deadline.get_or_insert_with(|| Deadline::after(socket_timeout(fd, direction)));
        match wait_fd(fd, direction, deadline) {
            Ok(()) => {}
            Err(Interrupted::Deadline) => return fail(libc::EAGAIN),
            Err(Interrupted::Errno(e)) => return fail(e),
            Err(Interrupted::Closed) => return fail(libc::EBADF),
        }
    }
}

fn cooperates(fd: RawFd, flags: c_int) -> bool {
    fd >= 0 && flags & libc::MSG_DONTWAIT == 0 && cooperative(SOCKETS)
}

/// `read`/`write` family calls cooperate only on sockets; files, pipes and the
/// standard streams get the plain call.
fn cooperates_as_socket(fd: RawFd) -> bool {
    fd > 2 && cooperative(SOCKETS) && crate::fds::is_socket(fd)
}

/// Hook for `recv(2)`.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn recv(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int) -> ssize_t {
    crate::probe::count(crate::probe::Hook::Recv);
    if !cooperates(fd, flags) {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { original::recv(fd, buf, n, flags) };
    }
    let once = |done: usize| {
        // SAFETY: as above, from `done` bytes in, with MSG_DONTWAIT added.
        retry(fd, Direction::Read, || unsafe {
            original::recv(fd, buf.byte_add(done), n - done, flags | libc::MSG_DONTWAIT)
        })
    };
    if flags & libc::MSG_WAITALL != 0 && flags & libc::MSG_PEEK == 0 {
        // What MSG_WAITALL asks of a blocking socket: all `n` bytes, or the end.
        whole(n, once)
    } else {
        once(0)
    }
}

/// Repeats `part` (the call on the bytes from `done` on) until `n` bytes are done,
/// as a blocking stream call does: `send` returns once everything is sent, `recv`
/// with `MSG_WAITALL` once everything has come. A short count only when the peer ends
/// or a failure (a timeout) follows some progress, which it then hides, as the kernel
/// does.
fn whole(n: size_t, mut part: impl FnMut(usize) -> ssize_t) -> ssize_t {
    let entry_errno = errno();
    let mut done = 0;
    loop {
        let r = part(done);
        if r < 0 && done > 0 {
            set_errno(entry_errno);
            return done as ssize_t;
        }
        if r <= 0 {
            return if done > 0 { done as ssize_t } else { r };
        }
        done += r as usize;
        if done >= n {
            return done as ssize_t;
        }
    }
}

/// Hook for `recvfrom(2)`.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> ssize_t {
    crate::probe::count(crate::probe::Hook::Recvfrom);
    if !cooperates(fd, flags) {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { original::recvfrom(fd, buf, n, flags, addr, len) };
    }
    // SAFETY: as above, with MSG_DONTWAIT added.
    retry(fd, Direction::Read, || unsafe {
        original::recvfrom(fd, buf, n, flags | libc::MSG_DONTWAIT, addr, len)
    })
}

/// Hook for `recvmsg(2)`.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    crate::probe::count(crate::probe::Hook::Recvmsg);
    if !cooperates(fd, flags) {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { original::recvmsg(fd, msg, flags) };
    }
    // SAFETY: as above, with MSG_DONTWAIT added.
    retry(fd, Direction::Read, || unsafe {
        original::recvmsg(fd, msg, flags | libc::MSG_DONTWAIT)
    })
}

/// Hook for `send(2)`.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn send(fd: c_int, buf: *const c_void, n: size_t, flags: c_int) -> ssize_t {
    crate::probe::count(crate::probe::Hook::Send);
    if !cooperates(fd, flags) {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { original::send(fd, buf, n, flags) };
    }
    // A blocking send returns once all is sent; a datagram goes whole or not at all.
    whole(n, |done| {
        // SAFETY: as above, from `done` bytes in, with MSG_DONTWAIT added.
        retry(fd, Direction::Write, || unsafe {
            original::send(fd, buf.byte_add(done), n - done, flags | libc::MSG_DONTWAIT)
        })
    })
}

/// Hook for `sendto(2)`.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    n: size_t,
    flags: c_int,
    addr: *const sockaddr,
    len: socklen_t,
) -> ssize_t {
    crate::probe::count(crate::probe::Hook::Sendto);
    if !cooperates(fd, flags) {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { original::sendto(fd, buf, n, flags, addr, len) };
    }
    // SAFETY: as above, with MSG_DONTWAIT added.
    retry(fd, Direction::Write, || unsafe {
        original::sendto(fd, buf, n, flags | libc::MSG_DONTWAIT, addr, len)
    })
}

/// Hook for `sendmsg(2)`.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    crate::probe::count(crate::probe::Hook::Sendmsg);
    if !cooperates(fd, flags) {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { original::sendmsg(fd, msg, flags) };
    }
    // SAFETY: as above, with MSG_DONTWAIT added.
    retry(fd, Direction::Write, || unsafe {
        original::sendmsg(fd, msg, flags | libc::MSG_DONTWAIT)
    })
}

/// Hook for `read(2)`: cooperates on sockets only.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t {
    crate::probe::count(crate::probe::Hook::Read);
    if !cooperates_as_socket(fd) {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { original::read(fd, buf, n) };
    }
    // SAFETY: on a socket, `recv` with no flags is `read`; MSG_DONTWAIT added.
    let r = retry(fd, Direction::Read, || unsafe {
        original::recv(fd, buf, n, libc::MSG_DONTWAIT)
    });
    if r < 0 && errno() == libc::ENOTSOCK {
        // A stale "socket" answer for a reused number: the plain call.
        // SAFETY: the caller's arguments.
        return unsafe { original::read(fd, buf, n) };
    }
    r
}

/// Hook for `write(2)`: cooperates on sockets only.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t {
    crate::probe::count(crate::probe::Hook::Write);
    if !cooperates_as_socket(fd) {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { original::write(fd, buf, n) };
    }
    let r = whole(n, |done| {
        // SAFETY: on a socket, `send` with no flags is `write`; from `done` bytes in,
        // MSG_DONTWAIT added.
        retry(fd, Direction::Write, || unsafe {
            original::send(fd, buf.byte_add(done), n - done, libc::MSG_DONTWAIT)
        })
    });
    if r < 0 && errno() == libc::ENOTSOCK {
        // SAFETY: as in `read`.
        return unsafe { original::write(fd, buf, n) };
    }
    r
}

fn vector_message(iov: *const iovec, n: c_int) -> msghdr {
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.cast_mut();
    msg.msg_iovlen = n.max(0) as _;
    msg
}

/// Hook for `readv(2)`: cooperates on sockets only.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn readv(fd: c_int, iov: *const iovec, n: c_int) -> ssize_t {
    crate::probe::count(crate::probe::Hook::Readv);
    if n < 0 || !cooperates_as_socket(fd) {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { original::readv(fd, iov, n) };
    }
    let mut msg = vector_message(iov, n);
    // SAFETY: on a socket, `recvmsg` over the same buffers is `readv`.
    let r = retry(fd, Direction::Read, || unsafe {
        original::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT)
    });
    if r < 0 && errno() == libc::ENOTSOCK {
        // SAFETY: as in `read`.
        return unsafe { original::readv(fd, iov, n) };
    }
    r
}

/// Hook for `writev(2)`: cooperates on sockets only.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const iovec, n: c_int) -> ssize_t {
    crate::probe::count(crate::probe::Hook::Writev);
    if n < 0 || !cooperates_as_socket(fd) {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { original::writev(fd, iov, n) };
    }
    let msg = vector_message(iov, n);
    // SAFETY: on a socket, `sendmsg` over the same buffers is `writev`.
    let r = retry(fd, Direction::Write, || unsafe {
        original::sendmsg(fd, &msg, libc::MSG_DONTWAIT)
    });
    if r < 0 && errno() == libc::ENOTSOCK {
        // SAFETY: as in `read`.
        return unsafe { original::writev(fd, iov, n) };
    }
    r
}

/// Hook for `connect(2)`: on a blocking socket, connects in non-blocking mode and
/// parks until the handshake ends (bounded by `SO_SNDTIMEO`, as in the kernel).
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    crate::probe::count(crate::probe::Hook::Connect);
    if fd < 0 || !cooperative(SOCKETS) || nonblocking(fd) {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { original::connect(fd, addr, len) };
    }
    let Some(flags) = set_nonblocking(fd, true) else {
        // SAFETY: as above.
        return unsafe { original::connect(fd, addr, len) };
    };
    let entry_errno = errno();
    let result = connect_nonblocking(fd, addr, len);
    restore_flags(fd, flags);
    match result {
        Ok(()) => {
            set_errno(entry_errno);
            0
        }
        Err(e) => fail(e),
    }
}

fn connect_nonblocking(fd: RawFd, addr: *const sockaddr, len: socklen_t) -> Result<(), c_int> {
    let deadline = Deadline::after(socket_timeout(fd, Direction::Write));
    loop {
        // SAFETY: the caller's address, passed on.
        if unsafe { original::connect(fd, addr, len) } == 0 {
            return Ok(());
        }
        match errno() {
            // A Unix socket whose listener's backlog is full: wait and try again.
            libc::EAGAIN => wait_connect(fd, deadline)?,
            libc::EINPROGRESS => {
                wait_connect(fd, deadline)?;
                return match pending_error(fd) {
                    0 => Ok(()),
                    e => Err(e),
                };
            }
            e => return Err(e),
        }
    }
}

fn wait_connect(fd: RawFd, deadline: Deadline) -> Result<(), c_int> {
    match wait_fd(fd, Direction::Write, deadline) {
        Ok(()) => Ok(()),
        // What a blocking connect says when SO_SNDTIMEO expires.
        Err(Interrupted::Deadline) => Err(libc::EINPROGRESS),
        Err(Interrupted::Errno(e)) => Err(e),
        Err(Interrupted::Closed) => Err(libc::EBADF),
    }
}

/// The socket's `SO_ERROR`: how a non-blocking connect ended.
fn pending_error(fd: RawFd) -> c_int {
    let mut error: c_int = 0;
    let mut len = size_of::<c_int>() as socklen_t;
    // SAFETY: `error` and `len` are valid for writes of an int option.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&raw mut error).cast(),
            &mut len,
        )
    };
    if r < 0 { errno() } else { error }
}

/// Hook for `accept(2)`.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    crate::probe::count(crate::probe::Hook::Accept);
    // SAFETY: accept is accept4 with no flags.
    unsafe { accept_with(fd, addr, len, None) }
}

/// Hook for `accept4(2)` (std's `TcpListener::accept`).
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn accept4(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: c_int,
) -> c_int {
    crate::probe::count(crate::probe::Hook::Accept4);
    // SAFETY: the caller's arguments, passed on.
    unsafe { accept_with(fd, addr, len, Some(flags)) }
}

/// # Safety
/// As for `accept4(2)`.
unsafe fn accept_with(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: Option<c_int>,
) -> c_int {
    // SAFETY: the caller's arguments, passed on.
    let call = || unsafe {
        match flags {
            Some(flags) => original::accept4(fd, addr, len, flags),
            None => original::accept(fd, addr, len),
        }
    };
    if fd < 0 || !cooperative(SOCKETS) || nonblocking(fd) {
        return call();
    }
    let r = retry(fd, Direction::Read, || {
        // The listener is made non-blocking for the call only: accept has no flag
        // for that, and the new socket's mode comes from `flags`, not from it.
        let Some(previous) = set_nonblocking(fd, true) else {
            return call() as ssize_t;
        };
        let r = call();
        let e = errno();
        restore_flags(fd, previous);
        set_errno(e);
        r as ssize_t
    });
    r as c_int
}
