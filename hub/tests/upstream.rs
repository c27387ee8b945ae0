//! Behaviours that python-greenlet's and gevent's own test suites check, each test
//! named after the upstream test it mirrors (gevent's `src/gevent/tests/test__*.py`).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use greenlet::{Greenlet, Value};
use hub::{Error, Event, Hub, Timeout, joinall, sleep, spawn, yield_now};

const MS: Duration = Duration::from_millis(1);

/// Keeps the CPU busy (no wait) until `d` has passed: deadlines pass meanwhile.
fn spin(d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// Two timeouts expire while the greenlet is woken but not yet resumed: each
/// interrupts one later wait, none is lost (test__api_timeout.py `test_nested_timeout`).
fn nested_timeouts_expired_before_resume(outer_ms: u32, inner_ms: u32) -> (bool, bool) {
    let event = Event::new();
    let result = Rc::new(Cell::new((false, false)));
    let waiter = {
        let (event, result) = (event.clone(), result.clone());
        spawn(move || {
            let outer = Timeout::start(outer_ms * MS);
            let inner = Timeout::start(inner_ms * MS);
            event.wait(None).unwrap(); // woken below, resumed only after both fired
            assert_eq!(sleep(10_000 * MS), Err(Error::Timeout));
            let inner_first = inner.interrupted();
            drop(inner);
            // The outer one still interrupts the next wait, whichever fired first.
            let second = sleep(50 * MS);
            result.set((
                inner_first,
                second == Err(Error::Timeout) && outer.interrupted(),
            ));
        })
    };
    yield_now().unwrap(); // the waiter arms its timeouts and parks
    event.set();
    spin((outer_ms.max(inner_ms) + 5) * MS); // both deadlines pass before it resumes
    waiter.join().unwrap();
    result.get()
}

#[test]
fn test_nested_timeout() {
    // Inner shorter: the inner one interrupts first, then the outer one.
    let (inner_first, outer_later) = nested_timeouts_expired_before_resume(20, 5);
    assert!(inner_first, "the inner timeout interrupts the first wait");
    assert!(outer_later, "the outer timeout is not lost");
    // Outer shorter: the outer one interrupts the first wait (and it is not lost).
    let (inner_first, outer_later) = nested_timeouts_expired_before_resume(5, 20);
    assert!(
        !inner_first,
        "the outer timeout fired first and interrupts first"
    );
    assert!(!outer_later, "the outer timeout interrupts once only");
}

#[test]
fn test_nested_timeout_while_parked() {
    // Both expire while the greenlet is parked: the earlier one interrupts this wait,
    // the later one (still armed) the next.
    let t1 = Timeout::start(5 * MS);
    let t2 = Timeout::start(10 * MS);
    spin(15 * MS);
    assert_eq!(sleep(10_000 * MS), Err(Error::Timeout));
    assert!(t1.interrupted() && !t2.interrupted());
    assert_eq!(sleep(10_000 * MS), Err(Error::Timeout));
    assert!(t2.interrupted());
    // A cancelled pending timeout interrupts nothing.
    let t3 = Timeout::start(MS);
    spin(5 * MS);
    yield_now().unwrap_err();
    let t4 = Timeout::start(MS);
    spin(5 * MS);
    let _ = Event::new().wait(Some(MS)); // t4 and this wait's own deadline both passed
    t4.cancel(); // interrupted this wait or pending: either way, nothing left after

    assert_eq!(sleep(MS), Ok(()));
    assert!(t3.interrupted());
}

/// A deadline that passes during CPU work is delivered at the next `sleep(0)`
/// (test__sleep0.py / test__timeout.py `test_expires`).
#[test]
fn test_expires_at_sleep0() {
    let t = Timeout::start(2 * MS);
    spin(5 * MS);
    assert_eq!(yield_now(), Err(Error::Timeout));
    assert!(t.interrupted());
    // Once delivered, it is spent: the next yield is fine.
    assert_eq!(sleep(Duration::ZERO), Ok(()));
    // Not yet passed: a yield is not interrupted.
    let t = Timeout::start(10_000 * MS);
    assert_eq!(yield_now(), Ok(()));
    assert!(!t.fired());
}

/// `joinall` under an outer `Timeout` raises it, with or without a timeout of its own
/// (gevent.testing.timing `test_outer_timeout_is_not_lost`, run by test__joinall.py).
#[test]
fn test_outer_timeout_is_not_lost() {
    let stuck = spawn(|| sleep(10_000 * MS));
    for own in [None, Some(10_000 * MS)] {
        let t = Timeout::start(5 * MS);
        assert_eq!(joinall([&stuck], own, None), Err(Error::Timeout));
        assert!(t.interrupted(), "the outer timeout is the one reported");
    }
    // Its own timeout passing is not an error: the finished subset comes back.
    let quick = spawn(|| Ok(()));
    assert_eq!(joinall([&stuck, &quick], Some(5 * MS), None), Ok(vec![1]));
    stuck.kill().unwrap();
}

/// A raw greenlet that blocks on the hub is resumed by it, not its parent task
/// (test__hub.py `TestWaiterGet`: the waiter switches back to whoever waited).
#[test]
fn test_waiter_resumes_raw_greenlet() {
    let task = spawn(|| {
        let log = Rc::new(RefCell::new(Vec::new()));
        let child = {
            let log = log.clone();
            Greenlet::new(move |_| {
                log.borrow_mut().push("child sleeps");
                sleep(2 * MS).unwrap();
                log.borrow_mut().push("child woke");
                Value::new(7u32)
            })
        };
        let back = child.switch(()).unwrap();
        log.borrow_mut().push("parent resumed");
        (back.downcast::<u32>().ok(), log.take(), child.is_dead())
    });
    let (value, log, dead) = task.join().unwrap();
    assert_eq!(value, Some(7));
    assert_eq!(log, ["child sleeps", "child woke", "parent resumed"]);
    assert!(dead);

    // The same from the thread's root greenlet.
    let child = Greenlet::new(|_| Value::new(sleep(MS).is_ok()));
    let back = child.switch(()).unwrap();
    assert_eq!(back.downcast::<bool>().ok(), Some(true));
}

/// A greenlet switched straight into while it sleeps gets an error from the sleep
/// instead of a sleep that ended early (test__api.py `test_sleep_invalid_switch`).
#[test]
fn test_sleep_invalid_switch() {
    let slot: Rc<RefCell<Option<Greenlet>>> = Rc::default();
    let sleeper = {
        let slot = slot.clone();
        spawn(move || {
            *slot.borrow_mut() = Some(greenlet::getcurrent());
            let start = Instant::now();
            (sleep(500 * MS), start.elapsed())
        })
    };
    yield_now().unwrap(); // it starts and parks
    let target = slot.borrow_mut().take().unwrap();
    let switcher = spawn(move || {
        let _ = target.switch(());
    });
    let (result, _) = sleeper.join().unwrap();
    assert_eq!(result, Err(Error::InvalidSwitch));
    assert!(Error::InvalidSwitch.to_string().contains("invalid switch"));
    // The stray switcher is stuck in its switch; killing it works.
    switcher.kill().unwrap();
    assert_eq!(switcher.join(), Err(Error::Killed));
    // The hub is sound afterwards: a real sleep sleeps.
    let start = Instant::now();
    sleep(5 * MS).unwrap();
    assert!(start.elapsed() >= 5 * MS);
}

/// `Channel::put` is a rendezvous: it returns after the getter has the item
/// (test__queue.py `TestChannel.test_send`).
#[test]
fn test_send() {
    let channel = hub::Channel::new();
    let events = Rc::new(RefCell::new(Vec::new()));
    let g = {
        let (channel, events) = (channel.clone(), events.clone());
        spawn(move || {
            for _ in 0..2 {
                let got = channel.get(None).unwrap();
                events.borrow_mut().push(got);
            }
        })
    };
    events.borrow_mut().push("sending");
    channel.put("hello", None).unwrap();
    events.borrow_mut().push("sent hello");
    channel.put("world", None).unwrap(); // the getter is already waiting here
    events.borrow_mut().push("sent world");
    assert_eq!(
        *events.borrow(),
        ["sending", "hello", "sent hello", "world", "sent world"]
    );
    g.join().unwrap();
}

/// The getter's side of the same order (test__queue.py `TestChannel.test_wait`).
#[test]
fn test_wait() {
    let channel = hub::Channel::new();
    let events = Rc::new(RefCell::new(Vec::new()));
    let g = {
        let (channel, events) = (channel.clone(), events.clone());
        spawn(move || {
            events.borrow_mut().push("sending hello");
            channel.put("hello", None).unwrap();
            events.borrow_mut().push("sending world");
            channel.put("world", None).unwrap();
            events.borrow_mut().push("sent world");
        })
    };
    events.borrow_mut().push("waiting");
    let got = channel.get(None).unwrap();
    events.borrow_mut().push(got);
    let got = channel.get(None).unwrap();
    events.borrow_mut().push(got);
    assert_eq!(
        *events.borrow(),
        [
            "waiting",
            "sending hello",
            "hello",
            "sending world",
            "world"
        ]
    );
    yield_now().unwrap();
    assert_eq!(events.borrow().last(), Some(&"sent world"));
    g.join().unwrap();
}

/// A put whose getter is waiting keeps a Timeout that fires during its yield for the
/// next wait: the item was delivered, so the put itself succeeds.
#[test]
fn channel_put_to_waiting_getter_keeps_timeout_for_next_wait() {
    let channel = hub::Channel::new();
    let getter = {
        let channel = channel.clone();
        spawn(move || channel.get(None))
    };
    yield_now().unwrap();
    let t = Timeout::start(MS);
    spin(3 * MS);
    assert!(channel.put(5, None).is_ok());
    assert_eq!(getter.join().unwrap(), Ok(5));
    assert_eq!(sleep(10_000 * MS), Err(Error::Timeout));
    assert!(t.interrupted());
}

/// An input iterator that panics frees the pool slot it was read under
/// (test__pool.py `TestErrorInIterator.test` and `test_unordered`).
#[test]
fn test_error_in_iterator() {
    fn error_iter() -> impl Iterator<Item = u32> {
        (0..2).chain(std::iter::from_fn(|| {
            panic!("expected error in the iterator")
        }))
    }
    let pool = hub::Pool::new(1);
    let map = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pool.map(|x| x, error_iter())
    }));
    assert!(map.is_err(), "the iterator's panic reaches the caller");
    let unordered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pool.imap_unordered(|x| x, error_iter()).count()
    }));
    assert!(unordered.is_err());
    pool.join(None).unwrap();
    assert_eq!(pool.free_count(), 1, "no slot leaked");
    let h = pool.spawn(|| 3).expect("the pool is usable");
    assert_eq!(h.join().unwrap(), 3);
}

#[derive(Debug)]
struct SpecialError;

/// Shrugs off `GreenletExit` and counts the shots, until a `SpecialError` ends it.
fn undead(shots: Rc<Cell<u32>>) -> impl FnOnce() + 'static {
    move || {
        loop {
            let nap = std::panic::catch_unwind(|| sleep(10_000 * MS));
            match nap {
                Ok(_) => {}
                Err(p) if p.is::<hub::GreenletExit>() => shots.set(shots.get() + 1),
                Err(p) => std::panic::resume_unwind(p),
            }
        }
    }
}

/// Killing a group member twice shoots it once (test__greenletset.py
/// `test_kill_fires_once`).
#[test]
fn test_kill_fires_once() {
    let (u1, u2) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let p1 = spawn(undead(u1.clone()));
    let p2 = spawn(undead(u2.clone()));
    sleep(MS).unwrap();
    let group = hub::Group::new();
    group.add(&p1);
    group.add(&p2);
    assert_eq!(group.len(), 2);
    assert_eq!(group.killone(&p1, Some(MS)), Err(Error::Timeout));
    assert_eq!((u1.get(), u2.get()), (1, 0));
    assert_eq!(group.killone(&p1, Some(MS)), Err(Error::Timeout));
    assert_eq!(
        (u1.get(), u2.get()),
        (1, 0),
        "a dying member is not shot again"
    );
    for _ in 0..3 {
        assert_eq!(group.kill(Some(MS)), Err(Error::Timeout));
    }
    assert_eq!((u1.get(), u2.get()), (1, 1), "one GreenletExit per member");
    let t = Timeout::start(MS);
    assert_eq!(group.kill(None), Err(Error::Timeout));
    assert!(t.interrupted());
    assert_eq!(group.len(), 2);
    // A payload of the caller's choice ends them.
    p1.kill_with(SpecialError, None).unwrap();
    p2.kill_with(SpecialError, None).unwrap();
    for p in [&p1, &p2] {
        match p.join() {
            Err(Error::Panicked(payload)) => assert!(payload.is::<SpecialError>()),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        group.is_empty() || {
            yield_now().unwrap();
            group.is_empty()
        }
    );
    // A non-member is left alone by killone.
    let other = spawn(|| ());
    assert_eq!(group.killone(&other, None), Ok(()));
    assert_eq!(other.join(), Ok(()));
}

// ------------------------------------------------------------ wait / iwait

/// `iwait` yields each object as it becomes ready; stopping early leaves nothing
/// behind (test__iwait.py `test_iwait_partial`, `test_iwait_nogarbage`).
#[test]
fn test_iwait_partial() {
    let sem_like = hub::Event::new();
    let gate = hub::Event::new();
    let slow = {
        let gate = gate.clone();
        spawn(move || gate.wait(None).unwrap())
    };
    let results: hub::AsyncResult<u8, ()> = hub::AsyncResult::new();
    let setter = {
        let (e, r) = (sem_like.clone(), results.clone());
        spawn(move || {
            r.set(1);
            sleep(2 * MS).unwrap();
            e.set();
        })
    };
    let objects: [&dyn hub::Waitable; 3] = [&slow, &sem_like, &results];
    let mut it = hub::iwait(&objects, None);
    assert_eq!(it.next().unwrap(), Ok(2));
    assert_eq!(it.next().unwrap(), Ok(1));
    drop(it); // stop before the slow one
    assert_eq!(sem_like.waiters(), 0);
    assert_eq!(results.waiters(), 0);
    gate.set(); // the slow one finishes once it runs
    let order: Vec<usize> = hub::iwait(&objects, None).map(Result::unwrap).collect();
    assert_eq!(
        order,
        [1, 2, 0],
        "all ready now but the slow one: input order, then it"
    );
    setter.join().unwrap();
    assert_eq!(Hub::current().pending_timers(), 0);
}

/// `wait` with a timeout and count returns the ready subset; a queue counts as ready
/// when it has an item; an outer Timeout is not lost (gevent.wait, test__api.py).
#[test]
fn test_wait_objects() {
    let q: hub::Queue<u8> = hub::Queue::new();
    let event = hub::Event::new();
    let never = spawn(|| sleep(10_000 * MS));
    let putter = {
        let q = q.clone();
        spawn(move || {
            sleep(2 * MS).unwrap();
            q.try_put(9).unwrap();
        })
    };
    let objects: [&dyn hub::Waitable; 3] = [&never, &event, &q];
    assert_eq!(hub::wait(&objects, None, Some(1)), Ok(vec![2]));
    assert_eq!(q.try_get(), Ok(9));
    // Its own timeout: not an error, nothing ready.
    assert_eq!(hub::wait(&objects, Some(2 * MS), None), Ok(vec![]));
    // An outer Timeout fires first: reported.
    let t = Timeout::start(2 * MS);
    assert_eq!(
        hub::wait(&objects, Some(10_000 * MS), None),
        Err(Error::Timeout)
    );
    assert!(t.interrupted());
    let t = Timeout::start(2 * MS);
    assert_eq!(hub::iwait(&objects, None).next(), Some(Err(Error::Timeout)));
    drop(t);
    // Nothing can make them ready: would block forever, not a hang.
    never.kill().unwrap();
    putter.join().unwrap();
    let lonely = hub::Event::new();
    assert_eq!(
        hub::wait(&[&lonely], None, None),
        Err(Error::WouldBlockForever)
    );
    assert_eq!(lonely.waiters(), 0);
    // A closed queue is ready; an empty object list is ready at once.
    q.close();
    assert_eq!(hub::wait(&[&q], None, None), Ok(vec![0]));
    assert_eq!(hub::wait(&[], None, None), Ok(vec![]));
}

/// `joinall(raise_error=True)` raises the first failure; `killall(block=False)`
/// returns at once (test__greenlet.py `test_non_block_killal`, gevent.joinall).
#[test]
fn test_joinall_raise_error_and_non_block_killall() {
    let ok = spawn(|| 1);
    let bad = spawn(|| -> i32 { panic!("boom") });
    let slow = spawn(|| {
        sleep(10_000 * MS).unwrap();
        2
    });
    match hub::joinall_raise_error([&ok, &bad, &slow], None, None) {
        Err(Error::Panicked(p)) => assert_eq!(hub::panic_message(&p), "boom"),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(bad.join(), Err(Error::Taken), "the error was handed over");
    assert_eq!(
        hub::joinall_raise_error([&ok, &slow], Some(2 * MS), None),
        Ok(vec![0])
    );
    assert_eq!(
        hub::joinall_raise_error([&ok, &slow], None, Some(1)),
        Ok(vec![0])
    );
    hub::killall_nowait([&slow]);
    assert!(!slow.is_ready(), "killall_nowait does not wait");
    assert_eq!(slow.join(), Err(Error::Killed));
    assert_eq!(ok.join(), Ok(1));
}

// ------------------------------------------------------------ JoinHandle links

/// `link`, `link_value`, `link_exception` and `unlink` (test__greenlet.py
/// `test_func_link`, `test_func_link_value`, `test_func_link_exception`,
/// `test_multiple_listeners_error_unlink_Greenlet_link`).
#[test]
fn test_func_link_value_exception_unlink() {
    let log = Rc::new(RefCell::new(Vec::<String>::new()));
    let record = |tag: &'static str| {
        let log = log.clone();
        move |s: String| log.borrow_mut().push(format!("{tag}:{s}"))
    };
    let good = spawn(|| 5);
    let bad = spawn(|| -> i32 { panic!("bad") });
    for h in [&good, &bad] {
        let (r, v, e) = (record("result"), record("value"), record("error"));
        h.link_result(move |res| r(format!("{res:?}")));
        h.link_value(move |x| v(x.to_string()));
        h.link_exception(move |err| e(err.to_string()));
    }
    let dropped = {
        let r = record("unlinked");
        good.link(move || r(String::new()))
    };
    assert!(good.unlink(dropped));
    assert!(!good.unlink(dropped), "only once");
    // A clone shares the greenlet: joining through it takes the one result.
    let clone = good.clone();
    assert_eq!(clone.join(), Ok(5));
    assert_eq!(good.join(), Err(Error::Taken));
    assert!(bad.join().is_err());
    assert_eq!(
        *log.borrow(),
        [
            "result:Ok(5)",
            "value:5",
            "result:Err(Panicked(\"bad\"))",
            "error:the greenlet panicked: bad",
        ]
    );
    // Linking a finished greenlet runs at once; it cannot be unlinked then.
    let late = {
        let r = record("late");
        good.link_result(move |res| r(format!("{res:?}")))
    };
    assert!(!good.unlink(late));
    yield_now().unwrap();
    assert_eq!(
        log.borrow().last().unwrap(),
        "late:Err(the greenlet's result was already taken)"
    );
    // A killed greenlet's exception link sees the kill.
    let victim = spawn(|| sleep(10_000 * MS));
    let e = record("killed");
    victim.link_exception(move |err| e(err.to_string()));
    victim.kill().unwrap();
    yield_now().unwrap();
    assert_eq!(
        log.borrow().last().unwrap(),
        "killed:the greenlet was killed"
    );
}

// ------------------------------------------------------------ RLock, queues, pools

/// The owner takes an RLock again; others wait, time out, and get it in order once
/// every guard is dropped (test__semaphore.py / test__lock.py `TestRLock`).
#[test]
fn test_rlock_reentrant() {
    let lock = hub::RLock::new();
    let first = lock.lock(None).unwrap();
    let second = lock
        .try_lock()
        .expect("the owner locks again without waiting");
    assert!(lock.is_owned() && lock.depth() == 2);
    let log = Rc::new(RefCell::new(Vec::new()));
    let queued = Rc::new(Cell::new(false));
    let contender = {
        let (lock, log, queued) = (lock.clone(), log.clone(), queued.clone());
        spawn(move || {
            assert!(!lock.is_owned());
            assert!(lock.try_lock().is_none());
            assert_eq!(lock.lock(Some(MS)).unwrap_err(), Error::Timeout);
            queued.set(true); // and parks in the next line without yielding before
            let _g = lock.lock(None).unwrap();
            log.borrow_mut().push("contender");
            lock.depth()
        })
    };
    while !queued.get() {
        sleep(MS).unwrap();
    }
    assert_eq!(lock.waiters(), 1);
    drop(second);
    yield_now().unwrap();
    assert!(log.borrow().is_empty(), "one guard still held");
    log.borrow_mut().push("owner releases");
    drop(first);
    assert_eq!(contender.join().unwrap(), 1);
    assert_eq!(*log.borrow(), ["owner releases", "contender"]);
    assert!(!lock.is_locked());
    // A killed waiter loses its place without taking the lock.
    let held = lock.lock(None).unwrap();
    let victim = {
        let lock = lock.clone();
        spawn(move || lock.lock(None).map(|_| ()))
    };
    yield_now().unwrap();
    assert_eq!(lock.waiters(), 1);
    victim.kill().unwrap();
    drop(held);
    assert!(!lock.is_locked() && lock.waiters() == 0);
}

/// `LifoQueue` and `PriorityQueue` hand out their items in their order, bounded or
/// not (test__queue.py `TestLifoQueue`, `TestPriorityQueue`).
#[test]
fn test_lifo_and_priority_queue() {
    let lifo = hub::LifoQueue::new();
    for i in 0..4 {
        lifo.put(i, None).unwrap();
    }
    assert_eq!(lifo.try_peek(), Ok(3));
    let got: Vec<i32> = (0..4).map(|_| lifo.get(None).unwrap()).collect();
    assert_eq!(got, [3, 2, 1, 0]);
    assert_eq!(lifo.try_get(), Err(hub::QueueError::Empty));

    let heap = hub::PriorityQueue::bounded(2);
    heap.put((5, "e"), None).unwrap();
    heap.put((1, "a"), None).unwrap();
    let e = heap.put((0, "full"), Some(MS)).unwrap_err();
    assert_eq!(e.error, hub::QueueError::Wait(Error::Timeout));
    let putter = {
        let heap = heap.clone();
        spawn(move || heap.put((3, "c"), None).map_err(|e| e.error))
    };
    yield_now().unwrap();
    assert_eq!(heap.get(None).unwrap(), (1, "a"));
    assert_eq!(putter.join().unwrap(), Ok(()));
    assert_eq!(heap.get(None).unwrap(), (3, "c"));
    assert_eq!(heap.get(None).unwrap(), (5, "e"));
    heap.close();
    assert_eq!(heap.get(None), Err(hub::QueueError::Closed));
    assert_eq!(hub::wait(&[&heap], None, None), Ok(vec![0]));
}

/// `apply` runs in the pool and returns the result; nested in a member it runs inline;
/// `apply_async` gives the handle (test__pool.py `test_apply`, `test_apply_async`,
/// `test_reentrant`, `test_apply_raises`).
#[test]
fn test_apply() {
    let pool = hub::Pool::new(1);
    assert_eq!(pool.apply(|| 7), Ok(7));
    let inner = pool.clone();
    assert_eq!(pool.apply(move || inner.apply(|| 8).unwrap()), Ok(8));
    match pool.apply(|| -> u8 { panic!("raised in apply") }) {
        Err(Error::Panicked(p)) => assert_eq!(hub::panic_message(&p), "raised in apply"),
        other => panic!("unexpected {other:?}"),
    }
    let h = pool.apply_async(|| 9).unwrap();
    assert_eq!(h.join(), Ok(9));
    // Group::apply: in a member it runs inline; from outside it spawns and joins.
    let group = hub::Group::new();
    let g = group.clone();
    assert_eq!(group.apply(move || g.apply(|| 4).unwrap()), Ok(4));
    assert!(group.apply_async(|| 5).unwrap().join() == Ok(5) && group.len() <= 1);
    // Group and Pool spawn share one type.
    type SpawnOne = Box<dyn Fn() -> Result<hub::JoinHandle<u8>, Error>>;
    let spawners: [SpawnOne; 2] = [
        Box::new({
            let p = pool.clone();
            move || p.spawn(|| 1)
        }),
        Box::new(move || group.spawn(|| 1)),
    ];
    for spawn_one in &spawners {
        assert_eq!(spawn_one().unwrap().join(), Ok(1));
    }
    // A pool's apply from outside under a Timeout that fires while the pool is full.
    let busy = pool.spawn(|| sleep(10_000 * MS)).unwrap();
    let t = Timeout::start(MS);
    assert_eq!(pool.apply(|| 0), Err(Error::Timeout));
    assert!(t.interrupted());
    busy.kill().unwrap();
    assert_eq!(pool.free_count(), 1);
}

// ------------------------------------------------------------ Result flattening

/// `with_timeout(seconds, function)` whose function fails (test__api.py
/// `test_nested_with_timeout`, with error types): one level of `Result`.
#[test]
fn test_nested_with_timeout() {
    use std::io::{self, ErrorKind};
    // The inner timeout is longer: the outer one fires, and the outer call reports
    // it (as gevent raises the outer Timeout through the inner with_timeout).
    let inner_saw = Rc::new(Cell::new(None));
    let outer: io::Result<()> = {
        let inner_saw = inner_saw.clone();
        hub::try_with_timeout(5 * MS, move || {
            let inner: io::Result<()> = hub::try_with_timeout(10_000 * MS, || {
                sleep(10_000 * MS)?;
                Ok(())
            });
            inner_saw.set(inner.as_ref().err().map(io::Error::kind));
            inner
        })
    };
    assert_eq!(outer.unwrap_err().kind(), ErrorKind::TimedOut);
    assert_eq!(inner_saw.get(), Some(ErrorKind::TimedOut));
    // A greenlet killed while it returns io::Result: try_join gives an io::Error.
    let h = spawn(|| -> io::Result<()> {
        sleep(10_000 * MS)?;
        Ok(())
    });
    h.kill().unwrap();
    assert_eq!(h.try_join().unwrap_err().kind(), ErrorKind::Other);
    assert_eq!(
        h.try_join().unwrap_err().to_string(),
        Error::Taken.to_string()
    );
    // hub::Error carries io errors and gives them back unchanged.
    let e: Error = io::Error::new(ErrorKind::ConnectionReset, "peer reset").into();
    assert_eq!(e, Error::Io(ErrorKind::ConnectionReset.into()));
    assert_ne!(e, Error::Io(ErrorKind::NotFound.into()));
    assert!(std::error::Error::source(&e).is_some());
    let back: io::Error = e.into();
    assert_eq!(
        (back.kind(), back.to_string().as_str()),
        (ErrorKind::ConnectionReset, "peer reset")
    );
}

/// Killing a task while a raw greenlet of its own waits on the hub: the task dies,
/// the raw greenlet is unwound with it, and the hub holds nothing of either.
#[test]
fn test_kill_task_while_raw_greenlet_waits() {
    let unwound = Rc::new(Cell::new(false));
    let task = {
        let unwound = unwound.clone();
        spawn(move || {
            struct Flag(Rc<Cell<bool>>);
            impl Drop for Flag {
                fn drop(&mut self) {
                    self.0.set(true);
                }
            }
            let child = Greenlet::new(move |_| {
                let _flag = Flag(unwound);
                sleep(10_000 * MS).unwrap();
                Value::none()
            });
            let _ = child.switch(());
            unreachable!("the task is killed while its child waits");
        })
    };
    yield_now().unwrap();
    assert_eq!(Hub::current().pending_timers(), 1, "the child sleeps");
    task.kill().unwrap();
    assert_eq!(task.join(), Err(Error::Killed));
    yield_now().unwrap();
    assert!(unwound.get(), "the raw greenlet's stack was unwound");
    assert_eq!(Hub::current().pending_timers(), 0);
    assert_eq!(Hub::current().live_tasks(), 0);
}

/// A stray switch into a greenlet waiting for I/O ends that wait with an error and
/// leaves no I/O waiter behind (test__api.py `test_invalid_switch_None`).
#[test]
fn test_invalid_switch_none() {
    use std::os::fd::AsRawFd;
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let slot: Rc<RefCell<Option<Greenlet>>> = Rc::default();
    let reader = {
        let slot = slot.clone();
        spawn(move || {
            let registration = hub::Registration::new(a.as_raw_fd()).unwrap();
            *slot.borrow_mut() = Some(greenlet::getcurrent());
            registration.wait(hub::Direction::Read, None)
        })
    };
    yield_now().unwrap();
    assert_eq!(Hub::current().io_waiters(), 1);
    let target = slot.borrow_mut().take().unwrap();
    // From a hub callback, as gevent's `run_callback(switch_None, p)`.
    let blocked_in_callback = Rc::new(Cell::new(None));
    let seen = blocked_in_callback.clone();
    spawn(|| ()).link(move || {
        let _ = target.switch(());
        // Back in the callback: it is still hub code, which cannot block.
        seen.set(Some(sleep(MS)));
    });
    assert_eq!(reader.join().unwrap(), Err(Error::InvalidSwitch));
    assert_eq!(Hub::current().io_waiters(), 0);
    assert_eq!(Hub::current().registrations(), 0);
    yield_now().unwrap();
    assert_eq!(blocked_in_callback.take(), Some(Err(Error::BlockingInHub)));
}
