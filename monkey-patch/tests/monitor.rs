//! The slow-loop monitor reports a greenlet that blocks the loop on stderr, with no
//! `tracing` subscriber installed: what a patched program sees when a call cannot
//! cooperate. Each case runs in a child process (this test binary again, with one
//! test selected) so that its stderr can be read.

use std::process::Command;
use std::time::Duration;

const CHILD: &str = "MONKEY_PATCH_MONITOR_CHILD";

/// Runs this binary's test `name` as the child case `case`; returns its stderr.
fn child_stderr(name: &str, case: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD, case)
        .output()
        .unwrap();
    assert!(out.status.success(), "child {case} failed: {out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A greenlet named `stuck` that blocks the thread for 250 ms in a call that cannot
/// cooperate (here: inside `unpatched`, as a futex wait would).
fn block_the_loop() {
    monkey_patch::patch_all();
    hub::Builder::new()
        .name("stuck")
        .spawn(|| monkey_patch::unpatched(|| std::thread::sleep(Duration::from_millis(250))))
        .join()
        .unwrap();
}

#[test]
fn child_case() {
    match std::env::var(CHILD).as_deref() {
        Ok("default") => block_the_loop(),
        Ok("off") => {
            hub::set_blocking_report(hub::BlockingReport::Off);
            block_the_loop();
        }
        Ok("tracing") => {
            // Routed to tracing, with no subscriber: nothing on stderr.
            hub::set_blocking_report(hub::BlockingReport::Tracing);
            block_the_loop();
        }
        _ => {}
    }
}

#[test]
fn a_stall_is_reported_on_stderr_by_default_naming_the_greenlet_and_time() {
    let stderr = child_stderr("child_case", "default");
    let line = stderr
        .lines()
        .find(|l| l.contains("blocked the loop"))
        .unwrap_or_else(|| panic!("no report in {stderr:?}"));
    assert!(line.contains("\"stuck\""), "{line}");
    let seconds: f64 = line
        .split("for ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no time in {line}"));
    assert!(seconds >= 0.2, "{line}");
}

#[test]
fn the_report_can_be_switched_off_or_routed_to_tracing() {
    for case in ["off", "tracing"] {
        let stderr = child_stderr("child_case", case);
        assert!(!stderr.contains("blocked the loop"), "{case}: {stderr}");
    }
}
