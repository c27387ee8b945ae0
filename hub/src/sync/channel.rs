//! `Channel`: a rendezvous between greenlets (gevent's `gevent.queue.Channel`).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use super::{PutError, QueueError, WaitList, deadline};
use crate::wait::Waiter;

/// A queue without room (gevent's `gevent.queue.Channel`): [`put`](Self::put) parks
/// until a getter takes the item, [`get`](Self::get) until a putter brings one. Both
/// sides are served in FIFO order. Clones share the channel.
///
/// A getter killed after an item was handed to it (its putter has already returned)
/// gives the item to the next getter, or keeps it for the next `get`: nothing is lost.
///
/// ```
/// use std::rc::Rc;
/// use std::cell::Cell;
///
/// let ch = hub::Channel::new();
/// let delivered = Rc::new(Cell::new(false));
/// let producer = {
///     let (ch, delivered) = (ch.clone(), delivered.clone());
///     hub::spawn(move || {
///         ch.put("hello", None).unwrap(); // waits for the getter
///         delivered.set(true);
///     })
/// };
/// hub::sleep(std::time::Duration::from_millis(1)).unwrap();
/// assert!(!delivered.get(), "no getter yet");
/// assert_eq!(ch.get(None).unwrap(), "hello");
/// producer.join().unwrap();
/// assert!(delivered.get());
/// ```
pub struct Channel<T> {
    inner: Rc<Inner<T>>,
}

struct Inner<T> {
    getters: WaitList<T>,
    /// Putters waiting for a getter, each offering its item.
    putters: WaitList<T>,
    /// Items handed to getters that were killed before taking them.
    returned: RefCell<VecDeque<T>>,
    closed: Cell<bool>,
}

impl<T> Clone for Channel<T> {
    fn clone(&self) -> Self {
        Channel {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Default for Channel<T> {
    fn default() -> Self {
        Channel {
            inner: Rc::new(Inner {
                getters: WaitList::default(),
                putters: WaitList::default(),
                returned: RefCell::new(VecDeque::new()),
                closed: Cell::new(false),
            }),
        }
    }
}

impl<T> Channel<T> {
    /// A new channel.
    pub fn new() -> Channel<T> {
        Channel::default()
    }

    /// Hands `item` to a getter, parking until one comes or `timeout` passes. On
    /// failure the item comes back in the [`PutError`].
    ///
    /// It is a rendezvous, as in gevent: when it returns `Ok` the getter has run and
    /// holds the item. A getter already waiting is handed the item and runs before
    /// `put` returns (the putter yields to it; a [`crate::Timeout`] passing during that
    /// yield is left for the putter's next wait, since the item is delivered).
    pub fn put(&self, item: T, timeout: Option<Duration>) -> Result<(), PutError<T>> {
        let inner = &self.inner;
        let mut handed_to_waiting_getter = false;
        inner.putters.offer(
            item,
            deadline(timeout),
            || inner.closed.get(),
            |item| {
                let put = self.try_put(item);
                handed_to_waiting_getter = put.is_ok();
                put
            },
        )?;
        if handed_to_waiting_getter && let Ok(waiter) = Waiter::new() {
            // The getter was woken first, so it runs (and takes the item) first.
            waiter.yield_keeping_timeouts();
        }
        Ok(())
    }

    /// Hands `item` to a getter that is waiting now; else [`QueueError::Full`] (or
    /// [`QueueError::Closed`]) with the item. Unlike [`put`](Self::put) it does not
    /// yield: it returns before that getter has run (gevent's `put_nowait` yields; a
    /// `try_` call here never parks).
    pub fn try_put(&self, item: T) -> Result<(), PutError<T>> {
        if self.inner.closed.get() {
            return Err(PutError {
                item,
                error: QueueError::Closed,
            });
        }
        self.inner.getters.give(item).map_err(|item| PutError {
            item,
            error: QueueError::Full,
        })
    }

    /// Takes an item from a putter, parking until one comes or `timeout` passes;
    /// [`QueueError::Closed`] once the channel is closed.
    pub fn get(&self, timeout: Option<Duration>) -> Result<T, QueueError> {
        self.inner.getters.receive(
            deadline(timeout),
            || match self.try_get() {
                Err(QueueError::Empty) => None,
                other => Some(other),
            },
            |item| self.restore(item),
        )
    }

    /// Takes an item from a putter waiting now; else [`QueueError::Empty`] (or
    /// [`QueueError::Closed`]).
    pub fn try_get(&self) -> Result<T, QueueError> {
        let returned = self.inner.returned.borrow_mut().pop_front();
        if let Some(item) = returned.or_else(|| self.inner.putters.take()) {
            return Ok(item);
        }
        if self.inner.closed.get() {
            Err(QueueError::Closed)
        } else {
            Err(QueueError::Empty)
        }
    }

    /// Putters waiting minus getters waiting (gevent's `balance`).
    pub fn balance(&self) -> isize {
        self.putters() as isize - self.getters() as isize
    }

    /// Greenlets parked in `get` now.
    pub fn getters(&self) -> usize {
        self.inner.getters.len()
    }

    /// Greenlets parked in `put` now.
    pub fn putters(&self) -> usize {
        self.inner.putters.len()
    }

    /// Closes the channel: puts fail with [`QueueError::Closed`] (parked putters get
    /// their items back), and so do gets.
    pub fn close(&self) {
        self.inner.closed.set(true);
        self.inner.getters.wake_all();
        self.inner.putters.wake_all();
    }

    /// True once [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.get()
    }

    /// Iterates by [`get`](Self::get) until the channel is closed (or a wait fails).
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        std::iter::from_fn(|| self.get(None).ok())
    }

    fn restore(&self, item: T) {
        if let Err(item) = self.inner.getters.give(item) {
            self.inner.returned.borrow_mut().push_front(item);
        }
    }
}

impl<T> fmt::Debug for Channel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("getters", &self.getters())
            .field("putters", &self.putters())
            .field("closed", &self.is_closed())
            .finish()
    }
}
