//! Turning a coroutine stack overflow into a clear message and an abort.
//!
//! Touching a stack's guard page raises SIGSEGV. std already handles that for thread
//! stacks ("thread 'x' has overflowed its stack"); we install a handler in front of
//! std's that recognises our guard pages, prints which coroutine overflowed, and
//! aborts. Any other fault is passed to the handler that was there before us.
//!
//! The handler runs on the signal alternate stack (the overflowed stack has no room),
//! so every thread that makes coroutine stacks gets one if it has none.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::sync::Once;
use std::sync::atomic::{AtomicPtr, Ordering};

use crate::stack::{NameTag, page_size};

thread_local! {
    /// This thread's stacks: guard page address -> end of the mapping.
    static GUARDS: RefCell<HashMap<usize, usize>> = RefCell::new(HashMap::new());
    /// Whether GUARDS was ever touched on this thread. Needs no destructor, so the
    /// signal handler may read it without registering one.
    static HAS_GUARDS: Cell<bool> = const { Cell::new(false) };
}

static OLD_SEGV: AtomicPtr<libc::sigaction> = AtomicPtr::new(std::ptr::null_mut());
static OLD_BUS: AtomicPtr<libc::sigaction> = AtomicPtr::new(std::ptr::null_mut());

/// Records a new stack's guard page so a fault there is reported as an overflow.
pub(crate) fn register(guard: usize, end: usize) {
    install_handler();
    if !HAS_GUARDS.get() {
        ensure_alt_stack();
        HAS_GUARDS.set(true);
    }
    GUARDS.with(|g| g.borrow_mut().insert(guard, end));
}

pub(crate) fn unregister(guard: usize) {
    let _ = GUARDS.try_with(|g| g.borrow_mut().remove(&guard));
}

#[cfg(test)]
pub(crate) fn is_guard(addr: usize) -> bool {
    let page = addr & !(page_size() - 1);
    GUARDS.with(|g| g.borrow().contains_key(&page))
}

fn install_handler() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        for (sig, old) in [(libc::SIGSEGV, &OLD_SEGV), (libc::SIGBUS, &OLD_BUS)] {
            // SAFETY: sigaction structs are plain data; zeroed is a valid empty mask.
            let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
            action.sa_sigaction = on_fault as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            let prev = Box::into_raw(Box::new(MaybeUninit::<libc::sigaction>::zeroed()));
            // SAFETY: installing a handler for a synchronous fault signal; `prev`
            // receives the old action, which we keep forever to chain to.
            unsafe {
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(sig, &action, (*prev).as_mut_ptr());
            }
            old.store(prev.cast(), Ordering::Release);
        }
    });
}

/// Gives this thread a signal stack if it has none (threads made by std have one).
fn ensure_alt_stack() {
    // SAFETY: querying the current alternate stack writes only into `current`.
    let mut current: libc::stack_t = unsafe { std::mem::zeroed() };
    unsafe { libc::sigaltstack(std::ptr::null(), &mut current) };
    if current.ss_flags & libc::SS_DISABLE == 0 {
        return;
    }
    let size = libc::SIGSTKSZ.max(64 * 1024);
    // Leaked on purpose: the thread may fault until its very last instruction.
    let mem = Box::leak(vec![0u8; size].into_boxed_slice());
    let alt = libc::stack_t {
        ss_sp: mem.as_mut_ptr().cast(),
        ss_flags: 0,
        ss_size: size,
    };
    // SAFETY: `alt` describes memory that lives for the rest of the process.
    unsafe { libc::sigaltstack(&alt, std::ptr::null_mut()) };
}

/// The end of the mapping whose guard page holds `addr`, if it is one of ours.
fn guarded_stack_end(addr: usize) -> Option<usize> {
    if !HAS_GUARDS.get() {
        return None;
    }
    let page = addr & !(page_size() - 1);
    GUARDS
        .try_with(|g| g.try_borrow().ok().and_then(|g| g.get(&page).copied()))
        .ok()
        .flatten()
}

extern "C" fn on_fault(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    if let Some(end) = guarded_stack_end(addr) {
        // SAFETY: the name tag sits in the mapped header at the top of the stack,
        // written by Stack::set_name; its bytes outlive the coroutine's run.
        let tag = unsafe { ((end - 32) as *const NameTag).read() };
        let name: &[u8] = if tag.ptr.is_null() {
            b"<unnamed>"
        } else {
            // SAFETY: see above; the tag points at the name of the running coroutine.
            unsafe { std::slice::from_raw_parts(tag.ptr, tag.len) }
        };
        write_stderr(b"\ncoroutine '");
        write_stderr(name);
        write_stderr(b"' has overflowed its stack\nfatal runtime error: stack overflow\n");
        // SAFETY: abort is async-signal-safe.
        unsafe { libc::abort() };
    }
    chain(sig, info, ctx);
}

/// Hands a fault that is not ours to whoever handled it before us.
fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let old = if sig == libc::SIGSEGV {
        &OLD_SEGV
    } else {
        &OLD_BUS
    };
    let old = old.load(Ordering::Acquire);
    // SAFETY: `old` was filled by sigaction before our handler could run.
    let old = unsafe { &*old };
    let handler = old.sa_sigaction;
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        // Restore the default action and return: the faulting instruction runs again
        // and the process dies of the signal, as it would have without us.
        // SAFETY: reinstalling the action that was in place before ours.
        unsafe { libc::sigaction(sig, old, std::ptr::null_mut()) };
    } else if old.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was installed with SA_SIGINFO, so it has this type.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(handler) };
        f(sig, info, ctx);
    } else {
        // SAFETY: a plain handler takes only the signal number.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
        f(sig);
    }
}

fn write_stderr(bytes: &[u8]) {
    // SAFETY: write(2) is async-signal-safe and reads only `bytes`.
    unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
}
