//! Twin of seed 001 §4.2 (method 1): `[x*2 for x in range(3)]`, a list computed at once,
//! against `(x*2 for x in range(3))`, a generator that computes each item when asked.
//!
//! Printing the generator shows it has not started: nothing is computed until `next()`.
//! (Python prints `<generator object <genexpr> at 0x…>`.) The tutorial's last loop,
//! over `range(5)`, shows only `0 2 4`; Python prints `0 2 4 6 8`, and so does the twin.

use std::ops::Range;

use gen_core::{Builder, Generator};

/// Python's `(x*2 for x in range)`, named as Python names generator expressions.
fn genexpr(range: Range<i32>) -> Generator<'static, i32> {
    Builder::new()
        .name("<genexpr>")
        .build(move |y| {
            for x in range {
                y.suspend(x * 2);
            }
        })
        .expect("a stack for one generator")
}

fn main() {
    let l: Vec<i32> = (0..3).map(|x| x * 2).collect();
    println!("{l:?}");

    let mut g = genexpr(0..3);
    println!("{g:?}");
    for _ in 0..3 {
        println!("{}", g.next().expect("three items"));
    }

    let g = genexpr(0..5);
    for x in g {
        println!("{x}");
    }
}
