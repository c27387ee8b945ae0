//! The generator protocol: yield, send, return value, throw, close, drop, panics.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use gen_core::{Builder, Generator, GeneratorExit, IgnoredExit, Resume, ResumeError, State};

/// Counts drops, to prove destructors on a generator's stack ran.
struct DropCounter(Rc<Cell<usize>>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

fn silence_panics() {
    panic::set_hook(Box::new(|_| {}));
}

#[test]
fn yields_then_returns() {
    let mut g = Generator::new(|y| {
        y.suspend(1);
        y.suspend(2);
        "done"
    });
    assert!(!g.is_started());
    assert_eq!(g.resume(None).unwrap(), State::Yielded(1));
    assert!(g.is_started());
    assert_eq!(g.resume(None).unwrap(), State::Yielded(2));
    assert_eq!(g.resume(None).unwrap(), State::Complete("done"));
    assert!(g.is_finished());
    assert_eq!(g.resume(None), Err(ResumeError::Finished(None)));
}

#[test]
fn iterator_keeps_return_value() {
    let mut g = Generator::new(|y| {
        for i in 0..5 {
            y.suspend(i);
        }
        42
    });
    assert_eq!(g.by_ref().sum::<i32>(), 10);
    assert_eq!(g.return_value(), Some(&42));
    assert_eq!(g.next(), None);
    assert_eq!(g.take_return_value(), Some(42));
}

#[test]
fn send_passes_values_in() {
    let mut g = Generator::with_send(|y: &gen_core::Yielder<String, &str>| {
        let mut seen = Vec::new();
        while let Some(s) = y.suspend(seen.join(",")) {
            seen.push(s.to_string());
        }
        seen.len()
    });
    assert_eq!(g.send("early"), Err(ResumeError::NotStarted("early")));
    assert_eq!(g.next().as_deref(), Some(""));
    assert_eq!(g.send("a").unwrap(), State::Yielded("a".to_string()));
    assert_eq!(g.send("b").unwrap(), State::Yielded("a,b".to_string()));
    // next() is send(None): the generator sees None and returns.
    assert_eq!(g.resume(None).unwrap(), State::Complete(2));
    assert_eq!(g.send("late"), Err(ResumeError::Finished("late")));
}

#[test]
fn panic_propagates_with_payload_and_finishes() {
    silence_panics();
    let mut g: Generator<i32> = Generator::new(|y| {
        y.suspend(1);
        let n = std::hint::black_box(7);
        panic!("boom {n}");
    });
    assert_eq!(g.next(), Some(1));
    let err = panic::catch_unwind(AssertUnwindSafe(|| g.next())).unwrap_err();
    assert_eq!(
        err.downcast_ref::<String>().map(String::as_str),
        Some("boom 7")
    );
    assert!(g.is_finished());
    assert_eq!(g.next(), None);
}

#[test]
fn close_unwinds_and_runs_destructors() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let mut g: Generator<i32> = Generator::new(move |y| {
        let _guard = DropCounter(d);
        loop {
            y.suspend(0);
        }
    });
    g.next();
    assert_eq!(drops.get(), 0);
    g.close().unwrap();
    assert_eq!(drops.get(), 1);
    assert!(g.is_finished());
    g.close().unwrap(); // closing a finished generator is a no-op
}

#[test]
fn close_unstarted_never_runs_body_but_drops_captures() {
    let drops = Rc::new(Cell::new(0));
    let ran = Rc::new(Cell::new(false));
    let (d, r) = (DropCounter(drops.clone()), ran.clone());
    let mut g: Generator<()> = Generator::new(move |_| {
        let _d = d;
        r.set(true);
    });
    g.close().unwrap();
    assert!(!ran.get());
    assert_eq!(drops.get(), 1);
    assert!(g.is_finished());
}

#[test]
fn drop_suspended_runs_destructors() {
    let drops = Rc::new(Cell::new(0));
    {
        let d = drops.clone();
        let mut g: Generator<i32> = Generator::new(move |y| {
            let _a = DropCounter(d.clone());
            let _b = DropCounter(d);
            loop {
                y.suspend(1);
            }
        });
        g.next();
    }
    assert_eq!(drops.get(), 2);
}

#[test]
fn throw_caught_keeps_going() {
    let mut g: Generator<&str, &str> = Generator::new(|y| {
        let r = panic::catch_unwind(AssertUnwindSafe(|| y.suspend("waiting")));
        match r {
            Err(p) if p.is::<std::io::ErrorKind>() => y.suspend("caught"),
            _ => y.suspend("no error"),
        };
        "end"
    });
    assert_eq!(g.next(), Some("waiting"));
    assert_eq!(
        g.throw(std::io::ErrorKind::TimedOut).unwrap(),
        State::Yielded("caught")
    );
    assert_eq!(g.resume(None).unwrap(), State::Complete("end"));
    assert!(matches!(g.throw(1u8), Err(ResumeError::Finished(1))));
}

#[test]
fn throw_uncaught_reraises_in_caller() {
    let mut g: Generator<i32> = Generator::new(|y| {
        loop {
            y.suspend(0);
        }
    });
    g.next();
    let err = panic::catch_unwind(AssertUnwindSafe(|| g.throw("bad"))).unwrap_err();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"bad"));
    assert!(g.is_finished());
}

#[test]
fn throw_unstarted_raises_without_running() {
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let mut g: Generator<()> = Generator::new(move |_| r.set(true));
    let err = panic::catch_unwind(AssertUnwindSafe(|| g.throw(5u32))).unwrap_err();
    assert_eq!(err.downcast_ref::<u32>(), Some(&5));
    assert!(!ran.get() && g.is_finished());
}

#[test]
fn generator_that_ignores_exit() {
    let mut g: Generator<i32> = Generator::new(|y| {
        loop {
            // Swallows every unwind, GeneratorExit included, and keeps yielding.
            let _ = panic::catch_unwind(AssertUnwindSafe(|| y.suspend(1)));
        }
    });
    g.next();
    assert_eq!(g.close(), Err(IgnoredExit(1)));
    assert!(!g.is_finished());
    // Dropping it leaks its stack with a warning instead of undefined behaviour.
    drop(g);
}

#[test]
fn generator_returning_after_exit_closes_cleanly() {
    let mut g: Generator<i32, &str> =
        Generator::new(
            |y| match panic::catch_unwind(AssertUnwindSafe(|| y.suspend(1))) {
                Err(p) if p.is::<GeneratorExit>() => "cleaned up",
                _ => "other",
            },
        );
    g.next();
    g.close().unwrap();
    assert_eq!(g.return_value(), Some(&"cleaned up"));
}

#[test]
fn nested_generators() {
    let mut outer = Generator::new(|y| {
        let inner = Generator::new(|yi| {
            for i in 0..3 {
                yi.suspend(i);
            }
        });
        for v in inner {
            y.suspend(v * 10);
        }
        let mut inner2: Generator<i32, i32> = Generator::new(|yi| {
            yi.suspend(7);
            9
        });
        y.suspend(inner2.next().unwrap());
        inner2.next();
        *inner2.return_value().unwrap()
    });
    assert_eq!(outer.by_ref().collect::<Vec<_>>(), [0, 10, 20, 7]);
    assert_eq!(outer.return_value(), Some(&9));
}

#[test]
fn deep_recursion_inside_generator() {
    fn depth(n: u32, y: &gen_core::Yielder<u32>) -> u32 {
        let pad = [n as u8; 64];
        if n == 0 {
            y.suspend(0);
            return 0;
        }
        std::hint::black_box(pad);
        depth(n - 1, y) + 1
    }
    let mut g: Generator<u32, u32> = Generator::new(|y| depth(500, y));
    assert_eq!(g.next(), Some(0));
    assert_eq!(g.next(), None);
    assert_eq!(g.return_value(), Some(&500));
}

#[test]
fn large_closure_is_boxed() {
    let big = [7u8; 8192];
    let mut g: Generator<u8, usize> = Generator::new(move |y| {
        y.suspend(big[100]);
        big.len()
    });
    assert_eq!(g.next(), Some(7));
    assert_eq!(g.next(), None);
    assert_eq!(g.return_value(), Some(&8192));
}

#[test]
fn moved_between_resumes() {
    let mut g = Generator::new(|y| {
        y.suspend(1);
        y.suspend(2);
        3
    });
    assert_eq!(g.next(), Some(1));
    let mut boxed = Box::new(g);
    assert_eq!(boxed.next(), Some(2));
    let mut v = [*boxed];
    assert_eq!(v[0].next(), None);
    assert_eq!(v[0].return_value(), Some(&3));
}

#[test]
fn builder_name_and_stack_size() {
    let g: Generator<()> = Builder::new()
        .name("worker")
        .stack_size(64 * 1024)
        .build(|_| ())
        .unwrap();
    assert_eq!(g.name(), Some("worker"));
}
