//! `RLock`: a lock its owner may take again (gevent's `gevent.lock.RLock`).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use greenlet::Greenlet;

use super::Semaphore;
use crate::Error;

/// A reentrant lock (gevent's `gevent.lock.RLock`): the greenlet holding it may lock
/// it again without waiting for itself; it is free once every guard of the owner is
/// dropped. Other greenlets wait in FIFO order, as for [`crate::Lock`]. The owner is
/// the running greenlet (a raw [`Greenlet`] inside a task is an owner of its own).
/// Clones share the lock.
///
/// ```
/// let lock = hub::RLock::new();
/// let outer = lock.lock(None).unwrap();
/// let inner = lock.lock(None).unwrap(); // same greenlet: no wait
/// assert_eq!(lock.depth(), 2);
/// let other = { let l = lock.clone(); hub::spawn(move || l.try_lock().is_some()) };
/// assert_eq!(other.join().unwrap(), false, "held by another greenlet");
/// drop((inner, outer));
/// assert!(!lock.is_locked());
/// ```
#[derive(Clone, Default)]
pub struct RLock {
    inner: Rc<Inner>,
}

struct Inner {
    semaphore: Semaphore,
    owner: RefCell<Option<Greenlet>>,
    depth: Cell<usize>,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            semaphore: Semaphore::new(1),
            owner: RefCell::new(None),
            depth: Cell::new(0),
        }
    }
}

impl RLock {
    /// A new, unlocked lock.
    pub fn new() -> RLock {
        RLock::default()
    }

    /// Locks it: at once if the running greenlet owns it already, else parking until
    /// it is free or `timeout` passes ([`Error::Timeout`]) (gevent's `acquire`).
    pub fn lock(&self, timeout: Option<Duration>) -> Result<RLockGuard<'_>, Error> {
        if !self.owned_here() {
            self.inner.semaphore.acquire(timeout)?;
            self.take_ownership();
        }
        Ok(self.enter())
    }

    /// Locks it if that needs no wait (gevent's `acquire(blocking=False)`).
    pub fn try_lock(&self) -> Option<RLockGuard<'_>> {
        if !self.owned_here() {
            if !self.inner.semaphore.try_acquire() {
                return None;
            }
            self.take_ownership();
        }
        Some(self.enter())
    }

    /// True while some greenlet holds it (gevent's `locked()`).
    pub fn is_locked(&self) -> bool {
        self.inner.depth.get() > 0
    }

    /// True if the running greenlet holds it (gevent's `_is_owned()`).
    pub fn is_owned(&self) -> bool {
        self.owned_here()
    }

    /// How many guards its owner holds (0 when free).
    pub fn depth(&self) -> usize {
        self.inner.depth.get()
    }

    /// Greenlets waiting for it now.
    pub fn waiters(&self) -> usize {
        self.inner.semaphore.waiters()
    }

    fn owned_here(&self) -> bool {
        self.inner.depth.get() > 0
            && self
                .inner
                .owner
                .borrow()
                .as_ref()
                .is_some_and(Greenlet::is_current)
    }

    fn take_ownership(&self) {
        *self.inner.owner.borrow_mut() = Some(greenlet::getcurrent());
    }

    fn enter(&self) -> RLockGuard<'_> {
        self.inner.depth.set(self.inner.depth.get() + 1);
        RLockGuard { lock: self }
    }
}

impl fmt::Debug for RLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RLock")
            .field("depth", &self.depth())
            .field("waiters", &self.waiters())
            .finish()
    }
}

/// One level of an [`RLock`]; the last guard of the owner dropped frees the lock and
/// hands it to the longest waiter (gevent's `release`).
pub struct RLockGuard<'a> {
    lock: &'a RLock,
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        let inner = &self.lock.inner;
        let depth = inner.depth.get() - 1;
        inner.depth.set(depth);
        if depth == 0 {
            let owner = inner.owner.borrow_mut().take();
            drop(owner);
            inner.semaphore.release();
        }
    }
}

impl fmt::Debug for RLockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RLockGuard")
    }
}
