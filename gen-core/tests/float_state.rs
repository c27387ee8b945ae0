//! Floating-point state at switch points.
//!
//! - MXCSR behaves as one per-thread register across generator switches (what the fast
//!   jump gives, and what gen-core's hand-over gives on the saving jump): the status
//!   flags one side raises are seen by the other, and clearing them on one side clears
//!   them for the other. A jump that keeps a private MXCSR per coroutine fails these.
//! - In this workspace the linked `jump_fcontext` is the fast one (no MXCSR or x87
//!   control word saved), as `.cargo/config.toml` asks, and gen-core's build script
//!   guessed the same: the disassembly decides, so a change of `context` or `cc` that
//!   undoes the setting fails here.
#![cfg(all(target_arch = "x86_64", target_os = "linux"))]

use std::arch::asm;
use std::hint::black_box;
use std::process::Command;

use gen_core::Generator;

/// MXCSR's "precision" (inexact) status flag.
const INEXACT: u32 = 1 << 5;
/// MXCSR's six status flags.
const STATUS_FLAGS: u32 = 0x3f;

fn mxcsr() -> u32 {
    let mut value = 0u32;
    // SAFETY: STMXCSR writes the 4 bytes of `value`, a live local; SSE is baseline on
    // x86_64.
    unsafe { asm!("stmxcsr [{}]", in(reg) &raw mut value, options(nostack, preserves_flags)) };
    value
}

/// Clears the status flags and keeps the control bits as they are.
fn clear_status_flags() {
    let value = mxcsr() & !STATUS_FLAGS;
    // SAFETY: only the sticky status flags change; the control bits (rounding, masks,
    // which Rust requires at their defaults) are written back as read.
    unsafe {
        asm!("ldmxcsr [{}]", in(reg) &raw const value, options(nostack, readonly, preserves_flags))
    };
}

/// One inexact operation (0.1 + 0.2 is not representable): raises the inexact flag.
fn inexact() {
    black_box(black_box(0.1f64) + black_box(0.2f64));
}

/// Whether this CPU (or emulator) records the inexact flag at all; valgrind does not
/// model the status flags, so the flag tests say so and check nothing there.
fn flags_are_modelled() -> bool {
    clear_status_flags();
    inexact();
    let modelled = mxcsr() & INEXACT != 0;
    clear_status_flags();
    if !modelled {
        eprintln!("MXCSR status flags are not modelled here (valgrind?): nothing to check");
    }
    modelled
}

#[test]
fn flags_raised_inside_a_generator_reach_its_resumer() {
    if !flags_are_modelled() {
        return;
    }
    let mut g = Generator::new(|y| {
        inexact();
        y.suspend(());
    });
    clear_status_flags();
    assert_eq!(g.next(), Some(()));
    assert_ne!(
        mxcsr() & INEXACT,
        0,
        "the generator's inexact flag was lost at the switch"
    );
    assert_eq!(g.next(), None);
}

#[test]
fn flags_raised_or_cleared_by_the_resumer_reach_the_generator() {
    if !flags_are_modelled() {
        return;
    }
    let mut g = Generator::new(|y| {
        loop {
            y.suspend(mxcsr());
        }
    });
    clear_status_flags();
    assert_eq!(g.next().unwrap() & INEXACT, 0);
    inexact();
    let seen = g.next().unwrap();
    assert_ne!(
        seen & INEXACT,
        0,
        "the generator resumed with its own, older flags"
    );
    clear_status_flags();
    let seen = g.next().unwrap();
    assert_eq!(
        seen & INEXACT,
        0,
        "the generator resumed with its own, older flags"
    );
    assert_eq!(
        seen & !STATUS_FLAGS,
        mxcsr() & !STATUS_FLAGS,
        "control bits changed"
    );
}

/// The instructions that save or reload the float control state.
const FLOAT_STATE_INSTRUCTIONS: [&str; 4] = ["stmxcsr", "ldmxcsr", "fnstcw", "fldcw"];

/// The disassembly of `jump_fcontext` as linked into this test binary.
fn disassemble_jump() -> String {
    // Makes sure the jump is linked and used.
    assert_eq!(Generator::new(|y| y.suspend(1)).next(), Some(1));
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = Command::new("objdump")
        .args(["-d", "--no-show-raw-insn", "--disassemble=jump_fcontext"])
        .arg(&exe)
        .output()
        .expect("objdump (binutils) runs; CI installs it with build-essential");
    assert!(
        out.status.success(),
        "objdump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("objdump prints text");
    let body: Vec<&str> = text
        .lines()
        .skip_while(|line| !line.contains("<jump_fcontext>:"))
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .collect();
    assert!(
        body.iter().any(|line| line.contains("jmp")),
        "jump_fcontext not found in {}:\n{text}",
        exe.display()
    );
    body.join("\n")
}

#[test]
fn the_workspace_links_the_jump_that_keeps_no_float_state() {
    let body = disassemble_jump();
    let found: Vec<&str> = FLOAT_STATE_INSTRUCTIONS
        .into_iter()
        .filter(|insn| body.contains(insn))
        .collect();
    assert_eq!(
        found.is_empty(),
        !gen_core::switch::JUMP_SAVES_FLOAT_STATE,
        "gen-core's build script guessed wrong about the linked jump (it has {found:?}):\n{body}"
    );
    assert!(
        found.is_empty(),
        "jump_fcontext saves and reloads the float control state ({found:?}): \
         `context` was not assembled with -DBOOST_USE_TSX. The workspace sets it in \
         .cargo/config.toml ([env] CFLAGS_x86_64_unknown_linux_gnu); a value of that \
         variable in the environment overrides it.\n{body}"
    );
}
