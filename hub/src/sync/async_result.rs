//! `AsyncResult`: a value (or an error) that greenlets wait for (gevent's
//! `gevent.event.AsyncResult`).

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use super::{WaitList, deadline};
use crate::Error;

/// A result that will be set once and read by any number of greenlets (gevent's
/// `gevent.event.AsyncResult`): [`set`](Self::set) a value or
/// [`set_error`](Self::set_error) an error, and every waiter gets a copy. Setting it
/// again replaces the result. Clones share it.
///
/// [`get`](Self::get) nests two results: the outer one says whether the wait worked
/// ([`Error::Timeout`] …), the inner one is what was set. It copies the result, so it
/// needs `T: Clone` and `E: Clone`; otherwise [`wait`](Self::wait) and
/// [`take`](Self::take) it.
///
/// ```
/// let result: hub::AsyncResult<u32, String> = hub::AsyncResult::new();
/// let r = result.clone();
/// let reader = hub::spawn(move || r.get(None));
/// result.set(7);
/// assert_eq!(reader.join().unwrap(), Ok(Ok(7)));
///
/// let failed: hub::AsyncResult<u32, String> = hub::AsyncResult::new();
/// failed.set_error("no route".to_string());
/// assert_eq!(failed.get(None), Ok(Err("no route".to_string())));
/// assert!(failed.is_ready() && !failed.is_successful());
/// ```
pub struct AsyncResult<T, E> {
    inner: Rc<Inner<T, E>>,
}

struct Inner<T, E> {
    result: RefCell<Option<Result<T, E>>>,
    waiters: WaitList<()>,
}

impl<T, E> Clone for AsyncResult<T, E> {
    fn clone(&self) -> Self {
        AsyncResult {
            inner: self.inner.clone(),
        }
    }
}

impl<T, E> Default for AsyncResult<T, E> {
    fn default() -> Self {
        AsyncResult {
            inner: Rc::new(Inner {
                result: RefCell::new(None),
                waiters: WaitList::default(),
            }),
        }
    }
}

impl<T, E> AsyncResult<T, E> {
    /// A new, empty result.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `value` and wakes every waiter (gevent's `set`).
    pub fn set(&self, value: T) {
        self.put(Ok(value));
    }

    /// Stores `error` and wakes every waiter (gevent's `set_exception`).
    pub fn set_error(&self, error: E) {
        self.put(Err(error));
    }

    fn put(&self, result: Result<T, E>) {
        let old = self.inner.result.replace(Some(result));
        drop(old);
        self.inner.waiters.wake_all();
    }

    /// True once a value or an error is set (gevent's `ready()`).
    pub fn is_ready(&self) -> bool {
        self.inner.result.borrow().is_some()
    }

    /// True once a value is set (gevent's `successful()`).
    pub fn is_successful(&self) -> bool {
        matches!(&*self.inner.result.borrow(), Some(Ok(_)))
    }

    /// Parks until a result is set, or `timeout` passes ([`Error::Timeout`]) (gevent's
    /// `wait`).
    pub fn wait(&self, timeout: Option<Duration>) -> Result<(), Error> {
        let deadline = deadline(timeout);
        while !self.is_ready() {
            self.inner.waiters.wait(None, deadline, drop).0?;
        }
        Ok(())
    }

    /// Takes the result out, leaving it empty; `None` if none is set.
    pub fn take(&self) -> Option<Result<T, E>> {
        self.inner.result.borrow_mut().take()
    }

    /// Greenlets waiting now.
    pub fn waiters(&self) -> usize {
        self.inner.waiters.len()
    }
}

impl<T: Clone, E: Clone> AsyncResult<T, E> {
    /// Waits for the result as [`wait`](Self::wait) does and returns a copy of it
    /// (gevent's `get`).
    pub fn get(&self, timeout: Option<Duration>) -> Result<Result<T, E>, Error> {
        self.wait(timeout)?;
        Ok(self.try_get().expect("set"))
    }

    /// A copy of the result if one is set, without waiting (gevent's `get_nowait`).
    pub fn try_get(&self) -> Option<Result<T, E>> {
        self.inner.result.borrow().clone()
    }
}

impl<T, E> fmt::Debug for AsyncResult<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResult")
            .field("ready", &self.is_ready())
            .field("successful", &self.is_successful())
            .finish()
    }
}

/// Ready once a value or an error is set.
impl<T, E> crate::Waitable for AsyncResult<T, E> {
    fn is_ready(&self) -> bool {
        self.is_ready()
    }

    fn subscribe(&self, waiter: &crate::Waiter) {
        self.inner.waiters.subscribe(waiter);
    }

    fn unsubscribe(&self, _waiter: &crate::Waiter) {
        self.inner.waiters.forget_stale();
    }
}
