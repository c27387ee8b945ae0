//! `LifoQueue` and `PriorityQueue`: a [`Queue`] that hands out its items in another
//! order (gevent's `gevent.queue.LifoQueue` and `PriorityQueue`).

use std::fmt;
use std::ops::Deref;

use super::Queue;
use super::order::{Lifo, Priority};
use crate::Waiter;

/// A [`Queue`] whose `get` takes the item put last (gevent's `LifoQueue`). Every
/// queue operation is there (through `Deref`): `put`, `get`, `try_*`, `peek`,
/// `close`, `task_done`/`join`. Clones share the queue.
///
/// ```
/// let q = hub::LifoQueue::new();
/// for i in 1..=3 {
///     q.put(i, None).unwrap();
/// }
/// assert_eq!(q.iter().take(3).collect::<Vec<_>>(), [3, 2, 1]);
/// ```
pub struct LifoQueue<T>(Queue<T, Lifo<T>>);

/// A [`Queue`] whose `get` takes the smallest item (gevent's `PriorityQueue`, a heap
/// as Python's `heapq`); see [`LifoQueue`] for the operations. Put
/// `(priority, sequence, item)` tuples for first-in-first-out among equal priorities.
///
/// ```
/// let q = hub::PriorityQueue::new();
/// for (priority, job) in [(3, "low"), (1, "urgent"), (2, "normal")] {
///     q.put((priority, job), None).unwrap();
/// }
/// assert_eq!(q.get(None).unwrap(), (1, "urgent"));
/// assert_eq!(q.try_peek().unwrap(), (2, "normal"));
/// ```
pub struct PriorityQueue<T: Ord>(Queue<T, Priority<T>>);

macro_rules! ordered_queue {
    ($name:ident, $order:ident, [$($bound:tt)*]) => {
        impl<T: $($bound)*> $name<T> {
            /// An unbounded queue: `put` never waits.
            pub fn new() -> Self {
                $name(Queue::with_capacity(None))
            }

            /// A queue holding at most `capacity` items: `put` parks while it is full.
            ///
            /// # Panics
            /// If `capacity` is 0.
            pub fn bounded(capacity: usize) -> Self {
                assert!(capacity > 0, "a queue needs room for at least one item");
                $name(Queue::with_capacity(Some(capacity)))
            }
        }

        impl<T: $($bound)*> Default for $name<T> {
            fn default() -> Self {
                Self::new()
            }
        }

        impl<T: $($bound)*> Clone for $name<T> {
            fn clone(&self) -> Self {
                $name(self.0.clone())
            }
        }

        impl<T: $($bound)*> Deref for $name<T> {
            type Target = Queue<T, $order<T>>;
            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }

        impl<T: $($bound)*> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.0).finish()
            }
        }

        impl<T: $($bound)*> crate::Waitable for $name<T> {
            fn is_ready(&self) -> bool {
                self.0.is_ready()
            }
            fn subscribe(&self, waiter: &Waiter) {
                self.0.subscribe(waiter)
            }
            fn unsubscribe(&self, waiter: &Waiter) {
                self.0.unsubscribe(waiter)
            }
        }
    };
}

ordered_queue!(LifoQueue, Lifo, [Sized]);
ordered_queue!(PriorityQueue, Priority, [Ord]);
