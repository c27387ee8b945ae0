//! Twin of seed 003's asyncio program: `test1`, `test2` and `test3` sleep 3, 2 and 5 s
//! (`await asyncio.sleep`) and print `washer1/2/3 finished`; one event loop runs all
//! three until the last is done, then the elapsed time is printed as a Python
//! `timedelta` (`0:00:05.009762` in the tutorial): about 5 s, the longest wait, not
//! the 10 s sum.
//!
//! The hub is the event loop, each coroutine a greenlet; `joinall` is
//! `loop.run_until_complete(asyncio.wait(tasks))`. Durations follow
//! `SEED_TIME_SCALE` (see `common/mod.rs`).

#[path = "common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

fn washer(number: u32, seconds: f64) {
    hub::sleep(common::secs(seconds)).expect("nothing interrupts the sleep");
    println!("washer{number} finished");
}

/// `str(datetime.timedelta)` for durations under a day: `H:MM:SS[.ffffff]`.
fn timedelta(d: Duration) -> String {
    let secs = d.as_secs();
    let micros = d.subsec_micros();
    let hms = format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    if micros == 0 {
        hms
    } else {
        format!("{hms}.{micros:06}")
    }
}

fn main() {
    let time1 = Instant::now();
    let tasks = [
        hub::spawn(|| washer(1, 3.0)),
        hub::spawn(|| washer(2, 2.0)),
        hub::spawn(|| washer(3, 5.0)),
    ];
    hub::joinall(&tasks, None, None).expect("the sleeps end");
    println!("{}", timedelta(time1.elapsed()));
}
