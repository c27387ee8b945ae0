//! How often this thread entered each hook: for canary tests that prove a std call
//! still reaches the hook its row of the table names (std changes the C functions it
//! calls now and then; a canary then fails instead of the call silently blocking the
//! hub). Counted on entry, cooperating or not, per thread (a `const` thread-local:
//! one add, no allocation, safe before `main`).

use std::cell::Cell;

/// The hooked C functions, in the order of the counters.
pub const HOOKS: [&str; 23] = [
    "connect",
    "accept",
    "accept4",
    "recv",
    "recvfrom",
    "recvmsg",
    "send",
    "sendto",
    "sendmsg",
    "read",
    "readv",
    "write",
    "writev",
    "poll",
    "select",
    "clock_nanosleep",
    "nanosleep",
    "usleep",
    "sleep",
    "getaddrinfo",
    "close",
    "dup2",
    "dup3",
];

/// Indexes into [`HOOKS`].
#[derive(Clone, Copy)]
pub(crate) enum Hook {
    Connect,
    Accept,
    Accept4,
    Recv,
    Recvfrom,
    Recvmsg,
    Send,
    Sendto,
    Sendmsg,
    Read,
    Readv,
    Write,
    Writev,
    Poll,
    Select,
    ClockNanosleep,
    Nanosleep,
    Usleep,
    Sleep,
    Getaddrinfo,
    Close,
    Dup2,
    Dup3,
}

thread_local! {
    static CALLS: [Cell<u64>; HOOKS.len()] = const { [const { Cell::new(0) }; HOOKS.len()] };
}

#[inline]
pub(crate) fn count(hook: Hook) {
    let i = hook as usize;
    let _ = CALLS.try_with(|c| c[i].set(c[i].get() + 1));
}

/// How many times this thread has entered the hook for `symbol` (0 for a name that
/// is not hooked).
pub fn calls(symbol: &str) -> u64 {
    HOOKS
        .iter()
        .position(|h| *h == symbol)
        .and_then(|i| CALLS.try_with(|c| c[i].get()).ok())
        .unwrap_or(0)
}
