//! Twin of seed 002's "案例1": `foo`, `bar` and `eat` print a start line, sleep 3, 2 and
//! 1 s with `gevent.sleep`, and print an end line; `gevent.joinall` waits for all
//! three. The sleeps overlap, so the ends come shortest first and the run takes about
//! 3 s (the longest), not 6 s (the sum). Durations follow `SEED_TIME_SCALE` (see
//! `common/mod.rs`).
//!
//! Output, as gevent prints it: `foo start`, `bar start`, `eat start`, `eat end `,
//! `bar end`, `foo end`. (`eat` prints `'eat end '` with a trailing space, kept here.
//! The tutorial's pasted output lists the starts as foo, eat, bar; gevent, like the
//! twin, starts the greenlets in spawn order.)

#[path = "common/mod.rs"]
mod common;

fn foo() {
    println!("foo start");
    hub::sleep(common::secs(3.0)).expect("nothing interrupts the sleep");
    println!("foo end");
}

fn bar() {
    println!("bar start");
    hub::sleep(common::secs(2.0)).expect("nothing interrupts the sleep");
    println!("bar end");
}

fn eat() {
    println!("eat start");
    hub::sleep(common::secs(1.0)).expect("nothing interrupts the sleep");
    println!("eat end ");
}

fn main() {
    let jobs = [hub::spawn(foo), hub::spawn(bar), hub::spawn(eat)];
    // gevent.joinall([...]): no timeout, wait for every one.
    let finished = hub::joinall(&jobs, None, None).expect("the sleeps end");
    assert_eq!(finished.len(), jobs.len());
}
