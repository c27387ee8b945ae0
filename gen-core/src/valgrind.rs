//! Telling valgrind where coroutine stacks are, so switching onto one is not reported
//! as a wild stack-pointer change.
//!
//! Valgrind's client requests are a magic instruction sequence that does nothing on a
//! real CPU (it rotates a register by 64 bits in total) and is intercepted under
//! valgrind. Outside valgrind a request returns its default value and costs a few
//! instructions, paid only when a stack is mapped or unmapped.

use crate::stack::Stack;

const STACK_REGISTER: usize = 0x1501;
const STACK_DEREGISTER: usize = 0x1502;

#[cfg(target_arch = "x86_64")]
fn client_request(default: usize, request: usize, a1: usize, a2: usize) -> usize {
    let args = [request, a1, a2, 0, 0, 0];
    let mut result = default;
    // SAFETY: the rotations total 128 bits, leaving rdi unchanged; `xchg rbx, rbx` is a
    // no-op. Under valgrind the sequence reads `args` through rax and writes rdx.
    unsafe {
        std::arch::asm!(
            "rol rdi, 3", "rol rdi, 13", "rol rdi, 61", "rol rdi, 51",
            "xchg rbx, rbx",
            inout("rdx") result,
            in("rax") args.as_ptr(),
            options(nostack),
        );
    }
    result
}

#[cfg(not(target_arch = "x86_64"))]
fn client_request(default: usize, _request: usize, _a1: usize, _a2: usize) -> usize {
    default
}

thread_local! {
    static IDS: std::cell::RefCell<std::collections::HashMap<usize, usize>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

pub(crate) fn stack_register(stack: &Stack) {
    let id = client_request(
        0,
        STACK_REGISTER,
        stack.bottom() as usize,
        stack.top() as usize,
    );
    if id != 0 {
        IDS.with(|ids| ids.borrow_mut().insert(stack.bottom() as usize, id));
    }
}

pub(crate) fn stack_deregister(stack: &Stack) {
    let id = IDS.try_with(|ids| ids.borrow_mut().remove(&(stack.bottom() as usize)));
    if let Ok(Some(id)) = id {
        client_request(0, STACK_DEREGISTER, id, 0);
    }
}
