//! Twin of seed 001 §3.5: `iter(li)`, then `next()` until `StopIteration`.
//!
//! Rust's `iter()` is Python's `iter()`, its `next()` is `next()`, and Python's
//! `StopIteration` is `next()` returning `None`.

fn main() {
    let li = [11, 22, 33, 44, 55];
    let mut li_iter = li.iter();
    loop {
        match li_iter.next() {
            Some(x) => println!("{x}"),
            None => {
                println!("StopIteration");
                break;
            }
        }
    }
}
