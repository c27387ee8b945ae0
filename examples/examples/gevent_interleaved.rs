//! Twin of seed 001 §4.6 "gevent切换执行": the same three `f(5)` greenlets, but each
//! calls `gevent.sleep(0.3)` after printing. A sleep switches to the hub, which runs
//! the next greenlet: the lines interleave (0 0 0 1 1 1 …) and the whole run takes
//! about 5 × 0.3 = 1.5 s, not 4.5 s. Durations follow `SEED_TIME_SCALE` (see
//! `common/mod.rs`).
//!
//! As in `gevent_sequential`, the tutorial prints the function
//! `gevent.getcurrent` rather than calling it; the twin prints the same lines.

#[path = "common/mod.rs"]
mod common;

fn f(n: u32) {
    for i in 0..n {
        println!("<built-in function getcurrent> {i}");
        // A stand-in for slow work; unlike time.sleep it lets the others run.
        hub::sleep(common::secs(0.3)).expect("nothing interrupts the sleep");
    }
}

fn main() {
    let g1 = hub::spawn(|| f(5));
    let g2 = hub::spawn(|| f(5));
    let g3 = hub::spawn(|| f(5));
    for g in [g1, g2, g3] {
        g.join().expect("f does not fail");
    }
}
