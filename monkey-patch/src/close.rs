//! `close`, `dup2` and `dup3`: no waiting, only bookkeeping. Before an fd is closed or
//! replaced, the greenlets of this thread waiting on it are woken (they fail with
//! `EBADF`, "closed in another greenlet", as in gevent) and it is deregistered from
//! the hub while its number still names the file; the close is counted, so that no
//! thread mistakes a file that reuses the number for the old one.

use libc::c_int;

use crate::fds::before_close;
use crate::original;

/// Hook for `close(2)`.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    crate::probe::count(crate::probe::Hook::Close);
    let errno = crate::park::errno();
    before_close(fd);
    crate::park::set_errno(errno);
    // SAFETY: the caller's fd, passed on.
    unsafe { original::close(fd) }
}

/// Hook for `dup2(2)`.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    crate::probe::count(crate::probe::Hook::Dup2);
    if old != new {
        let errno = crate::park::errno();
        before_close(new);
        crate::park::set_errno(errno);
    }
    // SAFETY: the caller's fds, passed on.
    unsafe { original::dup2(old, new) }
}

/// Hook for `dup3(2)`.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    crate::probe::count(crate::probe::Hook::Dup3);
    if old != new {
        let errno = crate::park::errno();
        before_close(new);
        crate::park::set_errno(errno);
    }
    // SAFETY: the caller's fds, passed on.
    unsafe { original::dup3(old, new, flags) }
}
