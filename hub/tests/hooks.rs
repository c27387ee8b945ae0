//! `hub::hooks`: what a C-ABI hook needs from the hub. A "hook" here is a closure run
//! under `catch_unwind`, as monkey-patch's `extern "C"` functions do.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;
use std::time::Duration;

use hub::hooks::{can_park, defer_kill, kill_deferred};

/// Parks like a hook: a kill is caught and deferred; returns whether it was.
fn hook_wait() -> bool {
    match panic::catch_unwind(AssertUnwindSafe(|| hub::sleep(Duration::from_secs(30)))) {
        Ok(_) => false,
        Err(payload) => {
            assert!(defer_kill(payload).is_ok(), "a kill is deferrable");
            true
        }
    }
}

#[test]
fn can_park_only_in_a_greenlet_of_a_made_hub() {
    // A thread with no hub: never, and asking does not make one.
    let plain = std::thread::spawn(|| {
        let before = can_park();
        (before, can_park())
    });
    assert_eq!(plain.join().unwrap(), (false, false));
    // The thread's own code once its hub exists, and a spawned greenlet: yes.
    hub::Hub::current();
    assert!(can_park());
    assert!(hub::spawn(can_park).join().unwrap());
    // A hub callback: no.
    let seen = Rc::new(Cell::new(None));
    let s = seen.clone();
    let done = hub::spawn(|| ());
    done.link(move || s.set(Some(can_park())));
    done.join().unwrap();
    hub::sleep(Duration::from_millis(1)).unwrap();
    assert_eq!(seen.get(), Some(false));
}

#[test]
fn a_deferred_kill_is_raised_at_the_next_wait() {
    let after = Rc::new(Cell::new(0));
    let a = after.clone();
    let g = hub::spawn(move || {
        assert!(hook_wait(), "the kill reached the hook");
        assert!(kill_deferred());
        a.set(1);
        // The next wait in Rust code unwinds with the kill.
        let _ = hub::sleep(Duration::from_millis(1));
        a.set(2);
    });
    hub::sleep(Duration::from_millis(5)).unwrap();
    g.kill().unwrap();
    assert_eq!(g.join(), Err(hub::Error::Killed));
    assert_eq!(after.get(), 1);
}

#[test]
fn a_deferred_kill_makes_join_say_killed_even_if_the_function_returns() {
    let g = hub::spawn(|| {
        assert!(hook_wait());
        42
    });
    hub::sleep(Duration::from_millis(5)).unwrap();
    g.kill().unwrap();
    assert_eq!(g.join(), Err(hub::Error::Killed));
}

#[test]
fn only_a_kill_can_be_deferred() {
    let not_a_kill: hub::Payload = Box::new("boom");
    assert!(defer_kill(not_a_kill).is_err());
    assert!(!kill_deferred());
}
