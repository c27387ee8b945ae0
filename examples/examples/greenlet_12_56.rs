//! Twin of seed 004's greenlet program: `test1` prints 12 and switches to `test2`, which
//! prints 56 and switches back; `test1` prints 34 and switches again; `test2` prints
//! 78 and ends, returning to its parent (the main program). `test1` never gets to
//! finish: the output is 12, 56, 34, 78.

use std::cell::RefCell;
use std::rc::Rc;

use greenlet::{Greenlet, Value};

fn main() {
    // gr1 needs a handle to gr2, made after it.
    let gr2_slot: Rc<RefCell<Option<Greenlet>>> = Rc::default();
    let slot = gr2_slot.clone();
    // def test1(): print(12); gr2.switch(); print(34); gr2.switch()
    let gr1 = Greenlet::new(move |_| {
        let gr2 = slot.borrow().clone().expect("gr2 exists before gr1 runs");
        println!("12");
        gr2.switch(()).expect("gr2 is alive");
        println!("34");
        gr2.switch(()).expect("gr2 is alive");
        Value::none()
    });
    let to_gr1 = gr1.clone();
    // def test2(): print(56); gr1.switch(); print(78)
    let gr2 = Greenlet::new(move |_| {
        println!("56");
        to_gr1.switch(()).expect("gr1 is alive");
        println!("78");
        Value::none()
    });
    *gr2_slot.borrow_mut() = Some(gr2);
    // gr1.switch(): comes back here when gr2 returns after printing 78.
    gr1.switch(()).expect("gr1 starts");
    // gr1 is still suspended in its second switch: dropping its last handle kills it
    // (GreenletExit unwinds its stack), as Python's garbage collector would.
    drop(gr1);
}
