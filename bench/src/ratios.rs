//! The summary: ours / peer for every benchmark, timed with plain `Instant` loops.
//!
//! Each row times the gevent-rs side and the peer alternately (ours, peer, ours, peer,
//! …) so that drift of the machine hits both, and keeps the median of the runs for
//! each. The ratio is median(ours) / median(peer).

use std::fmt;
use std::time::Instant;

use crate::{iterate, lifecycle, resume, switch};

/// What a row is held to.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// ours / peer must be at most this.
    RatioAtMost(f64),
    /// Our time per operation must be at most this many nanoseconds.
    NanosAtMost(f64),
    /// A reference point, no target.
    Reference,
}

impl Target {
    /// Whether `row` meets the target; `None` for a reference row.
    pub fn met(&self, ours_ns: f64, ratio: f64) -> Option<bool> {
        match *self {
            Target::RatioAtMost(r) => Some(ratio <= r),
            Target::NanosAtMost(ns) => Some(ours_ns <= ns),
            Target::Reference => None,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Target::RatioAtMost(r) => write!(f, "ratio <= {r:.2}x"),
            Target::NanosAtMost(ns) => write!(f, "<= {ns:.0} ns"),
            Target::Reference => f.write_str("reference"),
        }
    }
}

/// One line of the summary.
#[derive(Debug, Clone)]
pub struct Row {
    /// The benchmark and its unit.
    pub benchmark: &'static str,
    /// Median nanoseconds per operation, gevent-rs side.
    pub ours_ns: f64,
    /// Which peer.
    pub peer: &'static str,
    /// Median nanoseconds per operation, peer side.
    pub peer_ns: f64,
    /// What the row is held to.
    pub target: Target,
}

impl Row {
    /// median(ours) / median(peer).
    pub fn ratio(&self) -> f64 {
        self.ours_ns / self.peer_ns
    }

    /// Whether the row meets its target (`None` for a reference row).
    pub fn met(&self) -> Option<bool> {
        self.target.met(self.ours_ns, self.ratio())
    }
}

/// How long each side runs.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Timed runs per side (the median is kept); odd is best.
    pub runs: usize,
    /// Round trips per run in the resume group.
    pub resume_ops: u64,
    /// Round trips per run for the OS-thread peer, which is ~1000x slower.
    pub thread_ops: u64,
    /// Items per run in the iterate group.
    pub items: u64,
    /// Generator lifecycles per run.
    pub lifecycles: u64,
}

impl Default for Plan {
    fn default() -> Plan {
        Plan {
            runs: 11,
            resume_ops: 10_000_000,
            thread_ops: 20_000,
            items: iterate::ITEMS,
            lifecycles: 2_000_000,
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Times `ops` operations of `ours` and `peer`, alternately, `runs` times each, after
/// one warm-up run each; returns the median ns per operation of both.
pub fn compare(
    runs: usize,
    ops: u64,
    mut ours: impl FnMut(u64),
    mut peer: impl FnMut(u64),
) -> (f64, f64) {
    ours(ops);
    peer(ops);
    let mut a = Vec::with_capacity(runs);
    let mut b = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        ours(ops);
        a.push(t.elapsed().as_nanos() as f64 / ops as f64);
        let t = Instant::now();
        peer(ops);
        b.push(t.elapsed().as_nanos() as f64 / ops as f64);
    }
    (median(a), median(b))
}

/// Runs every row of the summary.
pub fn measure(plan: Plan) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut row = |benchmark, peer, target, (ours_ns, peer_ns): (f64, f64)| {
        rows.push(Row {
            benchmark,
            ours_ns,
            peer,
            peer_ns,
            target,
        })
    };
    let runs = plan.runs;

    // Group 1: yield + resume round trip.
    let mut g = resume::gen_core_counter();
    let mut raw = resume::RawContext::new();
    row(
        "resume round trip (ns/op)",
        "context (floor)",
        Target::RatioAtMost(1.25),
        compare(
            runs,
            plan.resume_ops,
            |n| resume::gen_core_loop(&mut g, n),
            |n| resume::raw_context_loop(&mut raw, n),
        ),
    );
    let mut co = resume::corosensei_counter();
    row(
        "resume round trip (ns/op)",
        "corosensei",
        Target::Reference,
        compare(
            runs,
            plan.resume_ops,
            |n| resume::gen_core_loop(&mut g, n),
            |n| resume::corosensei_loop(&mut co, n),
        ),
    );
    let mut threads = resume::ThreadPingPong::new();
    row(
        "resume round trip (ns/op)",
        "OS threads + crossbeam-channel",
        Target::Reference,
        compare(
            runs.min(5),
            plan.thread_ops,
            |n| resume::gen_core_loop(&mut g, n),
            |n| resume::thread_loop(&mut threads, n),
        ),
    );
    drop(threads);
    let mut sw = resume::GenCoreSwitch::new();
    row(
        "switch-layer round trip: gen_core::switch (ns/op)",
        "context (floor)",
        Target::Reference,
        compare(
            runs,
            plan.resume_ops,
            |n| resume::gen_core_switch_loop(&mut sw, n),
            |n| resume::raw_context_loop(&mut raw, n),
        ),
    );
    drop((g, raw, co, sw));

    // Group 4 (printed here, next to its peers): greenlet switch round trip.
    let pp = switch::PingPong::new();
    let mut raw = resume::RawContext::new();
    row(
        "greenlet switch round trip A->B->A (ns/op)",
        "context (floor)",
        Target::RatioAtMost(1.3),
        compare(
            runs,
            plan.resume_ops,
            |n| switch::greenlet_loop(&pp, n),
            |n| resume::raw_context_loop(&mut raw, n),
        ),
    );
    let mut co = resume::corosensei_counter();
    row(
        "greenlet switch round trip A->B->A (ns/op)",
        "corosensei",
        Target::Reference,
        compare(
            runs,
            plan.resume_ops,
            |n| switch::greenlet_loop(&pp, n),
            |n| resume::corosensei_loop(&mut co, n),
        ),
    );
    let mut threads = resume::ThreadPingPong::new();
    row(
        "greenlet switch round trip A->B->A (ns/op)",
        "OS threads + crossbeam-channel",
        Target::Reference,
        compare(
            runs.min(5),
            plan.thread_ops,
            |n| switch::greenlet_loop(&pp, n),
            |n| resume::thread_loop(&mut threads, n),
        ),
    );
    drop((pp, raw, co, threads));

    // Group 2: iterating 10M items (per item).
    let items = plan.items;
    let per_item = |(a, b): (f64, f64)| (a / items as f64, b / items as f64);
    let iter_runs = runs.min(7);
    row(
        "iterate 10M items (ns/item)",
        "native Iterator (floor)",
        Target::Reference,
        per_item(compare(
            iter_runs,
            1,
            |_| iterate::gen_core(items),
            |_| iterate::native(items),
        )),
    );
    row(
        "iterate 10M items (ns/item)",
        "corosensei",
        Target::Reference,
        per_item(compare(
            iter_runs,
            1,
            |_| iterate::gen_core(items),
            |_| iterate::corosensei(items),
        )),
    );

    // Group 3: create + run + finish with a reused stack.
    let mut coro = lifecycle::Corosensei::new();
    row(
        "create+run+finish, pooled stack (ns/op)",
        "corosensei (reused stack)",
        Target::NanosAtMost(60.0),
        compare(runs, plan.lifecycles, lifecycle::gen_core_loop, |n| {
            lifecycle::corosensei_loop(&mut coro, n)
        }),
    );

    rows
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 100.0 {
        format!("{ns:.0} ns")
    } else {
        format!("{ns:.2} ns")
    }
}

/// Prints `rows` as a markdown table.
pub fn print(rows: &[Row]) {
    println!("| benchmark | gevent-rs | peer | ratio | target |");
    println!("|---|---|---|---|---|");
    for r in rows {
        let verdict = match r.met() {
            Some(true) => " (met)",
            Some(false) => " (NOT met)",
            None => "",
        };
        println!(
            "| {} | {} | {}: {} | {:.2}x | {}{} |",
            r.benchmark,
            fmt_ns(r.ours_ns),
            r.peer,
            fmt_ns(r.peer_ns),
            r.ratio(),
            r.target,
            verdict
        );
    }
}

/// Measures with `plan` and prints the table.
pub fn run(plan: Plan) {
    let rows = measure(plan);
    print(&rows);
}
