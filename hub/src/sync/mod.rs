//! Synchronisation primitives for the greenlets of one hub (gevent's `gevent.event`,
//! `gevent.queue`, `gevent.lock`).
//!
//! Every primitive is a cheap handle (`Clone` shares the same object) and is neither
//! `Send` nor `Sync`: it belongs to the hub of the thread that made it. Every blocking
//! operation takes an optional timeout, fails with [`Error::Timeout`] when it (or a
//! [`crate::Timeout`]) passes, and unwinds when the greenlet is killed.
//!
//! # Fairness and hand-off
//! Waiters are served in FIFO order. An item or permit is *handed* to the first
//! waiter when it becomes available (it never goes back to the shared pool where a
//! newcomer could take it first), so no waiter starves. A waiter that is killed after
//! being handed something gives it back (to the next waiter, or to the primitive), and
//! a waiter that times out was never handed anything: nothing is lost or duplicated.
//!
//! All of this is one small helper, [`WaitList`], used by every primitive.

mod async_result;
mod channel;
mod event;
mod lock;
mod order;
mod ordered_queue;
mod queue;
mod rlock;
mod semaphore;

pub use async_result::AsyncResult;
pub use channel::Channel;
pub use event::Event;
pub use lock::{Lock, LockGuard};
pub use order::{Fifo, Lifo, Order, Priority};
pub use ordered_queue::{LifoQueue, PriorityQueue};
pub use queue::{PutError, Queue, QueueError};
pub use rlock::{RLock, RLockGuard};
pub use semaphore::{BoundedSemaphore, ReleaseError, Semaphore, SemaphoreGuard};

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use crate::Error;
use crate::timer::TimerGuard;
use crate::wait::Waiter;

/// The deadline for a wait that may take at most `timeout`.
pub(crate) fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.map(crate::timer::deadline_after)
}

/// A FIFO list of parked greenlets, each with a slot through which a value is handed
/// to it (a queue item, a permit) or taken from it (the item a putter offers).
///
/// The waker fills or empties the slot of the first waiter whose wait is still live
/// and wakes it in the same step, so the value can never reach a waiter that timed out
/// or was killed: those are skipped. A waiter killed after it was woken gives its
/// slot to the `on_kill` callback of [`WaitList::wait`].
pub(crate) struct WaitList<T> {
    entries: RefCell<VecDeque<Entry<T>>>,
}

struct Entry<T> {
    waiter: Waiter,
    slot: Rc<RefCell<Option<T>>>,
}

impl<T> Default for WaitList<T> {
    fn default() -> Self {
        WaitList {
            entries: RefCell::new(VecDeque::new()),
        }
    }
}

impl<T> WaitList<T> {
    /// Wakes the first waiter whose wait is live, after letting `f` fill or empty its
    /// slot. `None` (and `f` not called) if nobody waits.
    fn wake_first<R>(&self, f: impl FnOnce(&mut Option<T>) -> R) -> Option<R> {
        loop {
            let entry = self.entries.borrow_mut().pop_front()?;
            // `wake` first: it fails for a waiter that timed out or was killed, and
            // then that waiter must not get the value.
            if entry.waiter.wake() {
                return Some(f(&mut entry.slot.borrow_mut()));
            }
        }
    }

    /// Hands `value` to the first live waiter and wakes it; gives the value back if
    /// nobody waits.
    pub(crate) fn give(&self, value: T) -> Result<(), T> {
        let mut value = Some(value);
        self.wake_first(|slot| *slot = value.take());
        match value {
            Some(v) => Err(v),
            None => Ok(()),
        }
    }

    /// Takes the value the first live waiter offers (a putter's item) and wakes it.
    pub(crate) fn take(&self) -> Option<T> {
        self.wake_first(|slot| slot.take()).flatten()
    }

    /// Wakes every waiter without touching their slots; they re-check the state.
    pub(crate) fn wake_all(&self) -> usize {
        let entries = std::mem::take(&mut *self.entries.borrow_mut());
        entries.into_iter().filter(|e| e.waiter.wake()).count()
    }

    /// Number of waiters whose wait is live.
    pub(crate) fn len(&self) -> usize {
        let stale: VecDeque<Entry<T>> = {
            let mut entries = self.entries.borrow_mut();
            let all = std::mem::take(&mut *entries);
            let (live, stale) = all.into_iter().partition(|e| !e.waiter.is_stale());
            *entries = live;
            stale
        };
        drop(stale); // outside the borrow: dropping may run arbitrary destructors
        self.entries.borrow().len()
    }

    /// True if no wait is live. Amortised O(1): drops stale waiters from the front.
    pub(crate) fn is_empty(&self) -> bool {
        let mut stale = Vec::new();
        let empty = {
            let mut entries = self.entries.borrow_mut();
            loop {
                match entries.front() {
                    None => break true,
                    Some(e) if !e.waiter.is_stale() => break false,
                    Some(_) => stale.extend(entries.pop_front()),
                }
            }
        };
        drop(stale);
        empty
    }

    /// Parks the current greenlet at the back of the list, with `slot` as its slot
    /// (`Some(item)` to offer an item, `None` to receive one), until it is woken or
    /// `deadline` passes. Returns how the park ended and what is in the slot then.
    ///
    /// If the greenlet is killed during the wait, it unwinds from here after calling
    /// `on_kill` with the slot's content: a value handed to it that it will never use.
    pub(crate) fn wait(
        &self,
        slot: Option<T>,
        deadline: Option<Instant>,
        on_kill: impl FnOnce(Option<T>),
    ) -> (Result<(), Error>, Option<T>) {
        let waiter = match Waiter::new() {
            Ok(w) => w,
            Err(e) => return (Err(e), slot),
        };
        let cell = Rc::new(RefCell::new(slot));
        self.entries.borrow_mut().push_back(Entry {
            waiter: waiter.clone(),
            slot: cell.clone(),
        });
        let mut leave = Leave {
            list: self,
            cell: &cell,
            on_kill: Some(on_kill),
        };
        let result = {
            let _deadline = deadline.map(|at| TimerGuard::wake_at(at, &waiter));
            waiter.park()
        };
        leave.on_kill = None;
        drop(leave);
        let value = cell.borrow_mut().take();
        (result, value)
    }

    /// Receives a value: `try_now` first (`None` means "nothing yet"), else parks at the
    /// back of the list until a value is handed over or `deadline` passes, and tries
    /// again. A value handed over to a greenlet killed before it could use it goes to
    /// `give_back`, so nothing is lost.
    pub(crate) fn receive<E: From<Error>>(
        &self,
        deadline: Option<Instant>,
        mut try_now: impl FnMut() -> Option<Result<T, E>>,
        give_back: impl Fn(T),
    ) -> Result<T, E> {
        loop {
            if let Some(done) = try_now() {
                return done;
            }
            let (parked, slot) = self.wait(None, deadline, |value| {
                value.into_iter().for_each(&give_back)
            });
            if let Some(value) = slot {
                return Ok(value);
            }
            parked?;
        }
    }

    /// Offers `item`, the putters' side of [`receive`](Self::receive): `try_now` first
    /// (handing the item back with [`QueueError::Full`] means "no room yet"), else
    /// parks at the back of the list holding it until a getter takes it, `closed()`
    /// turns true, or the wait fails, and tries again. The item comes back in the
    /// error; a killed putter's item dies with it.
    pub(crate) fn offer(
        &self,
        mut item: T,
        deadline: Option<Instant>,
        closed: impl Fn() -> bool,
        mut try_now: impl FnMut(T) -> Result<(), PutError<T>>,
    ) -> Result<(), PutError<T>> {
        loop {
            item = match try_now(item) {
                Err(PutError {
                    item,
                    error: QueueError::Full,
                }) => item,
                other => return other,
            };
            let (parked, slot) = self.wait(Some(item), deadline, drop);
            let Some(back) = slot else {
                return Ok(()); // a getter took it
            };
            let error = match parked {
                _ if closed() => QueueError::Closed,
                Err(e) => e.into(),
                Ok(()) => {
                    item = back;
                    continue;
                }
            };
            return Err(PutError { item: back, error });
        }
    }

    /// Adds `waiter` to be woken by [`wake_all`](Self::wake_all) without parking
    /// here: for a wait on several things at once ([`crate::wait`]). Only for lists
    /// woken as a whole (never handed a value).
    pub(crate) fn subscribe(&self, waiter: &Waiter) {
        self.entries.borrow_mut().push_back(Entry {
            waiter: waiter.clone(),
            slot: Rc::new(RefCell::new(None)),
        });
    }

    /// Drops the entries of waits that are over (a [`subscribe`](Self::subscribe)d
    /// waiter that was never woken).
    pub(crate) fn forget_stale(&self) {
        self.len();
    }

    fn remove(&self, cell: &Rc<RefCell<Option<T>>>) {
        let mut entries = self.entries.borrow_mut();
        // Usually the last one (a wait that timed out at once) or near the front.
        if let Some(i) = entries.iter().rposition(|e| Rc::ptr_eq(&e.slot, cell)) {
            let entry = entries.remove(i);
            drop(entries);
            drop(entry);
        }
    }
}

/// Takes the waiter's entry out of the list however the wait ends; on unwinding
/// (kill), gives what the slot holds to `on_kill`.
struct Leave<'a, T, F: FnOnce(Option<T>)> {
    list: &'a WaitList<T>,
    cell: &'a Rc<RefCell<Option<T>>>,
    on_kill: Option<F>,
}

impl<T, F: FnOnce(Option<T>)> Drop for Leave<'_, T, F> {
    fn drop(&mut self) {
        self.list.remove(self.cell);
        if let Some(on_kill) = self.on_kill.take() {
            let value = self.cell.borrow_mut().take();
            on_kill(value);
        }
    }
}

thread_local! {
    static DOORBELLS: RefCell<HashMap<u64, Weak<WaitList<()>>>> = RefCell::new(HashMap::new());
    static NEXT_DOORBELL: Cell<u64> = const { Cell::new(1) };
}

/// Lets another thread wake greenlets of this hub: it sends the doorbell's id
/// through the hub's [`crate::Remote`] and [`ring`] runs on the hub. Greenlets wait
/// with [`Doorbell::wait`] after checking, on the hub's thread, that the thing they
/// wait for has not happened yet (a ring only runs between hub turns, so it cannot
/// slip between that check and the park).
pub(crate) struct Doorbell {
    id: u64,
    list: Rc<WaitList<()>>,
}

impl Doorbell {
    pub(crate) fn new() -> Doorbell {
        let id = NEXT_DOORBELL.with(|n| {
            let id = n.get();
            n.set(id + 1);
            id
        });
        let list = Rc::new(WaitList::default());
        DOORBELLS.with(|d| d.borrow_mut().insert(id, Rc::downgrade(&list)));
        Doorbell { id, list }
    }

    /// The id to send to [`ring`] from another thread.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Parks until the bell rings or `deadline` passes.
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> Result<(), Error> {
        self.list.wait(None, deadline, drop).0
    }
}

impl Drop for Doorbell {
    fn drop(&mut self) {
        let _ = DOORBELLS.try_with(|d| d.borrow_mut().remove(&self.id));
    }
}

/// Wakes every greenlet waiting on doorbell `id` of this thread; nothing if it is gone.
pub(crate) fn ring(id: u64) {
    let list = DOORBELLS
        .try_with(|d| d.borrow().get(&id).and_then(Weak::upgrade))
        .ok()
        .flatten();
    if let Some(list) = list {
        list.wake_all();
    }
}
