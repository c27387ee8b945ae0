//! `sleep`, and `Timeout`: a deadline that interrupts whatever the greenlet waits on.

use std::cell::Cell;
use std::rc::{Rc, Weak};
use std::time::Duration;

use crate::Error;
use crate::hub::Hub;
use crate::task::Task;
use crate::timer::{TimerAction, TimerGuard, TimerKey, deadline_after};
use crate::wait::{Waiter, Wake};

/// Suspends the current greenlet for `duration`, letting the others run (gevent's
/// `sleep`). `sleep(Duration::ZERO)` lets every other ready greenlet run once.
///
/// Fails only if interrupted: [`Error::Timeout`] when a [`Timeout`] fires,
/// [`Error::BlockingInHub`] in a hub callback. A kill unwinds from here.
pub fn sleep(duration: Duration) -> Result<(), Error> {
    let waiter = Waiter::new()?;
    if duration.is_zero() {
        return waiter.yield_now();
    }
    let _timer = TimerGuard::arm(
        deadline_after(duration),
        TimerAction::Wake(waiter.clone(), Wake::Notified),
    );
    waiter.park()
}

/// Lets every other ready greenlet run once (`sleep(0)`).
pub fn yield_now() -> Result<(), Error> {
    sleep(Duration::ZERO)
}

pub(crate) struct TimeoutInner {
    task: Weak<Task>,
    key: Cell<Option<TimerKey>>,
    fired: Cell<bool>,
    interrupted: Cell<bool>,
    /// The next timeout in the task's pending list (see `Task::set_pending_timeout`).
    next_pending: Cell<Option<Rc<TimeoutInner>>>,
}

impl TimeoutInner {
    /// Called by the hub at the deadline.
    pub(crate) fn fire(self: Rc<Self>) {
        self.key.set(None);
        self.fired.set(true);
        let Some(task) = self.task.upgrade() else {
            return;
        };
        if task.wake(Wake::TimedOut) {
            self.interrupted.set(true);
        } else {
            // Not parked now (already woken for another reason): the next wait fails.
            task.set_pending_timeout(self);
        }
    }

    pub(crate) fn mark_interrupted(&self) {
        self.interrupted.set(true);
    }

    /// Empties a pending list into a vector, in order (the lists are a few long).
    pub(crate) fn unlink_all(head: &Cell<Option<Rc<TimeoutInner>>>) -> Vec<Rc<TimeoutInner>> {
        let mut all = Vec::new();
        let mut next = head.take();
        while let Some(timeout) = next {
            next = timeout.next_pending.take();
            all.push(timeout);
        }
        all
    }

    /// Makes `all` the pending list, in order.
    pub(crate) fn link_all(head: &Cell<Option<Rc<TimeoutInner>>>, all: Vec<Rc<TimeoutInner>>) {
        let mut next = None;
        for timeout in all.into_iter().rev() {
            timeout.next_pending.set(next);
            next = Some(timeout);
        }
        head.set(next);
    }

    /// Takes the first timeout off a pending list.
    pub(crate) fn pop_front(head: &Cell<Option<Rc<TimeoutInner>>>) -> Option<Rc<TimeoutInner>> {
        let first = head.take()?;
        head.set(first.next_pending.take());
        Some(first)
    }
}

/// A deadline for the greenlet that armed it (gevent's `Timeout`): when it passes,
/// the wait that greenlet is in (sleep, join, I/O, a queue…) returns
/// [`Error::Timeout`]; if it is not waiting at that moment, its next wait does.
/// Dropping or cancelling it disarms it. Timeouts nest: each interrupts only the
/// waits made while it is armed, and [`Timeout::interrupted`] tells whose it was.
///
/// ```
/// use std::time::Duration;
/// let t = hub::Timeout::start(Duration::from_millis(10));
/// assert_eq!(hub::sleep(Duration::from_secs(5)), Err(hub::Error::Timeout));
/// assert!(t.interrupted());
/// ```
///
/// A deadline that passes while the greenlet computes without waiting is delivered
/// at its next wait, `yield_now()` / `sleep(0)` included. Several timeouts that pass
/// before that are delivered one per wait, in the order they fired: none is lost.
#[must_use = "a Timeout is disarmed when dropped: bind it to a variable (`let _t = ...`) for as long as it should hold"]
pub struct Timeout {
    inner: Rc<TimeoutInner>,
}

impl Timeout {
    /// Arms a timeout of `duration` for the current greenlet.
    #[must_use = "a Timeout is disarmed when dropped: `Timeout::start(d);` arms nothing"]
    pub fn start(duration: Duration) -> Timeout {
        let hub = Hub::current();
        let task = hub
            .current_task()
            .map(|t| Rc::downgrade(&t))
            .unwrap_or_default();
        let inner = Rc::new(TimeoutInner {
            task,
            key: Cell::new(None),
            fired: Cell::new(false),
            interrupted: Cell::new(false),
            next_pending: Cell::new(None),
        });
        let key = hub.timers.borrow_mut().insert(
            deadline_after(duration),
            TimerAction::Timeout(inner.clone()),
        );
        inner.key.set(Some(key));
        Timeout { inner }
    }

    /// Disarms it. A fired timeout that has not interrupted a wait yet no longer will.
    pub fn cancel(&self) {
        if let Some(key) = self.inner.key.take()
            && let Some(hub) = Hub::try_current()
        {
            let action = hub.timers.borrow_mut().remove(key);
            drop(action);
        }
        if let Some(task) = self.inner.task.upgrade() {
            task.clear_pending_timeout(&self.inner);
        }
    }

    /// True once the deadline has passed.
    pub fn fired(&self) -> bool {
        self.inner.fired.get()
    }

    /// True if this timeout made a wait fail.
    pub fn interrupted(&self) -> bool {
        self.inner.interrupted.get()
    }
}

impl Drop for Timeout {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// Runs `f` under a [`Timeout`] of `duration` (gevent's `with_timeout`): `Ok` with
/// its value, or `Err(Error::Timeout)` if the timeout interrupted one of its waits.
///
/// ```
/// use std::time::Duration;
/// let r = hub::with_timeout(Duration::from_millis(10), || hub::sleep(Duration::from_secs(1)));
/// assert_eq!(r, Err(hub::Error::Timeout));
/// let r = hub::with_timeout(Duration::from_secs(1), || 5);
/// assert_eq!(r, Ok(5));
/// ```
pub fn with_timeout<T>(duration: Duration, f: impl FnOnce() -> T) -> Result<T, Error> {
    let timeout = Timeout::start(duration);
    let value = f();
    timeout.cancel();
    if timeout.interrupted() {
        Err(Error::Timeout)
    } else {
        Ok(value)
    }
}
