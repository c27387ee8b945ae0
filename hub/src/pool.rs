//! `Group` and `Pool`: sets of greenlets joined and killed together, the pool with at
//! most n running at once (gevent's `gevent.pool`), plus `map`, `imap` and
//! `imap_unordered` over them.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use crate::sync::{Queue, QueueError, Semaphore, WaitList, deadline};
use crate::task::Task;
use crate::{Error, JoinHandle};

type Job<R> = Box<dyn FnOnce() -> R>;

/// A set of greenlets to wait for or kill together (gevent's `gevent.pool.Group`).
/// Greenlets leave it when they finish. Clones share the set.
///
/// ```
/// let group = hub::Group::new();
/// let a = group.spawn(|| 1).unwrap();
/// let b = group.spawn(|| 2).unwrap();
/// group.join(None).unwrap();
/// assert!(group.is_empty());
/// assert_eq!(a.join().unwrap() + b.join().unwrap(), 3);
/// // map keeps the input order.
/// assert_eq!(group.map(|x: u32| x * 10, 1..=3).unwrap(), [10, 20, 30]);
/// ```
#[derive(Clone, Default)]
pub struct Group {
    inner: Rc<GroupInner>,
}

#[derive(Default)]
struct GroupInner {
    /// Members not yet seen finishing, by task address.
    members: RefCell<HashMap<usize, Rc<Task>>>,
    /// Greenlets in `join`/`kill`, woken when at most one member is left.
    joiners: WaitList<()>,
    /// Members already killed and not yet gone: a second `kill` does not shoot them
    /// again (gevent's `dying`), so each gets one `GreenletExit`.
    dying: RefCell<HashSet<usize>>,
}

fn key(task: &Rc<Task>) -> usize {
    Rc::as_ptr(task) as usize
}

impl Group {
    /// An empty group.
    pub fn new() -> Group {
        Group::default()
    }

    /// Spawns `f` as a member (gevent's `group.spawn`). It never fails: the `Result`
    /// is [`Pool::spawn`]'s type, so that code can take either.
    pub fn spawn<T: 'static>(
        &self,
        f: impl FnOnce() -> T + 'static,
    ) -> Result<JoinHandle<T>, Error> {
        Ok(self.spawn_member(f))
    }

    fn spawn_member<T: 'static>(&self, f: impl FnOnce() -> T + 'static) -> JoinHandle<T> {
        let handle = crate::spawn(f);
        self.add(&handle);
        handle
    }

    /// Runs `f` in a member greenlet and waits for its result (gevent's `apply`); in
    /// a member already, runs it right here (a member waiting on the group for
    /// itself could deadlock a pool).
    pub fn apply<T: 'static>(&self, f: impl FnOnce() -> T + 'static) -> Result<T, Error> {
        if self.current_is_member() {
            return Ok(f());
        }
        self.spawn_member(f).join()
    }

    /// Spawns `f` as a member and returns its handle at once (gevent's `apply_async`;
    /// the handle is the `AsyncResult`: `join`, `wait`, `link_result`…).
    pub fn apply_async<T: 'static>(
        &self,
        f: impl FnOnce() -> T + 'static,
    ) -> Result<JoinHandle<T>, Error> {
        self.spawn(f)
    }

    fn current_is_member(&self) -> bool {
        self.inner
            .members
            .borrow()
            .values()
            .any(|task| task.greenlet.is_current())
    }

    /// Makes a greenlet a member until it finishes (gevent's `add`). Adding a finished
    /// greenlet does nothing.
    pub fn add<T>(&self, handle: &JoinHandle<T>) {
        let task = handle.task();
        if task.is_done() {
            return;
        }
        let k = key(task);
        if self
            .inner
            .members
            .borrow_mut()
            .insert(k, task.clone())
            .is_some()
        {
            return; // already a member, already linked
        }
        let group = Rc::downgrade(&self.inner);
        handle.link_quietly(move || {
            if let Some(inner) = group.upgrade() {
                GroupInner::remove(&inner, k);
            }
        });
    }

    /// Stops tracking a greenlet (gevent's `discard`); it keeps running.
    pub fn discard<T>(&self, handle: &JoinHandle<T>) {
        GroupInner::remove(&self.inner, key(handle.task()));
    }

    /// True if the greenlet is a member.
    pub fn contains<T>(&self, handle: &JoinHandle<T>) -> bool {
        self.inner
            .members
            .borrow()
            .contains_key(&key(handle.task()))
    }

    /// Members now. A greenlet leaves at the hub's next turn after it finishes.
    pub fn len(&self) -> usize {
        self.inner.members.borrow().len()
    }

    /// True if it has no member.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Parks until every member has finished, or `timeout` passes (gevent's
    /// `join`). Waiting from inside a member would wait for itself: it ends in
    /// [`Error::WouldBlockForever`] or a timeout.
    pub fn join(&self, timeout: Option<Duration>) -> Result<(), Error> {
        self.wait_until_at_most(0, timeout)
    }

    /// Kills every member except the calling greenlet and waits for them to die, at
    /// most `timeout` (gevent's `kill`).
    pub fn kill(&self, timeout: Option<Duration>) -> Result<(), Error> {
        let members: Vec<Rc<Task>> = self.inner.members.borrow().values().cloned().collect();
        let mut me = false;
        for task in &members {
            if task.greenlet.is_current() {
                me = true;
            } else if self.inner.dying.borrow_mut().insert(key(task)) {
                task.kill_nowait();
            }
        }
        drop(members);
        self.wait_until_at_most(usize::from(me), timeout)
    }

    /// Kills one member and waits for it to die, at most `timeout` (gevent's
    /// `killone`). A member already being killed by the group is not shot again; a
    /// greenlet that is not a member is left alone.
    pub fn killone<T>(
        &self,
        handle: &JoinHandle<T>,
        timeout: Option<Duration>,
    ) -> Result<(), Error> {
        let task = handle.task();
        let k = key(task);
        if !self.inner.members.borrow().contains_key(&k) {
            return Ok(());
        }
        if self.inner.dying.borrow_mut().insert(k) {
            task.kill_nowait();
        }
        handle.wait(timeout)
    }

    fn wait_until_at_most(&self, left: usize, timeout: Option<Duration>) -> Result<(), Error> {
        let deadline = deadline(timeout);
        while self.len() > left {
            self.inner.joiners.wait(None, deadline, drop).0?;
        }
        Ok(())
    }

    /// Runs `f` on every item, each in a member greenlet, all at once, and returns the
    /// results in input order (gevent's `map`). The first failure (a panic in `f`, a
    /// wait interrupted) is returned, and the jobs still running are killed.
    pub fn map<I, R, F>(&self, f: F, items: I) -> Result<Vec<R>, Error>
    where
        I: IntoIterator,
        I::Item: 'static,
        R: 'static,
        F: Fn(I::Item) -> R + 'static,
    {
        self.imap(f, items).collect()
    }

    /// Like [`map`](Self::map), lazily: each `next` yields the next result in input
    /// order as soon as it is ready (gevent's `imap`). A group has no bound, so the
    /// first `next` spawns a job for every item; use a [`Pool`] for a long or endless
    /// input. Dropping the iterator kills the jobs still running.
    pub fn imap<'a, I, R, F>(&self, f: F, items: I) -> Imap<'a, R>
    where
        I: IntoIterator + 'a,
        I::Item: 'static,
        R: 'static,
        F: Fn(I::Item) -> R + 'static,
    {
        Imap::new(Spawner::Group(self.clone()), jobs(f, items))
    }

    /// Like [`imap`](Self::imap), yielding results in the order they finish (gevent's
    /// `imap_unordered`).
    pub fn imap_unordered<'a, I, R, F>(&self, f: F, items: I) -> ImapUnordered<'a, R>
    where
        I: IntoIterator + 'a,
        I::Item: 'static,
        R: 'static,
        F: Fn(I::Item) -> R + 'static,
    {
        ImapUnordered::new(Spawner::Group(self.clone()), jobs(f, items))
    }
}

impl GroupInner {
    fn remove(inner: &Rc<GroupInner>, k: usize) {
        let removed = inner.members.borrow_mut().remove(&k);
        drop(removed);
        inner.dying.borrow_mut().remove(&k);
        if inner.members.borrow().len() <= 1 {
            inner.joiners.wake_all();
        }
    }
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group").field("len", &self.len()).finish()
    }
}

/// A [`Group`] that runs at most `size` greenlets at once (gevent's
/// `gevent.pool.Pool`): [`spawn`](Self::spawn) parks while the pool is full. Clones
/// share the pool.
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use std::time::Duration;
///
/// let pool = hub::Pool::new(2);
/// let (running, most) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
/// let out = pool.map(move |i: u32| {
///     running.set(running.get() + 1);
///     most.set(most.get().max(running.get()));
///     assert!(running.get() <= 2);
///     hub::sleep(Duration::from_millis(1)).unwrap();
///     running.set(running.get() - 1);
///     i * i
/// }, 0..6).unwrap();
/// assert_eq!(out, [0, 1, 4, 9, 16, 25]);
/// ```
#[derive(Clone)]
pub struct Pool {
    group: Group,
    slots: Semaphore,
    size: usize,
}

impl Pool {
    /// A pool running at most `size` greenlets at once.
    ///
    /// # Panics
    /// If `size` is 0.
    pub fn new(size: usize) -> Pool {
        assert!(size > 0, "a pool needs room for at least one greenlet");
        Pool {
            group: Group::new(),
            slots: Semaphore::new(size),
            size,
        }
    }

    /// Spawns `f` once a slot is free, parking until then (gevent's `pool.spawn`).
    /// The slot is freed when `f` returns, panics or is killed.
    pub fn spawn<T: 'static>(
        &self,
        f: impl FnOnce() -> T + 'static,
    ) -> Result<JoinHandle<T>, Error> {
        self.slots.acquire(None)?;
        Ok(self.spawn_in_slot(f))
    }

    /// Runs `f` in the pool once a slot is free and waits for its result (gevent's
    /// `apply`). In a member greenlet of this pool it runs `f` right here: waiting
    /// for a slot held by the caller itself could never end.
    ///
    /// ```
    /// let pool = hub::Pool::new(1);
    /// assert_eq!(pool.apply(|| 6 * 7).unwrap(), 42);
    /// let p = pool.clone();
    /// // Nested in a member of a full pool: runs inline instead of deadlocking.
    /// assert_eq!(pool.apply(move || p.apply(|| 1).unwrap()).unwrap(), 1);
    /// ```
    pub fn apply<T: 'static>(&self, f: impl FnOnce() -> T + 'static) -> Result<T, Error> {
        if self.group.current_is_member() {
            return Ok(f());
        }
        self.spawn(f)?.join()
    }

    /// Spawns `f` once a slot is free and returns its handle (gevent's
    /// `apply_async`; the handle is the `AsyncResult`: `join`, `wait`,
    /// `link_result`…).
    pub fn apply_async<T: 'static>(
        &self,
        f: impl FnOnce() -> T + 'static,
    ) -> Result<JoinHandle<T>, Error> {
        self.spawn(f)
    }

    /// See [`Group::killone`].
    pub fn killone<T>(
        &self,
        handle: &JoinHandle<T>,
        timeout: Option<Duration>,
    ) -> Result<(), Error> {
        self.group.killone(handle, timeout)
    }

    /// Spawns `f` if a slot is free now.
    pub fn try_spawn<T: 'static>(&self, f: impl FnOnce() -> T + 'static) -> Option<JoinHandle<T>> {
        self.slots.try_acquire().then(|| self.spawn_in_slot(f))
    }

    /// Spawns `f` in a slot already acquired.
    fn spawn_in_slot<T: 'static>(&self, f: impl FnOnce() -> T + 'static) -> JoinHandle<T> {
        self.spawn_with_slot(Slot(self.slots.clone()), f)
    }

    /// Spawns `f` holding `slot`.
    fn spawn_with_slot<T: 'static>(
        &self,
        slot: Slot,
        f: impl FnOnce() -> T + 'static,
    ) -> JoinHandle<T> {
        self.group.spawn_member(move || {
            let _slot = slot; // freed however the greenlet ends, or if it never starts
            f()
        })
    }

    /// Makes a running greenlet a member, waiting for a slot for it first (gevent's
    /// `pool.add`); the slot is freed when it finishes.
    pub fn add<T>(&self, handle: &JoinHandle<T>) -> Result<(), Error> {
        if handle.is_ready() || self.group.contains(handle) {
            return Ok(());
        }
        self.slots.acquire(None)?;
        self.group.add(handle);
        let slot = Slot(self.slots.clone());
        handle.link_quietly(move || drop(slot));
        Ok(())
    }

    /// Parks until a slot is free, or `timeout` passes, without taking it (gevent's
    /// `wait_available`); returns the free slots.
    pub fn wait_available(&self, timeout: Option<Duration>) -> Result<usize, Error> {
        if self.slots.available() == 0 {
            self.slots.acquire(timeout)?;
            self.slots.release();
        }
        Ok(self.slots.available())
    }

    /// Free slots now (gevent's `free_count`).
    pub fn free_count(&self) -> usize {
        self.slots.available()
    }

    /// True if no slot is free (gevent's `full`).
    pub fn is_full(&self) -> bool {
        self.free_count() == 0
    }

    /// The most greenlets it runs at once.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Members now; see [`Group::len`].
    pub fn len(&self) -> usize {
        self.group.len()
    }

    /// True if it has no member.
    pub fn is_empty(&self) -> bool {
        self.group.is_empty()
    }

    /// See [`Group::join`].
    pub fn join(&self, timeout: Option<Duration>) -> Result<(), Error> {
        self.group.join(timeout)
    }

    /// See [`Group::kill`].
    pub fn kill(&self, timeout: Option<Duration>) -> Result<(), Error> {
        self.group.kill(timeout)
    }

    /// Runs `f` on every item, at most `size` at once, and returns the results in
    /// input order (gevent's `map`). The first failure is returned and the jobs still
    /// running are killed.
    pub fn map<I, R, F>(&self, f: F, items: I) -> Result<Vec<R>, Error>
    where
        I: IntoIterator,
        I::Item: 'static,
        R: 'static,
        F: Fn(I::Item) -> R + 'static,
    {
        self.imap(f, items).collect()
    }

    /// Like [`map`](Self::map), lazily (gevent's `imap`): the input is read only as
    /// slots free up, so it may be endless; results come in input order. Dropping the
    /// iterator kills the jobs still running.
    pub fn imap<'a, I, R, F>(&self, f: F, items: I) -> Imap<'a, R>
    where
        I: IntoIterator + 'a,
        I::Item: 'static,
        R: 'static,
        F: Fn(I::Item) -> R + 'static,
    {
        Imap::new(Spawner::Pool(self.clone()), jobs(f, items))
    }

    /// Like [`imap`](Self::imap), yielding results in the order they finish (gevent's
    /// `imap_unordered`).
    pub fn imap_unordered<'a, I, R, F>(&self, f: F, items: I) -> ImapUnordered<'a, R>
    where
        I: IntoIterator + 'a,
        I::Item: 'static,
        R: 'static,
        F: Fn(I::Item) -> R + 'static,
    {
        ImapUnordered::new(Spawner::Pool(self.clone()), jobs(f, items))
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("size", &self.size)
            .field("free", &self.free_count())
            .field("len", &self.len())
            .finish()
    }
}

/// A pool slot, freed when dropped.
struct Slot(Semaphore);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.release();
    }
}

fn jobs<'a, I, R, F>(f: F, items: I) -> Box<dyn Iterator<Item = Job<R>> + 'a>
where
    I: IntoIterator + 'a,
    I::Item: 'static,
    R: 'static,
    F: Fn(I::Item) -> R + 'static,
{
    let f = Rc::new(f);
    Box::new(items.into_iter().map(move |item| {
        let f = f.clone();
        Box::new(move || f(item)) as Job<R>
    }))
}

enum Spawner {
    Group(Group),
    Pool(Pool),
}

/// Reads the input and spawns its jobs, as far as the spawner allows.
struct Feeder<'a, R> {
    spawner: Spawner,
    jobs: Option<Box<dyn Iterator<Item = Job<R>> + 'a>>,
}

impl<R: 'static> Feeder<'_, R> {
    /// Spawns jobs while there is room; with nothing in flight, waits for room. An
    /// error (the wait for a pool slot failed) loses no input.
    fn feed(
        &mut self,
        in_flight: usize,
        mut spawned: impl FnMut(JoinHandle<R>),
    ) -> Result<(), Error> {
        let mut in_flight = in_flight;
        while let Some(jobs) = &mut self.jobs {
            let handle = match &self.spawner {
                Spawner::Group(group) => match jobs.next() {
                    Some(job) => group.spawn_member(job),
                    None => {
                        self.jobs = None;
                        break;
                    }
                },
                Spawner::Pool(pool) => {
                    if in_flight == 0 {
                        pool.slots.acquire(None)?;
                    } else if !pool.slots.try_acquire() {
                        break;
                    }
                    // Held before the input is read: a panicking input frees it.
                    let slot = Slot(pool.slots.clone());
                    match jobs.next() {
                        Some(job) => pool.spawn_with_slot(slot, job),
                        None => {
                            drop(slot);
                            self.jobs = None;
                            break;
                        }
                    }
                }
            };
            in_flight += 1;
            spawned(handle);
        }
        Ok(())
    }
}

/// The iterator of [`Pool::imap`] and [`Group::imap`]: results in input order.
///
/// ```
/// let pool = hub::Pool::new(2);
/// // An endless input is fine: it is read only as slots free up.
/// let mut results = pool.imap(|x: u64| x * x, 1..);
/// assert_eq!(results.next().unwrap().unwrap(), 1);
/// assert_eq!(results.next().unwrap().unwrap(), 4);
/// drop(results); // kills the jobs still running
/// ```
pub struct Imap<'a, R: 'static> {
    feeder: Feeder<'a, R>,
    running: VecDeque<JoinHandle<R>>,
}

impl<'a, R: 'static> Imap<'a, R> {
    fn new(spawner: Spawner, jobs: Box<dyn Iterator<Item = Job<R>> + 'a>) -> Self {
        Imap {
            feeder: Feeder {
                spawner,
                jobs: Some(jobs),
            },
            running: VecDeque::new(),
        }
    }
}

impl<R: 'static> Iterator for Imap<'_, R> {
    type Item = Result<R, Error>;

    /// The next result: `Err` if that job panicked or was killed, or if the wait for
    /// it was interrupted (then the job keeps running and the next call waits again).
    fn next(&mut self) -> Option<Result<R, Error>> {
        let running = &mut self.running;
        if let Err(e) = self.feeder.feed(running.len(), |h| running.push_back(h)) {
            return Some(Err(e));
        }
        let head = self.running.front()?;
        let result = head.join();
        if result.is_err() && !head.is_ready() {
            return Some(result); // our wait failed; the job is still there
        }
        self.running.pop_front();
        Some(result)
    }
}

impl<R: 'static> Drop for Imap<'_, R> {
    fn drop(&mut self) {
        for handle in &self.running {
            handle.kill_nowait();
        }
    }
}

impl<R: 'static> fmt::Debug for Imap<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Imap")
            .field("running", &self.running.len())
            .finish_non_exhaustive()
    }
}

/// The iterator of [`Pool::imap_unordered`] and [`Group::imap_unordered`]: results in
/// the order the jobs finish.
///
/// ```
/// use std::time::Duration;
///
/// let group = hub::Group::new();
/// let nap = |ms: u64| {
///     hub::sleep(Duration::from_millis(ms)).unwrap();
///     ms
/// };
/// let order: Vec<u64> = group.imap_unordered(nap, [20, 1]).map(Result::unwrap).collect();
/// assert_eq!(order, [1, 20]);
/// ```
pub struct ImapUnordered<'a, R: 'static> {
    feeder: Feeder<'a, R>,
    running: HashMap<u64, JoinHandle<R>>,
    finished: Queue<u64>,
    next_id: u64,
}

impl<'a, R: 'static> ImapUnordered<'a, R> {
    fn new(spawner: Spawner, jobs: Box<dyn Iterator<Item = Job<R>> + 'a>) -> Self {
        ImapUnordered {
            feeder: Feeder {
                spawner,
                jobs: Some(jobs),
            },
            running: HashMap::new(),
            finished: Queue::new(),
            next_id: 0,
        }
    }
}

impl<R: 'static> Iterator for ImapUnordered<'_, R> {
    type Item = Result<R, Error>;

    /// The next result to finish: `Err` if that job panicked or was killed, or if the
    /// wait was interrupted (then no result is lost: the next call waits again).
    fn next(&mut self) -> Option<Result<R, Error>> {
        let (running, finished, next_id) = (&mut self.running, &self.finished, &mut self.next_id);
        let fed = self.feeder.feed(running.len(), |handle| {
            let id = *next_id;
            *next_id += 1;
            let finished = finished.clone();
            // Runs on the hub once the job is over, however it ended.
            handle.link(move || {
                let _ = finished.try_put(id);
            });
            running.insert(id, handle);
        });
        if let Err(e) = fed {
            return Some(Err(e));
        }
        if self.running.is_empty() {
            return None;
        }
        let id = match self.finished.get(None) {
            Ok(id) => id,
            Err(QueueError::Wait(e)) => return Some(Err(e)),
            Err(other) => unreachable!("the finished queue is never closed: {other}"),
        };
        let handle = self.running.remove(&id).expect("a finished job is running");
        Some(handle.join())
    }
}

impl<R: 'static> Drop for ImapUnordered<'_, R> {
    fn drop(&mut self) {
        for handle in self.running.values() {
            handle.kill_nowait();
        }
    }
}

impl<R: 'static> fmt::Debug for ImapUnordered<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapUnordered")
            .field("running", &self.running.len())
            .finish_non_exhaustive()
    }
}
