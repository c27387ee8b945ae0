//! Timers: an ordered map from deadline to action, O(log n) insert and cancel.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::hub::Hub;
use crate::timeout::TimeoutInner;
use crate::wait::{Waiter, Wake};

/// `now + delay`, saturating 30 years out instead of overflowing `Instant` (a
/// `Duration::MAX` sleep or timeout means "never", not a panic).
pub(crate) fn deadline_after(delay: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(delay)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 30))
}

/// What a timer does when it fires.
pub(crate) enum TimerAction {
    Wake(Waiter, Wake),
    Timeout(Rc<TimeoutInner>),
    Call(Box<dyn FnOnce()>),
}

/// Identifies one armed timer, for cancelling it.
pub(crate) type TimerKey = (Instant, u64);

#[derive(Default)]
pub(crate) struct Timers {
    armed: BTreeMap<TimerKey, TimerAction>,
    next_seq: u64,
}

impl Timers {
    pub(crate) fn insert(&mut self, at: Instant, action: TimerAction) -> TimerKey {
        self.next_seq += 1;
        let key = (at, self.next_seq);
        self.armed.insert(key, action);
        key
    }

    pub(crate) fn insert_call(&mut self, at: Instant, f: Box<dyn FnOnce()>) -> TimerKey {
        self.insert(at, TimerAction::Call(f))
    }

    pub(crate) fn remove(&mut self, key: TimerKey) -> Option<TimerAction> {
        self.armed.remove(&key)
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.armed.first_key_value().map(|((at, _), _)| *at)
    }

    /// Removes and returns the earliest timer due at `now`, if any.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<TimerAction> {
        let entry = self.armed.first_entry()?;
        if entry.key().0 > now {
            return None;
        }
        Some(entry.remove())
    }

    /// Every armed timer, earliest first (for [`crate::run_info`]).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Instant, &TimerAction)> {
        self.armed.iter().map(|((at, _), action)| (*at, action))
    }

    pub(crate) fn len(&self) -> usize {
        self.armed.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.armed.is_empty()
    }
}

/// A timer that wakes a waiter with a timeout, cancelled when dropped.
pub(crate) struct TimerGuard {
    key: TimerKey,
}

impl TimerGuard {
    pub(crate) fn wake_after(delay: Duration, waiter: &Waiter) -> TimerGuard {
        TimerGuard::wake_at(deadline_after(delay), waiter)
    }

    pub(crate) fn wake_at(at: Instant, waiter: &Waiter) -> TimerGuard {
        TimerGuard::arm(at, TimerAction::Wake(waiter.clone(), Wake::TimedOut))
    }

    pub(crate) fn arm(at: Instant, action: TimerAction) -> TimerGuard {
        let key = Hub::current().timers.borrow_mut().insert(at, action);
        TimerGuard { key }
    }
}

impl Drop for TimerGuard {
    fn drop(&mut self) {
        if let Some(hub) = Hub::try_current() {
            // Dropped outside the borrow: the action may own things with destructors.
            let action = hub.timers.borrow_mut().remove(self.key);
            drop(action);
        }
    }
}
