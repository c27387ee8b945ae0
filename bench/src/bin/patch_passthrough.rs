//! What the hooks cost a call they do not make cooperative: `read` of one byte from
//! `/dev/zero`, through the hook (linked, patching off; then patched, on a thread
//! with no hub; then patched, in a greenlet, where the fd is found not to be a
//! socket — cached per file — and passed through) against the C library's own
//! function (`monkey_patch::original::read`).
//!
//! `patch_passthrough [--calls N]` prints a markdown table of ns per call.

use std::fs::File;
use std::hint::black_box;
use std::os::fd::AsRawFd;
use std::time::Instant;

fn ns_per_call(calls: u64, mut f: impl FnMut()) -> f64 {
    // Warm-up, then the best of five runs (the least disturbed by other load).
    for _ in 0..calls / 10 {
        f();
    }
    (0..5)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..calls {
                f();
            }
            start.elapsed().as_nanos() as f64 / calls as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let calls: u64 = std::env::args()
        .skip_while(|a| a != "--calls")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let zero = File::open("/dev/zero").expect("/dev/zero");
    let fd = zero.as_raw_fd();
    let hooked = move || {
        let mut byte = 0u8;
        // SAFETY: a valid fd and a one-byte buffer.
        let n = unsafe { libc::read(fd, (&raw mut byte).cast(), 1) };
        assert_eq!(black_box(n), 1, "{}", std::io::Error::last_os_error());
    };
    let original = move || {
        let mut byte = 0u8;
        // SAFETY: as above, past the hook.
        let n = unsafe { monkey_patch::original::read(fd, (&raw mut byte).cast(), 1) };
        assert_eq!(black_box(n), 1);
    };
    let base = ns_per_call(calls, original);
    let off = ns_per_call(calls, hooked);
    monkey_patch::patch_all();
    let no_hub = ns_per_call(calls, hooked);
    // The measuring greenlet holds the loop on purpose.
    hub::set_blocking_report(hub::BlockingReport::Off);
    let in_greenlet = hub::spawn(move || ns_per_call(calls, hooked))
        .join()
        .unwrap();
    println!("| read(2) of 1 byte from /dev/zero | ns/call | vs original |");
    println!("|---|---|---|");
    for (label, ns) in [
        ("original (dlsym(RTLD_NEXT))", base),
        ("hook, patching off", off),
        ("hook, patched, thread without a hub", no_hub),
        (
            "hook, patched, in a greenlet (a file: passed through)",
            in_greenlet,
        ),
    ] {
        println!("| {label} | {ns:.1} | {:.3}x |", ns / base);
    }
}
