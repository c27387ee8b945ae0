//! Twin of the greenlet program of seeds 000 and 001 (§4.5, "greenlet"): `test1` prints
//! `---A--` and switches to `test2`, which prints `---B--` and switches back; each
//! blocks half a second (`time.sleep(0.5)`, which greenlet does not make cooperative)
//! after being switched back to.
//!
//! The tutorial's loops run forever (`while True`); here each greenlet makes four
//! rounds, the eight lines the tutorial shows as its output, and the program ends.
//! Durations follow `SEED_TIME_SCALE` (see `common/mod.rs`).

#[path = "common/mod.rs"]
mod common;

use std::cell::RefCell;
use std::rc::Rc;

use greenlet::{Greenlet, Value};

/// The tutorial's `while True`, bounded.
const ROUNDS: usize = 4;

fn main() {
    // gr1 needs a handle to gr2, made after it.
    let gr2_slot: Rc<RefCell<Option<Greenlet>>> = Rc::default();
    let slot = gr2_slot.clone();
    // def test1(): print "---A--"; gr2.switch(); time.sleep(0.5)
    let gr1 = Greenlet::new(move |_| {
        let gr2 = slot.borrow().clone().expect("gr2 exists before gr1 runs");
        for _ in 0..ROUNDS {
            println!("---A--");
            gr2.switch(()).expect("gr2 is alive");
            std::thread::sleep(common::secs(0.5));
        }
        Value::none()
    });
    let to_gr1 = gr1.clone();
    // def test2(): print "---B--"; gr1.switch(); time.sleep(0.5)
    let gr2 = Greenlet::new(move |_| {
        for _ in 0..ROUNDS {
            println!("---B--");
            to_gr1.switch(()).expect("gr1 is alive");
            std::thread::sleep(common::secs(0.5));
        }
        Value::none()
    });
    *gr2_slot.borrow_mut() = Some(gr2);
    // gr1.switch(): runs until gr1 finishes its last round and returns to us (its
    // parent); gr2 is then suspended in its last switch.
    gr1.switch(()).expect("gr1 starts");
    // Dropping the last handle to gr2 kills it, unwinding its stack.
    drop(gr2_slot.borrow_mut().take());
}
