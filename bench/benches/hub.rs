//! Hub benchmarks (issues #4 and #5), each group timing gevent-rs and its peers in the
//! same run: spawn + join, `sleep(0)` round robin, timer arm + cancel, queue hand-off,
//! pool map.
//!
//! `cargo bench -p bench --bench hub`; after criterion's report, the hub rows of the
//! ratios table are printed, as `cargo run --release -p bench --bin ratios hub` prints
//! them. Memory per sleeping greenlet is the `memory` binary's job.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bench::float_state::{self, Side};
use bench::hub_sync::{self, ITEMS, JOBS};
use bench::hub_tasks::{self, round_robin, spawn_join, timers};
use criterion::{Criterion, Throughput};

/// Times `iters` operations done by one call of `f` (so a tokio side enters
/// `block_on` once per sample, not once per operation).
fn timed(iters: u64, f: impl FnOnce(u64)) -> Duration {
    let start = Instant::now();
    f(iters);
    start.elapsed()
}

/// Spawn + join, one task at a time.
fn spawn_join(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_join");
    group.throughput(Throughput::Elements(1));
    let rt = hub_tasks::tokio_runtime();

    group.bench_function("hub::spawn + join", |b| {
        b.iter_custom(|n| {
            timed(n, |n| {
                black_box(spawn_join::hub(n));
            })
        })
    });
    group.bench_function("tokio current_thread spawn + await", |b| {
        b.iter_custom(|n| {
            timed(n, |n| {
                black_box(spawn_join::tokio(&rt, n));
            })
        })
    });
    group.bench_function("std::thread::spawn + join", |b| {
        b.iter_custom(|n| {
            timed(n, |n| {
                black_box(spawn_join::thread(n));
            })
        })
    });

    group.finish();
}

/// 1000 greenlets (or tasks) yielding 100 times each, reported per yield.
fn round_robin(c: &mut Criterion) {
    const ROUNDS: u64 = 100;
    let mut group = c.benchmark_group("sleep0_round_robin_1000");
    group.throughput(Throughput::Elements(ROUNDS * round_robin::TASKS));
    group.sample_size(20);
    let rt = hub_tasks::tokio_runtime();

    group.bench_function("hub sleep(ZERO)", |b| {
        b.iter(|| round_robin::hub(black_box(ROUNDS)))
    });
    group.bench_function("tokio yield_now", |b| {
        b.iter(|| round_robin::tokio(&rt, black_box(ROUNDS)))
    });

    group.finish();
}

/// Arm a timer and cancel it, with 10k others armed.
fn timer_arm_cancel(c: &mut Criterion) {
    let mut group = c.benchmark_group("timer_arm_cancel_10k_armed");
    group.throughput(Throughput::Elements(1));
    let rt = hub_tasks::tokio_runtime();

    let background = timers::hub_background(timers::BACKGROUND);
    group.bench_function("hub Timeout::start + drop", |b| {
        b.iter_custom(|n| timed(n, timers::hub))
    });
    drop(background);

    let background = timers::tokio_background(&rt, timers::BACKGROUND);
    group.bench_function("tokio sleep polled once + drop", |b| {
        b.iter_custom(|n| timed(n, |n| timers::tokio(&rt, n)))
    });
    {
        let _in_runtime = rt.enter();
        drop(background);
    }

    group.finish();
}

/// Queue hand-off: 100k items from a producer to a consumer, reported per item.
fn queue_handoff(c: &mut Criterion) {
    let mut group = c.benchmark_group("queue_handoff_100k");
    group.throughput(Throughput::Elements(ITEMS));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(5));

    group.bench_function("hub Queue::bounded(64), 2 greenlets", |b| {
        b.iter(|| hub_sync::hub_queue(black_box(ITEMS)))
    });
    group.bench_function("hub Channel (rendezvous), 2 greenlets", |b| {
        b.iter(|| hub_sync::hub_channel(black_box(ITEMS)))
    });
    group.bench_function("crossbeam bounded(64), 2 OS threads", |b| {
        b.iter(|| hub_sync::crossbeam_threads(black_box(ITEMS)))
    });
    let rt = hub_sync::tokio_runtime();
    group.bench_function("tokio mpsc(64), current_thread", |b| {
        b.iter(|| hub_sync::tokio_mpsc(&rt, black_box(ITEMS)))
    });

    group.finish();
}

/// Pool map: 100k trivial jobs, results in order, reported per job.
fn pool_map(c: &mut Criterion) {
    let mut group = c.benchmark_group("pool_map_100k");
    group.throughput(Throughput::Elements(JOBS));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));

    group.bench_function("hub Pool::new(100).map", |b| {
        b.iter(|| hub_sync::hub_pool_map(black_box(JOBS)))
    });
    let rt = hub_sync::tokio_runtime();
    group.bench_function("tokio JoinSet, 100 at once", |b| {
        b.iter(|| hub_sync::tokio_bounded_map(&rt, black_box(JOBS)))
    });
    group.bench_function("native Iterator map (floor)", |b| {
        b.iter(|| hub_sync::native_map(black_box(JOBS)))
    });
    // The unbounded maps last: 100k tasks alive at once leave the allocator in a
    // state that slows whatever runs after them in this process (see BENCHMARKS.md).
    group.bench_function("tokio spawn, all at once", |b| {
        b.iter(|| hub_sync::tokio_spawn_map(&rt, black_box(JOBS)))
    });
    group.bench_function("hub Group::map (unbounded)", |b| {
        b.iter(|| hub_sync::hub_group_map(black_box(JOBS)))
    });

    group.finish();
}

/// The round robin with float work on either side (see `bench::float_state`); each
/// sample starts with the float status flags cleared.
fn round_robin_float_state(c: &mut Criterion) {
    const ROUNDS: u64 = 100;
    let mut group = c.benchmark_group("sleep0_round_robin_1000_float_state");
    group.throughput(Throughput::Elements(ROUNDS * round_robin::TASKS));
    group.sample_size(20);
    for side in Side::ALL {
        group.bench_function(format!("hub sleep(0), float: {}", side.label()), |b| {
            b.iter_custom(|n| {
                float_state::clear_status_flags();
                timed(n, |n| {
                    for _ in 0..n {
                        black_box(float_state::hub_round_robin(side, ROUNDS));
                    }
                })
            })
        });
    }
    group.finish();
}

fn main() {
    hub_tasks::check();
    hub_sync::check();
    let mut c = Criterion::default().configure_from_args();
    spawn_join(&mut c);
    round_robin(&mut c);
    round_robin_float_state(&mut c);
    timer_arm_cancel(&mut c);
    queue_handoff(&mut c);
    pool_map(&mut c);
    c.final_summary();
    bench::ratios::after_criterion(bench::ratios::Groups::Hub);
}
