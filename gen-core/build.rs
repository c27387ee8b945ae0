//! Finds out whether the `context` crate's jump saves the floating-point control state.
//!
//! `context` assembles Boost.Context's `jump_fcontext` with the `cc` crate. Defining
//! `BOOST_USE_TSX` there drops the four instructions that save and reload MXCSR and the
//! x87 control word on every jump (this workspace does so in `.cargo/config.toml`). `cc`
//! takes C flags from the variables read below, lowest priority first, so a later
//! `-UBOOST_USE_TSX` undoes an earlier `-D`. When the define is in effect gen-core needs
//! no help at switch points: it sets `gen_core_fast_jump`. `tests/fast_jump.rs` checks
//! this guess against the disassembly of the jump actually linked.

use std::env;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(gen_core_fast_jump)");
    let target = env::var("TARGET").expect("cargo sets TARGET");
    let host = env::var("HOST").expect("cargo sets HOST");
    let kind = if target == host { "HOST" } else { "TARGET" };
    let target_underscored = target.replace(['-', '.'], "_");
    let variables = [
        "CFLAGS".to_string(),
        format!("{kind}_CFLAGS"),
        format!("CFLAGS_{target_underscored}"),
        format!("CFLAGS_{target}"),
    ];
    let mut fast = false;
    for name in &variables {
        println!("cargo::rerun-if-env-changed={name}");
        let Ok(flags) = env::var(name) else { continue };
        let mut flags = flags.split_ascii_whitespace();
        while let Some(flag) = flags.next() {
            // `-DNAME`, `-D NAME`, `-UNAME` or `-U NAME`.
            let (define, operand) = match flag {
                "-D" => (true, flags.next()),
                "-U" => (false, flags.next()),
                _ => match (flag.strip_prefix("-D"), flag.strip_prefix("-U")) {
                    (Some(operand), _) => (true, Some(operand)),
                    (_, Some(operand)) => (false, Some(operand)),
                    _ => continue,
                },
            };
            if operand.is_some_and(names_tsx) {
                fast = define;
            }
        }
    }
    if fast {
        println!("cargo::rustc-cfg=gen_core_fast_jump");
    }
}

/// Whether a `-D`/`-U` operand names `BOOST_USE_TSX` (with or without a value).
fn names_tsx(operand: &str) -> bool {
    operand
        .strip_prefix("BOOST_USE_TSX")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('='))
}
