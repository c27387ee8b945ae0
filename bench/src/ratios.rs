//! The summary: ours / peer for every benchmark, timed with plain `Instant` loops.
//!
//! Two sets of rows: the coroutines (gen-core generators, greenlet switches) and the
//! hub (spawn + join, `sleep(0)` round robin, timers, queue hand-off, pool map).
//!
//! Each row times the gevent-rs side and the peer alternately (ours, peer, ours, peer,
//! …) so that drift of the machine hits both, and keeps the median of the runs for
//! each. The ratio is median(ours) / median(peer).

use std::fmt;
use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::float_state::{self, Side, clear_status_flags};
use crate::hub_tasks::{self, round_robin, spawn_join, timers};
use crate::{hub_sync, iterate, lifecycle, resume, switch};

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
    /// Spawn + join rounds per run (hub and tokio).
    pub spawns: u64,
    /// Spawn + join rounds per run for the OS-thread peer (~50x slower).
    pub thread_spawns: u64,
    /// Yields per run in the `sleep(0)` round robin (a multiple of
    /// [`round_robin::TASKS`]).
    pub yields: u64,
    /// Timer arm + cancel pairs per run.
    pub timer_ops: u64,
    /// Items per run in the queue hand-off group.
    pub handoff_items: u64,
    /// Jobs per run in the pool map group.
    pub map_jobs: u64,
    /// Round trips per run and side in the float-state group.
    pub float_ops: u64,
}

impl Default for Plan {
    fn default() -> Plan {
        Plan {
            runs: 11,
            resume_ops: 10_000_000,
            thread_ops: 20_000,
            items: iterate::ITEMS,
            lifecycles: 2_000_000,
            // Hub runs are kept to ~10-50 ms: on a shared machine a longer run is more
            // often descheduled part-way, which the median cannot filter out.
            spawns: 20_000,
            thread_spawns: 1_000,
            yields: 50 * round_robin::TASKS,
            timer_ops: 100_000,
            handoff_items: hub_sync::ITEMS,
            map_jobs: hub_sync::JOBS,
            // Short: a build that hits the trap runs ~30x slower on some sides.
            float_ops: 1_000_000,
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

/// Median ns per operation of `runs` timed runs of `ops` operations each.
fn median_per_op(runs: Vec<Duration>, ops: u64) -> f64 {
    median(
        runs.into_iter()
            .map(|d| d.as_nanos() as f64 / ops as f64)
            .collect(),
    )
}

/// Runs `work` once, timed, starting from cleared float status flags. Nothing between
/// two timed runs computes with floats: an inexact float operation in the timing code
/// would leave the root's MXCSR different from the coroutines' and measure that trap
/// (see [`float_state`]) instead of the switch.
fn timed(work: impl FnOnce()) -> Duration {
    clear_status_flags();
    let t = Instant::now();
    work();
    t.elapsed()
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
        a.push(timed(|| ours(ops)));
        b.push(timed(|| peer(ops)));
    }
    (median_per_op(a, ops), median_per_op(b, ops))
}

/// Times `ops` operations of `work` for each [`Side`] (its index in [`Side::ALL`]),
/// `runs` times each after one warm-up run each, starting each round with the next
/// side; returns the median ns per operation of each side.
pub fn compare_sides(runs: usize, ops: u64, mut work: impl FnMut(usize, u64)) -> [f64; 4] {
    for side in 0..Side::ALL.len() {
        work(side, ops);
    }
    let mut times: [Vec<Duration>; 4] = Default::default();
    for round in 0..runs {
        for k in 0..Side::ALL.len() {
            let side = (round + k) % Side::ALL.len();
            times[side].push(timed(|| work(side, ops)));
        }
    }
    times.map(|t| median_per_op(t, ops))
}

/// Which rows to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Groups {
    /// Generators and greenlets (gen-core, greenlet).
    Coroutines,
    /// The hub: tasks, timers, queues, pools.
    Hub,
    /// Round trips with float work on either side ([`float_state`]).
    Float,
    /// All of them.
    All,
}

/// Runs the rows of `groups`.
pub fn measure(plan: Plan, groups: Groups) -> Vec<Row> {
    let mut rows = Vec::new();
    if matches!(groups, Groups::Coroutines | Groups::All) {
        rows.extend(measure_coroutines(plan));
    }
    if matches!(groups, Groups::Hub | Groups::All) {
        rows.extend(measure_hub(plan));
    }
    rows
}

/// One line of the float-state table: a workload's time per operation for each
/// [`Side`] doing float work.
#[derive(Debug, Clone)]
pub struct FloatRow {
    /// The workload and its unit.
    pub workload: &'static str,
    /// Median ns per operation, in the order of [`Side::ALL`].
    pub ns: [f64; 4],
    /// Whether the row is held to worst / best <= [`FLOAT_SPREAD_TARGET`].
    pub held: bool,
}

/// The float-state target: the slowest side within this factor of the fastest.
pub const FLOAT_SPREAD_TARGET: f64 = 1.2;

impl FloatRow {
    /// Slowest side / fastest side.
    pub fn spread(&self) -> f64 {
        let worst = self.ns.iter().copied().fold(f64::MIN, f64::max);
        let best = self.ns.iter().copied().fold(f64::MAX, f64::min);
        worst / best
    }
}

/// The float-state rows: generator, greenlet and hub `sleep(0)` (held to the target),
/// and the bare `context` jump and corosensei for reference.
pub fn measure_float(plan: Plan) -> Vec<FloatRow> {
    let runs = plan.runs;
    let ops = plan.float_ops;
    let mut rows = Vec::new();
    let mut row = |workload, held, ns| rows.push(FloatRow { workload, ns, held });

    let mut gens = Side::ALL.map(|_| float_state::gen_core_counter());
    row(
        "generator round trip (ns/op)",
        true,
        compare_sides(runs, ops, |i, n| {
            float_state::gen_core_loop(&mut gens[i], Side::ALL[i], n)
        }),
    );
    drop(gens);
    let pings = Side::ALL.map(|_| float_state::PingPong::new());
    row(
        "greenlet switch A->B->A (ns/op)",
        true,
        compare_sides(runs, ops, |i, n| pings[i].run(Side::ALL[i], n)),
    );
    drop(pings);
    let tasks = round_robin::TASKS;
    row(
        "hub sleep(0) round robin, 1000 greenlets (ns/switch)",
        true,
        compare_sides(runs, plan.yields, |i, n| {
            black_box(float_state::hub_round_robin(Side::ALL[i], n / tasks));
        }),
    );
    let mut raws = Side::ALL.map(|_| float_state::raw_context());
    row(
        "bare context jump round trip (ns/op)",
        false,
        compare_sides(runs, ops, |i, n| {
            float_state::raw_context_loop(&mut raws[i], Side::ALL[i], n)
        }),
    );
    drop(raws);
    let mut coros = Side::ALL.map(|_| float_state::corosensei_counter());
    row(
        "corosensei round trip (ns/op)",
        false,
        compare_sides(runs, ops, |i, n| {
            float_state::corosensei_loop(&mut coros[i], Side::ALL[i], n)
        }),
    );
    rows
}

/// Prints the float-state rows as a markdown table.
pub fn print_float(rows: &[FloatRow]) {
    print!("| workload |");
    for side in Side::ALL {
        print!(" {} |", side.label());
    }
    println!(" worst / best | target |");
    println!("|---|---|---|---|---|---|---|");
    for r in rows {
        print!("| {} |", r.workload);
        for ns in r.ns {
            print!(" {} |", fmt_ns(ns));
        }
        let target = if !r.held {
            "reference".to_string()
        } else if r.spread() <= FLOAT_SPREAD_TARGET {
            format!("<= {FLOAT_SPREAD_TARGET:.1}x (met)")
        } else {
            format!("<= {FLOAT_SPREAD_TARGET:.1}x (NOT met)")
        };
        println!(" {:.2}x | {target} |", r.spread());
    }
}

/// The generator and greenlet rows.
pub fn measure_coroutines(plan: Plan) -> Vec<Row> {
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

/// The hub rows (issues #4 and #5), each against tokio's current-thread runtime and,
/// where it applies, OS threads.
pub fn measure_hub(plan: Plan) -> Vec<Row> {
    hub_tasks::check();
    hub_sync::check();
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
    let rt = hub_tasks::tokio_runtime();

    row(
        "hub spawn + join, one at a time (ns/task)",
        "tokio current_thread spawn + await",
        Target::RatioAtMost(1.0),
        compare(
            runs,
            plan.spawns,
            |n| {
                black_box(spawn_join::hub(n));
            },
            |n| {
                black_box(spawn_join::tokio(&rt, n));
            },
        ),
    );
    row(
        "hub spawn + join, one at a time (ns/task)",
        "std::thread::spawn + join",
        Target::Reference,
        compare(
            runs.min(5),
            plan.thread_spawns,
            |n| {
                black_box(spawn_join::hub(n));
            },
            |n| {
                black_box(spawn_join::thread(n));
            },
        ),
    );
    row(
        "hub spawn 1000 then join them (ns/task)",
        "tokio current_thread, same",
        Target::Reference,
        compare(
            runs,
            plan.spawns,
            |n| {
                black_box(spawn_join::hub_batched(n));
            },
            |n| {
                black_box(spawn_join::tokio_batched(&rt, n));
            },
        ),
    );
    let tasks = round_robin::TASKS;
    row(
        "sleep(0) round robin, 1000 greenlets (ns/switch)",
        "tokio yield_now, 1000 tasks",
        Target::Reference,
        compare(
            runs,
            plan.yields,
            |n| {
                black_box(round_robin::hub(n / tasks));
            },
            |n| {
                black_box(round_robin::tokio(&rt, n / tasks));
            },
        ),
    );
    let hub_background = timers::hub_background(timers::BACKGROUND);
    let tokio_background = timers::tokio_background(&rt, timers::BACKGROUND);
    row(
        "timer arm + cancel, 10k armed (ns/op): hub Timeout",
        "tokio sleep polled once + drop",
        Target::Reference,
        compare(runs, plan.timer_ops, timers::hub, |n| timers::tokio(&rt, n)),
    );
    drop(hub_background);
    {
        let _in_runtime = rt.enter();
        drop(tokio_background);
    }

    let items = plan.handoff_items;
    row(
        "queue hand-off, bounded(64) (ns/item): hub Queue, 2 greenlets",
        "tokio mpsc(64), current_thread",
        Target::Reference,
        compare(
            runs,
            items,
            |n| {
                black_box(hub_sync::hub_queue(n));
            },
            |n| {
                black_box(hub_sync::tokio_mpsc(&rt, n));
            },
        ),
    );
    row(
        "queue hand-off, bounded(64) (ns/item): hub Queue, 2 greenlets",
        "crossbeam bounded(64), 2 OS threads",
        Target::Reference,
        compare(
            runs,
            items,
            |n| {
                black_box(hub_sync::hub_queue(n));
            },
            |n| {
                black_box(hub_sync::crossbeam_threads(n));
            },
        ),
    );
    row(
        "rendezvous hand-off (ns/item): hub Channel, 2 greenlets",
        "tokio mpsc(64), current_thread",
        Target::Reference,
        compare(
            runs,
            items,
            |n| {
                black_box(hub_sync::hub_channel(n));
            },
            |n| {
                black_box(hub_sync::tokio_mpsc(&rt, n));
            },
        ),
    );
    let jobs = plan.map_jobs;
    row(
        "map of 100k trivial jobs, 100 at once (ns/job): hub Pool(100).map",
        "tokio JoinSet, 100 at once, current_thread",
        Target::Reference,
        compare(
            runs.min(7),
            jobs,
            |n| {
                black_box(hub_sync::hub_pool_map(n));
            },
            |n| {
                black_box(hub_sync::tokio_bounded_map(&rt, n));
            },
        ),
    );
    row(
        "map of 100k trivial jobs, unbounded (ns/job): hub Group.map",
        "tokio spawn all, current_thread",
        Target::Reference,
        compare(
            runs.min(7),
            jobs,
            |n| {
                black_box(hub_sync::hub_group_map(n));
            },
            |n| {
                black_box(hub_sync::tokio_spawn_map(&rt, n));
            },
        ),
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

/// Measures `groups` with `plan` and prints the table.
pub fn run(plan: Plan, groups: Groups) {
    let rows = measure(plan, groups);
    if !rows.is_empty() {
        print(&rows);
    }
    if matches!(groups, Groups::Float | Groups::All) {
        if !rows.is_empty() {
            println!();
        }
        println!("Float work on either side (ns per operation, median of rotating runs):");
        print_float(&measure_float(plan));
    }
}

/// The end of a criterion bench: the ratios table for `groups`, unless cargo only
/// checks that the bench runs (`--test`), lists it, or profiles it.
pub fn after_criterion(groups: Groups) {
    let quick =
        std::env::args().any(|a| a == "--test" || a == "--list" || a.starts_with("--profile-time"));
    if quick {
        return;
    }
    println!();
    println!("Ratios (ours / peer; median of interleaved Instant-timed runs):");
    run(Plan::default(), groups);
}
