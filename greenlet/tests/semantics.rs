//! Core greenlet semantics: switch values, parents, panics, throw, kill, drop.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use greenlet::{Greenlet, GreenletExit, SwitchError, Value, getcurrent};

struct DropCounter(Rc<Cell<usize>>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn switch_passes_values_both_ways() {
    let main = getcurrent();
    let g = Greenlet::new(move |v| {
        let a: i32 = v.downcast().unwrap();
        let b: i32 = main.switch(a + 1).unwrap().downcast().unwrap();
        Value::new(b * 10)
    });
    assert_eq!(g.switch(1).unwrap().downcast::<i32>().unwrap(), 2);
    assert!(g.is_active() && g.is_started());
    // The body returns: its value reaches the parent (root) through this switch.
    assert_eq!(g.switch(5).unwrap().downcast::<i32>().unwrap(), 50);
    assert!(g.is_dead());
    assert!(matches!(g.switch(()), Err(SwitchError::Dead)));
}

#[test]
fn switch_to_self_returns_value() {
    let me = getcurrent();
    assert!(me.is_current());
    assert_eq!(me.switch("x").unwrap().downcast::<&str>().unwrap(), "x");
}

#[test]
fn return_goes_to_parent_not_switcher() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let parent = Greenlet::new(move |_| {
        let l2 = l.clone();
        let child = Greenlet::new(move |_| {
            l2.borrow_mut().push("child runs");
            Value::new("child result")
        });
        // The child is ours (we are current when it is made): its result comes back here.
        let r = child.switch(()).unwrap().downcast::<&str>().unwrap();
        l.borrow_mut().push(r);
        Value::new("parent done")
    });
    assert_eq!(
        parent.switch(()).unwrap().downcast::<&str>().unwrap(),
        "parent done"
    );
    assert_eq!(*log.borrow(), ["child runs", "child result"]);
}

#[test]
fn panic_propagates_to_parent() {
    panic::set_hook(Box::new(|_| {}));
    let g = Greenlet::new(|_| {
        let n = std::hint::black_box(3);
        panic!("failed {n}")
    });
    let err = panic::catch_unwind(AssertUnwindSafe(|| g.switch(()))).unwrap_err();
    assert_eq!(err.downcast_ref::<String>().unwrap(), "failed 3");
    assert!(g.is_dead());
}

#[test]
fn throw_caught_inside() {
    let main = getcurrent();
    let g = Greenlet::new(move |_| {
        match panic::catch_unwind(AssertUnwindSafe(|| main.switch("ready"))) {
            Err(p) => Value::new(*p.downcast::<&str>().unwrap()),
            Ok(_) => Value::new("no error"),
        }
    });
    assert_eq!(g.switch(()).unwrap().downcast::<&str>().unwrap(), "ready");
    assert_eq!(g.throw("oops").unwrap().downcast::<&str>().unwrap(), "oops");
    assert!(g.is_dead());
}

#[test]
fn throw_uncaught_raises_in_parent() {
    let main = getcurrent();
    let g = Greenlet::new(move |_| {
        main.switch(()).unwrap();
        Value::none()
    });
    g.switch(()).unwrap();
    let err = panic::catch_unwind(AssertUnwindSafe(|| g.throw(7u8))).unwrap_err();
    assert_eq!(err.downcast_ref::<u8>(), Some(&7));
    assert!(g.is_dead());
}

#[test]
fn throw_unstarted_never_runs_body() {
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let g = Greenlet::new(move |_| {
        r.set(true);
        Value::none()
    });
    let err = panic::catch_unwind(AssertUnwindSafe(|| g.throw(1u8))).unwrap_err();
    assert!(err.is::<u8>() && g.is_dead() && !ran.get());
}

#[test]
fn kill_unwinds_and_is_not_an_error() {
    let drops = Rc::new(Cell::new(0));
    let (d, main) = (drops.clone(), getcurrent());
    let g = Greenlet::new(move |_| {
        let _guard = DropCounter(d);
        loop {
            main.switch(()).unwrap();
        }
    });
    g.switch(()).unwrap();
    let v = g.kill().unwrap();
    assert!(v.is::<GreenletExit>());
    assert!(g.is_dead());
    assert_eq!(drops.get(), 1);
    assert!(g.kill().unwrap().is::<GreenletExit>()); // killing the dead is a no-op
}

#[test]
fn dropping_last_handle_kills_suspended_greenlet() {
    let drops = Rc::new(Cell::new(0));
    let (d, main) = (drops.clone(), getcurrent());
    let pooled = || gen_core::StackPool::with(|p| p.cached());
    let before = pooled();
    let g = Greenlet::new(move |_| {
        let _guard = DropCounter(d);
        main.switch(()).unwrap();
        Value::none()
    });
    g.switch(()).unwrap();
    drop(g);
    assert_eq!(drops.get(), 1);
    // Its stack went back to this thread's pool: not leaked.
    assert_eq!(pooled(), before.max(1));
}

#[test]
fn parent_cycle_is_an_error() {
    let a = Greenlet::new(|_| Value::none());
    let b = Greenlet::builder().parent(&a).spawn(|_| Value::none());
    assert_eq!(b.parent(), Some(a.clone()));
    assert!(matches!(a.set_parent(&b), Err(SwitchError::Cycle)));
    assert!(matches!(a.set_parent(&a), Err(SwitchError::Cycle)));
    assert!(matches!(
        getcurrent().set_parent(&a),
        Err(SwitchError::Root)
    ));
    // A dead parent is skipped: the return goes on to the grandparent (root).
    a.switch(()).unwrap();
    assert!(a.is_dead());
    assert!(b.switch(()).unwrap().is_none());
}

#[test]
fn changed_parent_receives_the_return() {
    let main = getcurrent();
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    let child = Greenlet::new(|_| Value::new("from child"));
    let c2 = child.clone();
    let adopter = Greenlet::new(move |_| {
        c2.set_parent(&getcurrent()).unwrap();
        let v = main.switch("adopted").unwrap();
        l.borrow_mut().push(v.downcast::<&str>().unwrap());
        Value::none()
    });
    assert_eq!(
        adopter.switch(()).unwrap().downcast::<&str>().unwrap(),
        "adopted"
    );
    // The child returns to its new parent, which logs it and returns to root.
    assert!(child.switch(()).unwrap().is_none());
    assert_eq!(*log.borrow(), ["from child"]);
}

#[test]
fn many_greenlets_reuse_stacks() {
    let pooled = || gen_core::StackPool::with(|p| p.cached());
    for i in 0..10_000 {
        let g = Greenlet::new(move |v| Value::new(v.downcast::<i32>().unwrap() + i));
        assert_eq!(g.switch(1).unwrap().downcast::<i32>().unwrap(), 1 + i);
    }
    // Each finished greenlet handed its stack back; the next one reused it.
    assert_eq!(pooled(), 1);
}

#[test]
fn generator_inside_greenlet_can_switch_out() {
    // A generator's body switches greenlets mid-iteration; everything resumes in place.
    let main = getcurrent();
    let g = Greenlet::new(move |_| {
        let m = main.clone();
        let numbers = gen_core::Generator::new(move |y| {
            for i in 0..3 {
                m.switch(i).unwrap();
                y.suspend(i * 100);
            }
        });
        Value::new(numbers.sum::<i32>())
    });
    let mut seen = vec![g.switch(()).unwrap().downcast::<i32>().unwrap()];
    for _ in 0..2 {
        seen.push(g.switch(()).unwrap().downcast::<i32>().unwrap());
    }
    assert_eq!(seen, [0, 1, 2]);
    assert_eq!(g.switch(()).unwrap().downcast::<i32>().unwrap(), 300);
}

#[test]
fn switching_while_unwinding_is_an_error() {
    struct SwitchOnDrop(Greenlet, Rc<RefCell<Option<SwitchError>>>);
    impl Drop for SwitchOnDrop {
        fn drop(&mut self) {
            *self.1.borrow_mut() = self.0.switch(()).err();
        }
    }
    let seen = Rc::new(RefCell::new(None));
    let (s, main) = (seen.clone(), getcurrent());
    let g = Greenlet::new(move |_| {
        let _d = SwitchOnDrop(main.clone(), s);
        main.switch(()).unwrap();
        Value::none()
    });
    g.switch(()).unwrap();
    g.kill().unwrap();
    assert!(matches!(*seen.borrow(), Some(SwitchError::Unwinding)));
    assert!(g.is_dead());
}

#[test]
fn prefetch_hints_change_nothing_in_any_state() {
    let main = getcurrent();
    let g = Greenlet::new(move |v| {
        let n = v.downcast::<i32>().unwrap();
        let m = main.switch(n + 1).unwrap().downcast::<i32>().unwrap();
        Value::new(m * 2)
    });
    let hint = |g: &Greenlet| {
        g.prefetch_record();
        g.prefetch_stack();
    };
    hint(&g); // not started: no stack yet
    assert_eq!(g.switch(1).unwrap().downcast::<i32>().unwrap(), 2);
    hint(&g); // suspended: its saved context must survive the look
    hint(&getcurrent()); // running: no saved context
    assert_eq!(g.switch(5).unwrap().downcast::<i32>().unwrap(), 10);
    assert!(g.is_dead());
    hint(&g); // dead
    assert!(matches!(g.switch(()), Err(SwitchError::Dead)));
}
