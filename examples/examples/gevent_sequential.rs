//! Twin of seed 001 §4.6 "gevent的使用" (also in seed 000): `gevent.spawn(f, 5)` three
//! times, then `join` each. `f` never blocks, so nothing switches to the hub inside it:
//! the three greenlets run one after another, each printing 0 to 4.
//!
//! The tutorial's `f` prints `gevent.getcurrent` without calling it, so every line of
//! its output reads `<built-in function getcurrent> i`; the twin prints the same lines.
//! (Seed 000 calls `getcurrent()`, which would print each greenlet's repr instead.)

fn f(n: u32) {
    for i in 0..n {
        println!("<built-in function getcurrent> {i}");
    }
}

fn main() {
    // Spawning only schedules: nothing runs until main blocks in the first join.
    let g1 = hub::spawn(|| f(5));
    let g2 = hub::spawn(|| f(5));
    let g3 = hub::spawn(|| f(5));
    for g in [g1, g2, g3] {
        g.join().expect("f does not fail");
    }
}
