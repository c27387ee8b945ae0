//! The C library's own functions, reached past the hooks (gevent's `get_original`).
//!
//! Each is looked up once with `dlsym(RTLD_NEXT, name)` — the next definition after
//! this binary's, glibc's — and cached. Hooks run before `main` (std's runtime init
//! polls fds 0–2), so the lookup is lazy; should `dlsym` find nothing (a static
//! build), the call is made as the raw system call instead. Calling `libc::recv` from
//! this crate would reach the hook again: only these functions reach the originals.

use std::sync::atomic::{AtomicUsize, Ordering};

use libc::{
    addrinfo, c_char, c_int, c_uint, c_void, fd_set, iovec, msghdr, nfds_t, pollfd, size_t,
    sockaddr, socklen_t, ssize_t, timespec, timeval,
};

/// A cached `dlsym` result: 0 not looked up yet, 1 not found, else the address.
struct Lazy(AtomicUsize);

const NOT_FOUND: usize = 1;

impl Lazy {
    const fn new() -> Lazy {
        Lazy(AtomicUsize::new(0))
    }

    /// The address of `name` (NUL-terminated) in the next object, if any.
    fn get(&self, name: &'static [u8]) -> Option<usize> {
        let mut addr = self.0.load(Ordering::Acquire);
        if addr == 0 {
            // SAFETY: `name` is a NUL-terminated literal; RTLD_NEXT is valid in an
            // executable or shared object that has a next object to search.
            let found = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr().cast()) } as usize;
            addr = if found == 0 { NOT_FOUND } else { found };
            // Two threads may race here; both store the same answer.
            self.0.store(addr, Ordering::Release);
        }
        (addr != NOT_FOUND).then_some(addr)
    }
}

/// Defines `pub unsafe fn $name` calling the original, or `$fallback` without one.
macro_rules! original {
    ($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty, fallback: $fallback:expr) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// The same contract as the C function: pointers valid for what it reads and
        /// writes.
        pub unsafe fn $name($($arg: $ty),*) -> $ret {
            static ADDR: Lazy = Lazy::new();
            match ADDR.get(concat!(stringify!($name), "\0").as_bytes()) {
                Some(addr) => {
                    // SAFETY: `addr` is the C library's definition of this very symbol,
                    // whose prototype is the one declared here.
                    let f: unsafe extern "C" fn($($ty),*) -> $ret =
                        unsafe { std::mem::transmute::<usize, _>(addr) };
                    // SAFETY: the caller upholds the function's contract.
                    unsafe { f($($arg),*) }
                }
                #[allow(clippy::redundant_closure_call)]
                // SAFETY: the fallback is the same call as a raw system call.
                None => unsafe { $fallback },
            }
        }
    };
}

fn sys(r: libc::c_long) -> ssize_t {
    r as ssize_t
}

original!(
    /// `connect(2)`.
    fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int,
    fallback: libc::syscall(libc::SYS_connect, fd, addr, len) as c_int);
original!(
    /// `accept(2)`.
    fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int,
    fallback: libc::syscall(libc::SYS_accept, fd, addr, len) as c_int);
original!(
    /// `accept4(2)`.
    fn accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int,
    fallback: libc::syscall(libc::SYS_accept4, fd, addr, len, flags) as c_int);
original!(
    /// `recv(2)`.
    fn recv(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int) -> ssize_t,
    fallback: sys(libc::syscall(libc::SYS_recvfrom, fd, buf, n, flags, 0usize, 0usize)));
original!(
    /// `recvfrom(2)`.
    fn recvfrom(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> ssize_t,
    fallback: sys(libc::syscall(libc::SYS_recvfrom, fd, buf, n, flags, addr, len)));
original!(
    /// `recvmsg(2)`.
    fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t,
    fallback: sys(libc::syscall(libc::SYS_recvmsg, fd, msg, flags)));
original!(
    /// `send(2)`.
    fn send(fd: c_int, buf: *const c_void, n: size_t, flags: c_int) -> ssize_t,
    fallback: sys(libc::syscall(libc::SYS_sendto, fd, buf, n, flags, 0usize, 0usize)));
original!(
    /// `sendto(2)`.
    fn sendto(fd: c_int, buf: *const c_void, n: size_t, flags: c_int, addr: *const sockaddr, len: socklen_t) -> ssize_t,
    fallback: sys(libc::syscall(libc::SYS_sendto, fd, buf, n, flags, addr, len)));
original!(
    /// `sendmsg(2)`.
    fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t,
    fallback: sys(libc::syscall(libc::SYS_sendmsg, fd, msg, flags)));
original!(
    /// `read(2)`.
    fn read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t,
    fallback: sys(libc::syscall(libc::SYS_read, fd, buf, n)));
original!(
    /// `readv(2)`.
    fn readv(fd: c_int, iov: *const iovec, n: c_int) -> ssize_t,
    fallback: sys(libc::syscall(libc::SYS_readv, fd, iov, n)));
original!(
    /// `write(2)`.
    fn write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t,
    fallback: sys(libc::syscall(libc::SYS_write, fd, buf, n)));
original!(
    /// `writev(2)`.
    fn writev(fd: c_int, iov: *const iovec, n: c_int) -> ssize_t,
    fallback: sys(libc::syscall(libc::SYS_writev, fd, iov, n)));
original!(
    /// `poll(2)`.
    fn poll(fds: *mut pollfd, n: nfds_t, timeout: c_int) -> c_int,
    fallback: libc::syscall(libc::SYS_poll, fds, n, timeout) as c_int);
original!(
    /// `select(2)`.
    fn select(n: c_int, r: *mut fd_set, w: *mut fd_set, e: *mut fd_set, timeout: *mut timeval) -> c_int,
    fallback: libc::syscall(libc::SYS_select, n, r, w, e, timeout) as c_int);
original!(
/// `clock_nanosleep(2)`: returns the error number, as the C function does.
fn clock_nanosleep(clock: libc::clockid_t, flags: c_int, req: *const timespec, rem: *mut timespec) -> c_int,
fallback: {
    let r = libc::syscall(libc::SYS_clock_nanosleep, clock, flags, req, rem);
    if r == 0 { 0 } else { *libc::__errno_location() }
});
original!(
    /// `nanosleep(2)`.
    fn nanosleep(req: *const timespec, rem: *mut timespec) -> c_int,
    fallback: libc::syscall(libc::SYS_nanosleep, req, rem) as c_int);
original!(
/// `usleep(3)`.
fn usleep(usec: libc::useconds_t) -> c_int,
fallback: {
    let t = timespec { tv_sec: (usec / 1_000_000) as libc::time_t, tv_nsec: ((usec % 1_000_000) * 1000) as libc::c_long };
    libc::syscall(libc::SYS_nanosleep, &t, std::ptr::null_mut::<timespec>()) as c_int
});
original!(
/// `sleep(3)`: the seconds left unslept.
fn sleep(secs: c_uint) -> c_uint,
fallback: {
    let t = timespec { tv_sec: secs as libc::time_t, tv_nsec: 0 };
    libc::syscall(libc::SYS_nanosleep, &t, std::ptr::null_mut::<timespec>());
    0
});
original!(
/// `getaddrinfo(3)`; without the C library's, `EAI_SYSTEM` with `ENOSYS`.
fn getaddrinfo(node: *const c_char, service: *const c_char, hints: *const addrinfo, res: *mut *mut addrinfo) -> c_int,
fallback: {
    let _ = (node, service, hints, res);
    *libc::__errno_location() = libc::ENOSYS;
    libc::EAI_SYSTEM
});
original!(
    /// `close(2)`.
    fn close(fd: c_int) -> c_int,
    fallback: libc::syscall(libc::SYS_close, fd) as c_int);
original!(
    /// `dup2(2)`.
    fn dup2(old: c_int, new: c_int) -> c_int,
    fallback: libc::syscall(libc::SYS_dup2, old, new) as c_int);
original!(
    /// `dup3(2)`.
    fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int,
    fallback: libc::syscall(libc::SYS_dup3, old, new, flags) as c_int);
