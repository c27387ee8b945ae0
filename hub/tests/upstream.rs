//! Behaviours that python-greenlet's and gevent's own test suites check, each test
//! named after the upstream test it mirrors (gevent's `src/gevent/tests/test__*.py`).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use greenlet::{Greenlet, Value};
use hub::{Error, Event, Timeout, joinall, sleep, spawn, yield_now};

const MS: Duration = Duration::from_millis(1);

/// Keeps the CPU busy (no wait) until `d` has passed: deadlines pass meanwhile.
fn spin(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// Two timeouts expire while the greenlet is woken but not yet resumed: each
/// interrupts one later wait, none is lost (test__api_timeout.py `test_nested_timeout`).
fn nested_timeouts_expired_before_resume(outer_ms: u32, inner_ms: u32) -> (bool, bool) {
    let event = Event::new();
    let result = Rc::new(Cell::new((false, false)));
    let waiter = {
        let (event, result) = (event.clone(), result.clone());
        spawn(move || {
            let outer = Timeout::start(outer_ms * MS);
            let inner = Timeout::start(inner_ms * MS);
            event.wait(None).unwrap(); // woken below, resumed only after both fired
            assert_eq!(sleep(10_000 * MS), Err(Error::Timeout));
            let inner_first = inner.interrupted();
            drop(inner);
            // The outer one still interrupts the next wait, whichever fired first.
            let second = sleep(50 * MS);
            result.set((
                inner_first,
                second == Err(Error::Timeout) && outer.interrupted(),
            ));
        })
    };
    yield_now().unwrap(); // the waiter arms its timeouts and parks
    event.set();
    spin((outer_ms.max(inner_ms) + 5) * MS); // both deadlines pass before it resumes
    waiter.join().unwrap();
    result.get()
}

#[test]
fn test_nested_timeout() {
    // Inner shorter: the inner one interrupts first, then the outer one.
    let (inner_first, outer_later) = nested_timeouts_expired_before_resume(20, 5);
    assert!(inner_first, "the inner timeout interrupts the first wait");
    assert!(outer_later, "the outer timeout is not lost");
    // Outer shorter: the outer one interrupts the first wait (and it is not lost).
    let (inner_first, outer_later) = nested_timeouts_expired_before_resume(5, 20);
    assert!(
        !inner_first,
        "the outer timeout fired first and interrupts first"
    );
    assert!(!outer_later, "the outer timeout interrupts once only");
}

#[test]
fn test_nested_timeout_while_parked() {
    // Both expire while the greenlet is parked: the earlier one interrupts this wait,
    // the later one (still armed) the next.
    let t1 = Timeout::start(5 * MS);
    let t2 = Timeout::start(10 * MS);
    spin(15 * MS);
    assert_eq!(sleep(10_000 * MS), Err(Error::Timeout));
    assert!(t1.interrupted() && !t2.interrupted());
    assert_eq!(sleep(10_000 * MS), Err(Error::Timeout));
    assert!(t2.interrupted());
    // A cancelled pending timeout interrupts nothing.
    let t3 = Timeout::start(MS);
    spin(5 * MS);
    yield_now().unwrap_err();
    let t4 = Timeout::start(MS);
    spin(5 * MS);
    let _ = Event::new().wait(Some(MS)); // t4 fires while this wait is woken by its own deadline
    t4.cancel();
    assert_eq!(sleep(MS), Ok(()));
    assert!(t3.interrupted());
}

/// A deadline that passes during CPU work is delivered at the next `sleep(0)`
/// (test__sleep0.py / test__timeout.py `test_expires`).
#[test]
fn test_expires_at_sleep0() {
    let t = Timeout::start(2 * MS);
    spin(5 * MS);
    assert_eq!(yield_now(), Err(Error::Timeout));
    assert!(t.interrupted());
    // Once delivered, it is spent: the next yield is fine.
    assert_eq!(sleep(Duration::ZERO), Ok(()));
    // Not yet passed: a yield is not interrupted.
    let t = Timeout::start(10_000 * MS);
    assert_eq!(yield_now(), Ok(()));
    assert!(!t.fired());
}

/// `joinall` under an outer `Timeout` raises it, with or without a timeout of its own
/// (gevent.testing.timing `test_outer_timeout_is_not_lost`, run by test__joinall.py).
#[test]
fn test_outer_timeout_is_not_lost() {
    let stuck = spawn(|| sleep(10_000 * MS));
    for own in [None, Some(10_000 * MS)] {
        let t = Timeout::start(5 * MS);
        assert_eq!(joinall([&stuck], own, None), Err(Error::Timeout));
        assert!(t.interrupted(), "the outer timeout is the one reported");
    }
    // Its own timeout passing is not an error: the finished subset comes back.
    let quick = spawn(|| Ok(()));
    assert_eq!(joinall([&stuck, &quick], Some(5 * MS), None), Ok(vec![1]));
    stuck.kill().unwrap();
}

/// A raw greenlet that blocks on the hub is resumed by it, not its parent task
/// (test__hub.py `TestWaiterGet`: the waiter switches back to whoever waited).
#[test]
fn test_waiter_resumes_raw_greenlet() {
    let task = spawn(|| {
        let log = Rc::new(RefCell::new(Vec::new()));
        let child = {
            let log = log.clone();
            Greenlet::new(move |_| {
                log.borrow_mut().push("child sleeps");
                sleep(2 * MS).unwrap();
                log.borrow_mut().push("child woke");
                Value::new(7u32)
            })
        };
        let back = child.switch(()).unwrap();
        log.borrow_mut().push("parent resumed");
        (back.downcast::<u32>().ok(), log.take(), child.is_dead())
    });
    let (value, log, dead) = task.join().unwrap();
    assert_eq!(value, Some(7));
    assert_eq!(log, ["child sleeps", "child woke", "parent resumed"]);
    assert!(dead);

    // The same from the thread's root greenlet.
    let child = Greenlet::new(|_| Value::new(sleep(MS).is_ok()));
    let back = child.switch(()).unwrap();
    assert_eq!(back.downcast::<bool>().ok(), Some(true));
}

/// A greenlet switched straight into while it sleeps gets an error from the sleep
/// instead of a sleep that ended early (test__api.py `test_sleep_invalid_switch`).
#[test]
fn test_sleep_invalid_switch() {
    let slot: Rc<RefCell<Option<Greenlet>>> = Rc::default();
    let sleeper = {
        let slot = slot.clone();
        spawn(move || {
            *slot.borrow_mut() = Some(greenlet::getcurrent());
            let start = Instant::now();
            (sleep(500 * MS), start.elapsed())
        })
    };
    yield_now().unwrap(); // it starts and parks
    let target = slot.borrow_mut().take().unwrap();
    let switcher = spawn(move || {
        let _ = target.switch(());
    });
    let (result, _) = sleeper.join().unwrap();
    assert_eq!(result, Err(Error::InvalidSwitch));
    assert!(Error::InvalidSwitch.to_string().contains("invalid switch"));
    // The stray switcher is stuck in its switch; killing it works.
    switcher.kill().unwrap();
    assert_eq!(switcher.join(), Err(Error::Killed));
    // The hub is sound afterwards: a real sleep sleeps.
    let start = Instant::now();
    sleep(5 * MS).unwrap();
    assert!(start.elapsed() >= 5 * MS);
}
