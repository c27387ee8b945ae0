//! `Lock`: mutual exclusion between greenlets (gevent's `gevent.lock.Lock`).

use std::fmt;
use std::time::Duration;

use super::Semaphore;
use crate::Error;

/// Mutual exclusion between the greenlets of one hub (gevent's `gevent.lock.Lock`,
/// a semaphore of one). [`lock`](Self::lock) returns a guard that unlocks when
/// dropped; waiting greenlets get the lock in FIFO order. It is not reentrant: a
/// greenlet locking it twice waits for itself. Clones share the lock.
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use std::time::Duration;
///
/// let lock = hub::Lock::new();
/// let inside = Rc::new(Cell::new(0));
/// let handles: Vec<_> = (0..3).map(|_| {
///     let (lock, inside) = (lock.clone(), inside.clone());
///     hub::spawn(move || {
///         let _guard = lock.lock(None).unwrap();
///         inside.set(inside.get() + 1);
///         assert_eq!(inside.get(), 1, "one at a time");
///         hub::sleep(Duration::from_millis(1)).unwrap();
///         inside.set(inside.get() - 1);
///     })
/// }).collect();
/// hub::joinall(&handles, None, None).unwrap();
/// assert!(!lock.is_locked());
/// ```
#[derive(Clone)]
pub struct Lock {
    semaphore: Semaphore,
}

impl Default for Lock {
    fn default() -> Self {
        Lock {
            semaphore: Semaphore::new(1),
        }
    }
}

impl Lock {
    /// A new, unlocked lock.
    pub fn new() -> Lock {
        Lock::default()
    }

    /// Locks it, parking until it is free or `timeout` passes ([`Error::Timeout`])
    /// (gevent's `acquire`).
    pub fn lock(&self, timeout: Option<Duration>) -> Result<LockGuard<'_>, Error> {
        self.semaphore.acquire(timeout)?;
        Ok(LockGuard { lock: self })
    }

    /// Locks it if it is free now (gevent's `acquire(blocking=False)`).
    pub fn try_lock(&self) -> Option<LockGuard<'_>> {
        self.semaphore
            .try_acquire()
            .then(|| LockGuard { lock: self })
    }

    /// True while some greenlet holds it (gevent's `locked()`).
    pub fn is_locked(&self) -> bool {
        self.semaphore.is_locked()
    }

    /// Greenlets waiting for it now.
    pub fn waiters(&self) -> usize {
        self.semaphore.waiters()
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.is_locked())
            .field("waiters", &self.waiters())
            .finish()
    }
}

/// Holds a [`Lock`]; unlocks it when dropped (gevent's `release`), handing it to the
/// longest waiter.
///
/// ```
/// let lock = hub::Lock::new();
/// {
///     let _guard = lock.lock(None).unwrap();
///     assert!(lock.is_locked() && lock.try_lock().is_none());
/// }
/// assert!(!lock.is_locked());
/// ```
pub struct LockGuard<'a> {
    lock: &'a Lock,
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        self.lock.semaphore.release();
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LockGuard")
    }
}
