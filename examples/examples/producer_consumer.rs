//! Twin of seed 004's `consumer()`/`produce(c)`: a producer hands each item to a
//! consumer generator with `send`, the consumer answers `200 OK` through its next
//! `yield`, and `close()` ends it. One thread, no locks, no queue.
//!
//! The consumer sleeps one second per item, as in the tutorial; set `SEED_FAST=1` to
//! skip the sleeps (the tests do).

use std::time::Duration;

use gen_core::Generator;

/// Python's `time.sleep(secs)`, skipped when `SEED_FAST` is set.
fn sleep(secs: f64) {
    if std::env::var_os("SEED_FAST").is_none() {
        std::thread::sleep(Duration::from_secs_f64(secs));
    }
}

/// Python's `consumer()`: receives an item with each `send`, answers with the next yield.
fn consumer() -> Generator<'static, &'static str, (), u32> {
    Generator::with_send(|y| {
        let mut r = "";
        loop {
            // Python: `n = yield r; if not n: return` (`next()` sends None).
            let Some(n) = y.suspend(r).filter(|&n| n != 0) else {
                return;
            };
            println!("[CONSUMER] ←← Consuming {n}...");
            sleep(1.0);
            r = "200 OK";
        }
    })
}

/// Python's `produce(c)`.
fn produce(c: &mut Generator<'_, &'static str, (), u32>) {
    // Start the consumer: run it up to its first `yield`.
    c.next();
    let mut n = 0;
    while n < 5 {
        n += 1;
        println!("[PRODUCER] →→ Producing {n}...");
        let cr = c
            .send(n)
            .expect("the consumer is suspended")
            .yielded()
            .expect("the consumer answers every item");
        println!("[PRODUCER] Consumer return: {cr}");
    }
    c.close().expect("the consumer lets GeneratorExit through");
}

fn main() {
    let mut c = consumer();
    produce(&mut c);
}
