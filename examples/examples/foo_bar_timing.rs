//! Twin of seed 004's gevent program: `foo` prints `running in foo`, sleeps 2 s and
//! prints `switch to foo again`; `bar` prints `switch to bar`, sleeps 5 s and prints
//! `switch to bar again`. `joinall` waits for both, then the elapsed seconds are
//! printed as Python prints `time.time() - start`: about 5, the longer sleep. Durations
//! follow `SEED_TIME_SCALE` (see `common/mod.rs`).

#[path = "common/mod.rs"]
mod common;

use std::time::Instant;

fn foo() {
    println!("running in foo");
    hub::sleep(common::secs(2.0)).expect("nothing interrupts the sleep");
    println!("switch to foo again");
}

fn bar() {
    println!("switch to bar");
    hub::sleep(common::secs(5.0)).expect("nothing interrupts the sleep");
    println!("switch to bar again");
}

fn main() {
    let start = Instant::now();
    let jobs = [hub::spawn(foo), hub::spawn(bar)];
    hub::joinall(&jobs, None, None).expect("the sleeps end");
    // `{:?}` prints a float as Python's repr does (shortest form, `5.0` not `5`).
    println!("{:?}", start.elapsed().as_secs_f64());
}
