//! Where the slow-loop monitor's reports go (gevent's `max_blocking_time` warnings).
//!
//! When a greenlet keeps the loop for longer than [`crate::Hub::set_max_blocking_time`]
//! allows (100 ms by default), the hub reports it once control comes back, naming the
//! greenlet and the time. Python's gevent prints that on stderr; here a program that
//! installed a `tracing` subscriber gets it as a `warn` event, and one that did not
//! gets a line on stderr — a stall is never silent by default. This matters most under
//! `monkey-patch`, where a futex wait or a crate with its own runtime still blocks the
//! thread: the report is how such a stall shows.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

/// Where a report goes; set for the whole process with [`set_blocking_report`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlockingReport {
    /// A `tracing` `warn` event when a subscriber records it, otherwise a line on
    /// stderr (the default).
    Auto,
    /// Always a `tracing` event (silent without a subscriber).
    Tracing,
    /// Always a line on stderr.
    Stderr,
    /// No report (the check still costs its two clock reads; switch it off per hub
    /// with `Hub::set_max_blocking_time(None)`).
    Off,
}

static REPORT: AtomicU8 = AtomicU8::new(0);

const ORDER: [BlockingReport; 4] = [
    BlockingReport::Auto,
    BlockingReport::Tracing,
    BlockingReport::Stderr,
    BlockingReport::Off,
];

/// Chooses where the slow-loop monitor reports, for every hub of the process.
pub fn set_blocking_report(report: BlockingReport) {
    let index = ORDER.iter().position(|r| *r == report).unwrap_or(0);
    REPORT.store(index as u8, Ordering::Relaxed);
}

/// Where the slow-loop monitor reports now.
pub fn blocking_report() -> BlockingReport {
    ORDER[REPORT.load(Ordering::Relaxed) as usize % ORDER.len()]
}

pub(crate) fn report_blocked(greenlet: Option<&str>, held: Duration, limit: Duration) {
    let greenlet = greenlet.unwrap_or("<unnamed>");
    let to_tracing = match blocking_report() {
        BlockingReport::Off => return,
        BlockingReport::Tracing => true,
        BlockingReport::Stderr => false,
        BlockingReport::Auto => tracing::enabled!(tracing::Level::WARN),
    };
    if to_tracing {
        tracing::warn!(
            greenlet,
            "greenlet blocked the loop for {:.3} s (max_blocking_time {:.3} s)",
            held.as_secs_f64(),
            limit.as_secs_f64()
        );
    } else {
        // One write of the whole line (fd 2 is never hooked by monkey-patch); a
        // failure to report is not worth failing the loop for.
        let line = format!(
            "hub: greenlet {greenlet:?} blocked the loop for {:.3} s (max_blocking_time {:.3} s)\n",
            held.as_secs_f64(),
            limit.as_secs_f64()
        );
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
}
