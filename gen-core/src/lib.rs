//! Stackful generators with Python's whole generator protocol.
//!
//! A [`Generator`] runs a closure on a stack of its own. Inside, the closure calls
//! [`Yielder::suspend`] to hand a value out and wait; outside, the owner resumes it
//! with [`Generator::send`], iterates it, [`throw`](Generator::throw)s into it or
//! [`close`](Generator::close)s it. Because the generator has a real stack, it can
//! suspend from any depth of ordinary function calls, which Rust's `async` and
//! Python's own generators cannot.
//!
//! ```
//! use gen_core::Generator;
//! use iter_core::State;
//!
//! // Python: def fib(n): a, b = 0, 1; for _ in range(n): yield b; a, b = b, a + b
//! //                      return 'done'
//! let mut fib = Generator::new(|y| {
//!     let (mut a, mut b) = (0u64, 1u64);
//!     for _ in 0..6 {
//!         y.suspend(b);
//!         (a, b) = (b, a + b);
//!     }
//!     "done"
//! });
//! assert_eq!(fib.by_ref().collect::<Vec<_>>(), [1, 1, 2, 3, 5, 8]);
//! assert_eq!(fib.return_value(), Some(&"done"));
//!
//! // send: the value passed in is what `suspend` returns inside.
//! let mut echo = Generator::with_send(|y: &gen_core::Yielder<i32, i32>| {
//!     let mut total = 0;
//!     while let Some(n) = y.suspend(total) {
//!         total += n;
//!     }
//!     total
//! });
//! assert_eq!(echo.next(), Some(0)); // start it: runs up to the first suspend
//! assert_eq!(echo.send(5).unwrap(), State::Yielded(5));
//! assert_eq!(echo.send(2).unwrap(), State::Yielded(7));
//! ```
//!
//! # From Python
//!
//! | Python                               | gen-core                                      |
//! |--------------------------------------|-----------------------------------------------|
//! | `def g(): ... yield v ...`           | `Generator::new(\|y\| { ... y.suspend(v) ... })` |
//! | `x = yield v`                        | `let x: Option<S> = y.suspend(v)`             |
//! | `next(g)` / `for v in g`             | [`Iterator::next`] / `for v in g`             |
//! | `g.send(x)`                          | [`Generator::send`] → [`State`]               |
//! | `next(g)` and `g.send(x)` in one loop (`yield from`'s driver) | [`Resume::resume`]`(None)` / `resume(Some(x))`: `Generator` is `Resume<Option<S>>` |
//! | `StopIteration.value`                | `State::Complete(r)` from `send`/`resume`/`throw` (handed out, not kept: as Python's `send` raises it); [`Generator::return_value`] after `next`/`for`/`close` |
//! | `g.throw(e)`                         | [`Generator::throw`] (raised as a panic inside) |
//! | `g.close()`, `GeneratorExit`         | [`Generator::close`], [`GeneratorExit`]       |
//! | `g.gi_running`-free, `gi_frame is None` | [`Generator::is_started`], [`Generator::is_finished`] |
//! | greenlet's per-greenlet MXCSR / x87 control word | none: one MXCSR per thread (see below), [`switch::JUMP_SAVES_FLOAT_STATE`] |
//!
//! Errors travel as unwinding, as exceptions do in Python: a panic inside the generator
//! is caught at its stack's boundary and re-raised in whoever resumed it, with the
//! original payload; `throw` raises its payload at the suspension point; `close` and
//! drop raise [`GeneratorExit`] there so that every destructor on the generator's stack
//! runs.
//!
//! # Stacks
//!
//! Each generator gets a [`Stack`]: an mmap with a guard page below it, taken from a
//! per-thread [`StackPool`] so making a generator costs no system call. The default size
//! is [`DEFAULT_STACK_SIZE`]; [`Builder::stack_size`] changes it. Overflowing into the
//! guard page prints `coroutine '<name>' has overflowed its stack` and aborts, as std
//! does for threads. Stacks count against a process-wide budget derived from
//! `vm.max_map_count` ([`stack_budget`]); past it, [`Builder::build`] returns
//! [`StackError::Budget`] and the rest of the process keeps working.
//!
//! # Floating-point state at switches
//!
//! MXCSR (the SSE rounding mode, exception masks and sticky status flags) behaves as
//! one register per thread: a switch neither saves nor restores it, so flags raised on
//! one side of a switch are seen on the other, as with corosensei or Go's goroutines.
//! (Python's greenlet saves MXCSR and the x87 control word per greenlet; Rust code
//! cannot observe the difference: it never reads the status flags, and a non-default
//! control bit is undefined behaviour in Rust.) The x87 control word, which Rust code
//! never changes, is left to the jump.
//!
//! Why it matters: `context`'s `jump_fcontext`, as `context` builds it, saves MXCSR and
//! the x87 control word on every jump and reloads the target's. Once the two sides'
//! status flags differ (one did an inexact float operation, say `a as f64 / b as f64`,
//! and the other did not), every jump loads a *different* MXCSR, which serialises the
//! CPU: a round trip of the bare jump went from 8 ns to 122–124 ns on an Intel Xeon.
//! gen-core prevents that in one of two ways, chosen at build time:
//!
//! - **The fast jump** (what this workspace's own builds use): `context` assembled with
//!   `BOOST_USE_TSX` defined leaves the four instructions out. gen-core's build script
//!   sees the define and adds nothing. Generator round trip 5.0–5.4 ns.
//! - **The hand-over** (what any other build gets, with no setup): before each jump,
//!   gen-core stores the current MXCSR where the jump will reload it from (one
//!   `stmxcsr`), so the jump reloads the value it already has. Generator round trip
//!   10.4–10.6 ns: about 3.8 ns more for the saving jump's four instructions and about
//!   1.5 ns for the hand-over. Float state on either side changes it by at most 1%.
//!
//! Doing nothing was measured too, on the bare jump: 7.8–8.0 ns per round trip while
//! both sides hold the same flags, 122–124 ns once they differ, which depends on what
//! ran before (the benchmark harness formatting a float was enough). Figures from
//! `ratios float` on an Intel Xeon, in docs/BENCHMARKS.md. A dependency cannot choose
//! another crate's C flags, hence the hand-over as the default.
//! [`switch::JUMP_SAVES_FLOAT_STATE`] says which of the two a build has.
//!
//! To build your program with the fast jump, add to its `.cargo/config.toml`:
//!
//! ```toml
//! [env]
//! CFLAGS_x86_64_unknown_linux_gnu = "-DBOOST_USE_TSX"
//! ```
//!
//! (the variable `cc` reads for that target's C and assembly builds; a value set in the
//! environment wins over the file). It reaches every C build of that target in your
//! build; code that does not test `BOOST_USE_TSX` compiles the same (this workspace
//! checked ring: identical object code).
//!
//! # Unsafe code
//!
//! All of it is in four small modules: `stack` (mmap), `overflow` (the signal
//! handler), `valgrind` (client requests) and [`switch`] (the only caller of the
//! `context` crate, and the MXCSR hand-over), plus the hand-off in `generator`. Each
//! block states why it holds.

mod generator;
mod overflow;
mod stack;
pub mod switch;
mod valgrind;

pub use generator::{Builder, Generator, GeneratorExit, IgnoredExit, Payload, Yielder};
pub use iter_core::{Resume, ResumeError, State};
pub use stack::{
    DEFAULT_STACK_SIZE, MIN_STACK_SIZE, Stack, StackError, StackPool, live_stacks, stack_budget,
    stacks_in_use,
};
