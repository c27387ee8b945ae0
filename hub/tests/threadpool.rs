//! The thread pool: results and panics reach the waiting greenlet, the hub keeps
//! running meanwhile, the pool stays within its bound, idle threads exit, and Timeout,
//! kill and hub callbacks are handled.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use hub::{Error, Hub, ThreadPool, Timeout, joinall, sleep, spawn, spawn_blocking};

const MS: Duration = Duration::from_millis(1);

/// Counts closures running at once and remembers the most seen.
#[derive(Default)]
struct Concurrency {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl Concurrency {
    fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
        let r = f();
        self.now.fetch_sub(1, Ordering::SeqCst);
        r
    }
}

/// Waits (cooperatively, bounded) until `cond` holds.
fn eventually(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        sleep(5 * MS).unwrap();
    }
    panic!("timed out waiting for: {what}");
}

#[test]
fn value_from_root_greenlet_and_other_thread() {
    let here = std::thread::current().id();
    let there = spawn_blocking(|| std::thread::current().id()).unwrap();
    assert_ne!(here, there, "the closure runs on a pool thread");
    assert_eq!(spawn_blocking(|| 6 * 7).unwrap(), 42);
}

#[test]
fn panic_reaches_waiter_with_payload() {
    let err = spawn_blocking(|| -> u32 { panic!("pool job failed {}", 7) }).unwrap_err();
    match err {
        Error::Panicked(p) => assert_eq!(hub::panic_message(&p), "pool job failed 7"),
        other => panic!("unexpected {other:?}"),
    }
    // The pool still works.
    assert_eq!(spawn_blocking(|| 1).unwrap(), 1);
}

#[test]
fn other_greenlets_run_while_waiting() {
    // The job ends only once the ticker has ticked 5 times: that can happen only if
    // the hub runs the ticker while the root greenlet waits for the job.
    let ticks = Arc::new(AtomicU32::new(0));
    let t = ticks.clone();
    let ticker = spawn(move || {
        for _ in 0..5 {
            sleep(MS).unwrap();
            t.fetch_add(1, Ordering::SeqCst);
        }
    });
    let t = ticks.clone();
    let seen = spawn_blocking(move || {
        // Bounded, so a hub that does not run the ticker fails instead of hanging.
        let give_up = std::time::Instant::now() + Duration::from_secs(20);
        let ticked = || t.load(Ordering::SeqCst);
        while ticked() < 5 && std::time::Instant::now() < give_up {
            std::thread::sleep(MS);
        }
        t.load(Ordering::SeqCst)
    });
    assert_eq!(seen.unwrap(), 5, "the ticker ran while the root waited");
    ticker.join().unwrap();
}

#[test]
fn default_pool_has_ten_threads() {
    let pool = Hub::current().threadpool();
    assert_eq!(pool.max_threads(), ThreadPool::DEFAULT_MAX_THREADS);
    assert_eq!(pool.max_threads(), 10);
}

#[test]
fn thousand_greenlets_wait_at_once_within_bound() {
    let pool = ThreadPool::new(10);
    let conc = Arc::new(Concurrency::default());
    let handles: Vec<_> = (0..1000u64)
        .map(|i| {
            let pool = pool.clone();
            let conc = conc.clone();
            spawn(move || {
                pool.spawn_blocking(move || {
                    conc.run(|| {
                        std::thread::sleep(Duration::from_micros(200));
                        i * 2
                    })
                })
            })
        })
        .collect();
    // Let all of them submit and park.
    sleep(MS).unwrap();
    assert!(pool.threads() <= 10);
    let mut total = 0;
    for h in &handles {
        total += h.join().unwrap().unwrap();
    }
    assert_eq!(total, (0..1000u64).map(|i| i * 2).sum::<u64>());
    let max = conc.max.load(Ordering::SeqCst);
    assert!((1..=10).contains(&max), "ran {max} at once");
    assert!(pool.threads() <= 10);
    assert_eq!(pool.queued(), 0);
}

#[test]
fn small_pool_never_exceeds_its_size() {
    let pool = ThreadPool::new(3);
    let conc = Arc::new(Concurrency::default());
    let handles: Vec<_> = (0..30)
        .map(|_| {
            let pool = pool.clone();
            let conc = conc.clone();
            spawn(move || pool.spawn_blocking(move || conc.run(|| std::thread::sleep(MS))))
        })
        .collect();
    joinall(&handles, None, None).unwrap();
    for h in &handles {
        h.join().unwrap().unwrap();
    }
    assert!(conc.max.load(Ordering::SeqCst) <= 3);
    assert!(pool.threads() <= 3);
}

#[test]
fn idle_threads_exit() {
    let pool = ThreadPool::new(4);
    pool.set_idle_timeout(20 * MS);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let pool = pool.clone();
            spawn(move || pool.spawn_blocking(|| std::thread::sleep(5 * MS)))
        })
        .collect();
    for h in &handles {
        h.join().unwrap().unwrap();
    }
    assert!(pool.threads() >= 1);
    eventually("idle threads to exit", || pool.threads() == 0);
    // And new ones start when work comes again.
    assert_eq!(pool.spawn_blocking(|| 5).unwrap(), 5);
}

#[test]
fn timeout_interrupts_wait_and_job_still_finishes() {
    let finished = Arc::new(AtomicBool::new(false));
    let f = finished.clone();
    let t = Timeout::start(5 * MS);
    let r = spawn_blocking(move || {
        std::thread::sleep(Duration::from_millis(40));
        f.store(true, Ordering::SeqCst);
        "late"
    });
    assert_eq!(r, Err(Error::Timeout));
    assert!(t.interrupted());
    drop(t);
    eventually("the interrupted job to finish", || {
        finished.load(Ordering::SeqCst)
    });
    // Its late completion woke nothing: the next waits behave.
    sleep(5 * MS).unwrap();
    assert_eq!(spawn_blocking(|| 3).unwrap(), 3);
    assert_eq!(Hub::current().pending_timers(), 0);
}

#[test]
fn kill_during_wait_unwinds_and_job_finishes() {
    struct Flag(Rc<Cell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let dropped = Rc::new(Cell::new(false));
    let finished = Arc::new(AtomicBool::new(false));
    let (d, f) = (dropped.clone(), finished.clone());
    let h = spawn(move || {
        let _flag = Flag(d);
        spawn_blocking(move || {
            std::thread::sleep(Duration::from_millis(30));
            f.store(true, Ordering::SeqCst);
        })
    });
    sleep(MS).unwrap();
    h.kill().unwrap();
    assert!(dropped.get());
    assert_eq!(h.join().unwrap_err(), Error::Killed);
    eventually("the abandoned job to finish", || {
        finished.load(Ordering::SeqCst)
    });
    sleep(5 * MS).unwrap();
}

#[test]
fn blocking_in_hub_callback_is_refused() {
    let ran = Arc::new(AtomicBool::new(false));
    let result = Rc::new(Cell::new(None));
    let (r, res) = (ran.clone(), result.clone());
    let h = spawn(|| ());
    h.link(move || {
        let out = spawn_blocking(move || r.store(true, Ordering::SeqCst));
        res.set(Some(out == Err(Error::BlockingInHub)));
    });
    h.join().unwrap();
    sleep(MS).unwrap();
    assert_eq!(result.get(), Some(true));
    assert!(!ran.load(Ordering::SeqCst), "the closure was not run");
}
