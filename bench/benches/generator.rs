//! Generator and greenlet benchmarks, each group timing gevent-rs and its peers in the
//! same run.
//!
//! `cargo bench -p bench --bench generator`; after criterion's report, the coroutine
//! rows of the ratios table (ours / peer, with targets) are printed, as `cargo run
//! --release -p bench --bin ratios coroutines` prints them.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bench::float_state::{self, Side};
use bench::{iterate, lifecycle, resume, switch};
use criterion::{Criterion, Throughput};

/// Group 1: one yield + resume round trip of a suspended coroutine.
fn resume_round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("resume_round_trip");
    group.throughput(Throughput::Elements(1));

    let mut g = resume::gen_core_counter();
    group.bench_function("gen-core Generator::next", |b| {
        b.iter(|| resume::gen_core_step(&mut g))
    });
    drop(g);

    let mut raw = resume::RawContext::new();
    group.bench_function("context resume (floor)", |b| b.iter(|| raw.step()));
    drop(raw);

    let mut sw = resume::GenCoreSwitch::new();
    group.bench_function("gen_core::switch resume", |b| b.iter(|| sw.step()));
    drop(sw);

    let mut co = resume::corosensei_counter();
    group.bench_function("corosensei resume", |b| {
        b.iter(|| resume::corosensei_step(&mut co))
    });
    drop(co);

    let mut threads = resume::ThreadPingPong::new();
    let mut i = 0u64;
    group.bench_function("OS threads + crossbeam-channel", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            threads.step(black_box(i))
        })
    });
    drop(threads);

    group.finish();
}

/// Group 4: greenlet switch round trip A -> B -> A against the raw `context` floor.
/// Group 1 times corosensei and the OS-thread peer on the same work (one jump in, one
/// jump back).
fn greenlet_switch(c: &mut Criterion) {
    let mut group = c.benchmark_group("greenlet_switch_round_trip");
    group.throughput(Throughput::Elements(1));

    let pp = switch::PingPong::new();
    group.bench_function("greenlet switch A->B->A", |b| b.iter(|| pp.step()));
    drop(pp);

    let mut raw = resume::RawContext::new();
    group.bench_function("context resume (floor)", |b| b.iter(|| raw.step()));
    drop(raw);

    group.finish();
}

/// Float work on either side of the generator and greenlet round trips (see
/// `bench::float_state`). Each sample starts with the float status flags cleared, since
/// criterion computes its statistics with floats between samples.
fn float_state(c: &mut Criterion) {
    let mut group = c.benchmark_group("float_state_round_trip");
    group.throughput(Throughput::Elements(1));

    for side in Side::ALL {
        let mut g = float_state::gen_core_counter();
        group.bench_function(
            format!("gen-core Generator::next, float: {}", side.label()),
            |b| {
                b.iter_custom(|n| {
                    float_state::clear_status_flags();
                    let start = Instant::now();
                    float_state::gen_core_loop(&mut g, side, n);
                    start.elapsed()
                })
            },
        );
    }
    for side in Side::ALL {
        let pp = float_state::PingPong::new();
        group.bench_function(
            format!("greenlet switch A->B->A, float: {}", side.label()),
            |b| {
                b.iter_custom(|n| {
                    float_state::clear_status_flags();
                    let start = Instant::now();
                    pp.run(side, n);
                    start.elapsed()
                })
            },
        );
    }

    group.finish();
}

/// Group 2: iterating 10M items.
fn iterate_10m(c: &mut Criterion) {
    let mut group = c.benchmark_group("iterate_10M");
    group.throughput(Throughput::Elements(iterate::ITEMS));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));

    group.bench_function("gen-core Generator", |b| {
        b.iter(|| iterate::gen_core(black_box(iterate::ITEMS)))
    });
    group.bench_function("native Iterator (floor)", |b| {
        b.iter(|| iterate::native(black_box(iterate::ITEMS)))
    });
    group.bench_function("corosensei", |b| {
        b.iter(|| iterate::corosensei(black_box(iterate::ITEMS)))
    });

    group.finish();
}

/// Group 3: create + run (one yield) + finish, stacks reused.
fn create_run_finish(c: &mut Criterion) {
    let mut group = c.benchmark_group("create_run_finish");
    group.throughput(Throughput::Elements(1));

    let mut seed = 0u64;
    group.bench_function("gen-core (pooled stack)", |b| {
        b.iter(|| {
            seed = seed.wrapping_add(1);
            lifecycle::gen_core(black_box(seed))
        })
    });

    let mut coro = lifecycle::Corosensei::new();
    group.bench_function("corosensei (reused stack)", |b| {
        b.iter(|| {
            seed = seed.wrapping_add(1);
            coro.run(black_box(seed))
        })
    });

    group.bench_function("corosensei (fresh stack each time)", |b| {
        b.iter(|| {
            seed = seed.wrapping_add(1);
            lifecycle::corosensei_fresh_stack(black_box(seed))
        })
    });

    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    resume_round_trip(&mut c);
    greenlet_switch(&mut c);
    float_state(&mut c);
    iterate_10m(&mut c);
    create_run_finish(&mut c);
    c.final_summary();
    bench::ratios::after_criterion(bench::ratios::Groups::Coroutines);
}
