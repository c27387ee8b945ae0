//! Twin of seed 001 §4.7 "给程序打补丁": after `monkey.patch_all()`, the plain
//! `time.sleep(0.3)` in `f` switches to the hub like `gevent.sleep` would, so the two
//! greenlets take turns (0 0 1 1 … 4 4) and the run takes about 5 × 0.3 = 1.5 s.
//!
//! Rust has nothing to patch: the twin calls `monkey::time::sleep`, the cooperative
//! `time.sleep`, where the tutorial's code calls the patched one. As in the tutorial,
//! both greenlets are named `work1` and the line starts with the function
//! `gevent.getcurrent` (printed, not called). Durations follow `SEED_TIME_SCALE`
//! (see `common/mod.rs`).

#[path = "common/mod.rs"]
mod common;

fn f(name: &str, n: u32) {
    for i in 0..n {
        println!("<built-in function getcurrent> name={name} {i}");
        // "用来模拟一个耗时操作,注意不是time模块中的sleep": a blocking-style sleep
        // that lets the other greenlet run.
        monkey::time::sleep(common::secs(0.3));
    }
}

fn main() {
    let jobs = [hub::spawn(|| f("work1", 5)), hub::spawn(|| f("work1", 5))];
    hub::joinall(&jobs, None, None).expect("the sleeps end");
}
