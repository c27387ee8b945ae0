//! Hub groups of issue #4: spawn + join, `sleep(0)` round robin, timer arm + cancel.
//!
//! The tokio peers run on one current-thread runtime with its timer enabled
//! ([`tokio_runtime`]), as the hub always has its timers and epoll. Every side hands
//! the same values to [`black_box`] so that none can skip the work.

use std::future::{Future, poll_fn};
use std::hint::black_box;
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::time::Sleep;

/// The current-thread tokio runtime every tokio peer of the hub groups runs on.
pub fn tokio_runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio runtime")
}

/// Spawn + join per task: spawn a task that returns its argument, wait for it, then the
/// next. One at a time, so each operation pays the whole round: create, schedule,
/// switch in, finish, wake the joiner, switch back.
pub mod spawn_join {
    use super::*;

    /// gevent-rs: `hub::spawn(f).join()`, `n` times in a row from the calling greenlet.
    pub fn hub(n: u64) -> u64 {
        let mut sum = 0u64;
        for i in 0..n {
            let h = hub::spawn(move || black_box(i));
            sum = sum.wrapping_add(h.join().expect("the task returns"));
        }
        sum
    }

    /// Peer: `tokio::spawn(fut).await`, `n` times in a row inside `block_on`.
    pub fn tokio(rt: &Runtime, n: u64) -> u64 {
        rt.block_on(async move {
            let mut sum = 0u64;
            for i in 0..n {
                let h = tokio::spawn(async move { black_box(i) });
                sum = sum.wrapping_add(h.await.expect("the task returns"));
            }
            sum
        })
    }

    /// Peer: `std::thread::spawn(f).join()`, `n` times in a row.
    pub fn thread(n: u64) -> u64 {
        let mut sum = 0u64;
        for i in 0..n {
            let h = std::thread::spawn(move || black_box(i));
            sum = sum.wrapping_add(h.join().expect("the thread returns"));
        }
        sum
    }

    /// Tasks per batch in the batched variant.
    pub const BATCH: u64 = 1000;

    /// gevent-rs, batched: spawn [`BATCH`] greenlets, then join them all; `n` in all.
    pub fn hub_batched(n: u64) -> u64 {
        let mut sum = 0u64;
        let mut start = 0;
        while start < n {
            let end = (start + BATCH).min(n);
            let handles: Vec<_> = (start..end)
                .map(|i| hub::spawn(move || black_box(i)))
                .collect();
            for h in handles {
                sum = sum.wrapping_add(h.join().expect("the task returns"));
            }
            start = end;
        }
        sum
    }

    /// Peer, batched: spawn [`BATCH`] tokio tasks, then await them all; `n` in all.
    pub fn tokio_batched(rt: &Runtime, n: u64) -> u64 {
        rt.block_on(async move {
            let mut sum = 0u64;
            let mut start = 0;
            while start < n {
                let end = (start + BATCH).min(n);
                let handles: Vec<_> = (start..end)
                    .map(|i| tokio::spawn(async move { black_box(i) }))
                    .collect();
                for h in handles {
                    sum = sum.wrapping_add(h.await.expect("the task returns"));
                }
                start = end;
            }
            sum
        })
    }
}

/// `sleep(Duration::ZERO)` round robin: [`round_robin::TASKS`] greenlets (or tasks)
/// each yield `rounds` times; the time per yield is the cost of one switch away and
/// back through the scheduler. Spawning and joining the tasks is inside the timing,
/// on both sides, and is about 1% of it at 100 rounds.
pub mod round_robin {
    use super::*;

    /// Greenlets (or tasks) taking turns.
    pub const TASKS: u64 = 1000;

    /// gevent-rs: [`TASKS`] greenlets, each calling `hub::sleep(Duration::ZERO)`
    /// `rounds` times. Returns the number of yields.
    pub fn hub(rounds: u64) -> u64 {
        let handles: Vec<_> = (0..TASKS)
            .map(|_| {
                hub::spawn(move || {
                    for _ in 0..rounds {
                        hub::sleep(black_box(Duration::ZERO)).expect("sleep(0) returns");
                    }
                    rounds
                })
            })
            .collect();
        handles
            .iter()
            .map(|h| h.join().expect("the greenlet returns"))
            .sum()
    }

    /// Peer: [`TASKS`] tokio tasks, each calling `tokio::task::yield_now().await`
    /// `rounds` times.
    pub fn tokio(rt: &Runtime, rounds: u64) -> u64 {
        rt.block_on(async move {
            let handles: Vec<_> = (0..TASKS)
                .map(|_| {
                    tokio::spawn(async move {
                        for _ in 0..rounds {
                            tokio::task::yield_now().await;
                        }
                        rounds
                    })
                })
                .collect();
            let mut sum = 0;
            for h in handles {
                sum += h.await.expect("the task returns");
            }
            sum
        })
    }
}

/// Timer arm + cancel: arm a one-hour deadline and cancel it at once, with
/// [`timers::BACKGROUND`] other timers armed (as a busy server has), so the cost of
/// the timer structure's depth shows.
pub mod timers {
    use super::*;

    /// Timers kept armed while the measured ones come and go.
    pub const BACKGROUND: usize = 10_000;

    /// A deadline no run reaches.
    const FAR: Duration = Duration::from_secs(3600);

    /// gevent-rs: timeouts armed for the whole group (spread over a minute past
    /// [`FAR`]).
    pub fn hub_background(count: usize) -> Vec<hub::Timeout> {
        (0..count)
            .map(|i| hub::Timeout::start(FAR + Duration::from_millis(i as u64 * 6)))
            .collect()
    }

    /// gevent-rs: `hub::Timeout::start(1 h)` then drop (which cancels it), `n` times.
    pub fn hub(n: u64) {
        for _ in 0..n {
            let t = hub::Timeout::start(black_box(FAR));
            drop(black_box(t));
        }
    }

    /// Peer: `background` tokio sleeps, each polled once so that it sits in the
    /// timer wheel, armed until the returned vector is dropped.
    pub fn tokio_background(rt: &Runtime, background: usize) -> Vec<Pin<Box<Sleep>>> {
        rt.block_on(async move {
            let mut armed: Vec<Pin<Box<Sleep>>> = (0..background)
                .map(|i| {
                    Box::pin(tokio::time::sleep(
                        FAR + Duration::from_millis(i as u64 * 6),
                    ))
                })
                .collect();
            for s in &mut armed {
                poll_once(s.as_mut()).await;
            }
            armed
        })
    }

    /// Peer: `tokio::time::sleep(1 h)`, polled once (which inserts it in the timer
    /// wheel), then dropped (which removes it), `n` times inside one `block_on`.
    pub fn tokio(rt: &Runtime, n: u64) {
        rt.block_on(async move {
            for _ in 0..n {
                let mut s = pin!(tokio::time::sleep(black_box(FAR)));
                poll_once(s.as_mut()).await;
            }
        })
    }

    /// Polls `f` once (registering its waker), whatever it returns.
    async fn poll_once<F: Future>(mut f: Pin<&mut F>) {
        poll_fn(|cx| {
            let _ = f.as_mut().poll(cx);
            Poll::Ready(())
        })
        .await
    }
}

/// Checks every side computes the same thing (the benches run it before timing).
pub fn check() {
    let rt = tokio_runtime();
    let n = 100;
    let want: u64 = (0..n).sum();
    assert_eq!(spawn_join::hub(n), want);
    assert_eq!(spawn_join::tokio(&rt, n), want);
    assert_eq!(spawn_join::thread(10), (0..10).sum());
    assert_eq!(spawn_join::hub_batched(2500), (0..2500).sum());
    assert_eq!(spawn_join::tokio_batched(&rt, 2500), (0..2500).sum());
    assert_eq!(round_robin::hub(3), 3 * round_robin::TASKS);
    assert_eq!(round_robin::tokio(&rt, 3), 3 * round_robin::TASKS);
    let before = hub::Hub::current().pending_timers();
    let background = timers::hub_background(10);
    timers::hub(10);
    assert_eq!(hub::Hub::current().pending_timers(), before + 10);
    drop(background);
    assert_eq!(hub::Hub::current().pending_timers(), before);
    let background = timers::tokio_background(&rt, 10);
    timers::tokio(&rt, 10);
    drop(background);
}
