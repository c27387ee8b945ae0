//! Spawned greenlets: the task record the hub schedules, and the typed handle.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use gen_core::Payload;
use greenlet::{Greenlet, GreenletExit, Value};

use crate::hub::{Hub, Ready};
use crate::timeout::TimeoutInner;
use crate::timer::{TimerAction, TimerGuard};
use crate::wait::{Waiter, Wake};
use crate::{Error, panic_message};

/// What the hub knows of a greenlet it schedules (the root greenlet has one too).
pub(crate) struct Task {
    pub(crate) greenlet: Greenlet,
    /// Stamp of the current wait; bumped when a wait begins and when it ends.
    pub(crate) generation: Cell<u64>,
    /// Switched to the hub inside `Waiter::park`.
    pub(crate) parked: Cell<bool>,
    /// Why the current wait was woken, until the task takes it.
    pub(crate) woken: Cell<Option<Wake>>,
    /// Timeouts that fired while the task was not parked, in firing order (a list
    /// linked through the timeouts): each makes one of its next waits fail.
    pending_timeout: Cell<Option<Rc<TimeoutInner>>>,
    /// The greenlet that parked, when it is not the task's own: a raw
    /// [`Greenlet`] the task switched into, blocking on the hub (gevent's waiter
    /// resumes whichever greenlet waited).
    pub(crate) parked_in: Cell<Option<Greenlet>>,
    /// Set by `kill` before the task first ran: it never will.
    kill_requested: Cell<bool>,
    /// A kill caught inside a C-ABI hook, raised at the next wait (see `hooks`).
    pub(crate) deferred_kill: Cell<bool>,
    done: Cell<bool>,
    /// The task that spawned it (none for the root, or when the hub spawned it).
    pub(crate) spawned_by: Cell<Weak<Task>>,
    /// Where the hub's task list keeps it (see `Hub::register`).
    pub(crate) index: Cell<u32>,
    /// Who to tell when it finishes, in order (gevent's links; a join is one too).
    on_done: Cell<OnDoneList>,
    /// Entered while the task runs, so its events carry the greenlet's id and name;
    /// `None` when no subscriber wants it (boxed: most runs have none).
    pub(crate) span: Option<Box<tracing::Span>>,
    /// Its greenlet-local values (see `hub::local!`), dropped when it finishes.
    pub(crate) locals: crate::local::Locals,
}

/// A task's [`OnDone`] items, in order. Most tasks have none or one (a join), so one
/// is kept inline: joining costs no allocation.
#[derive(Default)]
enum OnDoneList {
    #[default]
    Empty,
    One(OnDone),
    Many(Vec<OnDone>),
}

impl OnDoneList {
    fn push(self, item: OnDone) -> OnDoneList {
        match self {
            OnDoneList::Empty => OnDoneList::One(item),
            OnDoneList::One(first) => OnDoneList::Many(vec![first, item]),
            OnDoneList::Many(mut items) => {
                items.push(item);
                OnDoneList::Many(items)
            }
        }
    }

    fn remove(self, mut unwanted: impl FnMut(&OnDone) -> bool) -> OnDoneList {
        match self {
            OnDoneList::One(item) if unwanted(&item) => OnDoneList::Empty,
            OnDoneList::Many(mut items) => {
                items.retain(|item| !unwanted(item));
                OnDoneList::Many(items)
            }
            other => other,
        }
    }

    /// Calls `f` on every item: the links first, then the joiners' wakes (so the
    /// links, scheduled first, see the result before a joiner takes it).
    fn for_each(self, mut f: impl FnMut(OnDone)) {
        match self {
            OnDoneList::Empty => {}
            OnDoneList::One(item) => f(item),
            OnDoneList::Many(mut items) => {
                // Stable, and in place for the short lists tasks have.
                items.sort_by_key(|item| matches!(item, OnDone::Wake(_)));
                items.into_iter().for_each(f);
            }
        }
    }
}

/// What a finishing task does for each of those waiting on it.
enum OnDone {
    /// Wake a joiner's wait.
    Wake(Waiter),
    /// Schedule a [`JoinHandle::link`] callback on the hub.
    Call(Box<dyn LinkCall>),
}

/// Names one [`JoinHandle::link`] (or `link_*`) callback, for [`JoinHandle::unlink`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkId(u64);

/// A link callback with its id, in one allocation (the task record stays small).
pub(crate) trait LinkCall {
    fn id(&self) -> LinkId;
    fn call(self: Box<Self>);
}

struct Link<F> {
    id: LinkId,
    f: F,
}

impl<F: FnOnce()> LinkCall for Link<F> {
    fn id(&self) -> LinkId {
        self.id
    }

    fn call(self: Box<Self>) {
        (self.f)()
    }
}

thread_local! {
    static NEXT_LINK_ID: Cell<u64> = const { Cell::new(0) };
}

fn new_link<F: FnOnce() + 'static>(f: F) -> Box<dyn LinkCall> {
    let id = NEXT_LINK_ID.with(|n| {
        n.set(n.get() + 1);
        n.get()
    });
    Box::new(Link { id: LinkId(id), f })
}

impl Task {
    pub(crate) fn new(greenlet: Greenlet, span: tracing::Span) -> Rc<Task> {
        Rc::new(Task {
            greenlet,
            generation: Cell::new(0),
            parked: Cell::new(false),
            woken: Cell::new(None),
            pending_timeout: Cell::new(None),
            parked_in: Cell::new(None),
            kill_requested: Cell::new(false),
            deferred_kill: Cell::new(false),
            done: Cell::new(false),
            spawned_by: Cell::new(Weak::new()),
            index: Cell::new(u32::MAX),
            on_done: Cell::new(OnDoneList::Empty),
            span: (!span.is_disabled()).then(|| Box::new(span)),
            locals: crate::local::Locals::default(),
        })
    }

    /// The greenlet's name (kept by the greenlet only: a task's bookkeeping is most of
    /// what an idle greenlet costs besides its stack page).
    pub(crate) fn name(&self) -> Option<&str> {
        self.greenlet.name()
    }

    pub(crate) fn begin_wait(&self) -> u64 {
        let generation = self.generation.get() + 1;
        self.generation.set(generation);
        self.woken.set(None);
        generation
    }

    pub(crate) fn end_wait(&self) {
        self.generation.set(self.generation.get() + 1);
    }

    pub(crate) fn kill_requested(&self) -> bool {
        self.kill_requested.get()
    }

    pub(crate) fn is_resumable(&self, generation: u64) -> bool {
        self.parked.get() && self.generation.get() == generation && self.woken.get().is_some()
    }

    /// Wakes whatever wait the task is parked in; `false` if it is not parked.
    pub(crate) fn wake(self: &Rc<Self>, reason: Wake) -> bool {
        if !self.parked.get() || self.woken.get().is_some() {
            return false;
        }
        self.woken.set(Some(reason));
        Hub::with_current(|hub| hub.schedule(Ready::Resume(self.clone(), self.generation.get())));
        true
    }

    /// Queues a timeout that fired while the task was not parked, behind those
    /// already queued: none is lost, however many fire before the next wait.
    pub(crate) fn set_pending_timeout(&self, timeout: Rc<TimeoutInner>) {
        let mut pending = TimeoutInner::unlink_all(&self.pending_timeout);
        pending.push(timeout);
        TimeoutInner::link_all(&self.pending_timeout, pending);
    }

    /// The oldest pending timeout, if any.
    pub(crate) fn take_pending_timeout(&self) -> Option<Rc<TimeoutInner>> {
        TimeoutInner::pop_front(&self.pending_timeout)
    }

    pub(crate) fn clear_pending_timeout(&self, timeout: &Rc<TimeoutInner>) {
        let mut pending = TimeoutInner::unlink_all(&self.pending_timeout);
        pending.retain(|p| !Rc::ptr_eq(p, timeout));
        TimeoutInner::link_all(&self.pending_timeout, pending);
    }

    /// Marks the task finished and tells everyone waiting for it.
    fn complete(&self) {
        self.done.set(true);
        let on_done = self.on_done.take();
        Hub::with_current(|hub| hub.live_tasks.set(hub.live_tasks.get() - 1));
        on_done.for_each(|item| match item {
            OnDone::Wake(waiter) => {
                waiter.wake();
            }
            OnDone::Call(link) => {
                Hub::with_current(|hub| hub.schedule(Ready::Link(link)));
            }
        });
    }

    pub(crate) fn is_done(&self) -> bool {
        self.done.get()
    }

    /// See [`JoinHandle::kill_nowait`].
    pub(crate) fn kill_nowait(self: &Rc<Self>) {
        self.throw_nowait(Box::new(GreenletExit));
    }

    /// See [`JoinHandle::kill_with_nowait`].
    pub(crate) fn throw_nowait(self: &Rc<Self>, payload: Payload) {
        if self.done.get() {
            return;
        }
        tracing::debug!(greenlet = self.name(), "kill");
        if self.greenlet.is_current() {
            panic::resume_unwind(payload);
        }
        if !self.greenlet.is_started() {
            self.kill_requested.set(true);
        }
        Hub::current().schedule(Ready::Throw(self.clone(), payload));
    }

    fn on_done_push(&self, item: OnDone) {
        let list = self.on_done.take();
        self.on_done.set(list.push(item));
    }

    fn add_joiner(&self, waiter: &Waiter) {
        self.on_done_push(OnDone::Wake(waiter.clone()));
    }

    fn forget_stale_joiners(&self) {
        let list = self.on_done.take();
        let stale = |item: &OnDone| matches!(item, OnDone::Wake(w) if w.is_stale());
        self.on_done.set(list.remove(stale));
    }

    /// Blocks the current task until this one has finished.
    fn wait_done(&self, timeout: Option<Duration>) -> Result<(), Error> {
        while !self.done.get() {
            let waiter = Waiter::new()?;
            self.add_joiner(&waiter);
            let _deadline = timeout.map(|d| TimerGuard::wake_after(d, &waiter));
            let parked = waiter.park();
            self.forget_stale_joiners();
            parked?;
        }
        Ok(())
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        Hub::with_current(|hub| hub.unregister(self));
    }
}

/// Options for spawning: name and stack size.
#[derive(Debug, Default, Clone)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// Default options.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the greenlet: shown in logs, failure reports and overflow messages.
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Stack size in bytes (default [`gen_core::DEFAULT_STACK_SIZE`]).
    pub fn stack_size(mut self, size: usize) -> Builder {
        self.stack_size = Some(size);
        self
    }

    /// Spawns `f` on this thread's hub; it starts at the hub's next turn.
    pub fn spawn<T: 'static>(self, f: impl FnOnce() -> T + 'static) -> JoinHandle<T> {
        let hub = Hub::current();
        let handle = self.prepare(&hub, f);
        hub.schedule(Ready::Start(handle.task.clone()));
        handle
    }

    /// Spawns `f` to start after `delay` (gevent's `spawn_later`).
    pub fn spawn_later<T: 'static>(
        self,
        delay: Duration,
        f: impl FnOnce() -> T + 'static,
    ) -> JoinHandle<T> {
        let hub = Hub::current();
        let handle = self.prepare(&hub, f);
        let task = handle.task.clone();
        hub.timers.borrow_mut().insert_call(
            crate::timer::deadline_after(delay),
            Box::new(move || {
                if let Some(hub) = Hub::try_current() {
                    hub.schedule(Ready::Start(task));
                }
            }),
        );
        handle
    }

    fn prepare<T: 'static>(self, hub: &Hub, f: impl FnOnce() -> T + 'static) -> JoinHandle<T> {
        let mut builder = Greenlet::builder().parent(&hub.greenlet);
        if let Some(n) = self.name {
            builder = builder.name(n);
        }
        if let Some(size) = self.stack_size {
            builder = builder.stack_size(size);
        }
        // One allocation shared by the handle and the body: a greenlet's bookkeeping is
        // most of what an idle one costs besides its stack page.
        let outcome = Rc::new(Outcome {
            task: Cell::new(Weak::new()),
            result: RefCell::new(None),
            result_links: Cell::new(0),
            observed: Cell::new(false),
            unreported: Cell::new(None),
        });
        let finisher = Finisher {
            outcome: outcome.clone(),
        };
        let greenlet = builder.spawn(move |_| {
            let finisher = finisher;
            let result = match panic::catch_unwind(AssertUnwindSafe(f)) {
                Ok(value) => Ok(value),
                Err(p) if p.is::<GreenletExit>() => Err(Error::Killed),
                Err(p) => Err(Error::Panicked(p)),
            };
            let failure = crate::report::describe(&result);
            finisher.finish(result, failure);
            // Back to the hub: no task runs there (see `Waiter::park`).
            Hub::with_current(|hub| hub.current.replace(None));
            Value::none()
        });
        let id = hub.new_task_id();
        let span = tracing::info_span!("greenlet", id, name = greenlet.name());
        let task = Task::new(greenlet, span);
        if let Some(parent) = hub.current.borrow().as_ref() {
            task.spawned_by.set(Rc::downgrade(parent));
        }
        hub.register(&task);
        outcome.task.set(Rc::downgrade(&task));
        hub.live_tasks.set(hub.live_tasks.get() + 1);
        tracing::trace!(id, greenlet = task.name(), "spawn");
        JoinHandle {
            task,
            slot: outcome,
        }
    }
}

/// A spawned greenlet's result, and the way from its body back to its task.
struct Outcome<T> {
    /// Set once the task exists; taken when the result is stored.
    task: Cell<Weak<Task>>,
    result: RefCell<Option<Result<T, Error>>>,
    /// `link_result` callbacks not yet run or dropped: a `join` lets them see the
    /// result before it takes it.
    result_links: Cell<u32>,
    /// Someone joined, waited for or linked to it: a failure is theirs to see.
    observed: Cell<bool>,
    /// The report of a failure, sent when the outcome is dropped unobserved.
    unreported: Cell<Option<Failure>>,
}

/// A failed greenlet's name and error, kept for its report.
type Failure = (Option<Box<str>>, Box<str>);

impl<T> Outcome<T> {
    fn observe(&self) {
        self.observed.set(true);
    }
}

impl<T> Drop for Outcome<T> {
    fn drop(&mut self) {
        if let Some((name, error)) = self.unreported.take()
            && !self.observed.get()
        {
            crate::report::emit(name.as_deref(), &error);
        }
    }
}

/// Counts a `link_result` callback while it exists (run, unlinked or dropped).
struct ResultLink<T>(Rc<Outcome<T>>);

impl<T> ResultLink<T> {
    fn new(outcome: &Rc<Outcome<T>>) -> ResultLink<T> {
        outcome.result_links.set(outcome.result_links.get() + 1);
        ResultLink(outcome.clone())
    }
}

impl<T> Drop for ResultLink<T> {
    fn drop(&mut self) {
        self.0.result_links.set(self.0.result_links.get() - 1);
    }
}

/// Stores a task's result and wakes its joiners. Dropped without finishing (the task
/// was killed before it ran), it records [`Error::Killed`].
struct Finisher<T> {
    outcome: Rc<Outcome<T>>,
}

impl<T> Finisher<T> {
    fn finish(&self, result: Result<T, Error>, failure: Option<String>) {
        let task = self.outcome.task.replace(Weak::new()).upgrade();
        // Killed inside a hook, and its function returned before any wait re-raised it.
        let result = match result {
            Ok(_) if task.as_ref().is_some_and(|t| t.deferred_kill.get()) => Err(Error::Killed),
            other => other,
        };
        if let Some(error) = failure {
            let name = task.as_ref().and_then(|t| t.name()).map(Box::from);
            self.outcome.unreported.set(Some((name, error.into())));
        }
        if let Err(Error::Panicked(p)) = &result {
            tracing::error!(
                "<Greenlet {}> failed with {}",
                task.as_ref().and_then(|t| t.name()).unwrap_or("<unnamed>"),
                panic_message(p)
            );
        }
        *self.outcome.result.borrow_mut() = Some(result);
        if let Some(task) = task {
            task.locals.clear();
            task.complete();
        }
    }
}

impl<T> Drop for Finisher<T> {
    fn drop(&mut self) {
        if self.outcome.result.borrow().is_none() {
            self.finish(Err(Error::Killed), None);
        }
    }
}

/// Spawns `f` on this thread's hub (gevent's `spawn`).
///
/// ```
/// let h = hub::spawn(|| 6 * 7);
/// assert_eq!(h.join().unwrap(), 42);
/// ```
pub fn spawn<T: 'static>(f: impl FnOnce() -> T + 'static) -> JoinHandle<T> {
    Builder::new().spawn(f)
}

/// Spawns `f` to start after `delay` (gevent's `spawn_later`).
pub fn spawn_later<T: 'static>(delay: Duration, f: impl FnOnce() -> T + 'static) -> JoinHandle<T> {
    Builder::new().spawn_later(delay, f)
}

/// A spawned greenlet: wait for it, take its result, kill it, link callbacks.
pub struct JoinHandle<T> {
    task: Rc<Task>,
    slot: Rc<Outcome<T>>,
}

impl<T> JoinHandle<T> {
    /// Waits for the greenlet to finish and takes its result: its value, or
    /// [`Error::Panicked`] (with the payload), [`Error::Killed`],
    /// [`Error::WouldBlockForever`]. A result already taken is [`Error::Taken`].
    pub fn join(&self) -> Result<T, Error> {
        self.slot.observe();
        self.task.wait_done(None)?;
        self.wait_result_links()?;
        self.take_result().unwrap_or(Err(Error::Taken))
    }

    /// Like [`join`](Self::join), giving up with [`Error::Timeout`] after `timeout`
    /// (the greenlet keeps running).
    pub fn join_timeout(&self, timeout: Duration) -> Result<T, Error> {
        self.slot.observe();
        self.task.wait_done(Some(timeout))?;
        self.wait_result_links()?;
        self.take_result().unwrap_or(Err(Error::Taken))
    }

    /// Lets the [`link_result`](Self::link_result) callbacks of a finished greenlet
    /// run (they are queued on the hub) before its result is taken.
    fn wait_result_links(&self) -> Result<(), Error> {
        while self.slot.result_links.get() > 0 && self.task.done.get() {
            match crate::yield_now() {
                // A hub callback (a link itself) cannot yield: it takes the result now.
                Err(Error::BlockingInHub) => break,
                other => other?,
            }
        }
        Ok(())
    }

    /// Waits until the greenlet has finished without taking its result (gevent's
    /// `join(timeout)`).
    pub fn wait(&self, timeout: Option<Duration>) -> Result<(), Error> {
        self.slot.observe();
        self.task.wait_done(timeout)
    }

    /// True once it has finished (gevent's `ready()`).
    pub fn is_ready(&self) -> bool {
        self.task.done.get()
    }

    /// True once it has finished with a value (gevent's `successful()`).
    pub fn is_successful(&self) -> bool {
        matches!(&*self.slot.result.borrow(), Some(Ok(_)))
    }

    /// Takes the result if it has finished and the result is still there.
    pub fn take_result(&self) -> Option<Result<T, Error>> {
        self.slot.observe();
        self.slot.result.borrow_mut().take()
    }

    /// A copy of its value, if it finished with one (gevent's `value`).
    pub fn value(&self) -> Option<T>
    where
        T: Clone,
    {
        match &*self.slot.result.borrow() {
            Some(Ok(v)) => Some(v.clone()),
            _ => None,
        }
    }

    /// Kills it and waits until it is dead (gevent's `kill(block=True)`): its wait, if
    /// any, unwinds with `GreenletExit`; its destructors run; `join` gives
    /// [`Error::Killed`]. Killing a finished greenlet does nothing; one that has not
    /// started never runs. Killing the current greenlet unwinds it at once.
    pub fn kill(&self) -> Result<(), Error> {
        self.kill_nowait();
        self.task.wait_done(None)
    }

    /// Kills it, waiting at most `timeout` for it to die.
    pub fn kill_timeout(&self, timeout: Duration) -> Result<(), Error> {
        self.kill_nowait();
        self.task.wait_done(Some(timeout))
    }

    /// Asks the hub to kill it and returns at once (gevent's `kill(block=False)`).
    pub fn kill_nowait(&self) {
        self.task.kill_nowait();
    }

    /// Kills it with a payload of the caller's choice instead of `GreenletExit`
    /// (gevent's `kill(exception)`), waiting at most `timeout` for it to die. The
    /// payload unwinds its stack from the wait it is in; unless the greenlet catches
    /// it, `join` gives [`Error::Panicked`] with that payload. A greenlet that has not
    /// started never runs, and `join` gives [`Error::Killed`] whatever the payload.
    ///
    /// ```
    /// #[derive(Debug)]
    /// struct Shutdown;
    /// let h = hub::spawn(|| hub::sleep(std::time::Duration::from_secs(60)));
    /// hub::yield_now().unwrap(); // let it start
    /// h.kill_with(Shutdown, None).unwrap();
    /// match h.join() {
    ///     Err(hub::Error::Panicked(p)) => assert!(p.is::<Shutdown>()),
    ///     other => panic!("{other:?}"),
    /// }
    /// ```
    pub fn kill_with<E: Any + Send>(
        &self,
        error: E,
        timeout: Option<Duration>,
    ) -> Result<(), Error> {
        self.kill_with_nowait(error);
        self.task.wait_done(timeout)
    }

    /// [`kill_with`](Self::kill_with) without waiting (gevent's
    /// `kill(exception, block=False)`).
    pub fn kill_with_nowait<E: Any + Send>(&self, error: E) {
        self.task.throw_nowait(Box::new(error));
    }

    /// Runs `f` on the hub once the greenlet has finished (gevent's `link`). It must not
    /// block. Linking a finished greenlet schedules `f` at once (and it can no longer
    /// be unlinked). Links run before the greenlet's joiners resume.
    pub fn link(&self, f: impl FnOnce() + 'static) -> LinkId {
        self.slot.observe();
        self.link_quietly(f)
    }

    /// [`link`](Self::link) for the crate's own bookkeeping (a group's membership),
    /// which must not count as someone looking at the result.
    pub(crate) fn link_quietly(&self, f: impl FnOnce() + 'static) -> LinkId {
        let link = new_link(f);
        let id = link.id();
        if self.task.done.get() {
            Hub::current().schedule(Ready::Link(link));
        } else {
            self.task.on_done_push(OnDone::Call(link));
        }
        id
    }

    /// Runs `f` on the hub with the outcome once the greenlet has finished (gevent's
    /// `link(callback)`, the callback reading `g.value` / `g.exception`). A `join`
    /// lets these callbacks run before it takes the result; if the result was taken
    /// otherwise first ([`take_result`](Self::take_result), or linking after a join),
    /// `f` gets [`Error::Taken`].
    ///
    /// ```
    /// use std::{cell::RefCell, rc::Rc};
    /// let seen = Rc::new(RefCell::new(String::new()));
    /// let h = hub::spawn(|| 6 * 7);
    /// let s = seen.clone();
    /// h.link_result(move |r| *s.borrow_mut() = format!("{r:?}"));
    /// assert_eq!(h.join().unwrap(), 42);
    /// assert_eq!(*seen.borrow(), "Ok(42)");
    /// ```
    pub fn link_result(&self, f: impl FnOnce(Result<&T, &Error>) + 'static) -> LinkId
    where
        T: 'static,
    {
        let link = ResultLink::new(&self.slot);
        self.link(move || {
            let slot = &link.0;
            // Out of the cell while `f` runs, so that `f` may use a clone of the handle.
            let result = slot.result.borrow_mut().take();
            match &result {
                Some(Ok(value)) => f(Ok(value)),
                Some(Err(e)) => f(Err(e)),
                None => f(Err(&Error::Taken)),
            }
            let mut cell = slot.result.borrow_mut();
            if cell.is_none() {
                *cell = result;
            }
        })
    }

    /// Runs `f` with the value once the greenlet has finished with one (gevent's
    /// `link_value`); not at all if it failed.
    pub fn link_value(&self, f: impl FnOnce(&T) + 'static) -> LinkId
    where
        T: 'static,
    {
        self.link_result(move |r| {
            if let Ok(value) = r {
                f(value)
            }
        })
    }

    /// Runs `f` with the error once the greenlet has failed (panicked, killed)
    /// (gevent's `link_exception`); not at all if it returned a value.
    pub fn link_exception(&self, f: impl FnOnce(&Error) + 'static) -> LinkId
    where
        T: 'static,
    {
        self.link_result(move |r| match r {
            Err(Error::Taken) | Ok(_) => {}
            Err(e) => f(e),
        })
    }

    /// Removes a link that has not run yet (gevent's `unlink`); `false` if it has run,
    /// is scheduled to, or is not one of this greenlet's.
    pub fn unlink(&self, id: LinkId) -> bool {
        let list = self.task.on_done.take();
        let mut found = false;
        let list = list.remove(|item| {
            let hit = matches!(item, OnDone::Call(link) if link.id() == id);
            found |= hit;
            hit
        });
        self.task.on_done.set(list);
        found
    }

    /// Its name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        self.task.name()
    }

    pub(crate) fn task(&self) -> &Rc<Task> {
        &self.task
    }
}

/// Clones share the greenlet and its one result: the first `join` takes it, later
/// ones get [`Error::Taken`] (use [`JoinHandle::wait`] and [`JoinHandle::value`] to
/// read it from several places).
impl<T> Clone for JoinHandle<T> {
    fn clone(&self) -> Self {
        JoinHandle {
            task: self.task.clone(),
            slot: self.slot.clone(),
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("name", &self.task.name())
            .field("ready", &self.task.done.get())
            .finish()
    }
}

/// Waits for greenlets to finish (gevent's `joinall`): until all have, or `count` of
/// them have, or `timeout` passes. Returns the indexes of those that have finished,
/// in order; its own `timeout` passing is not an error (as in gevent), but a wait
/// that could never end is [`Error::WouldBlockForever`], and a [`crate::Timeout`] of
/// the caller's that fires meanwhile is [`Error::Timeout`]: never swallowed.
pub fn joinall<'a, T: 'a>(
    handles: impl IntoIterator<Item = &'a JoinHandle<T>>,
    timeout: Option<Duration>,
    count: Option<usize>,
) -> Result<Vec<usize>, Error> {
    let tasks: Vec<&Rc<Task>> = handles
        .into_iter()
        .map(|h| {
            h.slot.observe();
            h.task()
        })
        .collect();
    let wanted = count.unwrap_or(tasks.len()).min(tasks.len());
    let deadline = timeout.map(crate::timer::deadline_after);
    loop {
        let finished: Vec<usize> = (0..tasks.len()).filter(|&i| tasks[i].done.get()).collect();
        if finished.len() >= wanted {
            return Ok(finished);
        }
        let waiter = Waiter::new()?;
        for task in tasks.iter().filter(|t| !t.done.get()) {
            task.add_joiner(&waiter);
        }
        // Our own deadline wakes us as a plain notification: an `Error::Timeout` out
        // of the park is then always a `Timeout` of the caller's, never swallowed.
        let _deadline = deadline
            .map(|at| TimerGuard::arm(at, TimerAction::Wake(waiter.clone(), Wake::Notified)));
        let parked = waiter.park();
        for task in &tasks {
            task.forget_stale_joiners();
        }
        parked?;
        if deadline.is_some_and(|at| Instant::now() >= at) {
            return Ok((0..tasks.len()).filter(|&i| tasks[i].done.get()).collect());
        }
    }
}

/// Kills every greenlet and waits for them all to die (gevent's `killall`), at most
/// `timeout` if one is given.
pub fn killall<'a, T: 'a>(
    handles: impl IntoIterator<Item = &'a JoinHandle<T>>,
    timeout: Option<Duration>,
) -> Result<(), Error> {
    let handles: Vec<&JoinHandle<T>> = handles.into_iter().collect();
    for h in &handles {
        h.kill_nowait();
    }
    let done = joinall(handles.iter().copied(), timeout, None)?;
    if done.len() == handles.len() {
        Ok(())
    } else {
        Err(Error::Timeout)
    }
}

/// Ready once the greenlet has finished.
impl<T> crate::Waitable for JoinHandle<T> {
    fn is_ready(&self) -> bool {
        self.task.done.get()
    }

    fn subscribe(&self, waiter: &Waiter) {
        self.task.add_joiner(waiter);
    }

    fn unsubscribe(&self, _waiter: &Waiter) {
        self.task.forget_stale_joiners();
    }
}
