//! Memory of N concurrently sleeping greenlets, tokio tasks or OS threads (issue #4).
//!
//! Each case runs in a child process of its own (the `memory` binary re-runs itself
//! with `--child KIND N`), so that one case's freed-but-kept memory cannot flatter the
//! next. The child reads `/proc/self/status` once its runtime is up (the baseline),
//! starts N sleepers, waits until every one of them sleeps, lets the runtime idle for a
//! moment (`SETTLE`: the steady state of a server whose clients are all idle), reads it
//! again and prints one `key=value` line, which the parent parses. The cost per sleeper
//! is (VmRSS after − VmRSS before) / N. The heap's share (glibc's `mallinfo2`) is
//! reported beside it, and so are page tables (VmPTE), which VmRSS does not include.
//!
//! Greenlet stacks are mmaps with a guard page (two kernel mappings each) and are
//! counted against gen-core's budget of 75% of `vm.max_map_count` / 2
//! ([`gen_core::stack_budget`]), so large counts need that sysctl raised:
//! [`max_map_count_needed`] says how far, and the binary prints the command instead of
//! running a case that could not fit.

use std::cell::Cell;
use std::fmt;
use std::process::Command;
use std::rc::Rc;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What sleeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `hub::spawn(|| hub::sleep(1 h))`, default 256 KiB stacks.
    Hub,
    /// `tokio::spawn(tokio::time::sleep(1 h))` on a current-thread runtime.
    Tokio,
    /// `std::thread::spawn` with std's default stack (2 MiB), each asleep in `park`.
    Threads,
}

impl Kind {
    /// The name used on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Hub => "hub",
            Kind::Tokio => "tokio",
            Kind::Threads => "threads",
        }
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Kind, String> {
        match s {
            "hub" => Ok(Kind::Hub),
            "tokio" => Ok(Kind::Tokio),
            "threads" => Ok(Kind::Threads),
            other => Err(format!("unknown kind {other:?} (hub, tokio, threads)")),
        }
    }
}

/// Fields of `/proc/self/status`, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Status {
    /// Resident set size.
    pub rss: u64,
    /// Peak resident set size.
    pub hwm: u64,
    /// Page tables.
    pub pte: u64,
    /// Bytes the allocator has handed out and not taken back (glibc's `mallinfo2`).
    pub heap_bytes: u64,
}

impl Status {
    /// Reads this process's status.
    pub fn read() -> Status {
        let text = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        Status {
            rss: field("VmRSS:"),
            hwm: field("VmHWM:"),
            pte: field("VmPTE:"),
            heap_bytes: heap_in_use(),
        }
    }
}

/// Bytes in use in the allocator's arenas and its own mmaps.
fn heap_in_use() -> u64 {
    // SAFETY: mallinfo2 only reads the allocator's statistics.
    let info = unsafe { libc::mallinfo2() };
    (info.uordblks + info.hblkhd) as u64
}

/// What one child measured.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Which sleepers.
    pub kind: Kind,
    /// How many.
    pub count: u64,
    /// Once the runtime was up, before the sleepers.
    pub before: Status,
    /// With every sleeper asleep.
    pub after: Status,
    /// Time to start them all and see them all asleep.
    pub setup: Duration,
}

impl Sample {
    /// Resident KiB per sleeper.
    pub fn rss_per_sleeper(&self) -> f64 {
        self.after.rss.saturating_sub(self.before.rss) as f64 / self.count as f64
    }

    /// Heap bytes per sleeper (part of RSS).
    pub fn heap_per_sleeper(&self) -> f64 {
        self.after.heap_bytes.saturating_sub(self.before.heap_bytes) as f64 / self.count as f64
    }

    /// Page-table KiB per sleeper (not part of RSS).
    pub fn pte_per_sleeper(&self) -> f64 {
        self.after.pte.saturating_sub(self.before.pte) as f64 / self.count as f64
    }

    fn to_line(self) -> String {
        format!(
            "kind={} count={} rss_before={} rss_after={} hwm_before={} hwm_after={} \
             pte_before={} pte_after={} heap_before={} heap_after={} setup_us={}",
            self.kind.name(),
            self.count,
            self.before.rss,
            self.after.rss,
            self.before.hwm,
            self.after.hwm,
            self.before.pte,
            self.after.pte,
            self.before.heap_bytes,
            self.after.heap_bytes,
            self.setup.as_micros()
        )
    }

    fn from_line(line: &str) -> Option<Sample> {
        let get = |key: &str| {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        };
        let num = |key: &str| get(key)?.parse::<u64>().ok();
        Some(Sample {
            kind: get("kind")?.parse().ok()?,
            count: num("count")?,
            before: Status {
                rss: num("rss_before")?,
                hwm: num("hwm_before")?,
                pte: num("pte_before")?,
                heap_bytes: num("heap_before")?,
            },
            after: Status {
                rss: num("rss_after")?,
                hwm: num("hwm_after")?,
                pte: num("pte_after")?,
                heap_bytes: num("heap_after")?,
            },
            setup: Duration::from_micros(num("setup_us")?),
        })
    }
}

impl fmt::Display for Sample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "| {} | {} | {} | {} | {} | {:.2} | {:.0} | {} | {:.2} | {:.0} |",
            self.kind.name(),
            self.count,
            self.before.rss,
            self.after.rss,
            self.after.hwm,
            self.rss_per_sleeper(),
            self.heap_per_sleeper(),
            self.after.pte,
            self.pte_per_sleeper(),
            self.setup.as_secs_f64() * 1000.0
        )
    }
}

/// Sleeps far longer than any case runs.
const NAP: Duration = Duration::from_secs(3600);

/// How long the runtime idles, with every sleeper asleep, before the second reading:
/// the steady state of a server whose clients are all idle, not the end of the burst.
const SETTLE: Duration = Duration::from_millis(20);

/// Stacks the hub needs besides the sleepers' (its own greenlet, some slack).
const SPARE_STACKS: u64 = 16;

/// The `vm.max_map_count` gen-core's stack budget needs for `count` greenlets, rounded
/// up to a multiple of 10 000.
pub fn max_map_count_needed(count: u64) -> u64 {
    // budget = max_map_count * 75 / 100 / 2 must reach count + SPARE_STACKS.
    let exact = ((count + SPARE_STACKS) * 2 * 100).div_ceil(75);
    exact.next_multiple_of(10_000)
}

/// `vm.max_map_count` now.
pub fn max_map_count() -> u64 {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(65530)
}

/// Why a case cannot run on this machine as configured, with what to do about it.
pub fn precheck(kind: Kind, count: u64) -> Result<(), String> {
    if kind != Kind::Hub {
        return Ok(());
    }
    let budget = gen_core::stack_budget() as u64;
    if count + SPARE_STACKS <= budget {
        return Ok(());
    }
    let need = max_map_count_needed(count);
    Err(format!(
        "{count} greenlets need {} stacks but gen-core's budget is {budget} \
         (75% of vm.max_map_count = {} / 2). As root, run\n    \
         echo {need} > /proc/sys/vm/max_map_count\nand afterwards restore it with\n    \
         echo {} > /proc/sys/vm/max_map_count",
        count + SPARE_STACKS,
        max_map_count(),
        max_map_count()
    ))
}

/// Runs one case in a child process (this executable with `--child KIND N`).
pub fn measure_in_child(kind: Kind, count: u64) -> Result<Sample, String> {
    precheck(kind, count)?;
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let out = Command::new(exe)
        .args(["--child", kind.name(), &count.to_string()])
        .output()
        .map_err(|e| format!("cannot start the child: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "the {} child for {count} failed ({}): {}",
            kind.name(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    stdout
        .lines()
        .find_map(Sample::from_line)
        .ok_or_else(|| format!("the child printed no sample: {stdout}"))
}

/// The child's side: starts `count` sleepers of `kind`, prints the sample line and
/// exits without tearing them down.
pub fn child_main(kind: Kind, count: u64) -> ! {
    let sample = match kind {
        Kind::Hub => hub_sleepers(count),
        Kind::Tokio => tokio_sleepers(count),
        Kind::Threads => thread_sleepers(count),
    };
    println!("{}", sample.to_line());
    // Skip unwinding 100k sleepers: the process ends here.
    std::process::exit(0)
}

fn hub_sleepers(count: u64) -> Sample {
    // Bring the hub up (its greenlet, epoll, the root task) before the baseline.
    hub::spawn(|| ()).join().expect("warm-up greenlet");
    let asleep = Rc::new(Cell::new(0u64));
    let before = Status::read();
    let start = Instant::now();
    let handles: Vec<_> = (0..count)
        .map(|_| {
            let asleep = asleep.clone();
            hub::spawn(move || {
                asleep.set(asleep.get() + 1);
                hub::sleep(NAP)
            })
        })
        .collect();
    while asleep.get() < count {
        hub::yield_now().expect("the root greenlet yields");
    }
    let setup = start.elapsed();
    hub::sleep(SETTLE).expect("the root greenlet sleeps");
    let after = Status::read();
    std::hint::black_box(&handles);
    Sample {
        kind: Kind::Hub,
        count,
        before,
        after,
        setup,
    }
}

fn tokio_sleepers(count: u64) -> Sample {
    let rt = crate::hub_tasks::tokio_runtime();
    rt.block_on(async move {
        tokio::spawn(async {}).await.expect("warm-up task");
        let asleep = Arc::new(AtomicU64::new(0));
        let before = Status::read();
        let start = Instant::now();
        let handles: Vec<_> = (0..count)
            .map(|_| {
                let asleep = asleep.clone();
                tokio::spawn(async move {
                    asleep.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(NAP).await
                })
            })
            .collect();
        while asleep.load(Ordering::Relaxed) < count {
            tokio::task::yield_now().await;
        }
        let setup = start.elapsed();
        tokio::time::sleep(SETTLE).await;
        let after = Status::read();
        std::hint::black_box(&handles);
        Sample {
            kind: Kind::Tokio,
            count,
            before,
            after,
            setup,
        }
    })
}

fn thread_sleepers(count: u64) -> Sample {
    let asleep = Arc::new(AtomicU64::new(0));
    let before = Status::read();
    let start = Instant::now();
    let handles: Vec<_> = (0..count)
        .map(|_| {
            let asleep = asleep.clone();
            std::thread::spawn(move || {
                asleep.fetch_add(1, Ordering::Release);
                loop {
                    std::thread::park();
                }
            })
        })
        .collect();
    while asleep.load(Ordering::Acquire) < count {
        std::thread::sleep(Duration::from_millis(1));
    }
    let setup = start.elapsed();
    std::thread::sleep(SETTLE);
    let after = Status::read();
    std::hint::black_box(&handles);
    Sample {
        kind: Kind::Threads,
        count,
        before,
        after,
        setup,
    }
}

/// The header of the table [`Sample`]'s `Display` prints rows of.
pub const TABLE_HEADER: &str = "| sleepers | count | VmRSS before (KiB) | VmRSS after (KiB) | \
     VmHWM after (KiB) | RSS per sleeper (KiB) | of which heap (bytes) | VmPTE after (KiB) | \
     page tables per sleeper (KiB) | setup (ms) |\n\
     |---|---|---|---|---|---|---|---|---|---|";
