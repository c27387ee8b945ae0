//! Parking and waking: the one primitive every blocking call is built on.
//!
//! A [`Waiter`] names *one* wait of one task: making it stamps the task with a new
//! generation, parking switches to the hub, and [`Waiter::wake`] from anywhere on the
//! hub's thread schedules the task back. A waiter whose wait has ended (woken, timed
//! out, killed) is stale: waking it returns `false` and does nothing, so a primitive
//! that hands out items or permits can move on to the next waiter and lose nothing.

use std::fmt;
use std::rc::Rc;

use crate::Error;
use crate::hub::{Hub, Ready, switch_to_hub};
use crate::task::Task;

/// Why a parked task was resumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    Notified,
    TimedOut,
    LoopExit,
}

/// A token for the current task's next [`park`](Waiter::park); clones wake the same wait.
#[derive(Clone)]
pub struct Waiter {
    task: Rc<Task>,
    generation: u64,
}

impl Waiter {
    /// A waiter for the running task. Fails with [`Error::BlockingInHub`] when called
    /// from code the hub itself runs (a callback), which has no task to park, and
    /// with [`Error::HubGone`] while the thread exits.
    pub fn new() -> Result<Waiter, Error> {
        let hub = Hub::current_or_gone()?;
        let task = hub.current_task().ok_or(Error::BlockingInHub)?;
        let generation = task.begin_wait();
        Ok(Waiter { task, generation })
    }

    /// Wakes the wait this waiter names. Returns `false`, doing nothing, if that wait
    /// is over or was already woken.
    pub fn wake(&self) -> bool {
        self.wake_with(Wake::Notified)
    }

    pub(crate) fn wake_with(&self, reason: Wake) -> bool {
        let task = &self.task;
        if task.generation.get() != self.generation || task.woken.get().is_some() {
            return false;
        }
        task.woken.set(Some(reason));
        if task.parked.get() {
            Hub::with_current(|hub| hub.schedule(Ready::Resume(task.clone(), self.generation)));
        }
        true
    }

    /// The task whose wait this is (for [`crate::run_info`]).
    pub(crate) fn task(&self) -> &Rc<Task> {
        &self.task
    }

    /// True once the wait is over: waking it would do nothing.
    pub fn is_stale(&self) -> bool {
        self.task.generation.get() != self.generation || self.task.woken.get().is_some()
    }

    /// True if both name the same wait.
    pub fn same_wait(&self, other: &Waiter) -> bool {
        Rc::ptr_eq(&self.task, &other.task) && self.generation == other.generation
    }

    /// Switches to the hub until this waiter is woken. `Err(Error::Timeout)` if a
    /// [`crate::Timeout`] or an operation's deadline fired first;
    /// `Err(Error::WouldBlockForever)` if nothing could ever wake it. A kill unwinds
    /// from here.
    pub fn park(&self) -> Result<(), Error> {
        self.park_inner(false, true)
    }

    /// Parks after scheduling our own wake-up: lets every other ready task run first.
    pub(crate) fn yield_now(&self) -> Result<(), Error> {
        self.park_inner(true, true)
    }

    /// Like [`yield_now`](Self::yield_now), leaving a deadline that passes meanwhile
    /// for the next wait: for an operation that has already done its work and only
    /// lets the greenlets it woke run first.
    pub(crate) fn yield_keeping_timeouts(&self) {
        let _ = self.park_inner(true, false);
    }

    fn park_inner(&self, yield_first: bool, deliver_timeouts: bool) -> Result<(), Error> {
        let task = &self.task;
        assert!(
            task.generation.get() == self.generation,
            "park on a stale waiter"
        );
        if std::thread::panicking() {
            // A destructor of a dying greenlet tried to block: it cannot switch away
            // mid-unwind, and it is being killed anyway.
            task.end_wait();
            return Err(Error::Killed);
        }
        if task.deferred_kill.take() {
            // A kill caught inside a C-ABI hook (see `hooks`): raised here, in Rust code.
            task.end_wait();
            std::panic::resume_unwind(Box::new(greenlet::GreenletExit));
        }
        let hub = Hub::current();
        if deliver_timeouts
            && task.woken.get().is_none()
            && let Some(timeout) = task.take_pending_timeout()
        {
            task.end_wait();
            timeout.mark_interrupted();
            return Err(Error::Timeout);
        }
        if yield_first {
            task.woken.set(Some(Wake::Notified));
        }
        if task.woken.get().is_none() || yield_first {
            task.parked.set(true);
            if !task.greenlet.is_current() {
                // A raw greenlet of this task waits: the hub must resume it, not the
                // task's own greenlet (which is suspended in its switch into this one).
                task.parked_in.set(Some(greenlet::getcurrent()));
            }
            if yield_first {
                hub.schedule(Ready::Resume(task.clone(), self.generation));
            }
            let _unpark = Unpark(task);
            // Nothing runs as a task while the hub does (the hub's own `enter` clears
            // it too, but a hub callback that switched into us directly does not).
            hub.current.replace(None);
            switch_to_hub(&hub);
            if task.woken.get().is_none() {
                // Nobody woke this wait: some greenlet switched into us directly
                // (gevent's `InvalidSwitchError`). We run now, whoever did it.
                *hub.current.borrow_mut() = Some(task.clone());
                task.end_wait();
                return Err(Error::InvalidSwitch);
            }
        }
        let woken = task.woken.take();
        task.end_wait();
        match woken {
            Some(Wake::Notified) | None => {
                // A deadline that passed while we yielded is delivered now, as
                // gevent's `sleep(0)` raises it.
                if yield_first
                    && deliver_timeouts
                    && let Some(timeout) = task.take_pending_timeout()
                {
                    timeout.mark_interrupted();
                    return Err(Error::Timeout);
                }
                Ok(())
            }
            Some(Wake::TimedOut) => Err(Error::Timeout),
            Some(Wake::LoopExit) => Err(Error::WouldBlockForever),
        }
    }
}

impl fmt::Debug for Waiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiter")
            .field("task", &self.task.name())
            .field("generation", &self.generation)
            .field("stale", &self.is_stale())
            .finish()
    }
}

/// Clears the parked flag however the park ends, unwinding (kill) included, and
/// makes every outstanding copy of the waiter stale.
struct Unpark<'a>(&'a Task);

impl Drop for Unpark<'_> {
    fn drop(&mut self) {
        self.0.parked.set(false);
        drop(self.0.parked_in.take());
        if std::thread::panicking() {
            self.0.woken.set(None);
            self.0.end_wait();
        }
    }
}
