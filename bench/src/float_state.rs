//! Floating-point state at switch points (issue #18): the same round trips with an
//! inexact float operation on the root side only, the coroutine side only, both, or
//! neither.
//!
//! An inexact operation (any `a as f64 / b as f64` that rounds) sets a sticky status
//! flag in MXCSR. A jump that saves MXCSR per coroutine and reloads the target's then
//! loads a *different* value whenever one side has the flag and the other has not, and
//! that load serialises the CPU. The rows show whether a build pays for it.
//!
//! - generator, greenlet, bare `context`, corosensei: the root does one float addition
//!   per round trip before resuming, the coroutine one per round trip before yielding;
//! - hub `sleep(0)` round robin: the tasks do one per `sleep(0)`; the root (the greenlet
//!   that spawns and joins them) does one right before spawning, so it, and whatever
//!   it creates, starts with the flag set, as a program that formatted a float at start
//!   up does. The hub greenlet itself does no float work.
//!
//! Every timed run starts with the status flags cleared ([`clear_status_flags`]).

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

/// gen-core: an infinite counter generator, adding in float work before each yield.
pub fn gen_core_counter(side: Side) -> Generator<'static, u64> {
    let work = side.coroutine();
    Generator::new(move |y| {
        let mut i = 0u64;
        loop {
            float_work(work);
            y.suspend(i);
            i = i.wrapping_add(1);
        }
    })
}

/// `n` round trips of [`gen_core_counter`], with the root's float work.
pub fn gen_core_loop(g: &mut Generator<'static, u64>, side: Side, n: u64) {
    let work = side.root();
    for _ in 0..n {
        float_work(work);
        black_box(g.next());
    }
}

/// corosensei (reference): the same counter.
pub fn corosensei_counter(side: Side) -> Coroutine<(), u64, ()> {
    let work = side.coroutine();
    let stack = corosensei::stack::DefaultStack::new(gen_core::DEFAULT_STACK_SIZE)
        .expect("corosensei stack");
    Coroutine::with_stack(stack, move |y, ()| {
        let mut i = 0u64;
        loop {
            float_work(work);
            y.suspend(i);
            i = i.wrapping_add(1);
        }
    })
}

/// `n` round trips of [`corosensei_counter`], with the root's float work.
pub fn corosensei_loop(co: &mut Coroutine<(), u64, ()>, side: Side, n: u64) {
    let work = side.root();
    for _ in 0..n {
        float_work(work);
        match co.resume(()) {
            CoroutineResult::Yield(v) => black_box(v),
            CoroutineResult::Return(()) => unreachable!("the counter never ends"),
        };
    }
}

/// `n` round trips of the bare `context` ping-pong (the jump alone, no gen-core).
pub fn raw_context_loop(c: &mut crate::resume::RawContext, side: Side, n: u64) {
    let work = side.root();
    for _ in 0..n {
        float_work(work);
        black_box(c.step());
    }
}

/// The bare `context` ping-pong for `side`.
pub fn raw_context(side: Side) -> crate::resume::RawContext {
    crate::resume::RawContext::with_float_work(side.coroutine())
}

/// Greenlet: a partner that switches straight back to the root, with float work.
pub struct PingPong {
    partner: Greenlet,
    root_work: bool,
}

impl PingPong {
    /// Makes the partner on the current (root) greenlet and starts it once.
    pub fn new(side: Side) -> PingPong {
        let root = getcurrent();
        let work = side.coroutine();
        let partner = Greenlet::new(move |_| {
            loop {
                float_work(work);
                black_box(root.switch(()).expect("the root greenlet never dies"));
            }
        });
        black_box(partner.switch(()).expect("the partner starts"));
        PingPong {
            partner,
            root_work: side.root(),
        }
    }

    /// `n` round trips root -> partner -> root.
    pub fn run(&self, n: u64) {
        for _ in 0..n {
            float_work(self.root_work);
            black_box(self.partner.switch(()).expect("the partner never finishes"));
        }
    }
}

/// Hub: [`crate::hub_tasks::round_robin::TASKS`] greenlets each calling
/// `hub::sleep(0)` `rounds` times, with float work as the module doc says.
pub fn hub_round_robin(side: Side, rounds: u64) -> u64 {
    let work = side.coroutine();
    float_work(side.root());
    let handles: Vec<_> = (0..crate::hub_tasks::round_robin::TASKS)
        .map(|_| {
            hub::spawn(move || {
                for _ in 0..rounds {
                    float_work(work);
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
