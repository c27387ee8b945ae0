//! Floating-point state at switch points (issue #18): the same round trips after an
//! inexact float operation on the root side only, the coroutine side only, both, or
//! neither.
//!
//! An inexact operation (any `a as f64 / b as f64` that rounds) sets a sticky status
//! flag in MXCSR. A jump that saves MXCSR per coroutine and reloads the target's then
//! loads a *different* value on every switch once one side has the flag and the other
//! has not, and that load serialises the CPU. The rows show whether a build pays for
//! it. What is measured is the state, not the float work: each timed run starts with
//! the flags cleared ([`clear_status_flags`]), then [`start_run`] does one inexact
//! operation on the root side and asks the coroutine side for one, which it does at its
//! next resume. Every coroutine checks for that request on every resume, in all four
//! cases, so the cases run the same code.
//!
//! In the hub row the tasks are the coroutine side (each does one inexact operation
//! when it starts); the root is the greenlet that spawns and joins them. The hub
//! greenlet itself does no float work.

use std::cell::Cell;
use std::hint::black_box;
use std::time::Duration;

use corosensei::{Coroutine, CoroutineResult};
use gen_core::Generator;
use greenlet::{Greenlet, getcurrent};

/// Which side does float work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// No float work anywhere.
    Neither,
    /// Only the root (the resumer, or the spawner in the hub row).
    Root,
    /// Only the coroutine (the generator, the partner greenlet, the hub's tasks).
    Coroutine,
    /// Both.
    Both,
}

impl Side {
    /// Every case, in the order the tables print them.
    pub const ALL: [Side; 4] = [Side::Neither, Side::Root, Side::Coroutine, Side::Both];

    /// Whether the root side does float work.
    pub fn root(self) -> bool {
        matches!(self, Side::Root | Side::Both)
    }

    /// Whether the coroutine side does float work.
    pub fn coroutine(self) -> bool {
        matches!(self, Side::Coroutine | Side::Both)
    }

    /// The column heading.
    pub fn label(self) -> &'static str {
        match self {
            Side::Neither => "none",
            Side::Root => "root only",
            Side::Coroutine => "coroutine only",
            Side::Both => "both",
        }
    }
}

/// One inexact float operation (0.1 + 0.2 rounds) when `on`: sets MXCSR's inexact flag.
#[inline(always)]
pub fn float_work(on: bool) {
    if on {
        black_box(black_box(0.1f64) + black_box(0.2f64));
    }
}

thread_local! {
    /// Set by [`start_run`] when the coroutine side is to do its float operation.
    static COROUTINE_REQUEST: Cell<bool> = const { Cell::new(false) };
}

/// The start of a timed run for `side`: the root's float operation, and the request
/// for the coroutine's.
pub fn start_run(side: Side) {
    float_work(side.root());
    COROUTINE_REQUEST.set(side.coroutine());
}

/// Called by a coroutine at every resume: does the requested float operation once.
#[inline(always)]
pub fn on_resume() {
    if COROUTINE_REQUEST.get() {
        COROUTINE_REQUEST.set(false);
        float_work(true);
    }
}

/// Clears MXCSR's status flags on this thread, leaving its control bits as they are:
/// every timed run starts from the same float state, whatever was computed before it
/// (the tables themselves are computed with floats).
pub fn clear_status_flags() {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::asm;
        let mut value = 0u32;
        // SAFETY: STMXCSR writes the 4 bytes of the live local `value`; SSE is part of
        // every x86_64 CPU.
        unsafe { asm!("stmxcsr [{}]", in(reg) &raw mut value, options(nostack, preserves_flags)) };
        value &= !0x3f;
        // SAFETY: only the six sticky status flags change; the control bits (rounding,
        // exception masks) are written back exactly as read.
        unsafe {
            asm!("ldmxcsr [{}]", in(reg) &raw const value, options(nostack, readonly, preserves_flags))
        };
    }
}

/// gen-core: an infinite counter generator that serves [`on_resume`].
pub fn gen_core_counter() -> Generator<'static, u64> {
    Generator::new(move |y| {
        let mut i = 0u64;
        loop {
            on_resume();
            y.suspend(i);
            i = i.wrapping_add(1);
        }
    })
}

/// A run of `n` round trips of [`gen_core_counter`] for `side`.
pub fn gen_core_loop(g: &mut Generator<'static, u64>, side: Side, n: u64) {
    start_run(side);
    for _ in 0..n {
        black_box(g.next());
    }
}

/// corosensei (reference): the same counter.
pub fn corosensei_counter() -> Coroutine<(), u64, ()> {
    let stack = corosensei::stack::DefaultStack::new(gen_core::DEFAULT_STACK_SIZE)
        .expect("corosensei stack");
    Coroutine::with_stack(stack, move |y, ()| {
        let mut i = 0u64;
        loop {
            on_resume();
            y.suspend(i);
            i = i.wrapping_add(1);
        }
    })
}

/// A run of `n` round trips of [`corosensei_counter`] for `side`.
pub fn corosensei_loop(co: &mut Coroutine<(), u64, ()>, side: Side, n: u64) {
    start_run(side);
    for _ in 0..n {
        match co.resume(()) {
            CoroutineResult::Yield(v) => black_box(v),
            CoroutineResult::Return(()) => unreachable!("the counter never ends"),
        };
    }
}

/// A run of `n` round trips of the bare `context` ping-pong (the jump alone, no
/// gen-core) for `side`.
pub fn raw_context_loop(c: &mut crate::resume::RawContext, side: Side, n: u64) {
    start_run(side);
    for _ in 0..n {
        black_box(c.step());
    }
}

/// The bare `context` ping-pong, serving [`on_resume`].
pub fn raw_context() -> crate::resume::RawContext {
    crate::resume::RawContext::serving_float_requests()
}

/// Greenlet: a partner that switches straight back to the root, serving
/// [`on_resume`].
pub struct PingPong {
    partner: Greenlet,
}

impl PingPong {
    /// Makes the partner on the current (root) greenlet and starts it once.
    pub fn new() -> PingPong {
        let root = getcurrent();
        let partner = Greenlet::new(move |_| {
            loop {
                on_resume();
                black_box(root.switch(()).expect("the root greenlet never dies"));
            }
        });
        black_box(partner.switch(()).expect("the partner starts"));
        PingPong { partner }
    }

    /// A run of `n` round trips root -> partner -> root for `side`.
    pub fn run(&self, side: Side, n: u64) {
        start_run(side);
        for _ in 0..n {
            black_box(self.partner.switch(()).expect("the partner never finishes"));
        }
    }
}

impl Default for PingPong {
    fn default() -> PingPong {
        PingPong::new()
    }
}

/// Hub: [`crate::hub_tasks::round_robin::TASKS`] greenlets each calling
/// `hub::sleep(0)` `rounds` times, after the float operations of `side` (see the
/// module doc).
pub fn hub_round_robin(side: Side, rounds: u64) -> u64 {
    let work = side.coroutine();
    float_work(side.root());
    let handles: Vec<_> = (0..crate::hub_tasks::round_robin::TASKS)
        .map(|_| {
            hub::spawn(move || {
                float_work(work);
                for _ in 0..rounds {
                    hub::sleep(black_box(Duration::ZERO)).expect("sleep(0) returns");
                }
                rounds
            })
        })
        .collect();
    handles
        .iter()
        .map(|h| h.join().expect("the greenlet returns"))
        .sum()
}
