//! The `poll` and `select` hooks: one fd or many, through a private epoll instance
//! registered with the hub.

use std::time::Duration;

use libc::{c_int, fd_set, nfds_t, pollfd, timeval};

use crate::original;
use crate::park::{Deadline, Interrupted, fail, wait_any};
use crate::state::{POLL, cooperative};

/// Hook for `poll(2)`.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn poll(fds: *mut pollfd, n: nfds_t, timeout: c_int) -> c_int {
    crate::probe::count(crate::probe::Hook::Poll);
    if timeout == 0 || !cooperative(POLL) {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { original::poll(fds, n, timeout) };
    }
    let set: &mut [pollfd] = if n == 0 || fds.is_null() {
        &mut []
    } else {
        // SAFETY: the caller passes `n` valid pollfds at `fds`, as poll requires.
        unsafe { std::slice::from_raw_parts_mut(fds, n as usize) }
    };
    let limit = u64::try_from(timeout).ok().map(Duration::from_millis);
    let entry_errno = crate::park::errno();
    match poll_set(set, Deadline::after(limit)) {
        Ok(ready) => {
            crate::park::set_errno(entry_errno);
            ready
        }
        Err(e) => fail(e),
    }
}

/// Polls `set` without waiting, parking between tries until something is ready or
/// `deadline` passes (then 0, as poll says on timeout).
fn poll_set(set: &mut [pollfd], deadline: Deadline) -> Result<c_int, c_int> {
    loop {
        // SAFETY: `set` is a valid slice of pollfds.
        let ready = unsafe { original::poll(set.as_mut_ptr(), set.len() as nfds_t, 0) };
        if ready != 0 {
            return if ready < 0 {
                Err(crate::park::errno())
            } else {
                Ok(ready)
            };
        }
        let waited = if set.is_empty() {
            crate::sleep::park_for(deadline)
        } else {
            wait_any(set, deadline)
        };
        match waited {
            Ok(()) => {}
            Err(Interrupted::Deadline) => return Ok(0),
            Err(Interrupted::Errno(e)) => return Err(e),
            Err(Interrupted::Closed) => {
                return Ok(set.iter().filter(|p| p.revents != 0).count() as c_int);
            }
        }
    }
}

/// Hook for `select(2)`: the sets become pollfds and back.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn select(
    n: c_int,
    read: *mut fd_set,
    write: *mut fd_set,
    except: *mut fd_set,
    timeout: *mut timeval,
) -> c_int {
    crate::probe::count(crate::probe::Hook::Select);
    // SAFETY: a non-null timeout points to a timeval, as select requires.
    let limit = unsafe { timeout.as_ref() }.map(|tv| {
        Duration::new(
            tv.tv_sec.max(0) as u64,
            (tv.tv_usec.clamp(0, 999_999) * 1000) as u32,
        )
    });
    if limit == Some(Duration::ZERO)
        || !(0..=libc::FD_SETSIZE as c_int).contains(&n)
        || !cooperative(POLL)
    {
        // SAFETY: the caller's arguments, passed on.
        return unsafe { original::select(n, read, write, except, timeout) };
    }
    let is_set = |set: *mut fd_set, fd: c_int| {
        // SAFETY: a non-null set points to an fd_set and fd < FD_SETSIZE.
        !set.is_null() && unsafe { libc::FD_ISSET(fd, set) }
    };
    let mut set: Vec<pollfd> = (0..n)
        .filter_map(|fd| {
            let mut events = 0;
            if is_set(read, fd) {
                events |= libc::POLLIN;
            }
            if is_set(write, fd) {
                events |= libc::POLLOUT;
            }
            if is_set(except, fd) {
                events |= libc::POLLPRI;
            }
            (events != 0).then_some(pollfd {
                fd,
                events,
                revents: 0,
            })
        })
        .collect();
    let deadline = Deadline::after(limit);
    let entry_errno = crate::park::errno();
    let ready = match poll_set(&mut set, deadline) {
        Ok(ready) => ready,
        Err(e) => return fail(e),
    };
    if set.iter().any(|p| p.revents & libc::POLLNVAL != 0) {
        return fail(libc::EBADF);
    }
    let mut count = 0;
    for (ptr, wanted) in [
        (read, libc::POLLIN | libc::POLLHUP | libc::POLLERR),
        (write, libc::POLLOUT | libc::POLLERR),
        (except, libc::POLLPRI),
    ] {
        if ptr.is_null() {
            continue;
        }
        // SAFETY: a non-null set points to an fd_set; every fd is below FD_SETSIZE.
        unsafe {
            libc::FD_ZERO(ptr);
            if ready > 0 {
                for p in set.iter().filter(|p| p.revents & wanted != 0) {
                    libc::FD_SET(p.fd, ptr);
                    count += 1;
                }
            }
        }
    }
    // SAFETY: as above; Linux's select reports the time left.
    if let Some(tv) = unsafe { timeout.as_mut() } {
        let left = deadline.remaining().unwrap_or_default();
        tv.tv_sec = left.as_secs() as libc::time_t;
        tv.tv_usec = left.subsec_micros() as libc::suseconds_t;
    }
    crate::park::set_errno(entry_errno);
    count
}
