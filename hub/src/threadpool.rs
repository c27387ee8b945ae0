//! A pool of OS threads for work that cannot be made cooperative (gevent's
//! `gevent.threadpool.ThreadPool`): host-name resolution, file I/O, CPU-bound calls.
//!
//! The calling greenlet parks while the closure runs on a pool thread; the hub keeps
//! running the other greenlets. Jobs travel to the threads over a crossbeam channel;
//! a finished job rings the caller's hub through its [`crate::Remote`] (a
//! `mio::Waker`), which wakes the caller. While a job is outstanding the hub never
//! reports [`Error::WouldBlockForever`].

use std::cell::OnceCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::hub::Hub;
use crate::sync::{Doorbell, ring};
use crate::{Error, Payload, Remote};

type Job = Box<dyn FnOnce() + Send>;

/// A bounded pool of OS threads that run closures for greenlets (gevent's
/// `ThreadPool`; [`ThreadPool::spawn_blocking`] is its `apply`).
///
/// Threads are started on demand up to `max_threads`; a thread idle for longer than
/// the idle timeout (default [`ThreadPool::DEFAULT_IDLE_TIMEOUT`]) exits. Clones share
/// the same threads; the threads exit once every clone is dropped and the queued jobs
/// are done. Each hub has a default pool of [`ThreadPool::DEFAULT_MAX_THREADS`]
/// threads, [`Hub::threadpool`], which [`spawn_blocking`] uses.
///
/// ```
/// use std::time::Duration;
///
/// let pool = hub::ThreadPool::new(2);
/// // Two greenlets each block an OS thread; a third keeps running meanwhile.
/// let a = { let p = pool.clone(); hub::spawn(move || p.spawn_blocking(|| {
///     std::thread::sleep(Duration::from_millis(20));
///     1
/// })) };
/// let b = { let p = pool.clone(); hub::spawn(move || p.spawn_blocking(|| 2)) };
/// let ticks = hub::spawn(|| (0..3).map(|_| hub::sleep(Duration::from_millis(1))).count());
/// assert_eq!(ticks.join().unwrap(), 3);
/// assert_eq!(a.join().unwrap().unwrap() + b.join().unwrap().unwrap(), 3);
/// ```
#[derive(Clone)]
pub struct ThreadPool {
    inner: Arc<Inner>,
}

struct Inner {
    jobs: Sender<Job>,
    /// Kept to give new threads their end of the channel.
    queue: Receiver<Job>,
    state: Arc<Mutex<State>>,
    max_threads: usize,
}

/// What the threads and the submitters agree on, under one lock.
struct State {
    /// Threads alive.
    threads: usize,
    /// Threads alive and not running a job (including those just started).
    idle: usize,
    /// Jobs sent and not yet received by a thread.
    queued: usize,
    idle_timeout: Duration,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // Jobs run outside the lock, so a poisoned lock means nothing half-done.
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl ThreadPool {
    /// The size of each hub's default pool (gevent's default `maxsize`).
    pub const DEFAULT_MAX_THREADS: usize = 10;

    /// How long a thread of a new pool waits for a job before exiting.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

    /// A pool running at most `max_threads` closures at once. No thread starts
    /// before the first job.
    ///
    /// # Panics
    /// If `max_threads` is 0.
    pub fn new(max_threads: usize) -> ThreadPool {
        assert!(max_threads > 0, "a thread pool needs at least one thread");
        let (jobs, queue) = crossbeam_channel::unbounded();
        ThreadPool {
            inner: Arc::new(Inner {
                jobs,
                queue,
                state: Arc::new(Mutex::new(State {
                    threads: 0,
                    idle: 0,
                    queued: 0,
                    idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
                })),
                max_threads,
            }),
        }
    }

    /// Sets how long an idle thread waits for a job before exiting (threads waiting
    /// now pick it up after their current wait).
    pub fn set_idle_timeout(&self, timeout: Duration) {
        lock(&self.inner.state).idle_timeout = timeout;
    }

    /// The most threads this pool runs at once.
    pub fn max_threads(&self) -> usize {
        self.inner.max_threads
    }

    /// Threads alive now.
    pub fn threads(&self) -> usize {
        lock(&self.inner.state).threads
    }

    /// Jobs waiting for a free thread.
    pub fn queued(&self) -> usize {
        lock(&self.inner.state).queued
    }

    /// Runs `f` on one of the pool's threads and parks the current greenlet until it
    /// returns (gevent's `threadpool.apply`); the hub runs the other greenlets
    /// meanwhile. Called from the thread's root greenlet, it runs the loop until `f`
    /// is done.
    ///
    /// Errors: [`Error::Panicked`] with the payload if `f` panicked;
    /// [`Error::Timeout`] if a [`crate::Timeout`] interrupted the wait (`f` still runs
    /// to its end on its thread, and its result is dropped there);
    /// [`Error::BlockingInHub`] from a hub callback (then `f` does not run). A kill
    /// unwinds from the wait the same way, leaving `f` to finish.
    pub fn spawn_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        let hub = Hub::current();
        if hub.current_task().is_none() {
            return Err(Error::BlockingInHub);
        }
        let bell = Doorbell::new();
        let outcome: Arc<Mutex<Outcome<T>>> = Arc::new(Mutex::new(Outcome::Pending));
        let done = Done {
            outcome: outcome.clone(),
            remote: hub.remote(),
            bell: bell.id(),
        };
        self.submit(Box::new(move || {
            let result = panic::catch_unwind(AssertUnwindSafe(f));
            done.finish(result);
        }))?;
        loop {
            let outcome = std::mem::replace(
                &mut *outcome.lock().unwrap_or_else(|e| e.into_inner()),
                Outcome::Pending,
            );
            match outcome {
                Outcome::Pending => bell.wait(None)?,
                Outcome::Done(Ok(value)) => return Ok(value),
                Outcome::Done(Err(payload)) => return Err(Error::Panicked(payload)),
                Outcome::Dropped => {
                    return Err(Error::Panicked(Box::new(
                        "the thread pool dropped the job without running it",
                    )));
                }
            }
        }
    }

    /// Queues a job, starting a thread if every thread is busy and there is room.
    fn submit(&self, job: Job) -> Result<(), Error> {
        let inner = &self.inner;
        let start_thread = {
            let mut state = lock(&inner.state);
            state.queued += 1;
            if state.queued > state.idle && state.threads < inner.max_threads {
                state.threads += 1;
                state.idle += 1;
                true
            } else {
                false
            }
        };
        if start_thread {
            let queue = inner.queue.clone();
            let state = inner.state.clone();
            let started = thread::Builder::new()
                .name("hub-threadpool".into())
                .spawn(move || worker(queue, state));
            if let Err(e) = started {
                let mut state = lock(&inner.state);
                state.threads -= 1;
                state.idle -= 1;
                if state.threads == 0 {
                    state.queued -= 1;
                    return Err(Error::Panicked(Box::new(format!(
                        "cannot start a thread-pool thread: {e}"
                    ))));
                }
                tracing::warn!("cannot start another thread-pool thread: {e}");
            }
        }
        // Never fails: `inner` holds a receiver.
        let _ = inner.jobs.send(job);
        Ok(())
    }
}

impl std::fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = lock(&self.inner.state);
        f.debug_struct("ThreadPool")
            .field("max_threads", &self.inner.max_threads)
            .field("threads", &state.threads)
            .field("idle", &state.idle)
            .field("queued", &state.queued)
            .finish()
    }
}

/// A pool thread: runs jobs until it has been idle too long or the pool is gone.
fn worker(queue: Receiver<Job>, state: Arc<Mutex<State>>) {
    loop {
        let idle_timeout = lock(&state).idle_timeout;
        match queue.recv_timeout(idle_timeout) {
            Ok(job) => {
                {
                    let mut s = lock(&state);
                    s.queued -= 1;
                    s.idle -= 1;
                }
                // The job catches the closure's panic itself; this is a backstop.
                let _ = panic::catch_unwind(AssertUnwindSafe(job));
                lock(&state).idle += 1;
            }
            Err(RecvTimeoutError::Timeout) => {
                let mut s = lock(&state);
                if s.queued > 0 {
                    continue; // a job is on its way and may count on this thread
                }
                s.threads -= 1;
                s.idle -= 1;
                return;
            }
            Err(RecvTimeoutError::Disconnected) => {
                let mut s = lock(&state);
                s.threads -= 1;
                s.idle -= 1;
                return;
            }
        }
    }
}

enum Outcome<T> {
    Pending,
    Done(Result<T, Payload>),
    /// The job was dropped without running (its pool could not run it).
    Dropped,
}

/// Stores a job's result and rings the waiting greenlet's hub; dropped without a
/// result, it records that the job never ran. Either way the hub is woken, and the
/// [`Remote`] it holds keeps the hub from declaring the wait endless meanwhile.
struct Done<T> {
    outcome: Arc<Mutex<Outcome<T>>>,
    remote: Remote,
    bell: u64,
}

impl<T> Done<T> {
    fn finish(self, result: Result<T, Payload>) {
        *self.outcome.lock().unwrap_or_else(|e| e.into_inner()) = Outcome::Done(result);
    }
}

impl<T> Drop for Done<T> {
    fn drop(&mut self) {
        {
            let mut outcome = self.outcome.lock().unwrap_or_else(|e| e.into_inner());
            if matches!(*outcome, Outcome::Pending) {
                *outcome = Outcome::Dropped;
            }
        }
        let bell = self.bell;
        // Fails only if the hub's thread is gone: then nobody waits.
        let _ = self.remote.call(move || ring(bell));
    }
}

thread_local! {
    static DEFAULT_POOL: OnceCell<ThreadPool> = const { OnceCell::new() };
}

impl Hub {
    /// This hub's default thread pool, of [`ThreadPool::DEFAULT_MAX_THREADS`] threads
    /// (gevent's `get_hub().threadpool`), made on first use.
    pub fn threadpool(&self) -> ThreadPool {
        DEFAULT_POOL.with(|p| {
            p.get_or_init(|| ThreadPool::new(ThreadPool::DEFAULT_MAX_THREADS))
                .clone()
        })
    }
}

/// Runs `f` on this hub's default [`ThreadPool`] and parks the current greenlet until
/// it returns; the other greenlets keep running. A panic in `f` is
/// `Err(Error::Panicked(payload))`. See [`ThreadPool::spawn_blocking`].
///
/// ```
/// let sum = hub::spawn_blocking(|| (1..=100u64).sum::<u64>()).unwrap();
/// assert_eq!(sum, 5050);
/// let err = hub::spawn_blocking(|| panic!("no")).unwrap_err();
/// assert!(matches!(err, hub::Error::Panicked(_)));
/// ```
pub fn spawn_blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Error> {
    Hub::current().threadpool().spawn_blocking(f)
}
