//! Pool and Group: the bound, join/kill, map/imap/imap_unordered, slots freed however
//! a greenlet ends.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use hub::{Error, Group, Hub, Pool, Timeout, sleep, spawn, with_timeout, yield_now};

const MS: Duration = Duration::from_millis(1);

/// Counts greenlets inside a section and remembers the most at once.
#[derive(Clone, Default)]
struct Concurrency {
    now: Rc<Cell<usize>>,
    max: Rc<Cell<usize>>,
}

impl Concurrency {
    fn enter(&self) -> Section {
        self.now.set(self.now.get() + 1);
        self.max.set(self.max.get().max(self.now.get()));
        Section(self.clone())
    }
}

struct Section(Concurrency);

impl Drop for Section {
    fn drop(&mut self) {
        self.0.now.set(self.0.now.get() - 1);
    }
}

#[test]
fn pool_never_exceeds_its_size() {
    let pool = Pool::new(3);
    let conc = Concurrency::default();
    let handles: Vec<_> = (0..40u64)
        .map(|i| {
            let conc = conc.clone();
            pool.spawn(move || {
                let _in = conc.enter();
                sleep(Duration::from_micros(100 * (i % 5))).unwrap();
                i
            })
            .unwrap()
        })
        .collect();
    pool.join(None).unwrap();
    assert!(pool.is_empty());
    assert_eq!(conc.max.get(), 3);
    let total: u64 = handles.iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(total, (0..40).sum());
    assert_eq!(pool.free_count(), 3);
}

#[test]
fn slots_freed_on_panic_kill_and_kill_before_start() {
    let pool = Pool::new(1);
    let p = pool.spawn(|| panic!("job failed")).unwrap();
    assert!(matches!(p.join(), Err(Error::Panicked(_))));
    assert_eq!(pool.free_count(), 1);

    let k = pool.spawn(|| sleep(Duration::from_secs(60))).unwrap();
    yield_now().unwrap();
    assert!(pool.is_full());
    k.kill().unwrap();
    assert_eq!(pool.free_count(), 1);

    let never = pool.spawn(|| unreachable!("killed before it ran")).unwrap();
    never.kill().unwrap();
    assert_eq!(never.join().unwrap_err(), Error::Killed);
    assert_eq!(pool.free_count(), 1);
    pool.join(None).unwrap();
}

#[test]
fn spawn_waits_for_a_slot_and_honours_timeout() {
    let pool = Pool::new(1);
    let long = pool.spawn(|| sleep(20 * MS)).unwrap();
    assert_eq!(pool.wait_available(Some(MS)), Err(Error::Timeout));
    let r = with_timeout(MS, || pool.spawn(|| ()).map(drop));
    assert_eq!(r, Err(Error::Timeout));
    assert!(pool.try_spawn(|| ()).is_none());
    // Waits for `long`, then runs.
    let next = pool.spawn(|| 5).unwrap();
    assert!(long.is_ready());
    assert_eq!(next.join().unwrap(), 5);
    assert_eq!(pool.wait_available(None), Ok(1));
    assert_eq!(Hub::current().pending_timers(), 0);
}

#[test]
fn pool_add_takes_a_slot_until_done() {
    let pool = Pool::new(1);
    let outside = spawn(|| sleep(5 * MS));
    pool.add(&outside).unwrap();
    assert!(pool.is_full());
    assert_eq!(pool.len(), 1);
    pool.join(None).unwrap();
    assert_eq!(pool.free_count(), 1);
}

#[test]
fn group_join_kill_discard() {
    let group = Group::new();
    let a = group.spawn(|| sleep(Duration::from_secs(60))).unwrap();
    let b = group.spawn(|| sleep(Duration::from_secs(60))).unwrap();
    let outside = spawn(|| 1);
    group.add(&outside);
    assert_eq!(group.len(), 3);
    assert!(group.contains(&a));
    group.discard(&b);
    assert!(!group.contains(&b));
    assert_eq!(group.join(Some(5 * MS)), Err(Error::Timeout));
    group.kill(None).unwrap();
    assert!(group.is_empty());
    assert_eq!(a.join().unwrap_err(), Error::Killed);
    assert!(!b.is_ready(), "discarded: not killed");
    assert_eq!(outside.join().unwrap(), 1);
    b.kill().unwrap();
    assert_eq!(Hub::current().pending_timers(), 0);
}

#[test]
fn map_keeps_order() {
    let pool = Pool::new(4);
    // Later items finish first.
    let out = pool
        .map(
            |i: u64| {
                sleep(Duration::from_micros(50 * (20 - i))).unwrap();
                i * 2
            },
            0..20,
        )
        .unwrap();
    assert_eq!(out, (0..20).map(|i| i * 2).collect::<Vec<_>>());
    let group = Group::new();
    assert_eq!(
        group.map(|s: &str| s.len(), ["a", "bb", "ccc"]).unwrap(),
        [1, 2, 3]
    );
}

#[test]
fn map_returns_first_failure_and_kills_the_rest() {
    let pool = Pool::new(2);
    let finished = Rc::new(Cell::new(0));
    let f = finished.clone();
    let r = pool.map(
        move |i: u32| {
            if i == 1 {
                panic!("item {i} failed");
            }
            sleep(if i == 0 { MS } else { Duration::from_secs(60) }).unwrap();
            f.set(f.get() + 1);
            i
        },
        0..10,
    );
    assert!(matches!(r, Err(Error::Panicked(_))));
    pool.join(None).unwrap();
    assert_eq!(
        finished.get(),
        1,
        "only item 0 finished; the rest were killed"
    );
    assert_eq!(pool.free_count(), 2);
}

#[test]
fn imap_is_lazy_and_ordered() {
    let pool = Pool::new(2);
    let pulled = Rc::new(Cell::new(0));
    let p = pulled.clone();
    let input = (0..1_000_000u64).inspect(move |_| p.set(p.get() + 1));
    let mut results = pool.imap(|i| i + 1, input);
    assert_eq!(pulled.get(), 0, "nothing read before the first next");
    let first: Vec<u64> = results.by_ref().take(5).map(Result::unwrap).collect();
    assert_eq!(first, [1, 2, 3, 4, 5]);
    assert!(
        pulled.get() <= 5 + 2,
        "read only as slots free up: {}",
        pulled.get()
    );
    drop(results);
    pool.join(None).unwrap();
}

#[test]
fn imap_unordered_yields_in_finish_order() {
    let group = Group::new();
    let out: Vec<u64> = group
        .imap_unordered(
            |ms: u64| {
                sleep(Duration::from_millis(ms)).unwrap();
                ms
            },
            [30, 10, 20],
        )
        .map(Result::unwrap)
        .collect();
    assert_eq!(out, [10, 20, 30]);
    let pool = Pool::new(3);
    let mut all: Vec<u32> = pool
        .imap_unordered(|i: u32| i, 0..100)
        .map(Result::unwrap)
        .collect();
    all.sort_unstable();
    assert!(all.into_iter().eq(0..100));
}

#[test]
fn imap_timeout_loses_no_result() {
    let pool = Pool::new(2);
    let mut it = pool.imap(
        |ms: u64| {
            sleep(Duration::from_millis(ms)).unwrap();
            ms
        },
        [20, 1],
    );
    let t = Timeout::start(2 * MS);
    assert_eq!(it.next().map(|r| r.unwrap_err()), Some(Error::Timeout));
    drop(t);
    assert_eq!(it.next().map(Result::unwrap), Some(20));
    assert_eq!(it.next().map(Result::unwrap), Some(1));
    assert!(it.next().is_none());

    let group = Group::new();
    let mut un = group.imap_unordered(
        |ms: u64| {
            sleep(Duration::from_millis(ms)).unwrap();
            ms
        },
        [10, 15],
    );
    let t = Timeout::start(2 * MS);
    assert_eq!(un.next().map(|r| r.unwrap_err()), Some(Error::Timeout));
    drop(t);
    let rest: Vec<u64> = un.map(Result::unwrap).collect();
    assert_eq!(rest, [10, 15]);
}

#[test]
fn kill_during_pool_spawn_wait_leaves_slots_consistent() {
    let pool = Pool::new(1);
    let blocker = pool.spawn(|| sleep(Duration::from_secs(60))).unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let p = pool.clone();
    let l = log.clone();
    let spawner = spawn(move || {
        let h = p.spawn(move || l.borrow_mut().push("ran")).unwrap();
        h.join().unwrap();
    });
    yield_now().unwrap();
    spawner.kill().unwrap();
    blocker.kill().unwrap();
    assert_eq!(pool.free_count(), 1);
    assert!(log.borrow().is_empty());
    let h = pool.spawn(|| 9).unwrap();
    assert_eq!(h.join().unwrap(), 9);
}
