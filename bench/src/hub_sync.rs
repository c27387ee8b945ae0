//! Hub groups of issue #5: a queue hand-off per item, and `Pool::map` over trivial
//! jobs.
//!
//! Each side moves the same items and returns their sum (through `black_box`), so no
//! side can skip work.

use std::hint::black_box;

use tokio::runtime::Runtime;

pub use crate::hub_tasks::tokio_runtime;

/// Items handed over per run of the hand-off group.
pub const ITEMS: u64 = 100_000;
/// Room in every bounded queue/channel of the hand-off group.
pub const CAPACITY: usize = 64;
/// Jobs per run of the map group.
pub const JOBS: u64 = 100_000;
/// Greenlets (or tasks) running at once in the bounded map.
pub const POOL_SIZE: usize = 100;

/// gevent-rs: a producer greenlet puts `n` items into a `hub::Queue::bounded(64)`;
/// the calling (root) greenlet gets them. A full queue parks the producer, an empty
/// one the consumer: items are handed over in bursts, with switches between.
pub fn hub_queue(n: u64) -> u64 {
    let q = hub::Queue::bounded(CAPACITY);
    let p = q.clone();
    let producer = hub::spawn(move || {
        for i in 0..n {
            p.put(i, None).unwrap();
        }
    });
    let mut sum = 0u64;
    for _ in 0..n {
        sum = sum.wrapping_add(black_box(q.get(None).unwrap()));
    }
    producer.join().unwrap();
    sum
}

/// gevent-rs: the same through a rendezvous `hub::Channel`: two switches per item
/// (the worst case of a hand-off).
pub fn hub_channel(n: u64) -> u64 {
    let ch = hub::Channel::new();
    let p = ch.clone();
    let producer = hub::spawn(move || {
        for i in 0..n {
            p.put(i, None).unwrap();
        }
    });
    let mut sum = 0u64;
    for _ in 0..n {
        sum = sum.wrapping_add(black_box(ch.get(None).unwrap()));
    }
    producer.join().unwrap();
    sum
}

/// Peer: `crossbeam_channel::bounded(64)` between two OS threads (the producer
/// thread is started per run; that is ~20 µs against ~10 ms of items).
pub fn crossbeam_threads(n: u64) -> u64 {
    let (tx, rx) = crossbeam_channel::bounded(CAPACITY);
    let producer = std::thread::spawn(move || {
        for i in 0..n {
            tx.send(i).unwrap();
        }
    });
    let mut sum = 0u64;
    for _ in 0..n {
        sum = sum.wrapping_add(black_box(rx.recv().unwrap()));
    }
    producer.join().unwrap();
    sum
}

/// Peer: `tokio::sync::mpsc::channel(64)` between a spawned task and the
/// `block_on` task of a current-thread runtime.
pub fn tokio_mpsc(rt: &Runtime, n: u64) -> u64 {
    rt.block_on(async move {
        let (tx, mut rx) = tokio::sync::mpsc::channel(CAPACITY);
        let producer = tokio::spawn(async move {
            for i in 0..n {
                tx.send(i).await.unwrap();
            }
        });
        let mut sum = 0u64;
        while let Some(v) = rx.recv().await {
            sum = sum.wrapping_add(black_box(v));
        }
        producer.await.unwrap();
        sum
    })
}

/// gevent-rs: `hub::Pool::new(100).map(|i| i + 1, 0..n)`: one greenlet per job, at
/// most 100 at once, results in input order.
pub fn hub_pool_map(n: u64) -> u64 {
    let pool = hub::Pool::new(POOL_SIZE);
    let out = pool.map(|i: u64| black_box(i) + 1, 0..n).unwrap();
    out.into_iter().fold(0, u64::wrapping_add)
}

/// gevent-rs: `hub::Group::map`, unbounded: every job spawned at once.
pub fn hub_group_map(n: u64) -> u64 {
    let group = hub::Group::new();
    let out = group.map(|i: u64| black_box(i) + 1, 0..n).unwrap();
    out.into_iter().fold(0, u64::wrapping_add)
}

/// Peer: tokio current-thread, at most 100 tasks at once in a `JoinSet` (as `Pool`
/// has 100 slots), each result stored at its input index: the same ordered vector
/// `Pool::map` returns, with no more than 100 tasks alive at any time.
pub fn tokio_bounded_map(rt: &Runtime, n: u64) -> u64 {
    rt.block_on(async move {
        let mut running = tokio::task::JoinSet::new();
        let mut out = vec![0u64; n as usize];
        for i in 0..n {
            if running.len() == POOL_SIZE {
                let (at, v) = running.join_next().await.unwrap().unwrap();
                out[at] = v;
            }
            running.spawn(async move { (i as usize, black_box(i) + 1) });
        }
        while let Some(done) = running.join_next().await {
            let (at, v) = done.unwrap();
            out[at] = v;
        }
        out.into_iter().fold(0, u64::wrapping_add)
    })
}

/// Peer: tokio current-thread, every task spawned at once, awaited in order.
pub fn tokio_spawn_map(rt: &Runtime, n: u64) -> u64 {
    rt.block_on(async move {
        let handles: Vec<_> = (0..n)
            .map(|i| tokio::spawn(async move { black_box(i) + 1 }))
            .collect();
        let mut sum = 0u64;
        for h in handles {
            sum = sum.wrapping_add(h.await.unwrap());
        }
        sum
    })
}

/// The floor: the same map as a plain iterator.
pub fn native_map(n: u64) -> u64 {
    (0..n).map(|i| black_box(i) + 1).fold(0, u64::wrapping_add)
}

/// Checks every side computes the same thing (run by the bench before timing).
pub fn check() {
    let n = 1000;
    let rt = tokio_runtime();
    let want = (0..n).sum::<u64>();
    assert_eq!(hub_queue(n), want);
    assert_eq!(hub_channel(n), want);
    assert_eq!(crossbeam_threads(n), want);
    assert_eq!(tokio_mpsc(&rt, n), want);
    let want = want + n;
    assert_eq!(hub_pool_map(n), want);
    assert_eq!(hub_group_map(n), want);
    assert_eq!(tokio_bounded_map(&rt, n), want);
    assert_eq!(tokio_spawn_map(&rt, n), want);
    assert_eq!(native_map(n), want);
}
