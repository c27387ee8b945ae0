//! What is patched, and whether the caller may cooperate right now.

use std::cell::RefCell;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use greenlet::Greenlet;

/// Families of calls, as bits of [`PATCHED`].
pub(crate) const SOCKETS: u8 = 1;
pub(crate) const POLL: u8 = 2;
pub(crate) const SLEEP: u8 = 4;
pub(crate) const DNS: u8 = 8;

static PATCHED: AtomicU8 = AtomicU8::new(0);

/// Set in a child process made by `fork`: its copy of the parent's hub shares the
/// parent's epoll instance, so nothing there may park; every hook passes through.
static FORK_CHILD: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// Greenlets running inside [`crate::unpatched`] (usually none). Kept per
    /// greenlet, not per thread: a flag per thread would leak into every greenlet that
    /// runs while the unpatched one is parked.
    static BYPASS: RefCell<Vec<Greenlet>> = const { RefCell::new(Vec::new()) };
}

pub(crate) fn enable(bits: u8) {
    static AT_FORK: Once = Once::new();
    AT_FORK.call_once(|| {
        // SAFETY: registers a plain function with no preconditions as the child
        // handler; the other two are null, which pthread_atfork allows.
        unsafe { libc::pthread_atfork(None, None, Some(in_fork_child)) };
    });
    PATCHED.fetch_or(bits, Ordering::SeqCst);
}

extern "C" fn in_fork_child() {
    FORK_CHILD.store(true, Ordering::SeqCst);
}

pub(crate) fn patched_bits() -> u8 {
    if FORK_CHILD.load(Ordering::Relaxed) {
        0
    } else {
        PATCHED.load(Ordering::Relaxed)
    }
}

/// True if a hook for `family` should cooperate: patched, not in a fork child, called
/// by a greenlet of this thread's hub that may park, and not inside `unpatched`.
#[inline]
pub(crate) fn cooperative(family: u8) -> bool {
    patched_bits() & family != 0 && hub::hooks::can_park() && !bypassed()
}

fn bypassed() -> bool {
    BYPASS
        .try_with(|b| {
            b.try_borrow()
                .map(|list| list.iter().any(Greenlet::is_current))
                .unwrap_or(true)
        })
        .unwrap_or(true)
}

/// Marks the current greenlet as bypassing the hooks until dropped.
pub(crate) struct Bypass(());

impl Bypass {
    pub(crate) fn enter() -> Bypass {
        BYPASS.with(|b| b.borrow_mut().push(greenlet::getcurrent()));
        Bypass(())
    }
}

impl Drop for Bypass {
    fn drop(&mut self) {
        let _ = BYPASS.try_with(|b| {
            let mut list = b.borrow_mut();
            if let Some(i) = list.iter().rposition(Greenlet::is_current) {
                list.remove(i);
            }
        });
    }
}
