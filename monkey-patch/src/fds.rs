//! Per-fd bookkeeping: each thread's registrations with its hub, and a process-wide
//! count of closes per fd number, so that a registration made for a file that has
//! since been closed (on any thread) is never used for the file that reuses its
//! number.

use std::cell::{Cell, RefCell};
use std::os::fd::RawFd;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use hub::Registration;

/// Fd numbers below this have their closes counted and registrations cached; larger
/// ones wait through a private epoll instance each time (slower, still correct).
const TRACKED: usize = 1 << 16;

static CLOSES: [AtomicU32; TRACKED] = [const { AtomicU32::new(0) }; TRACKED];

/// Per fd number: whether it is a socket, learned with `fstat` once per file: the
/// close count it was learned under (high bits) and the answer (low bits: 1 socket,
/// 2 not). A stale answer (the count moved on) is asked again.
static KINDS: [AtomicU64; TRACKED] = [const { AtomicU64::new(0) }; TRACKED];

const SOCKET: u64 = 1;
const NOT_SOCKET: u64 = 2;

/// True if `fd` is a socket (`read`/`write` cooperate only on those). Cached per
/// file; an fd closed behind the hooks' back (a raw `close_range`) could leave a stale
/// answer, which the hooks survive (`ENOTSOCK` falls back to the plain call).
pub(crate) fn is_socket(fd: RawFd) -> bool {
    let Some(generation) = generation(fd) else {
        return fstat_is_socket(fd);
    };
    let slot = &KINDS[fd as usize];
    let known = slot.load(Ordering::Acquire);
    if known >> 2 == u64::from(generation) && known & 3 != 0 {
        return known & 3 == SOCKET;
    }
    let socket = fstat_is_socket(fd);
    let kind = if socket { SOCKET } else { NOT_SOCKET };
    slot.store((u64::from(generation) << 2) | kind, Ordering::Release);
    socket
}

fn fstat_is_socket(fd: RawFd) -> bool {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is valid for writes of a `stat`; read only on success.
    unsafe {
        libc::fstat(fd, st.as_mut_ptr()) == 0
            && st.assume_init().st_mode & libc::S_IFMT == libc::S_IFSOCK
    }
}

/// A registration of one fd with this thread's hub.
pub(crate) struct FdEntry {
    pub(crate) registration: Registration,
    /// The close count when it was made.
    generation: u32,
    /// Closed by a greenlet of this thread while others may wait on it.
    pub(crate) closed: Cell<bool>,
}

/// A `poll`/`select` parked on a private epoll instance, so that a close of one of
/// its fds can wake it (the kernel drops a closed fd from epoll without a word).
pub(crate) struct PollWait {
    fds: Vec<RawFd>,
    pub(crate) registration: Registration,
    /// Those of `fds` closed while it waited (their numbers may be reused at once,
    /// by another thread: the caller reports them closed without asking poll again).
    pub(crate) closed: RefCell<Vec<RawFd>>,
}

impl PollWait {
    /// Records the wait until the returned value is dropped.
    pub(crate) fn start(fds: Vec<RawFd>, registration: Registration) -> Rc<PollWait> {
        let wait = Rc::new(PollWait {
            fds,
            registration,
            closed: RefCell::new(Vec::new()),
        });
        let _ = POLLS.try_with(|p| {
            if let Ok(mut polls) = p.try_borrow_mut() {
                polls.retain(|w| w.strong_count() > 0);
                polls.push(Rc::downgrade(&wait));
            }
        });
        wait
    }
}

thread_local! {
    static POLLS: RefCell<Vec<Weak<PollWait>>> = const { RefCell::new(Vec::new()) };
    static ENTRIES: RefCell<Vec<Option<Rc<FdEntry>>>> = const { RefCell::new(Vec::new()) };
}

fn generation(fd: RawFd) -> Option<u32> {
    CLOSES
        .get(usize::try_from(fd).ok()?)
        .map(|c| c.load(Ordering::Acquire))
}

/// This thread's registration for `fd`, made if needed; `None` when the fd cannot be
/// registered (not pollable, untracked number): wait through a private epoll then.
/// The `Rc` is a copy: the table may change while the caller is parked.
pub(crate) fn entry(fd: RawFd) -> Option<Rc<FdEntry>> {
    let generation = generation(fd)?;
    let index = fd as usize;
    let stale = ENTRIES
        .try_with(|e| {
            let mut entries = e.try_borrow_mut().ok()?;
            match entries.get(index).cloned().flatten() {
                Some(entry) if entry.generation == generation => Some(Ok(entry)),
                Some(_) => Some(Err(entries[index].take())),
                None => Some(Err(None)),
            }
        })
        .ok()
        .flatten()?;
    let stale = match stale {
        Ok(entry) => return Some(entry),
        Err(stale) => stale,
    };
    if let Some(stale) = stale {
        // Closed elsewhere since: its number may name another file now.
        stale.registration.forget_fd();
    }
    let registration = Registration::new(fd).ok()?;
    let entry = Rc::new(FdEntry {
        registration,
        generation,
        closed: Cell::new(false),
    });
    ENTRIES
        .try_with(|e| {
            let mut entries = e.try_borrow_mut().ok()?;
            if entries.len() <= index {
                entries.resize(index + 1, None);
            }
            entries[index] = Some(entry.clone());
            Some(())
        })
        .ok()
        .flatten()?;
    Some(entry)
}

/// Before `fd` is closed or replaced (by `dup2`/`dup3`): counts the close, wakes this
/// thread's greenlets waiting on it (they fail with `EBADF`) and deregisters it while
/// the number still names the file.
pub(crate) fn before_close(fd: RawFd) {
    let Ok(index) = usize::try_from(fd) else {
        return;
    };
    let Some(count) = CLOSES.get(index) else {
        return;
    };
    count.fetch_add(1, Ordering::AcqRel);
    let entry = ENTRIES
        .try_with(|e| {
            e.try_borrow_mut()
                .ok()
                .and_then(|mut entries| entries.get_mut(index).and_then(Option::take))
        })
        .ok()
        .flatten();
    let polls: Vec<Rc<PollWait>> = POLLS
        .try_with(|p| {
            p.try_borrow()
                .map(|polls| {
                    polls
                        .iter()
                        .filter_map(Weak::upgrade)
                        .filter(|w| w.fds.contains(&fd))
                        .collect()
                })
                .unwrap_or_default()
        })
        .unwrap_or_default();
    for wait in polls {
        if let Ok(mut closed) = wait.closed.try_borrow_mut() {
            closed.push(fd);
        }
        wait.registration.wake_waiters();
    }
    if let Some(entry) = entry {
        entry.closed.set(true);
        entry.registration.wake_waiters();
        // Now, while the number names this file: a woken waiter's copy of the entry
        // outlives the close.
        entry.registration.deregister_now();
    }
}
