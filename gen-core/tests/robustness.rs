//! Robustness: stack overflow, the map-count budget, leaks over many cycles, destructors
//! on every way out of a generator, and the corners of the protocol `generator.rs` leaves.
//!
//! Tests that abort the process or measure process-wide state (mappings, RSS, live
//! stacks) run in a child: the test binary re-executes itself for that one test with
//! [`CHILD`] set, so the other tests of this binary, running in parallel threads, neither
//! die with it nor disturb its counts.

use std::cell::Cell;
use std::os::unix::process::ExitStatusExt;
use std::panic::{self, AssertUnwindSafe};
use std::process::{Command, Output, Stdio};
use std::rc::Rc;
use std::sync::Once;

use gen_core::{
    Builder, Generator, GeneratorExit, Payload, Resume, ResumeError, StackError, StackPool, State,
    Yielder, live_stacks, stack_budget,
};

/// Environment variable naming the test whose child half a child process runs.
const CHILD: &str = "GEN_CORE_ROBUSTNESS_CHILD";

/// True in the child process started by [`run_child`] for `test`.
fn is_child(test: &str) -> bool {
    std::env::var_os(CHILD).is_some_and(|v| v == test)
}

/// Runs only `test` in a fresh copy of this test binary, with [`CHILD`] set to it.
fn run_child(test: &str) -> Output {
    Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--include-ignored", "--nocapture"])
        .env(CHILD, test)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Runs `test`'s child half and asserts that it ran and passed.
fn child_passes(test: &str) {
    let out = run_child(test);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child for {test} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}

/// Counts drops, to prove destructors on a generator's stack ran.
struct DropCounter(Rc<Cell<usize>>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

thread_local! {
    /// Set while this thread runs code expected to panic.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`, which must panic, and returns the payload. The panic message is kept off
/// stderr; unexpected panics elsewhere are still reported in full.
fn expect_panic<T>(f: impl FnOnce() -> T) -> Payload {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !QUIET.get() {
                default(info);
            }
        }));
    });
    QUIET.set(true);
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.set(false);
    match result {
        Ok(_) => panic!("expected a panic"),
        Err(payload) => payload,
    }
}

// ---- Stack overflow ----------------------------------------------------------------

/// Recurses until the stack runs out; the frame is kept alive so it cannot be elided.
fn recurse(y: &Yielder<u64>, depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 32]);
    if std::hint::black_box(depth == u64::MAX) {
        y.suspend(depth);
        return 0;
    }
    recurse(y, depth + 1) + frame[7]
}

#[test]
fn stack_overflow_aborts_naming_the_generator() {
    const TEST: &str = "stack_overflow_aborts_naming_the_generator";
    if is_child(TEST) {
        // An abort may dump core; that file would only litter the working directory.
        let no_core = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: setrlimit only reads the struct passed to it.
        unsafe { libc::setrlimit(libc::RLIMIT_CORE, &no_core) };
        let mut g: Generator<u64, u64> = Builder::new()
            .name("deep-diver")
            .build(|y| recurse(y, 0))
            .unwrap();
        g.next();
        unreachable!("the recursion has no end");
    }
    let out = run_child(TEST);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "child should abort, got {}:\n{stderr}",
        out.status
    );
    assert!(
        stderr.contains("coroutine 'deep-diver' has overflowed its stack"),
        "{stderr}"
    );
}

// ---- Map-count budget --------------------------------------------------------------

#[test]
fn stack_budget_is_refused_cleanly_and_the_process_survives() {
    const TEST: &str = "stack_budget_is_refused_cleanly_and_the_process_survives";
    if !is_child(TEST) {
        return child_passes(TEST);
    }
    let limit = stack_budget();
    if limit > 100_000 {
        // Exhausting a budget this large takes gigabytes; the default
        // vm.max_map_count (65530) gives about 24.5k stacks.
        eprintln!("skipped: vm.max_map_count allows {limit} stacks, too many to exhaust here");
        return;
    }
    // Started generators, each suspended with live frames on its stack.
    let mut held = Vec::new();
    let err = loop {
        match Builder::new().build(|y: &Yielder<usize>| y.suspend(1)) {
            Ok(mut g) => {
                assert_eq!(g.next(), Some(1));
                held.push(g);
            }
            Err(e) => break e,
        }
    };
    assert!(
        matches!(err, StackError::Budget { live, limit: l } if live == limit && l == limit),
        "{err:?}"
    );
    assert!(err.to_string().contains("vm.max_map_count"), "{err}");
    assert_eq!(held.len(), limit);
    assert_eq!(live_stacks(), limit);

    // The allocator and thread creation still get their mappings.
    let big = vec![1u8; 64 << 20];
    assert_eq!(big.iter().map(|&b| usize::from(b)).sum::<usize>(), 64 << 20);
    drop(big);
    assert_eq!(std::thread::spawn(|| 7).join().unwrap(), 7);

    // Dropping closes generators and frees their stacks: the pool keeps up to its
    // capacity, the rest are unmapped, and new generators can be made again.
    let capacity = StackPool::with(|p| p.capacity());
    held.truncate(limit - capacity - 100);
    assert_eq!(StackPool::with(|p| p.cached()), capacity);
    assert_eq!(live_stacks(), limit - 100);
    let mut pooled: Generator<i32> = Generator::new(|y| {
        y.suspend(2);
    });
    assert_eq!(pooled.next(), Some(2));
    let mut fresh: Generator<i32> = Builder::new()
        .stack_size(64 * 1024)
        .build(|y| {
            y.suspend(3);
        })
        .unwrap();
    assert_eq!(fresh.next(), Some(3));
    assert_eq!(live_stacks(), limit - 99);
}

// ---- No leaks over many cycles -----------------------------------------------------

fn maps_lines() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

fn rss_kib() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// One generator created, run and finished, in one of the ways a generator can end.
fn cycle(i: usize) {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let body = move |y: &Yielder<usize>| {
        let _guard = DropCounter(d);
        y.suspend(i);
        if i % 5 == 3 {
            panic!("cycle {i}");
        }
        y.suspend(i + 1);
        i
    };
    // Now and then named and off the pool's size (a fresh mmap and munmap); 97 is
    // coprime to 5, so those end in every way too.
    let mut g = match i % 97 {
        0 => Builder::new()
            .name(format!("cycle-{i}"))
            .stack_size(64 * 1024)
            .build(body)
            .unwrap(),
        _ => Generator::new(body),
    };
    assert_eq!(g.next(), Some(i));
    match i % 5 {
        0 => {
            assert_eq!(g.by_ref().count(), 1);
            assert_eq!(g.return_value(), Some(&i));
        }
        1 => {} // dropped while suspended, below
        2 => g.close().unwrap(),
        3 => {
            expect_panic(|| g.next());
        }
        _ => assert_eq!(g.send(()).unwrap(), State::Yielded(i + 1)),
    }
    drop(g);
    assert_eq!(drops.get(), 1);
}

#[test]
fn hundred_thousand_cycles_leak_nothing() {
    const TEST: &str = "hundred_thousand_cycles_leak_nothing";
    if !is_child(TEST) {
        return child_passes(TEST);
    }
    // Warm up: the pool, the allocator's arenas and the panic machinery settle.
    (0..2_000).for_each(cycle);
    let (maps, rss, stacks) = (maps_lines(), rss_kib(), live_stacks());
    (0..100_000).for_each(cycle);
    let (maps_after, rss_after, stacks_after) = (maps_lines(), rss_kib(), live_stacks());
    assert_eq!(stacks_after, stacks, "coroutine stacks leaked");
    assert!(
        maps_after.abs_diff(maps) <= 4,
        "mappings: {maps} before, {maps_after} after"
    );
    assert!(
        rss_after < rss + 8 * 1024,
        "RSS: {rss} KiB before, {rss_after} KiB after"
    );
}

// ---- Destructors on every way out ---------------------------------------------------

#[test]
fn panic_runs_destructors_of_every_frame() {
    fn dive(depth: usize, drops: &Rc<Cell<usize>>, y: &Yielder<()>) {
        let _frame = DropCounter(drops.clone());
        if depth == 0 {
            y.suspend(());
            panic!("bottom");
        }
        dive(depth - 1, drops, y);
    }
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let mut g = Generator::new(move |y| dive(9, &d, y));
    assert_eq!(g.next(), Some(()));
    assert_eq!(drops.get(), 0);
    let err = expect_panic(|| g.next());
    assert_eq!(err.downcast_ref::<&str>(), Some(&"bottom"));
    assert_eq!(drops.get(), 10, "one guard per frame");
    assert_eq!(
        Rc::strong_count(&drops),
        1,
        "the closure's captures are dropped"
    );
}

#[test]
fn break_out_of_for_loop_closes_the_generator() {
    let drops = Rc::new(Cell::new(0));
    let after_loop = Rc::new(Cell::new(false));
    let (d, a) = (drops.clone(), after_loop.clone());
    let g = Generator::new(move |y| {
        let _guard = DropCounter(d);
        for i in 0..10 {
            y.suspend(i);
        }
        a.set(true);
    });
    let mut seen = Vec::new();
    for v in g {
        seen.push(v);
        if v == 2 {
            break;
        }
    }
    assert_eq!(seen, [0, 1, 2]);
    assert_eq!(drops.get(), 1);
    assert!(
        !after_loop.get(),
        "closing unwinds; it does not run the rest"
    );
}

/// A generator suspended while driving another, suspended one.
fn outer_driving_inner(drops: &Rc<Cell<usize>>) -> Generator<'static, i32> {
    let (d_outer, d_inner) = (drops.clone(), drops.clone());
    Generator::new(move |y| {
        let _outer = DropCounter(d_outer);
        let inner = Generator::new(move |yi| {
            let _inner = DropCounter(d_inner);
            for i in 0.. {
                yi.suspend(i);
            }
        });
        for v in inner {
            y.suspend(v);
            if v == 1 {
                panic!("outer gives up");
            }
        }
    })
}

#[test]
fn dropping_a_generator_driving_another_drops_both_stacks_locals() {
    let drops = Rc::new(Cell::new(0));
    let mut outer = outer_driving_inner(&drops);
    assert_eq!(outer.next(), Some(0));
    drop(outer);
    assert_eq!(drops.get(), 2);
    assert_eq!(Rc::strong_count(&drops), 1);
}

#[test]
fn panic_in_a_generator_driving_another_drops_both_stacks_locals() {
    // The inner generator is dropped while the outer one unwinds from a panic.
    let drops = Rc::new(Cell::new(0));
    let mut outer = outer_driving_inner(&drops);
    assert_eq!(outer.by_ref().take(2).collect::<Vec<_>>(), [0, 1]);
    let err = expect_panic(|| outer.next());
    assert_eq!(err.downcast_ref::<&str>(), Some(&"outer gives up"));
    assert_eq!(drops.get(), 2);
    assert!(outer.is_finished());
}

#[test]
fn dropping_an_unstarted_generator_drops_captures_without_running() {
    let drops = Rc::new(Cell::new(0));
    let ran = Rc::new(Cell::new(false));
    let (d, r) = (DropCounter(drops.clone()), ran.clone());
    let g: Generator<()> = Generator::new(move |_| {
        let _d = d;
        r.set(true);
    });
    drop(g);
    assert!(!ran.get());
    assert_eq!(drops.get(), 1);
}

#[test]
fn finished_generator_drops_its_locals_once() {
    let drops = Rc::new(Cell::new(0));
    let d = DropCounter(drops.clone());
    let mut g = Generator::new(move |y| {
        let _d = d;
        y.suspend(1);
    });
    assert_eq!(g.by_ref().count(), 1);
    assert_eq!(drops.get(), 1);
    g.close().unwrap();
    drop(g);
    assert_eq!(drops.get(), 1);
}

// ---- Protocol corners ---------------------------------------------------------------

#[test]
fn resume_with_a_value_before_start_is_refused() {
    let mut g = Generator::with_send(|y: &Yielder<i32, i32>| y.suspend(0));
    assert_eq!(g.resume(Some(4)), Err(ResumeError::NotStarted(Some(4))));
    assert!(!g.is_started(), "a refused resume does not start it");
    assert_eq!(g.resume(None), Ok(State::Yielded(0)));
    assert_eq!(g.resume(Some(4)), Ok(State::Complete(Some(4))));
}

#[test]
fn send_after_panic_or_close_reports_finished() {
    let mut g = Generator::with_send(|y: &Yielder<(), u8>| {
        y.suspend(());
        panic!("gone");
    });
    g.next();
    expect_panic(|| g.send(1));
    assert_eq!(g.send(2), Err(ResumeError::Finished(2)));

    let mut closed = Generator::with_send(|y: &Yielder<(), u8>| y.suspend(()));
    closed.close().unwrap();
    assert_eq!(closed.send(3), Err(ResumeError::Finished(3)));
    assert_eq!(closed.next(), None);
}

#[test]
fn close_after_return_keeps_the_return_value() {
    let mut g = Generator::new(|y| {
        y.suspend(1);
        "done"
    });
    assert_eq!(g.by_ref().count(), 1);
    g.close().unwrap();
    assert_eq!(g.return_value(), Some(&"done"));
}

#[test]
fn close_reraises_a_different_panic_raised_while_closing() {
    let mut g: Generator<i32> = Generator::new(|y| {
        let _ = panic::catch_unwind(AssertUnwindSafe(|| y.suspend(1)));
        panic!("cleanup failed");
    });
    g.next();
    let err = expect_panic(|| g.close());
    assert_eq!(err.downcast_ref::<&str>(), Some(&"cleanup failed"));
    assert!(g.is_finished());
}

#[test]
fn throw_caught_then_return_completes() {
    let mut g: Generator<i32, &str> =
        Generator::new(
            |y| match panic::catch_unwind(AssertUnwindSafe(|| y.suspend(1))) {
                Err(p) if p.is::<u8>() => "handled",
                _ => "not thrown",
            },
        );
    g.next();
    assert_eq!(g.throw(9u8).unwrap(), State::Complete("handled"));
    assert!(g.is_finished());
}

/// Python's `gen.throw(GeneratorExit)` on a suspended generator finishes it and raises
/// `GeneratorExit` in the caller. gen-core instead reaches the
/// `unreachable!("only close raises GeneratorExit")` in `Resumed::into_state`, so the
/// caller sees an "internal error: entered unreachable code" panic.
#[test]
fn throw_generator_exit_reraises_it() {
    let mut g: Generator<i32> = Generator::new(|y| {
        y.suspend(1);
    });
    g.next();
    let err = expect_panic(|| g.throw(GeneratorExit));
    let message = err
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| err.downcast_ref::<String>().map(String::as_str));
    assert!(err.is::<GeneratorExit>(), "panicked with {message:?}");
    assert!(g.is_finished());
}

/// Yields from a destructor, so it suspends again while `close` unwinds it.
struct YieldOnDrop<'y>(&'y Yielder<i32>);

impl Drop for YieldOnDrop<'_> {
    fn drop(&mut self) {
        self.0.suspend(99);
    }
}

/// A generator that suspends in a destructor while `close` unwinds it would carry a
/// half-finished unwind (and the thread's panic count) over to its resumer. gen-core
/// refuses: `suspend` during unwinding prints why and aborts (run in a child).
#[test]
fn suspend_during_unwind_aborts_with_a_message() {
    const TEST: &str = "suspend_during_unwind_aborts_with_a_message";
    if is_child(TEST) {
        let mut g: Generator<i32> = Generator::new(|y| {
            let _d = YieldOnDrop(y);
            y.suspend(1);
        });
        assert_eq!(g.next(), Some(1));
        let _ = g.close();
        unreachable!("close must not return");
    }
    let out = run_child(TEST);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{stderr}");
    assert!(
        stderr.contains("tried to suspend while it was being unwound"),
        "{stderr}"
    );
}
