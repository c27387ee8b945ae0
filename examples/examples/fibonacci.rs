//! Twin of `fibonacci(num)` from seeds 000 and 001: a generator that yields the first
//! `num` Fibonacci numbers, suspending at each `yield` and resuming right after it.
//!
//! The tutorial defines the generator without calling it; this twin iterates it with
//! `for` and prints each number: `cargo run -p examples --example fibonacci [NUM]`
//! (NUM defaults to 10).

use gen_core::Generator;

/// The largest `num` whose numbers (and the one computed ahead) fit in a `u128`;
/// Python's integers have no such limit.
const MAX_NUM: u32 = 185;

/// Python: `def fibonacci(num)`. Each `suspend` hands `result` to the caller and freezes
/// the generator there until the next `next()`.
fn fibonacci(num: u32) -> Generator<'static, u128> {
    Generator::new(move |y| {
        let (mut a, mut b) = (0u128, 1u128);
        // The index of the next number to produce.
        let mut current_index = 0;
        while current_index < num {
            let result = a;
            (a, b) = (b, a + b);
            y.suspend(result);
            current_index += 1;
        }
    })
}

fn main() {
    let num = match std::env::args().nth(1) {
        None => 10,
        Some(arg) => match arg.parse() {
            Ok(n) if n <= MAX_NUM => n,
            _ => {
                eprintln!("usage: fibonacci [NUM], NUM a whole number up to {MAX_NUM}");
                std::process::exit(2);
            }
        },
    };
    for n in fibonacci(num) {
        println!("{n}");
    }
}
