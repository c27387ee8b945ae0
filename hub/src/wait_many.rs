//! Waiting on several things at once: gevent's `gevent.wait` and `gevent.iwait`.

use std::time::{Duration, Instant};

use crate::Error;
use crate::timer::{TimerAction, TimerGuard, deadline_after};
use crate::wait::{Waiter, Wake};

/// Something a greenlet can wait to become ready, alongside others: a
/// [`JoinHandle`](crate::JoinHandle) (finished), an [`Event`](crate::Event) (set), an
/// [`AsyncResult`](crate::AsyncResult) (has a result), a [`Queue`](crate::Queue)
/// (an item to get, or closed). What [`wait`] and [`iwait`] take.
///
/// Implementing it for a type of your own: `is_ready` must turn true no later than
/// the moment every waiter given to `subscribe` is woken ([`Waiter::wake`]);
/// `unsubscribe` lets the object drop the waiter once the wait is over (it is stale
/// by then: waking it does nothing).
pub trait Waitable {
    /// True if a wait on it would return at once.
    fn is_ready(&self) -> bool;
    /// Wakes `waiter` when it becomes ready.
    fn subscribe(&self, waiter: &Waiter);
    /// Forgets `waiter` (its wait is over).
    fn unsubscribe(&self, waiter: &Waiter);
}

/// Parks until `count` of `objects` (all of them if `None`) are ready, or `timeout`
/// passes (gevent's `gevent.wait(objects, timeout, count)`). Returns the indexes of
/// the ready ones, in input order; its own `timeout` passing is not an error (the
/// ready subset comes back, as in gevent). A [`crate::Timeout`] of the caller's is
/// [`Error::Timeout`], a wait nothing could end [`Error::WouldBlockForever`].
///
/// ```
/// use std::time::Duration;
/// let (event, job) = (hub::Event::new(), hub::spawn(|| 5));
/// let q: hub::Queue<u8> = hub::Queue::new();
/// let ready = hub::wait(&[&event, &job, &q], Some(Duration::from_millis(5)), Some(1)).unwrap();
/// assert_eq!(ready, [1], "the job finished; the event is not set, the queue empty");
/// ```
pub fn wait(
    objects: &[&dyn Waitable],
    timeout: Option<Duration>,
    count: Option<usize>,
) -> Result<Vec<usize>, Error> {
    let wanted = count.unwrap_or(objects.len()).min(objects.len());
    let deadline = timeout.map(deadline_after);
    loop {
        let ready: Vec<usize> = (0..objects.len())
            .filter(|&i| objects[i].is_ready())
            .collect();
        if ready.len() >= wanted || deadline.is_some_and(|at| Instant::now() >= at) {
            return Ok(ready);
        }
        park_on(objects.iter().copied().filter(|o| !o.is_ready()), deadline)?;
    }
}

/// Parks until one of `objects` may have turned ready, or `deadline` passes (then
/// `Ok` too: the caller checks the clock).
fn park_on<'a>(
    objects: impl Iterator<Item = &'a dyn Waitable> + Clone,
    deadline: Option<Instant>,
) -> Result<(), Error> {
    let waiter = Waiter::new()?;
    for object in objects.clone() {
        object.subscribe(&waiter);
    }
    // Our own deadline wakes us as a plain notification: an `Error::Timeout` out of
    // the park is always the caller's `Timeout`.
    let parked = {
        let _deadline = deadline
            .map(|at| TimerGuard::arm(at, TimerAction::Wake(waiter.clone(), Wake::Notified)));
        waiter.park()
    };
    for object in objects {
        object.unsubscribe(&waiter);
    }
    parked
}

/// Yields the indexes of `objects` one by one as each becomes ready, until all have
/// or `timeout` passes (gevent's `gevent.iwait`). Each index comes once; those
/// ready together come in input order. An interrupted wait yields `Err` (a
/// [`crate::Timeout`] of the caller's, or [`Error::WouldBlockForever`]) and the next
/// call waits again.
///
/// ```
/// use std::time::Duration;
/// let slow = hub::spawn(|| hub::sleep(Duration::from_millis(20)).unwrap());
/// let event = hub::Event::new();
/// let setter = { let e = event.clone(); hub::spawn(move || e.set()) };
/// let order: Vec<usize> = hub::iwait(&[&slow, &event], None).map(Result::unwrap).collect();
/// assert_eq!(order, [1, 0]);
/// # setter.join().unwrap();
/// ```
pub fn iwait<'a>(objects: &'a [&'a dyn Waitable], timeout: Option<Duration>) -> Iwait<'a> {
    Iwait {
        objects,
        pending: (0..objects.len()).collect(),
        deadline: timeout.map(deadline_after),
    }
}

/// The iterator of [`iwait`].
pub struct Iwait<'a> {
    objects: &'a [&'a dyn Waitable],
    /// Indexes not yielded yet, in input order.
    pending: Vec<usize>,
    deadline: Option<Instant>,
}

impl Iterator for Iwait<'_> {
    type Item = Result<usize, Error>;

    fn next(&mut self) -> Option<Result<usize, Error>> {
        loop {
            if let Some(at) = self
                .pending
                .iter()
                .position(|&i| self.objects[i].is_ready())
            {
                return Some(Ok(self.pending.remove(at)));
            }
            if self.pending.is_empty() || self.deadline.is_some_and(|at| Instant::now() >= at) {
                return None;
            }
            let objects = self.objects;
            let waiting = self.pending.iter().map(|&i| objects[i]);
            if let Err(e) = park_on(waiting, self.deadline) {
                return Some(Err(e));
            }
        }
    }
}

impl std::fmt::Debug for Iwait<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iwait")
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

/// Like [`joinall`](crate::joinall), failing as soon as one of the greenlets has
/// failed (gevent's `joinall(raise_error=True)`): its error (panic payload, kill) is
/// taken out of it and returned, so that greenlet's `join` gives [`Error::Taken`]
/// afterwards. Otherwise the indexes of those finished, in input order, once all
/// (or `count`) have or `timeout` passes.
///
/// ```
/// let ok = hub::spawn(|| ());
/// let bad = hub::spawn(|| panic!("boom"));
/// match hub::joinall_raise_error([&ok, &bad], None, None) {
///     Err(hub::Error::Panicked(p)) => assert_eq!(hub::panic_message(&p), "boom"),
///     other => panic!("{other:?}"),
/// }
/// ```
pub fn joinall_raise_error<'a, T: 'a>(
    handles: impl IntoIterator<Item = &'a crate::JoinHandle<T>>,
    timeout: Option<Duration>,
    count: Option<usize>,
) -> Result<Vec<usize>, Error> {
    let handles: Vec<&crate::JoinHandle<T>> = handles.into_iter().collect();
    let wanted = count.unwrap_or(handles.len()).min(handles.len());
    let objects: Vec<&dyn Waitable> = handles.iter().map(|h| *h as &dyn Waitable).collect();
    let mut done = Vec::new();
    for ready in iwait(&objects, timeout) {
        let i = ready?;
        let handle = handles[i];
        if !handle.is_successful()
            && let Some(Err(e)) = handle.take_result()
        {
            return Err(e);
        }
        done.push(i);
        if done.len() >= wanted {
            break;
        }
    }
    done.sort_unstable();
    Ok(done)
}

/// Asks the hub to kill every greenlet and returns at once (gevent's
/// `killall(block=False)`).
pub fn killall_nowait<'a, T: 'a>(handles: impl IntoIterator<Item = &'a crate::JoinHandle<T>>) {
    for handle in handles {
        handle.kill_nowait();
    }
}
