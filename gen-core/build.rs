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
        for flag in flags.split_ascii_whitespace() {
            if defines_tsx(flag, "-D") {
                fast = true;
            } else if defines_tsx(flag, "-U") {
                fast = false;
            }
        }
    }
    if fast {
        println!("cargo::rustc-cfg=gen_core_fast_jump");
    }
}

/// Whether `flag` is `{prefix}BOOST_USE_TSX`, with or without a value.
fn defines_tsx(flag: &str, prefix: &str) -> bool {
    flag.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix("BOOST_USE_TSX"))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('='))
}
