//! Twin of seed 001's `work1`/`work2` (§2.3): two generators taking turns, driven by
//! `next()` in a loop — multitasking by hand, each task yielding to the other.
//!
//! The tutorial's `main` loops forever; this twin stops after [`ROUNDS`] rounds so it
//! ends, and dropping the two generators then closes them. Set `SEED_FAST=1` to skip
//! the half-second sleeps (the tests do).

use std::time::Duration;

use gen_core::Generator;

/// How many times each task runs (the tutorial: forever).
const ROUNDS: usize = 3;

/// Python's `time.sleep(secs)`, skipped when `SEED_FAST` is set.
fn sleep(secs: f64) {
    if std::env::var_os("SEED_FAST").is_none() {
        std::thread::sleep(Duration::from_secs_f64(secs));
    }
}

/// Python's `work1` and `work2`, which differ only in the name they print.
fn work(name: &'static str) -> Generator<'static, ()> {
    Generator::new(move |y| {
        loop {
            println!("----{name}---");
            y.suspend(());
            sleep(0.5);
        }
    })
}

fn main() {
    let mut w1 = work("work1");
    let mut w2 = work("work2");
    for _ in 0..ROUNDS {
        w1.next();
        w2.next();
    }
}
