//! Twin of seed 002's `gevent.select` program: `gr1` and `gr2` each call
//! `select.select([], [], [], 2)` — a 2 s poll of nothing — while `gr3` says hello and
//! sleeps 1 s. The cooperative select parks only its own greenlet, so all three
//! start at once and both polls end at about 2.0 s (not 4).
//!
//! Times are printed as the tutorial's `tic()` does, `at %1.1f seconds`, in tutorial
//! seconds: the elapsed time divided by `SEED_TIME_SCALE` (see `common/mod.rs`), so a
//! scaled run prints the same numbers.

#[path = "common/mod.rs"]
mod common;

use std::time::Instant;

/// Python's `tic()`: the time since `start`, in tutorial seconds.
fn tic(start: Instant) -> String {
    let scale = common::time_scale();
    let secs = if scale > 0.0 {
        start.elapsed().as_secs_f64() / scale
    } else {
        0.0
    };
    format!("at {secs:1.1} seconds")
}

/// `gr1` and `gr2`, which are the same function.
fn poll(start: Instant) {
    println!("Started Polling: {}", tic(start));
    monkey::select::select(&[], &[], &[], Some(common::secs(2.0))).expect("a poll of nothing");
    println!("Ended Polling: {}", tic(start));
}

fn gr3(start: Instant) {
    println!(
        "Hey lets do some stuff while the greenlets poll, {}",
        tic(start)
    );
    hub::sleep(common::secs(1.0)).expect("nothing interrupts the sleep");
}

fn main() {
    let start = Instant::now();
    let jobs = [
        hub::spawn(move || poll(start)),
        hub::spawn(move || poll(start)),
        hub::spawn(move || gr3(start)),
    ];
    hub::joinall(&jobs, None, None).expect("the polls end");
}
