//! Support for code that parks from inside a C-ABI hook (the `monkey-patch` crate).
//!
//! A hook is an `extern "C"` function standing in for the C library's blocking call
//! (`recv`, `poll`, `clock_nanosleep`, …). It may park the calling greenlet like any
//! hub wait, with two differences that live here:
//! - It must know, without making a hub, whether parking is possible at all:
//!   [`can_park`] is false on a thread whose hub was never made (or is gone), in a hub
//!   callback, inside a greenlet the hub does not schedule, and during a panic.
//! - A kill must not unwind through it (a panic leaving an `extern "C"` frame aborts
//!   the process). The hook catches the `GreenletExit`, hands it to [`defer_kill`],
//!   and returns an error to its C caller; the kill is raised again at the greenlet's
//!   next wait in Rust code, and if its function returns first, `join` still reports
//!   [`crate::Error::Killed`].

use std::cell::Cell;

use greenlet::GreenletExit;

use crate::Payload;
use crate::hub::Hub;

thread_local! {
    /// This thread's hub has been made and not torn down. `const`, so that a hook
    /// called before `main` or while thread-locals are destroyed reads it without
    /// initialising anything.
    static HUB_MADE: Cell<bool> = const { Cell::new(false) };
}

pub(crate) fn set_hub_made(made: bool) {
    let _ = HUB_MADE.try_with(|m| m.set(made));
}

/// True if the caller is a greenlet scheduled by this thread's hub (the thread's own
/// code included) and may park there. Never makes a hub.
pub fn can_park() -> bool {
    if !HUB_MADE.try_with(Cell::get).unwrap_or(false) || std::thread::panicking() {
        return false;
    }
    Hub::with_current(|hub| {
        hub.current
            .try_borrow()
            .ok()
            .and_then(|current| current.as_ref().map(|task| task.greenlet.is_current()))
            .unwrap_or(false)
    })
    .unwrap_or(false)
}

/// Records a kill caught inside a hook, to be raised at the current greenlet's next
/// wait outside the hook. Gives the payload back if it is not a kill
/// ([`GreenletExit`]) or there is no current greenlet to record it on.
pub fn defer_kill(payload: Payload) -> Result<(), Payload> {
    if !payload.is::<GreenletExit>() {
        return Err(payload);
    }
    match Hub::with_current(|hub| hub.current_task()).flatten() {
        Some(task) => {
            task.deferred_kill.set(true);
            Ok(())
        }
        None => Err(payload),
    }
}

/// True if the current greenlet has a kill waiting to be raised (see [`defer_kill`]):
/// a hook should then fail at once instead of parking.
pub fn kill_deferred() -> bool {
    Hub::with_current(|hub| hub.current_task().is_some_and(|t| t.deferred_kill.get()))
        .unwrap_or(false)
}
