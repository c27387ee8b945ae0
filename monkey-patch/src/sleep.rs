//! The sleep hooks: `clock_nanosleep` (std's `thread::sleep` since 2026), `nanosleep`,
//! `usleep`, `sleep`.
//!
//! A cooperating sleep parks on the hub's timer. When something else ends it early —
//! a [`hub::Timeout`] or a kill — it returns as if the time had passed (0, nothing
//! left): std's `thread::sleep` retries only on `EINTR` and treats any other error as
//! a bug, so an error would either resume the sleep or panic. The `Timeout` still
//! counts as having interrupted (`hub::with_timeout` says `Timeout`), and a kill is
//! raised at the greenlet's next wait.

use std::time::Duration;

use libc::{c_int, c_uint, clockid_t, timespec, useconds_t};

use crate::original;
use crate::park::{Deadline, Interrupted, guarded};
use crate::state::{SLEEP, cooperative};

/// Parks until `deadline` (which must be set) passes; `Err(Deadline)` then, as
/// every wait here ends that way unless interrupted.
pub(crate) fn park_for(deadline: Deadline) -> Result<(), Interrupted> {
    if hub::hooks::kill_deferred() {
        return Err(Interrupted::Errno(libc::ECANCELED));
    }
    match deadline.remaining() {
        None => guarded(|| hub::Waiter::new()?.park()),
        Some(left) if left.is_zero() => return Err(Interrupted::Deadline),
        Some(left) => guarded(|| hub::sleep(left)),
    }
    .map_err(|e| {
        if deadline.passed() {
            Interrupted::Deadline
        } else {
            Interrupted::Errno(e)
        }
    })?;
    Err(Interrupted::Deadline)
}

fn duration(ts: &timespec) -> Option<Duration> {
    let secs = u64::try_from(ts.tv_sec).ok()?;
    let nanos = u32::try_from(ts.tv_nsec)
        .ok()
        .filter(|n| *n < 1_000_000_000)?;
    Some(Duration::new(secs, nanos))
}

/// Sleeps cooperatively; whatever ends it, it counts as done (see the module doc).
fn cooperative_sleep(length: Duration) {
    let errno = crate::park::errno();
    let _ = park_for(Deadline::after(Some(length)));
    crate::park::set_errno(errno);
}

/// Hook for `clock_nanosleep(2)`.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn clock_nanosleep(
    clock: clockid_t,
    flags: c_int,
    request: *const timespec,
    remain: *mut timespec,
) -> c_int {
    crate::probe::count(crate::probe::Hook::ClockNanosleep);
    // SAFETY: a non-null request points to a timespec, as the function requires.
    let wanted = unsafe { request.as_ref() }.and_then(duration);
    let (Some(wanted), true) = (wanted, cooperative(SLEEP)) else {
        // SAFETY: the caller's arguments, passed on (an invalid one gets EINVAL there).
        return unsafe { original::clock_nanosleep(clock, flags, request, remain) };
    };
    let length = if flags & libc::TIMER_ABSTIME != 0 {
        let mut now = timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `now` is valid for writes; the clock is the caller's.
        if unsafe { libc::clock_gettime(clock, &mut now) } != 0 {
            return crate::park::errno();
        }
        wanted.saturating_sub(duration(&now).unwrap_or_default())
    } else {
        wanted
    };
    cooperative_sleep(length);
    0
}

/// Hook for `nanosleep(2)`.
///
/// # Safety
/// As for the C function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nanosleep(request: *const timespec, remain: *mut timespec) -> c_int {
    crate::probe::count(crate::probe::Hook::Nanosleep);
    // SAFETY: a non-null request points to a timespec, as the function requires.
    let wanted = unsafe { request.as_ref() }.and_then(duration);
    match wanted {
        Some(length) if cooperative(SLEEP) => {
            cooperative_sleep(length);
            0
        }
        // SAFETY: the caller's arguments, passed on.
        _ => unsafe { original::nanosleep(request, remain) },
    }
}

/// Hook for `usleep(3)`.
///
/// # Safety
/// None beyond the C function's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn usleep(usec: useconds_t) -> c_int {
    crate::probe::count(crate::probe::Hook::Usleep);
    if !cooperative(SLEEP) {
        // SAFETY: no pointers.
        return unsafe { original::usleep(usec) };
    }
    cooperative_sleep(Duration::from_micros(u64::from(usec)));
    0
}

/// Hook for `sleep(3)`.
///
/// # Safety
/// None beyond the C function's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sleep(secs: c_uint) -> c_uint {
    crate::probe::count(crate::probe::Hook::Sleep);
    if !cooperative(SLEEP) {
        // SAFETY: no pointers.
        return unsafe { original::sleep(secs) };
    }
    cooperative_sleep(Duration::from_secs(u64::from(secs)));
    0
}
