//! `Queue`: FIFO hand-off between greenlets, bounded or not, joinable, closable
//! (gevent's `gevent.queue.Queue` / `JoinableQueue`).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use super::order::{Fifo, Order};
use super::{ReleaseError, WaitList, deadline};
use crate::Error;

/// Why a queue or channel operation gave no item or took none.
///
/// ```
/// use std::time::Duration;
/// use hub::{Error, Queue, QueueError};
///
/// let q: Queue<u8> = Queue::bounded(1);
/// assert_eq!(q.try_get(), Err(QueueError::Empty));
/// q.try_put(1).unwrap();
/// assert_eq!(q.try_put(2).unwrap_err().error, QueueError::Full);
/// let waited = q.put(3, Some(Duration::from_millis(1))).unwrap_err();
/// assert_eq!(waited.error, QueueError::Wait(Error::Timeout));
/// ```
#[non_exhaustive]
#[derive(Debug, PartialEq)]
pub enum QueueError {
    /// A `try_get` or `try_peek` found nothing (gevent's `Empty`).
    Empty,
    /// A `try_put` found no room, or no getter for a [`crate::Channel`] (gevent's
    /// `Full`).
    Full,
    /// It is closed: no put is accepted, and a get finds nothing left.
    Closed,
    /// The wait failed: [`Error::Timeout`], [`Error::WouldBlockForever`],
    /// [`Error::BlockingInHub`].
    Wait(Error),
}

impl From<Error> for QueueError {
    fn from(e: Error) -> QueueError {
        QueueError::Wait(e)
    }
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueError::Empty => f.write_str("the queue is empty"),
            QueueError::Full => f.write_str("the queue is full"),
            QueueError::Closed => f.write_str("the queue is closed"),
            QueueError::Wait(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl std::error::Error for QueueError {}

/// A put that did not happen: the item comes back, with the reason.
///
/// ```
/// let q = hub::Queue::new();
/// q.close();
/// let e = q.try_put("x").unwrap_err();
/// assert_eq!(e.item, "x");
/// assert_eq!(e.error, hub::QueueError::Closed);
/// ```
pub struct PutError<T> {
    /// The item that was not put.
    pub item: T,
    /// Why: [`QueueError::Full`], [`QueueError::Closed`] or a failed wait.
    pub error: QueueError,
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PutError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "put failed: {}", self.error)
    }
}

impl<T> std::error::Error for PutError<T> {}

/// A FIFO queue between the greenlets of one hub (gevent's `gevent.queue.Queue`,
/// joinable like `JoinableQueue`). Unbounded ([`Queue::new`]) or bounded
/// ([`Queue::bounded`]: `put` parks while it is full). Clones share the queue.
///
/// Getters and putters are served in FIFO order: an item put while greenlets wait in
/// `get` goes straight to the longest waiter, and a get on a full queue moves the
/// longest waiting putter's item in. A getter killed after an item was handed to it
/// puts the item back at the head (so the queue may briefly hold one more than its
/// bound); a timed-out getter was never handed one.
///
/// [`close`](Self::close) refuses further puts and wakes every waiter; gets drain
/// what is left, then fail with [`QueueError::Closed`].
///
/// ```
/// let q = hub::Queue::bounded(2);
/// let producer = {
///     let q = q.clone();
///     hub::spawn(move || {
///         for i in 0..5 {
///             q.put(i, None).unwrap(); // parks while 2 items wait
///         }
///         q.close();
///     })
/// };
/// let got: Vec<i32> = q.iter().collect(); // until closed and drained
/// assert_eq!(got, [0, 1, 2, 3, 4]);
/// producer.join().unwrap();
/// ```
pub struct Queue<T, O: Order<T> = Fifo<T>> {
    inner: Rc<Inner<T, O>>,
}

struct Inner<T, O> {
    /// Invariant: not empty only while no getter waits.
    items: RefCell<O>,
    capacity: Option<usize>,
    getters: WaitList<T>,
    /// Putters of a full bounded queue, each offering its item.
    putters: WaitList<T>,
    peekers: WaitList<()>,
    joiners: WaitList<()>,
    unfinished: Cell<usize>,
    closed: Cell<bool>,
}

impl<T, O: Order<T>> Clone for Queue<T, O> {
    fn clone(&self) -> Self {
        Queue {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue::with_capacity(None)
    }
}

impl<T> Queue<T> {
    /// An unbounded queue: `put` never waits.
    pub fn new() -> Queue<T> {
        Queue::default()
    }

    /// A queue holding at most `capacity` items: `put` parks while it is full
    /// (gevent's `Queue(maxsize)`).
    ///
    /// # Panics
    /// If `capacity` is 0; use a [`crate::Channel`] for a rendezvous.
    pub fn bounded(capacity: usize) -> Queue<T> {
        assert!(
            capacity > 0,
            "a queue of capacity 0 is a rendezvous: use hub::Channel"
        );
        Queue::with_capacity(Some(capacity))
    }
}

impl<T, O: Order<T>> Queue<T, O> {
    pub(crate) fn with_capacity(capacity: Option<usize>) -> Queue<T, O> {
        Queue {
            inner: Rc::new(Inner {
                items: RefCell::new(O::default()),
                capacity,
                getters: WaitList::default(),
                putters: WaitList::default(),
                peekers: WaitList::default(),
                joiners: WaitList::default(),
                unfinished: Cell::new(0),
                closed: Cell::new(false),
            }),
        }
    }

    /// Puts `item` at the tail, parking while the queue is full until there is room
    /// or `timeout` passes. On failure the item comes back in the [`PutError`].
    pub fn put(&self, item: T, timeout: Option<Duration>) -> Result<(), PutError<T>> {
        let inner = &self.inner;
        inner.putters.offer(
            item,
            deadline(timeout),
            || inner.closed.get(),
            |item| self.try_put(item),
        )
    }

    /// Puts `item` if there is room now (gevent's `put_nowait`); else
    /// [`QueueError::Full`] or [`QueueError::Closed`] with the item.
    pub fn try_put(&self, item: T) -> Result<(), PutError<T>> {
        let inner = &self.inner;
        if inner.closed.get() {
            return Err(PutError {
                item,
                error: QueueError::Closed,
            });
        }
        let item = match inner.getters.give(item) {
            Ok(()) => {
                self.count_put();
                return Ok(());
            }
            Err(item) => item,
        };
        if self.has_room() && inner.putters.is_empty() {
            inner.items.borrow_mut().push(item);
            self.count_put();
            inner.peekers.wake_all();
            Ok(())
        } else {
            Err(PutError {
                item,
                error: QueueError::Full,
            })
        }
    }

    /// Takes the item at the head, parking until there is one or `timeout` passes.
    /// [`QueueError::Closed`] once the queue is closed and empty.
    pub fn get(&self, timeout: Option<Duration>) -> Result<T, QueueError> {
        self.inner.getters.receive(
            deadline(timeout),
            || match self.try_get() {
                Err(QueueError::Empty) => None,
                other => Some(other),
            },
            // Killed after an item was handed over: it goes back to the head.
            |item| self.restore(item),
        )
    }

    /// Takes the head item if there is one now (gevent's `get_nowait`).
    pub fn try_get(&self) -> Result<T, QueueError> {
        let inner = &self.inner;
        let head = inner.items.borrow_mut().pop();
        if let Some(item) = head {
            self.refill();
            return Ok(item);
        }
        if let Some(item) = inner.putters.take() {
            self.count_put();
            return Ok(item);
        }
        if inner.closed.get() {
            Err(QueueError::Closed)
        } else {
            Err(QueueError::Empty)
        }
    }

    /// A copy of the head item without taking it, parking until there is one or
    /// `timeout` passes (gevent's `peek`).
    pub fn peek(&self, timeout: Option<Duration>) -> Result<T, QueueError>
    where
        T: Clone,
    {
        let deadline = deadline(timeout);
        loop {
            match self.try_peek() {
                Err(QueueError::Empty) => {}
                other => return other,
            }
            self.inner.peekers.wait(None, deadline, drop).0?;
        }
    }

    /// A copy of the head item if there is one now (gevent's `peek_nowait`).
    pub fn try_peek(&self) -> Result<T, QueueError>
    where
        T: Clone,
    {
        if let Some(item) = self.inner.items.borrow().peek() {
            return Ok(item.clone());
        }
        if self.inner.closed.get() {
            Err(QueueError::Closed)
        } else {
            Err(QueueError::Empty)
        }
    }

    /// Items in the queue now (gevent's `qsize()`).
    pub fn len(&self) -> usize {
        self.inner.items.borrow().len()
    }

    /// True if it holds no item.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True if a bounded queue is at its capacity (gevent's `full()`).
    pub fn is_full(&self) -> bool {
        !self.has_room()
    }

    /// The bound, if any (gevent's `maxsize`).
    pub fn capacity(&self) -> Option<usize> {
        self.inner.capacity
    }

    /// Greenlets parked in `get` now.
    pub fn getters(&self) -> usize {
        self.inner.getters.len()
    }

    /// Greenlets parked in `put` now.
    pub fn putters(&self) -> usize {
        self.inner.putters.len()
    }

    /// Marks one item taken by a consumer as processed (gevent's `task_done`); when
    /// every item ever put is, [`join`](Self::join) returns. An error if no item is
    /// unfinished.
    pub fn task_done(&self) -> Result<(), ReleaseError> {
        let n = self.inner.unfinished.get();
        if n == 0 {
            return Err(ReleaseError("task_done() called more often than put()"));
        }
        self.inner.unfinished.set(n - 1);
        if n == 1 {
            self.inner.joiners.wake_all();
        }
        Ok(())
    }

    /// Items put and not yet marked done with [`task_done`](Self::task_done).
    pub fn unfinished_tasks(&self) -> usize {
        self.inner.unfinished.get()
    }

    /// Parks until every item put has been marked done, or `timeout` passes (gevent's
    /// `JoinableQueue.join`).
    pub fn join(&self, timeout: Option<Duration>) -> Result<(), Error> {
        let deadline = deadline(timeout);
        while self.inner.unfinished.get() > 0 {
            self.inner.joiners.wait(None, deadline, drop).0?;
        }
        Ok(())
    }

    /// Closes the queue: puts fail with [`QueueError::Closed`] (parked putters get
    /// their items back), gets take what is left and then fail the same way.
    pub fn close(&self) {
        let inner = &self.inner;
        inner.closed.set(true);
        inner.getters.wake_all();
        inner.putters.wake_all();
        inner.peekers.wake_all();
    }

    /// True once [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.get()
    }

    /// Iterates by [`get`](Self::get) until the queue is closed and drained (or a wait
    /// fails, e.g. on a [`crate::Timeout`]).
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        std::iter::from_fn(|| self.get(None).ok())
    }

    fn has_room(&self) -> bool {
        self.inner
            .capacity
            .is_none_or(|c| self.inner.items.borrow().len() < c)
    }

    fn count_put(&self) {
        self.inner.unfinished.set(self.inner.unfinished.get() + 1);
    }

    /// Moves parked putters' items in while there is room.
    fn refill(&self) {
        let mut moved = false;
        while self.has_room() {
            let Some(item) = self.inner.putters.take() else {
                break;
            };
            self.inner.items.borrow_mut().push(item);
            self.count_put();
            moved = true;
        }
        if moved {
            self.inner.peekers.wake_all();
        }
    }

    /// An item handed to a getter that was killed: the next getter, or the head.
    fn restore(&self, item: T) {
        if let Err(item) = self.inner.getters.give(item) {
            self.inner.items.borrow_mut().restore(item);
            self.inner.peekers.wake_all();
        }
    }
}

impl<T, O: Order<T>> fmt::Debug for Queue<T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("len", &self.len())
            .field("capacity", &self.inner.capacity)
            .field("getters", &self.getters())
            .field("putters", &self.putters())
            .field("unfinished", &self.unfinished_tasks())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Ready while an item can be taken without waiting, or once closed (gevent waits on a queue's readiness to `get`).
impl<T, O: Order<T>> crate::Waitable for Queue<T, O> {
    fn is_ready(&self) -> bool {
        !self.inner.items.borrow().is_empty() || self.inner.closed.get()
    }

    fn subscribe(&self, waiter: &crate::Waiter) {
        self.inner.peekers.subscribe(waiter);
    }

    fn unsubscribe(&self, _waiter: &crate::Waiter) {
        self.inner.peekers.forget_stale();
    }
}
