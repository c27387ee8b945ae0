//! Twin of seed 001 §4.7 "给程序打补丁": after `monkey.patch_all()`, the plain
//! `time.sleep(0.3)` in `f` switches to the hub like `gevent.sleep` would, so the two
//! greenlets take turns (0 0 1 1 … 4 4) and the run takes about 5 × 0.3 = 1.5 s.
//!
//! The twin does what the tutorial does: `monkey_patch::patch_all()` first, then the
//! plain `std::thread::sleep`, which now parks the greenlet on the hub (see the
//! `monkey-patch` crate). As in the tutorial, both greenlets are named `work1` and the
//! line starts with the function `gevent.getcurrent` (printed, not called). Durations
//! follow `SEED_TIME_SCALE` (see `common/mod.rs`).

#[path = "common/mod.rs"]
mod common;

fn f(name: &str, n: u32) {
    for i in 0..n {
        println!("<built-in function getcurrent> name={name} {i}");
        // "用来模拟一个耗时操作,注意不是time模块中的sleep": std's own sleep,
        // cooperative once patched, so the other greenlet runs meanwhile.
        std::thread::sleep(common::secs(0.3));
    }
}

fn main() {
    monkey_patch::patch_all();
    let jobs = [hub::spawn(|| f("work1", 5)), hub::spawn(|| f("work1", 5))];
    hub::joinall(&jobs, None, None).expect("the sleeps end");
}
