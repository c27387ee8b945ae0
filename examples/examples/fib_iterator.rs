//! Twin of seed 001 §3.9–3.10: `FibIterator(num)`, an iterator class holding its own
//! state, consumed by `for`, `list(...)` and `tuple(...)`.
//!
//! The tutorial's class says it produces the first `num` numbers of 0, 1, 1, 2, 3, …,
//! but `__next__` advances before returning `start_a`, so it skips the leading 0 and
//! runs one number further: `list(FibIterator(15))` is `[1, 1, 2, …, 610]`, not
//! `[0, 1, 1, …, 377]`. The twin keeps that off-by-one so it prints what the tutorial
//! prints.

use iter_core::{Resume, ResumeError, State};

/// Python's `FibIterator`: a hand-written state machine speaking the resume protocol.
struct FibIterator {
    /// How many numbers to produce.
    all_num: u32,
    /// How many have been produced so far.
    num: u32,
    start_a: u64,
    start_b: u64,
    /// Set once `StopIteration` has been reported; resuming after that is an error.
    stopped: bool,
}

impl FibIterator {
    fn new(num: u32) -> FibIterator {
        FibIterator {
            all_num: num,
            num: 0,
            start_a: 0,
            start_b: 1,
            stopped: false,
        }
    }
}

impl Resume for FibIterator {
    type Yield = u64;
    type Return = ();

    /// Python's `__next__`.
    fn resume(&mut self, arg: ()) -> Result<State<u64, ()>, ResumeError<()>> {
        if self.num < self.all_num {
            self.num += 1;
            (self.start_a, self.start_b) = (self.start_b, self.start_a + self.start_b);
            // The tutorial returns the advanced `start_a`: the off-by-one noted above.
            Ok(State::Yielded(self.start_a))
        } else if !self.stopped {
            self.stopped = true;
            Ok(State::Complete(()))
        } else {
            Err(ResumeError::Finished(arg))
        }
    }
}

/// Python's `__iter__` returning `self`: the iterator is its own iterable.
impl Iterator for FibIterator {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        self.resume(()).ok()?.yielded()
    }
}

/// Formats like Python's `repr` of a tuple: `(1, 2)`, `(1,)`, `()`.
fn py_tuple(items: &[u64]) -> String {
    match items {
        [one] => format!("({one},)"),
        _ => {
            let inner: Vec<String> = items.iter().map(u64::to_string).collect();
            format!("({})", inner.join(", "))
        }
    }
}

fn main() {
    // §3.9: for num in FibIterator(20): print(num)
    for num in FibIterator::new(20) {
        println!("{num}");
    }
    // §3.10: list(...) and tuple(...) consume an iterator too.
    let li: Vec<u64> = FibIterator::new(15).collect();
    println!("{li:?}");
    let tp: Vec<u64> = FibIterator::new(6).collect();
    println!("{}", py_tuple(&tp));
}
