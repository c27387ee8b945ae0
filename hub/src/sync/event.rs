//! `Event`: a flag greenlets wait for (gevent's `gevent.event.Event`).

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use super::{WaitList, deadline};
use crate::Error;

/// A flag that greenlets can wait for (gevent's `gevent.event.Event`): [`set`](Self::set)
/// wakes every waiter, [`clear`](Self::clear) lowers it again. Clones share the flag.
///
/// ```
/// use std::time::Duration;
///
/// let ready = hub::Event::new();
/// let r = ready.clone();
/// let waiter = hub::spawn(move || r.wait(None));
/// hub::sleep(Duration::from_millis(1)).unwrap();
/// assert!(!waiter.is_ready());
/// ready.set();
/// assert_eq!(waiter.join().unwrap(), Ok(()));
/// assert!(ready.is_set());
/// ready.clear();
/// assert_eq!(ready.wait(Some(Duration::from_millis(1))), Err(hub::Error::Timeout));
/// ```
#[derive(Clone, Default)]
pub struct Event {
    inner: Rc<Inner>,
}

#[derive(Default)]
struct Inner {
    flag: Cell<bool>,
    waiters: WaitList<()>,
}

impl Event {
    /// A new event, not set.
    pub fn new() -> Event {
        Event::default()
    }

    /// Sets the flag and wakes every greenlet waiting for it.
    pub fn set(&self) {
        self.inner.flag.set(true);
        self.inner.waiters.wake_all();
    }

    /// Lowers the flag; later waits block until the next [`set`](Self::set).
    pub fn clear(&self) {
        self.inner.flag.set(false);
    }

    /// True if the flag is set (gevent's `is_set()`).
    pub fn is_set(&self) -> bool {
        self.inner.flag.get()
    }

    /// Returns at once if the flag is set, else parks until it is set, or `timeout`
    /// passes ([`Error::Timeout`]). A waiter woken by `set` returns `Ok` even if the
    /// flag was cleared again before it ran.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<(), Error> {
        if self.is_set() {
            return Ok(());
        }
        self.inner.waiters.wait(None, deadline(timeout), drop).0
    }

    /// Greenlets waiting now.
    pub fn waiters(&self) -> usize {
        self.inner.waiters.len()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .field("waiters", &self.waiters())
            .finish()
    }
}

/// Ready once set.
impl crate::Waitable for Event {
    fn is_ready(&self) -> bool {
        self.is_set()
    }

    fn subscribe(&self, waiter: &crate::Waiter) {
        self.inner.waiters.subscribe(waiter);
    }

    fn unsubscribe(&self, _waiter: &crate::Waiter) {
        self.inner.waiters.forget_stale();
    }
}
