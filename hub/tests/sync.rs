//! Sync primitives: semantics, FIFO wake order, and consistency when a timeout or a
//! kill ends a wait (no item or permit lost or duplicated, no waiter left behind).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use hub::{
    AsyncResult, BoundedSemaphore, Channel, Error, Event, Hub, Lock, Queue, QueueError, Semaphore,
    Timeout, joinall, sleep, spawn, with_timeout, yield_now,
};

const MS: Duration = Duration::from_millis(1);

fn assert_no_timers() {
    assert_eq!(Hub::current().pending_timers(), 0, "timers left behind");
}

/// Spawns `n` greenlets that each run `wait(i)` and log `i` once it returns Ok, then
/// lets them all park, in spawn order.
fn waiters(
    n: usize,
    wait: impl Fn(usize) -> bool + Clone + 'static,
) -> (Vec<hub::JoinHandle<()>>, Rc<RefCell<Vec<usize>>>) {
    let log = Rc::new(RefCell::new(Vec::new()));
    let handles = (0..n)
        .map(|i| {
            let (log, wait) = (log.clone(), wait.clone());
            spawn(move || {
                if wait(i) {
                    log.borrow_mut().push(i);
                }
            })
        })
        .collect();
    yield_now().unwrap();
    (handles, log)
}

// ---------------------------------------------------------------- Event

#[test]
fn event_set_wakes_all_and_clear_rearms() {
    let ev = Event::new();
    let e = ev.clone();
    let (handles, log) = waiters(3, move |_| e.wait(None).is_ok());
    assert_eq!(ev.waiters(), 3);
    ev.set();
    joinall(&handles, None, None).unwrap();
    assert_eq!(*log.borrow(), [0, 1, 2]);
    assert!(ev.wait(None).is_ok(), "set: returns at once");
    ev.clear();
    assert_eq!(ev.wait(Some(MS)), Err(Error::Timeout));
    assert_eq!(ev.waiters(), 0);
    assert_no_timers();
}

#[test]
fn event_waiter_woken_by_set_returns_ok_even_if_cleared() {
    let ev = Event::new();
    let e = ev.clone();
    let h = spawn(move || e.wait(None));
    yield_now().unwrap();
    ev.set();
    ev.clear();
    assert_eq!(h.join().unwrap(), Ok(()));
}

#[test]
fn event_timeout_and_kill_leave_no_waiter() {
    let ev = Event::new();
    let e = ev.clone();
    let t = spawn(move || with_timeout(2 * MS, || e.wait(None)));
    let e = ev.clone();
    let k = spawn(move || e.wait(None));
    yield_now().unwrap();
    assert_eq!(ev.waiters(), 2);
    assert_eq!(t.join().unwrap(), Err(Error::Timeout));
    k.kill().unwrap();
    assert_eq!(ev.waiters(), 0);
    ev.set();
    assert_no_timers();
}

// ---------------------------------------------------------------- AsyncResult

#[test]
fn async_result_value_reaches_every_getter() {
    let r: AsyncResult<String, String> = AsyncResult::new();
    let getters: Vec<_> = (0..3)
        .map(|_| {
            let r = r.clone();
            spawn(move || r.get(None))
        })
        .collect();
    yield_now().unwrap();
    assert_eq!(r.waiters(), 3);
    r.set("done".into());
    for g in &getters {
        assert_eq!(g.join().unwrap(), Ok(Ok("done".to_string())));
    }
    assert!(r.is_successful());
    assert_eq!(r.try_get(), Some(Ok("done".to_string())));
    assert_eq!(r.take(), Some(Ok("done".to_string())));
    assert!(!r.is_ready());
}

#[test]
fn async_result_error_and_timeout() {
    let r: AsyncResult<u8, &'static str> = AsyncResult::new();
    assert_eq!(r.get(Some(MS)), Err(Error::Timeout));
    assert_eq!(r.try_get(), None);
    let r2 = r.clone();
    let killed = spawn(move || r2.wait(None));
    yield_now().unwrap();
    killed.kill().unwrap();
    assert_eq!(r.waiters(), 0);
    r.set_error("boom");
    assert_eq!(r.get(None), Ok(Err("boom")));
    assert!(r.is_ready() && !r.is_successful());
    assert_no_timers();
}

// ---------------------------------------------------------------- Semaphore, Lock

#[test]
fn semaphore_wakes_in_fifo_order_without_barging() {
    let sem = Semaphore::new(0);
    let s = sem.clone();
    let (handles, log) = waiters(5, move |_| s.acquire(None).is_ok());
    assert_eq!(sem.waiters(), 5);
    for expected in 0..5 {
        sem.release();
        // The permit went to the longest waiter: a newcomer cannot take it.
        assert!(!sem.try_acquire());
        yield_now().unwrap();
        assert_eq!(log.borrow().last(), Some(&expected));
    }
    joinall(&handles, None, None).unwrap();
    assert_eq!(*log.borrow(), [0, 1, 2, 3, 4]);
    assert_eq!(sem.available(), 0);
}

#[test]
fn semaphore_timeout_loses_no_permit() {
    let sem = Semaphore::new(1);
    let g = sem.guard(None).unwrap();
    assert_eq!(sem.acquire(Some(2 * MS)), Err(Error::Timeout));
    let t = Timeout::start(2 * MS);
    assert_eq!(sem.acquire(None), Err(Error::Timeout));
    assert!(t.interrupted());
    drop(t);
    assert_eq!(sem.waiters(), 0);
    drop(g);
    assert_eq!(sem.available(), 1, "the permit came back once, not twice");
    assert_no_timers();
}

#[test]
fn semaphore_kill_after_handoff_passes_the_permit_on() {
    let sem = Semaphore::new(0);
    let (a, b) = (sem.clone(), sem.clone());
    let first = spawn(move || a.acquire(None));
    let second = spawn(move || b.acquire(None));
    yield_now().unwrap();
    // The kill is queued before the hand-off's wake-up: `first` is handed the permit
    // and then unwinds without using it.
    first.kill_nowait();
    sem.release();
    assert_eq!(second.join().unwrap(), Ok(()));
    assert_eq!(first.join(), Err(Error::Killed));
    assert_eq!(
        sem.available(),
        0,
        "exactly one permit, now held by `second`"
    );
    sem.release();
    assert_eq!(sem.available(), 1);
    assert_eq!(sem.waiters(), 0);
}

#[test]
fn semaphore_kill_after_handoff_with_nobody_left_frees_the_permit() {
    let sem = Semaphore::new(0);
    let a = sem.clone();
    let only = spawn(move || a.acquire(None));
    yield_now().unwrap();
    only.kill_nowait();
    sem.release();
    assert_eq!(only.join(), Err(Error::Killed));
    assert_eq!(sem.available(), 1);
}

#[test]
fn bounded_semaphore_refuses_extra_release() {
    let sem = BoundedSemaphore::new(1);
    assert!(sem.release().is_err());
    sem.acquire(None).unwrap();
    assert!(sem.is_locked());
    sem.release().unwrap();
    let err = sem.release().unwrap_err();
    assert_eq!(err.to_string(), "semaphore released too many times");
    assert_eq!(sem.available(), 1);
    assert_eq!(sem.bound(), 1);
}

#[test]
fn lock_is_fifo_and_survives_timeout_and_kill() {
    let lock = Lock::new();
    let guard = lock.lock(None).unwrap();
    assert!(lock.try_lock().is_none());
    assert_eq!(lock.lock(Some(MS)).map(drop), Err(Error::Timeout));
    let l = lock.clone();
    let (handles, log) = waiters(3, move |_| {
        let _g = l.lock(None).unwrap();
        sleep(MS).unwrap();
        true
    });
    let l = lock.clone();
    let victim = spawn(move || l.lock(None).map(drop));
    yield_now().unwrap();
    victim.kill_nowait(); // queued before the hand-off it will get
    drop(guard);
    joinall(&handles, None, None).unwrap();
    assert_eq!(*log.borrow(), [0, 1, 2]);
    assert_eq!(victim.join(), Err(Error::Killed));
    assert!(
        !lock.is_locked(),
        "nobody holds it: not stuck, not double-held"
    );
    assert_eq!(lock.waiters(), 0);
    assert_no_timers();
}

// ---------------------------------------------------------------- Queue

#[test]
fn queue_put_get_try_peek_len() {
    let q = Queue::new();
    assert_eq!(q.try_get(), Err(QueueError::Empty));
    assert_eq!(q.try_peek(), Err(QueueError::Empty));
    q.put(1, None).unwrap();
    q.try_put(2).unwrap();
    assert_eq!(q.len(), 2);
    assert_eq!(q.peek(None), Ok(1));
    assert_eq!(q.get(None), Ok(1));
    assert_eq!(q.try_get(), Ok(2));
    assert!(q.is_empty());
    assert_eq!(q.get(Some(MS)), Err(QueueError::Wait(Error::Timeout)));
    assert_eq!(q.peek(Some(MS)), Err(QueueError::Wait(Error::Timeout)));
    assert_no_timers();
}

#[test]
fn queue_getters_served_fifo_and_peekers_woken() {
    let q: Queue<usize> = Queue::new();
    let got = Rc::new(RefCell::new(Vec::new()));
    let getters: Vec<_> = (0..3)
        .map(|i| {
            let (q, got) = (q.clone(), got.clone());
            spawn(move || {
                let item = q.get(None).unwrap();
                got.borrow_mut().push((i, item));
            })
        })
        .collect();
    yield_now().unwrap();
    assert_eq!(q.getters(), 3);
    for item in 10..13 {
        q.put(item, None).unwrap();
    }
    joinall(&getters, None, None).unwrap();
    assert_eq!(*got.borrow(), [(0, 10), (1, 11), (2, 12)]);

    let q2 = q.clone();
    let peeker = spawn(move || q2.peek(None));
    yield_now().unwrap();
    q.put(99, None).unwrap();
    assert_eq!(peeker.join().unwrap(), Ok(99));
    assert_eq!(q.len(), 1, "peek takes nothing");
}

#[test]
fn bounded_queue_putters_wait_fifo() {
    let q = Queue::bounded(1);
    assert_eq!(q.capacity(), Some(1));
    q.put(0, None).unwrap();
    assert!(q.is_full());
    let e = q.try_put(100).unwrap_err();
    assert_eq!((e.item, e.error), (100, QueueError::Full));
    let e = q.put(101, Some(MS)).unwrap_err();
    assert_eq!((e.item, e.error), (101, QueueError::Wait(Error::Timeout)));
    let putters: Vec<_> = (1..=3)
        .map(|i| {
            let q = q.clone();
            spawn(move || q.put(i, None).map_err(|e| e.error))
        })
        .collect();
    yield_now().unwrap();
    assert_eq!(q.putters(), 3);
    // A newcomer cannot jump the line of waiting putters.
    assert_eq!(q.try_get(), Ok(0));
    assert_eq!(q.len(), 1, "the first putter's item moved in");
    assert_eq!(q.try_put(50).unwrap_err().error, QueueError::Full);
    let got: Vec<i32> = (0..3).map(|_| q.get(None).unwrap()).collect();
    assert_eq!(got, [1, 2, 3]);
    for p in &putters {
        assert_eq!(p.join().unwrap(), Ok(()));
    }
    assert!(q.is_empty());
    assert_no_timers();
}

#[test]
#[should_panic(expected = "rendezvous")]
fn queue_of_capacity_zero_is_refused() {
    let _q: Queue<u8> = Queue::bounded(0);
}

#[test]
fn queue_kill_after_handoff_gives_item_to_next_getter() {
    let q = Queue::new();
    let (a, b) = (q.clone(), q.clone());
    let first = spawn(move || a.get(None));
    let second = spawn(move || b.get(None));
    yield_now().unwrap();
    first.kill_nowait();
    q.put("x", None).unwrap();
    assert_eq!(second.join().unwrap(), Ok("x"));
    assert_eq!(first.join().unwrap_err(), Error::Killed);
    assert!(q.is_empty());
    assert_eq!(q.getters(), 0);
}

#[test]
fn queue_kill_after_handoff_puts_item_back_at_head() {
    let q = Queue::new();
    let a = q.clone();
    let only = spawn(move || a.get(None));
    yield_now().unwrap();
    only.kill_nowait();
    q.put(1, None).unwrap();
    q.put(2, None).unwrap();
    assert_eq!(only.join().unwrap_err(), Error::Killed);
    assert_eq!(q.try_get(), Ok(1), "the returned item is first again");
    assert_eq!(q.try_get(), Ok(2));
}

#[test]
fn queue_timeout_and_kill_of_putter_keep_counts() {
    let q = Queue::bounded(1);
    q.put(0, None).unwrap();
    let q2 = q.clone();
    let timed = spawn(move || {
        let _t = Timeout::start(2 * MS);
        q2.put(1, None).map_err(|e| (e.item, e.error))
    });
    let q3 = q.clone();
    let killed = spawn(move || q3.put(2, None).map_err(|e| e.item));
    yield_now().unwrap();
    assert_eq!(q.putters(), 2);
    assert_eq!(
        timed.join().unwrap(),
        Err((1, QueueError::Wait(Error::Timeout))),
        "the item came back"
    );
    killed.kill().unwrap();
    assert_eq!(q.putters(), 0);
    assert_eq!(q.unfinished_tasks(), 1);
    assert_eq!(q.try_get(), Ok(0));
    assert_eq!(q.try_get(), Err(QueueError::Empty));
    assert_no_timers();
}

#[test]
fn queue_task_done_and_join() {
    let q = Queue::new();
    for i in 0..3 {
        q.put(i, None).unwrap();
    }
    assert_eq!(q.unfinished_tasks(), 3);
    assert_eq!(q.join(Some(MS)), Err(Error::Timeout));
    let worker = {
        let q = q.clone();
        spawn(move || {
            while let Ok(_item) = q.get(Some(5 * MS)) {
                sleep(MS).unwrap();
                q.task_done().unwrap();
            }
        })
    };
    q.join(None).unwrap();
    assert_eq!(q.unfinished_tasks(), 0);
    assert!(q.task_done().is_err(), "more task_done than put");
    worker.join().unwrap();
}

#[test]
fn queue_close_wakes_everyone_and_drains() {
    let q = Queue::bounded(1);
    q.put(1, None).unwrap();
    let q2 = q.clone();
    let putter = spawn(move || q2.put(2, None).map_err(|e| (e.item, e.error)));
    yield_now().unwrap();
    q.close();
    assert_eq!(putter.join().unwrap(), Err((2, QueueError::Closed)));
    assert_eq!(q.try_put(3).unwrap_err().error, QueueError::Closed);
    assert_eq!(q.get(None), Ok(1), "what was in is still delivered");
    assert_eq!(q.get(None), Err(QueueError::Closed));

    let empty: Queue<u8> = Queue::new();
    let e = empty.clone();
    let getter = spawn(move || e.get(None));
    yield_now().unwrap();
    empty.close();
    assert_eq!(getter.join().unwrap(), Err(QueueError::Closed));
}

/// 10 000 items through a small bounded queue, several producers and consumers, with
/// consumers timing out often and one consumer killed midway: every item arrives
/// exactly once.
#[test]
fn producer_consumer_10k_loses_and_duplicates_nothing() {
    const N: usize = 10_000;
    const PRODUCERS: usize = 4;
    let q: Queue<usize> = Queue::bounded(8);
    let received = Rc::new(RefCell::new(Vec::with_capacity(N)));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let q = q.clone();
            spawn(move || {
                for i in (p..N).step_by(PRODUCERS) {
                    q.put(i, None).unwrap();
                    if i % 97 == 0 {
                        yield_now().unwrap();
                    }
                }
            })
        })
        .collect();
    let timeouts = Rc::new(Cell::new(0usize));
    let consumers: Vec<_> = (0..4)
        .map(|c| {
            let (q, received, timeouts) = (q.clone(), received.clone(), timeouts.clone());
            spawn(move || {
                let mut turns = 0usize;
                loop {
                    turns += 1;
                    assert!(turns < 10 * N, "bounded loop");
                    // Short deadlines make many gets time out while items are in flight.
                    let timeout = if c % 2 == 0 {
                        Some(Duration::ZERO)
                    } else {
                        None
                    };
                    match q.get(timeout) {
                        Ok(item) => received.borrow_mut().push(item),
                        Err(QueueError::Wait(Error::Timeout)) => {
                            timeouts.set(timeouts.get() + 1);
                            yield_now().unwrap();
                        }
                        Err(QueueError::Closed) => return,
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
        .collect();
    // A consumer that gets killed while it waits.
    let victim = {
        let (q, received) = (q.clone(), received.clone());
        spawn(move || {
            while let Ok(item) = q.get(None) {
                received.borrow_mut().push(item);
            }
        })
    };
    sleep(MS).unwrap();
    victim.kill().unwrap();
    joinall(&producers, None, None).unwrap();
    q.close();
    joinall(&consumers, None, None).unwrap();
    for c in &consumers {
        c.join().unwrap();
    }
    let mut got = received.borrow().clone();
    assert_eq!(got.len(), N, "nothing lost or duplicated");
    got.sort_unstable();
    assert!(got.iter().copied().eq(0..N));
    assert!(timeouts.get() > 0, "the test exercised gets that time out");
    assert!(q.is_empty());
    assert_no_timers();
}

// ---------------------------------------------------------------- Channel

#[test]
fn channel_put_waits_for_getter() {
    let ch = Channel::new();
    let e = ch.try_put(1).unwrap_err();
    assert_eq!((e.item, e.error), (1, QueueError::Full));
    let e = ch.put(2, Some(MS)).unwrap_err();
    assert_eq!((e.item, e.error), (2, QueueError::Wait(Error::Timeout)));
    assert_eq!(ch.try_get(), Err(QueueError::Empty));
    assert_eq!(ch.get(Some(MS)), Err(QueueError::Wait(Error::Timeout)));
    let putters: Vec<_> = (0..3)
        .map(|i| {
            let ch = ch.clone();
            spawn(move || ch.put(i, None).map_err(|e| e.error))
        })
        .collect();
    yield_now().unwrap();
    assert_eq!(ch.balance(), 3);
    let got: Vec<i32> = (0..3).map(|_| ch.get(None).unwrap()).collect();
    assert_eq!(got, [0, 1, 2], "putters served in FIFO order");
    for p in &putters {
        assert_eq!(p.join().unwrap(), Ok(()));
    }
    let c = ch.clone();
    let getter = spawn(move || c.get(None));
    yield_now().unwrap();
    assert_eq!(ch.balance(), -1);
    ch.try_put(7).unwrap();
    assert_eq!(getter.join().unwrap(), Ok(7));
    assert_no_timers();
}

#[test]
fn channel_killed_getter_loses_nothing() {
    let ch = Channel::new();
    let c = ch.clone();
    let victim = spawn(move || c.get(None));
    yield_now().unwrap();
    victim.kill_nowait();
    ch.try_put("kept").unwrap(); // handed to the victim, which then dies
    assert_eq!(victim.join().unwrap_err(), Error::Killed);
    assert_eq!(ch.try_get(), Ok("kept"));
    let c = ch.clone();
    let killed_putter = spawn(move || c.put("gone", None).map_err(|e| e.error));
    yield_now().unwrap();
    killed_putter.kill().unwrap();
    assert_eq!(ch.putters(), 0);
    assert_eq!(ch.try_get(), Err(QueueError::Empty));
}

#[test]
fn channel_close() {
    let ch = Channel::new();
    let (a, b) = (ch.clone(), ch.clone());
    let putter = spawn(move || a.put(1, None).map_err(|e| (e.item, e.error)));
    yield_now().unwrap();
    ch.close();
    assert_eq!(putter.join().unwrap(), Err((1, QueueError::Closed)));
    let getter = spawn(move || b.get(None));
    assert_eq!(getter.join().unwrap(), Err(QueueError::Closed));
    assert!(ch.is_closed());
}

/// Every blocking wait of every primitive, interrupted by a Timeout and by a kill:
/// afterwards nobody is registered as waiting and the hub holds no timer.
#[test]
fn every_wait_honours_timeout_and_kill() {
    type Wait = Rc<dyn Fn() -> bool>;
    let sem = Semaphore::new(0);
    let lock = Lock::new();
    let _held = lock.lock(None).unwrap();
    let ev = Event::new();
    let res: AsyncResult<u8, u8> = AsyncResult::new();
    let q: Queue<u8> = Queue::bounded(1);
    let full: Queue<u8> = Queue::bounded(1);
    full.put(0, None).unwrap();
    let ch: Channel<u8> = Channel::new();
    let waits: Vec<(&str, Wait)> = vec![
        (
            "semaphore",
            Rc::new({
                let s = sem.clone();
                move || s.acquire(None).is_err()
            }),
        ),
        (
            "lock",
            Rc::new({
                let l = lock.clone();
                move || l.lock(None).is_err()
            }),
        ),
        (
            "event",
            Rc::new({
                let e = ev.clone();
                move || e.wait(None).is_err()
            }),
        ),
        (
            "async result",
            Rc::new({
                let r = res.clone();
                move || r.get(None).is_err()
            }),
        ),
        (
            "queue get",
            Rc::new({
                let q = q.clone();
                move || q.get(None).is_err()
            }),
        ),
        (
            "queue peek",
            Rc::new({
                let q = q.clone();
                move || q.peek(None).is_err()
            }),
        ),
        (
            "queue put",
            Rc::new({
                let f = full.clone();
                move || f.put(1, None).is_err()
            }),
        ),
        (
            "queue join",
            Rc::new({
                let f = full.clone();
                move || f.join(None).is_err()
            }),
        ),
        (
            "channel get",
            Rc::new({
                let c = ch.clone();
                move || c.get(None).is_err()
            }),
        ),
        (
            "channel put",
            Rc::new({
                let c = ch.clone();
                move || c.put(1, None).is_err()
            }),
        ),
    ];
    let clean = || {
        sem.waiters() == 0
            && lock.waiters() == 0
            && ev.waiters() == 0
            && res.waiters() == 0
            && q.getters() == 0
            && full.putters() == 0
            && ch.getters() == 0
            && ch.putters() == 0
    };
    for (name, wait) in &waits {
        let w = wait.clone();
        let timed = spawn(move || with_timeout(2 * MS, || w()));
        assert_eq!(
            timed.join().unwrap(),
            Err(Error::Timeout),
            "{name}: timeout"
        );
        assert!(clean(), "{name}: a timed-out waiter was left behind");
        let w = wait.clone();
        let killed = spawn(move || w());
        yield_now().unwrap();
        killed.kill().unwrap();
        assert_eq!(killed.join().unwrap_err(), Error::Killed, "{name}: kill");
        assert!(clean(), "{name}: a killed waiter was left behind");
    }
    // Nothing was lost on the way.
    assert_eq!(sem.available(), 0);
    assert_eq!(full.len(), 1);
    assert_eq!(full.unfinished_tasks(), 1);
    assert!(q.is_empty());
    assert_no_timers();
}

/// From the root greenlet, a wait that nothing could ever end is an error, not a hang.
#[test]
fn endless_waits_are_would_block_forever() {
    let q: Queue<u8> = Queue::new();
    assert_eq!(q.get(None), Err(QueueError::Wait(Error::WouldBlockForever)));
    let ch: Channel<u8> = Channel::new();
    assert_eq!(
        ch.put(1, None).unwrap_err().error,
        QueueError::Wait(Error::WouldBlockForever)
    );
    assert_eq!(Event::new().wait(None), Err(Error::WouldBlockForever));
    assert_eq!(
        Semaphore::new(0).acquire(None),
        Err(Error::WouldBlockForever)
    );
    let r: AsyncResult<u8, u8> = AsyncResult::new();
    assert_eq!(r.get(None), Err(Error::WouldBlockForever));
    // Nothing was registered on the way.
    assert_eq!(q.getters(), 0);
    assert_eq!(ch.putters(), 0);
}
