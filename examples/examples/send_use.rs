//! Twin of seed 001 §4.3–4.4: `send_use(num)`, where `temp = yield i` receives what
//! `send` passes in (`None` for a plain `next`), then the same counter driven by
//! `__next__`.

use gen_core::Generator;

/// Python §4.3: `def send_use(num)`, printing what each resume sent in.
fn send_use(num: u32) -> Generator<'static, u32, (), &'static str> {
    Generator::with_send(move |y| {
        let mut i = 0;
        while i < num {
            let temp = y.suspend(i);
            println!("{}", temp.unwrap_or("None"));
            i += 1;
        }
    })
}

/// Python §4.4: the same generator without `temp`.
fn count_to(num: u32) -> Generator<'static, u32> {
    Generator::new(move |y| {
        let mut i = 0;
        while i < num {
            y.suspend(i);
            i += 1;
        }
    })
}

fn main() {
    let mut s = send_use(5);
    // print(next(s)), four times: each prints the `None` it sent, then the next `i`.
    for _ in 0..4 {
        println!("{}", s.next().expect("five values"));
    }
    // print(s.send("哈哈")): the generator prints 哈哈, then yields 4.
    let state = s.send("哈哈").expect("the generator is suspended");
    println!("{}", state.yielded().expect("one value left"));

    // §4.4: print(s.__next__()), three times.
    let mut s = count_to(5);
    for _ in 0..3 {
        println!("{}", s.next().expect("five values"));
    }
}
