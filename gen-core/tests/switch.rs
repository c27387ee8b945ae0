//! The switch's frame at the base of a coroutine's stack: a backtrace taken inside a
//! generator walks up through the generator's frames and stops at that base instead
//! of reading past the stack, and the generator goes on afterwards.

use std::backtrace::Backtrace;

use gen_core::Generator;

#[test]
fn a_backtrace_inside_a_generator_ends_at_its_stack() {
    let mut g = Generator::new(|y| {
        y.suspend(0usize);
        let trace = Backtrace::force_capture().to_string();
        y.suspend(trace.lines().count());
        y.suspend(usize::from(trace.contains("run_test")));
    });
    assert_eq!(g.next(), Some(0));
    let lines = g.next().expect("the generator survives the capture");
    assert!(lines > 0, "an empty backtrace");
    // The walk stayed on the generator's stack: it does not reach the test harness's
    // frames (`test::run_test...`), which are on the thread's own stack.
    assert_eq!(g.next(), Some(0));
    assert_eq!(g.next(), None);
}
