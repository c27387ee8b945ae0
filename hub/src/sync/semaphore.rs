//! `Semaphore` and `BoundedSemaphore` (gevent's `gevent.lock`).

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use super::{WaitList, deadline};
use crate::Error;

/// A counter of permits greenlets acquire and release (gevent's
/// `gevent.lock.Semaphore`). Waiters get permits in FIFO order: a released permit is
/// handed to the longest waiter, never taken by a newcomer. Clones share the permits.
///
/// ```
/// let sem = hub::Semaphore::new(1);
/// let guard = sem.guard(None).unwrap();
/// assert!(!sem.try_acquire());
/// let s = sem.clone();
/// let waiter = hub::spawn(move || s.acquire(None));
/// drop(guard); // the permit goes straight to the waiting greenlet
/// assert_eq!(waiter.join().unwrap(), Ok(()));
/// assert_eq!(sem.available(), 0);
/// sem.release();
/// assert_eq!(sem.available(), 1);
/// ```
#[derive(Clone)]
pub struct Semaphore {
    inner: Rc<Inner>,
}

struct Inner {
    /// Free permits. Invariant: greater than zero only while nobody waits.
    permits: Cell<usize>,
    /// For a bounded semaphore, the most permits there may be.
    bound: Option<usize>,
    waiters: WaitList<()>,
}

impl Semaphore {
    /// A semaphore with `permits` free permits.
    pub fn new(permits: usize) -> Semaphore {
        Semaphore::with_bound(permits, None)
    }

    fn with_bound(permits: usize, bound: Option<usize>) -> Semaphore {
        Semaphore {
            inner: Rc::new(Inner {
                permits: Cell::new(permits),
                bound,
                waiters: WaitList::default(),
            }),
        }
    }

    /// Takes a permit, parking until one is free or `timeout` passes
    /// ([`Error::Timeout`]).
    pub fn acquire(&self, timeout: Option<Duration>) -> Result<(), Error> {
        self.inner.waiters.receive(
            deadline(timeout),
            || self.try_acquire().then_some(Ok(())),
            // Killed after a permit was handed over: pass it on.
            |()| self.release_unchecked(),
        )
    }

    /// Takes a permit if one is free now.
    pub fn try_acquire(&self) -> bool {
        let permits = self.inner.permits.get();
        if permits > 0 {
            self.inner.permits.set(permits - 1);
            true
        } else {
            false
        }
    }

    /// Gives a permit back: to the longest waiter if there is one.
    pub fn release(&self) {
        self.release_unchecked();
    }

    fn release_unchecked(&self) {
        if self.inner.waiters.give(()).is_err() {
            self.inner.permits.set(self.inner.permits.get() + 1);
        }
    }

    /// Acquires a permit and returns a guard that releases it when dropped (gevent's
    /// `with sem:`).
    pub fn guard(&self, timeout: Option<Duration>) -> Result<SemaphoreGuard<'_>, Error> {
        self.acquire(timeout)?;
        Ok(SemaphoreGuard { semaphore: self })
    }

    /// Free permits now (gevent's `counter`).
    pub fn available(&self) -> usize {
        self.inner.permits.get()
    }

    /// True if no permit is free (gevent's `locked()`).
    pub fn is_locked(&self) -> bool {
        self.available() == 0
    }

    /// Greenlets waiting for a permit now.
    pub fn waiters(&self) -> usize {
        self.inner.waiters.len()
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available", &self.available())
            .field("bound", &self.inner.bound)
            .field("waiters", &self.waiters())
            .finish()
    }
}

/// Holds a permit of a [`Semaphore`] and releases it when dropped.
///
/// ```
/// let sem = hub::Semaphore::new(2);
/// {
///     let _a = sem.guard(None).unwrap();
///     let _b = sem.guard(None).unwrap();
///     assert!(sem.is_locked());
/// }
/// assert_eq!(sem.available(), 2);
/// ```
pub struct SemaphoreGuard<'a> {
    semaphore: &'a Semaphore,
}

impl Drop for SemaphoreGuard<'_> {
    fn drop(&mut self) {
        self.semaphore.release_unchecked();
    }
}

impl fmt::Debug for SemaphoreGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SemaphoreGuard")
    }
}

/// A [`Semaphore`] that refuses to be released more often than it was acquired
/// (gevent's `gevent.lock.BoundedSemaphore`): releasing past its initial count is a
/// [`ReleaseError`].
///
/// ```
/// let sem = hub::BoundedSemaphore::new(2);
/// sem.acquire(None).unwrap();
/// assert!(sem.release().is_ok());
/// assert!(sem.release().is_err()); // would make 3 of 2
/// assert_eq!(sem.available(), 2);
/// ```
#[derive(Clone)]
pub struct BoundedSemaphore {
    semaphore: Semaphore,
}

impl BoundedSemaphore {
    /// A semaphore with `permits` free permits, never more.
    pub fn new(permits: usize) -> BoundedSemaphore {
        BoundedSemaphore {
            semaphore: Semaphore::with_bound(permits, Some(permits)),
        }
    }

    /// Gives a permit back; an error, changing nothing, if every permit is already
    /// free.
    pub fn release(&self) -> Result<(), ReleaseError> {
        let inner = &self.semaphore.inner;
        let bound = inner.bound.expect("bounded");
        // Permits are only free while nobody waits, so at the bound nobody does.
        if inner.permits.get() >= bound {
            return Err(ReleaseError("semaphore released too many times"));
        }
        self.semaphore.release_unchecked();
        Ok(())
    }

    /// The most permits it has.
    pub fn bound(&self) -> usize {
        self.semaphore.inner.bound.expect("bounded")
    }

    /// See [`Semaphore::acquire`].
    pub fn acquire(&self, timeout: Option<Duration>) -> Result<(), Error> {
        self.semaphore.acquire(timeout)
    }

    /// See [`Semaphore::try_acquire`].
    pub fn try_acquire(&self) -> bool {
        self.semaphore.try_acquire()
    }

    /// See [`Semaphore::guard`].
    pub fn guard(&self, timeout: Option<Duration>) -> Result<SemaphoreGuard<'_>, Error> {
        self.semaphore.guard(timeout)
    }

    /// Free permits now.
    pub fn available(&self) -> usize {
        self.semaphore.available()
    }

    /// True if no permit is free.
    pub fn is_locked(&self) -> bool {
        self.semaphore.is_locked()
    }

    /// Greenlets waiting for a permit now.
    pub fn waiters(&self) -> usize {
        self.semaphore.waiters()
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.semaphore.fmt(f)
    }
}

/// Something was released more often than acquired (gevent's `ValueError`): a
/// [`BoundedSemaphore`] past its bound, a [`crate::Queue`]'s `task_done` with no task
/// left.
///
/// ```
/// let q: hub::Queue<u8> = hub::Queue::new();
/// let e = q.task_done().unwrap_err();
/// assert_eq!(e.to_string(), "task_done() called more often than put()");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleaseError(pub(crate) &'static str);

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for ReleaseError {}
