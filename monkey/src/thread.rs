//! `std::thread::sleep` and `yield_now` that let the other greenlets run (gevent's
//! patched `time.sleep`, and `gevent.sleep(0)`).

use std::time::Duration;

/// Suspends the current greenlet for `dur`; the hub runs the others meanwhile. From
/// a thread's root code it runs the loop for that long. `sleep(Duration::ZERO)` lets
/// every other ready greenlet run once (gevent's `sleep(0)`), where std would return
/// at once.
///
/// Like std's, it returns nothing: if a [`hub::Timeout`] of the caller's fires
/// first, the sleep ends early and the `Timeout` records it (`with_timeout` returns
/// `Err`). Called from a hub callback, which cannot switch away, it blocks the
/// thread as std's does. A kill unwinds from it.
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use std::time::Duration;
///
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let sleeper = |name: &'static str, log: Rc<RefCell<Vec<String>>>| {
///     move || {
///         log.borrow_mut().push(format!("{name} sleeps"));
///         monkey::thread::sleep(Duration::from_millis(50));
///         log.borrow_mut().push(format!("{name} wakes"));
///     }
/// };
/// let a = hub::spawn(sleeper("a", log.clone()));
/// let b = hub::spawn(sleeper("b", log.clone()));
/// a.join().unwrap();
/// b.join().unwrap();
/// // The sleeps overlapped: b fell asleep while a slept.
/// assert_eq!(*log.borrow(), ["a sleeps", "b sleeps", "a wakes", "b wakes"]);
/// ```
pub fn sleep(dur: Duration) {
    if let Err(hub::Error::BlockingInHub) = hub::sleep(clamp(dur)) {
        std::thread::sleep(dur);
    }
    // Any other error is a Timeout interrupting the sleep: it has been recorded on
    // the Timeout, and a sleep has nothing more to report.
}

/// About a century: longer sleeps are cut to this, so that the deadline fits in an
/// `Instant` (std's sleep accepts `Duration::MAX`; the hub's timers would overflow).
const LONGEST: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

pub(crate) fn clamp(dur: Duration) -> Duration {
    dur.min(LONGEST)
}

/// Lets every other ready greenlet run once, then continues (gevent's `sleep(0)`).
/// From a hub callback it yields the thread, as std's does.
pub fn yield_now() {
    if let Err(hub::Error::BlockingInHub) = hub::yield_now() {
        std::thread::yield_now();
    }
}
