//! Twin of seed 001 §4.2 (method 2): `fib(n)` yields the Fibonacci numbers and then
//! `return 'done'`; the caller gets `'done'` from `StopIteration.value`.
//!
//! Here the return value arrives as [`State::Complete`]. The tutorial runs its
//! `while`/`next` loop on the generator its `for` loop already exhausted, so Python
//! really prints `生成器返回值:None` there (a finished generator has no value left);
//! the twin runs that loop on a fresh `fib(5)` to show the lesson the text describes.

use gen_core::Generator;
use iter_core::{Resume, State};

/// Python: `def fib(n)`, a generator returning `'done'`.
fn fib(n: u32) -> Generator<'static, u64, &'static str> {
    Generator::new(move |y| {
        let mut current = 0;
        let (mut num1, mut num2) = (0u64, 1u64);
        while current < n {
            y.suspend(num1);
            (num1, num2) = (num2, num1 + num2);
            current += 1;
        }
        "done"
    })
}

fn main() {
    // A `for` loop sees only the yielded values.
    let fib1 = fib(5);
    for i in fib1 {
        println!("{i}");
    }

    // Resuming by hand also sees how it ended: Python's `except StopIteration as e`.
    let mut fib2 = fib(5);
    loop {
        match fib2.resume(None).expect("never resumed after it completes") {
            State::Yielded(x) => println!("value:{x}"),
            State::Complete(value) => {
                println!("生成器返回值:{value}");
                break;
            }
        }
    }
}
