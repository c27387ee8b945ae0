//! The context switch: the only module that calls the `context` crate.
//!
//! A [`Context`] is a suspended execution point (a saved stack pointer). Resuming one
//! consumes it and jumps there; the code that eventually jumps back hands over *its*
//! suspended point in the returned [`Transfer`], together with one `usize` of data.
//! Everything above (generators here, greenlets in the `greenlet` crate) is built on
//! these two operations.
//!
//! The rules that keep this sound, relied on by every caller:
//! - a `Context` is resumed at most once (it is consumed by value);
//! - the stack a `Context` lives on stays mapped until it is resumed or forgotten;
//! - an entry function never returns and never lets a panic escape (it is
//!   `extern "C"`): it catches unwinding itself and leaves by resuming another context;
//! - contexts never cross threads (they are `!Send`, as are the stacks).

pub use context::{Context, ContextFn, Transfer};

use crate::stack::Stack;

/// Prepares `stack` so that the first resume of the returned context calls `entry`
/// on it, with the resumer's context and data in the [`Transfer`]. Frames start at
/// `top`, which must lie within the stack; anything above `top` is left untouched
/// (callers keep a coroutine's closure there).
///
/// # Safety
/// `top` must lie between `stack.bottom()` and `stack.top()`. `stack` must stay mapped,
/// and not be used by anything else, for as long as the returned context (or any
/// context later suspended on that stack) may be resumed.
pub unsafe fn prepare(stack: &Stack, top: *mut u8, entry: ContextFn) -> Context {
    debug_assert!(top >= stack.bottom() && top <= stack.top());
    // SAFETY: bottom..top is mapped, writable and owned by `stack` (caller's promise).
    let bounds = unsafe { context::stack::Stack::new(top.cast(), stack.bottom().cast()) };
    // SAFETY: the caller keeps `stack` alive and exclusive while the context lives.
    unsafe { Context::new(&bounds, entry) }
}

/// Jumps to `to`, passing `data`; returns when something jumps back here.
///
/// # Safety
/// `to` must have been produced by [`prepare`] or by a previous [`resume`] on this
/// thread, and its stack must still be mapped.
#[inline(always)]
pub unsafe fn resume(to: Context, data: usize) -> Transfer {
    #[cfg(all(target_arch = "x86_64", unix, not(gen_core_fast_jump)))]
    // SAFETY: `to` is suspended on a live stack (the caller's promise).
    unsafe {
        hand_over_mxcsr(&to)
    };
    // SAFETY: upheld by the caller.
    unsafe { to.resume(data) }
}

/// Whether the linked jump saves MXCSR and the x87 control word on every switch and
/// reloads the target's (`context` assembled for x86_64 without `BOOST_USE_TSX`;
/// gen-core's build script reads the C flags `cc` gives it). When it does,
/// [`resume`] keeps the MXCSR that the jump reloads equal to the current one; see the
/// crate doc, "Floating-point state at switches".
pub const JUMP_SAVES_FLOAT_STATE: bool =
    cfg!(all(target_arch = "x86_64", unix, not(gen_core_fast_jump)));

/// Overwrites the MXCSR that resuming `to` will reload with the current one.
///
/// A jump that saves and reloads MXCSR makes the status flags (sticky bits set by any
/// inexact float operation) private to each coroutine, so they soon differ between two
/// coroutines, and loading a *different* MXCSR serialises the CPU: ~50 ns per switch
/// instead of ~3. Handing the current value over instead makes MXCSR behave as one
/// per-thread register, as with the fast jump, corosensei or OS threads; the jump then
/// reloads the value it already has. One store per switch.
///
/// # Safety
/// `to` must be suspended by `context`'s x86_64 System V jump (or made by its
/// `make_fcontext`) on a stack that is still mapped: its saved frame starts with the
/// 4-byte MXCSR slot that the jump reloads.
#[cfg(all(target_arch = "x86_64", unix, not(gen_core_fast_jump)))]
#[inline(always)]
unsafe fn hand_over_mxcsr(to: &Context) {
    // SAFETY: `Context` is `#[repr(C)]` around one reference to the saved frame (as in
    // `prefetch`). The frame is on the target's stack, mapped and not referenced by any
    // Rust value while the target is suspended (caller's promise); STMXCSR writes its 4
    // bytes at offset 0, the slot that `jump_fcontext` and `make_fcontext` fill.
    unsafe {
        let saved = *(to as *const Context).cast::<*mut u32>();
        std::arch::asm!("stmxcsr [{}]", in(reg) saved, options(nostack, preserves_flags));
    }
}

/// Hints the CPU to start loading what resuming `context` reads first: the registers
/// it saved, and the frames it returns through. A coroutine's stack has usually left
/// the cache by the time it is resumed; a scheduler that knows what runs next can
/// overlap that miss with the work before it. Only a hint: it never faults.
#[inline]
pub fn prefetch(context: &Context) {
    // SAFETY: `Context` is `#[repr(C)]` around one reference (to where the registers
    // were saved): its first word is that address. Reading it does not dereference it.
    let saved = unsafe { *(context as *const Context).cast::<*const u8>() };
    for line in 0..SAVED_LINES {
        prefetch_line(saved.wrapping_add(line * CACHE_LINE));
    }
}

/// Cache lines [`prefetch`] asks for: the 64 bytes of saved registers (which may
/// straddle two lines) and the frames above them that the resumed code returns
/// through: in the hub, a parked task's switch, park and sleep frames reach ~300 bytes
/// above the saved registers. 8 lines made a 1000-greenlet `sleep(0)` round robin
/// 94–110 ns per switch against 116–160 with 4; 12 did no better.
const SAVED_LINES: usize = 8;

/// Bytes per cache line on the CPUs this runs on (x86_64, most aarch64).
const CACHE_LINE: usize = 64;

/// Hints the CPU to load the cache line holding `at` (any address: a prefetch never
/// faults). A no-op where no prefetch instruction is known.
#[inline(always)]
pub fn prefetch_line<T>(at: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 only hints the cache; it reads nothing into the program and
    // ignores invalid addresses. SSE is part of every x86_64 CPU.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// Moves `value` to the top of `stack`, returning where it now lives and the highest
/// address left for frames below it.
///
/// # Safety
/// `stack` must be unused (no frames on it), and `value` must be read back (moved out)
/// at most once, before the stack is reused.
pub unsafe fn place<T>(stack: &Stack, value: T) -> (*mut T, *mut u8) {
    let align = align_of::<T>().max(16);
    let slot = (stack.top() as usize - size_of::<T>()) & !(align - 1);
    assert!(
        slot >= stack.bottom() as usize + stack.size() / 2,
        "a coroutine's closure must fit in half its stack"
    );
    let slot = slot as *mut T;
    // SAFETY: `slot` is aligned and inside the unused, writable part of `stack`.
    unsafe { slot.write(value) };
    (slot, slot.cast())
}
