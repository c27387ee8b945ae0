//! The order in which a [`Queue`](crate::Queue) hands out its items.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// Where a queue keeps its items and which one `get` takes next: [`Fifo`] (gevent's
/// `Queue`), [`Lifo`] (`LifoQueue`), [`Priority`] (`PriorityQueue`).
pub trait Order<T>: Default {
    /// Stores a new item.
    fn push(&mut self, item: T);
    /// Takes the next item.
    fn pop(&mut self) -> Option<T>;
    /// The item `pop` would take.
    fn peek(&self) -> Option<&T>;
    /// Items stored.
    fn len(&self) -> usize;
    /// True if no item is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Stores an item taken by `pop` and never used (its getter was killed), so that
    /// it is the next one taken again.
    fn restore(&mut self, item: T);
}

/// First in, first out.
pub struct Fifo<T>(VecDeque<T>);

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo(VecDeque::new())
    }
}

impl<T> Order<T> for Fifo<T> {
    fn push(&mut self, item: T) {
        self.0.push_back(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }
    fn peek(&self) -> Option<&T> {
        self.0.front()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn restore(&mut self, item: T) {
        self.0.push_front(item);
    }
}

/// Last in, first out.
pub struct Lifo<T>(Vec<T>);

impl<T> Default for Lifo<T> {
    fn default() -> Self {
        Lifo(Vec::new())
    }
}

impl<T> Order<T> for Lifo<T> {
    fn push(&mut self, item: T) {
        self.0.push(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn peek(&self) -> Option<&T> {
        self.0.last()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn restore(&mut self, item: T) {
        self.0.push(item);
    }
}

/// Smallest first (Python's `heapq`, so gevent's `PriorityQueue`); equal items in no
/// particular order: put `(priority, sequence, item)` tuples for a stable order.
pub struct Priority<T: Ord>(BinaryHeap<Reverse<T>>);

impl<T: Ord> Default for Priority<T> {
    fn default() -> Self {
        Priority(BinaryHeap::new())
    }
}

impl<T: Ord> Order<T> for Priority<T> {
    fn push(&mut self, item: T) {
        self.0.push(Reverse(item));
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|Reverse(item)| item)
    }
    fn peek(&self) -> Option<&T> {
        self.0.peek().map(|Reverse(item)| item)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn restore(&mut self, item: T) {
        self.push(item);
    }
}
