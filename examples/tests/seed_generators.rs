//! Runs the twins of the seed tutorials' iterator and generator programs and checks
//! that each prints exactly what its Python program prints.
//!
//! `cargo test` builds a package's examples along with its integration tests, into
//! `<target>/<profile>/examples/`, next to the `deps/` directory holding this binary.

mod common;

use std::time::Duration;

/// Runs example `name` with its sleeps skipped and returns its stdout lines.
fn run(name: &str) -> Vec<String> {
    common::run_example(name, &[], &[("SEED_FAST", "1")], Duration::from_secs(30)).lines
}

#[test]
fn fibonacci() {
    assert_eq!(
        run("fibonacci"),
        ["0", "1", "1", "2", "3", "5", "8", "13", "21", "34"]
    );
}

#[test]
fn work_round_robin() {
    assert_eq!(
        run("work_round_robin"),
        ["----work1---", "----work2---"].repeat(3)
    );
}

#[test]
fn mylist_iterable() {
    assert_eq!(
        run("mylist_iterable"),
        [
            "TypeError: 'int' object is not iterable",
            "TypeError: 'MyList' object is not iterable",
            "True",
            "False",
            "True",
            "False",
            "True",
            "True",
        ]
    );
}

#[test]
fn iter_next() {
    assert_eq!(
        run("iter_next"),
        ["11", "22", "33", "44", "55", "StopIteration"]
    );
}

#[test]
fn mylist_iterator() {
    assert_eq!(
        run("mylist_iterator"),
        [
            "判断my_list是否是可以迭代的对象: True",
            "判断my_list_iterator是否是迭代器: True",
            "张三",
            "李四",
            "王五",
        ]
    );
}

#[test]
fn fib_iterator() {
    let fib20 = [
        1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1597, 2584, 4181, 6765,
    ];
    let mut expected: Vec<String> = fib20.iter().map(u32::to_string).collect();
    expected.push("[1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610]".into());
    expected.push("(1, 1, 2, 3, 5, 8)".into());
    assert_eq!(run("fib_iterator"), expected);
}

#[test]
fn generator_expression() {
    assert_eq!(
        run("generator_expression"),
        [
            "[0, 2, 4]",
            r#"Generator { name: Some("<genexpr>"), started: false, finished: false }"#,
            "0",
            "2",
            "4",
            "0",
            "2",
            "4",
            "6",
            "8",
        ]
    );
}

#[test]
fn fib_return_value() {
    assert_eq!(
        run("fib_return_value"),
        [
            "0",
            "1",
            "1",
            "2",
            "3",
            "value:0",
            "value:1",
            "value:1",
            "value:2",
            "value:3",
            "生成器返回值:done",
        ]
    );
}

#[test]
fn send_use() {
    assert_eq!(
        run("send_use"),
        [
            "0", "None", "1", "None", "2", "None", "3", "哈哈", "4", "0", "1", "2"
        ]
    );
}

#[test]
fn producer_consumer() {
    let expected: Vec<String> = (1..=5)
        .flat_map(|n| {
            [
                format!("[PRODUCER] →→ Producing {n}..."),
                format!("[CONSUMER] ←← Consuming {n}..."),
                "[PRODUCER] Consumer return: 200 OK".to_owned(),
            ]
        })
        .collect();
    assert_eq!(run("producer_consumer"), expected);
}
