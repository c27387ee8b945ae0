//! The hub's contract: scheduling, join results, kill and Timeout in every wait,
//! would-block-forever, I/O readiness, and nothing left behind.

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use hub::{
    Direction, Error, Hub, Registration, Timeout, joinall, killall, sleep, spawn, with_timeout,
};

const MS: Duration = Duration::from_millis(1);

struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// Asserts the hub holds no timers or I/O waiters: nothing was left behind.
fn assert_clean() {
    let hub = Hub::current();
    assert_eq!(hub.pending_timers(), 0, "timers left behind");
    assert_eq!(hub.io_waiters(), 0, "I/O waiters left behind");
}

#[test]
fn spawned_without_yield_run_in_order() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let handles: Vec<_> = (0..3)
        .map(|i| {
            let log = log.clone();
            spawn(move || {
                for j in 0..2 {
                    log.borrow_mut().push((i, j));
                }
            })
        })
        .collect();
    assert!(log.borrow().is_empty(), "spawn only schedules");
    for h in &handles {
        h.join().unwrap();
    }
    assert_eq!(
        *log.borrow(),
        [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]
    );
}

#[test]
fn sleep_zero_round_robins() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let handles: Vec<_> = (0..3)
        .map(|i| {
            let log = log.clone();
            spawn(move || {
                for _ in 0..2 {
                    log.borrow_mut().push(i);
                    sleep(Duration::ZERO).unwrap();
                }
            })
        })
        .collect();
    joinall(&handles, None, None).unwrap();
    assert_eq!(*log.borrow(), [0, 1, 2, 0, 1, 2]);
}

#[test]
fn yielding_greenlet_does_not_starve_timers() {
    let spinning = Rc::new(Cell::new(true));
    let s = spinning.clone();
    let spinner = spawn(move || {
        let mut turns = 0u64;
        while s.get() {
            sleep(Duration::ZERO).unwrap();
            turns += 1;
        }
        turns
    });
    let s = spinning.clone();
    let sleeper = spawn(move || {
        sleep(20 * MS).unwrap();
        s.set(false);
    });
    sleeper.join().unwrap();
    assert!(spinner.join().unwrap() > 0);
}

#[test]
fn sleeps_overlap() {
    let start = Instant::now();
    let handles: Vec<_> = [30u32, 20, 10]
        .into_iter()
        .map(|ms| spawn(move || sleep(ms * MS)))
        .collect();
    let finished = joinall(&handles, None, None).unwrap();
    assert_eq!(finished, [0, 1, 2]);
    let took = start.elapsed();
    assert!(took >= 30 * MS, "{took:?}");
    assert_clean();
}

#[test]
fn join_reports_panic_with_payload() {
    let h = spawn(|| -> u32 {
        let n = std::hint::black_box(5);
        panic!("greenlet failed {n}")
    });
    match h.join() {
        Err(Error::Panicked(p)) => {
            assert_eq!(p.downcast_ref::<String>().unwrap(), "greenlet failed 5")
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(h.is_ready() && !h.is_successful());
    // The hub survived: more work runs.
    assert_eq!(spawn(|| 1).join().unwrap(), 1);
}

#[test]
fn join_twice_is_taken() {
    let h = spawn(|| 3);
    assert_eq!(h.join().unwrap(), 3);
    assert_eq!(h.join(), Err(Error::Taken));
}

#[test]
fn join_timeout_leaves_greenlet_running() {
    let h = spawn(|| {
        sleep(40 * MS).unwrap();
        "late"
    });
    assert_eq!(h.join_timeout(5 * MS), Err(Error::Timeout));
    assert_eq!(h.join().unwrap(), "late");
    assert_clean();
}

#[test]
fn kill_during_sleep_runs_destructors() {
    let dropped = Rc::new(Cell::new(false));
    let d = dropped.clone();
    let h = spawn(move || {
        let _flag = DropFlag(d);
        sleep(Duration::from_secs(60)).unwrap();
    });
    sleep(MS).unwrap();
    h.kill().unwrap();
    assert!(dropped.get());
    assert_eq!(h.join(), Err(Error::Killed));
    assert_clean();
}

#[test]
fn kill_before_start_never_runs() {
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let h = spawn(move || r.set(true));
    h.kill().unwrap();
    assert!(!ran.get());
    assert_eq!(h.join(), Err(Error::Killed));
}

#[test]
fn kill_during_join_and_killall() {
    let sleeper = Rc::new(spawn(|| sleep(Duration::from_secs(60))));
    let s = sleeper.clone();
    let joiner = spawn(move || s.join());
    sleep(MS).unwrap();
    joiner.kill().unwrap();
    assert_eq!(joiner.join(), Err(Error::Killed));
    assert!(!sleeper.is_ready());
    killall([&*sleeper], None).unwrap();
    assert_eq!(sleeper.join(), Err(Error::Killed));
    assert_clean();
}

#[test]
fn timeout_interrupts_sleep_and_join() {
    let t = Timeout::start(5 * MS);
    assert_eq!(sleep(Duration::from_secs(60)), Err(Error::Timeout));
    assert!(t.fired() && t.interrupted());
    drop(t);

    let long = spawn(|| sleep(Duration::from_secs(60)));
    let r = with_timeout(5 * MS, || long.wait(None));
    assert_eq!(r, Err(Error::Timeout));
    long.kill().unwrap();
    assert_clean();
}

#[test]
fn nested_timeouts_report_their_own() {
    let outer = Timeout::start(5 * MS);
    let inner = with_timeout(Duration::from_secs(10), || sleep(Duration::from_secs(60)));
    // The outer one fired: the inner with_timeout sees its body's error, not its own timeout.
    assert_eq!(inner, Ok(Err(Error::Timeout)));
    assert!(outer.interrupted());
    drop(outer);
    let cancelled = Timeout::start(MS);
    cancelled.cancel();
    sleep(5 * MS).unwrap(); // a cancelled timeout interrupts nothing
    assert!(!cancelled.interrupted());
    assert_clean();
}

#[test]
fn timeout_inside_spawned_greenlet() {
    let h = spawn(|| with_timeout(5 * MS, || sleep(Duration::from_secs(60))));
    assert_eq!(h.join().unwrap(), Err(Error::Timeout));
    assert_clean();
}

#[test]
fn would_block_forever_instead_of_hanging() {
    let h = spawn(|| {
        // Waits on a waiter nobody will ever wake.
        let w = hub::Waiter::new().unwrap();
        w.park()
    });
    assert_eq!(h.join(), Err(Error::WouldBlockForever));
    h.kill().unwrap();
    assert_eq!(h.join(), Err(Error::Killed));
}

#[test]
fn joinall_with_count_and_timeout() {
    let handles: Vec<_> = [1u32, 2000, 4000]
        .into_iter()
        .map(|ms| spawn(move || sleep(ms * MS).is_ok().then_some(ms)))
        .collect();
    assert_eq!(joinall(&handles, None, Some(1)).unwrap(), [0]);
    let done = joinall(&handles, Some(20 * MS), None).unwrap();
    assert_eq!(done, [0]);
    assert_eq!(handles[0].value(), Some(Some(1)));
    assert_eq!(handles[1].value(), None);
    killall(&handles, None).unwrap();
    assert_clean();
}

#[test]
fn spawn_later_and_link() {
    let linked = Rc::new(Cell::new(0));
    let start = Instant::now();
    let h = hub::spawn_later(10 * MS, move || start.elapsed());
    let l = linked.clone();
    h.link(move || l.set(l.get() + 1));
    assert!(h.join().unwrap() >= 10 * MS);
    sleep(Duration::ZERO).unwrap(); // links run at the hub's next turn
    assert_eq!(linked.get(), 1);
}

#[test]
fn blocking_in_hub_callback_is_an_error() {
    let h = spawn(|| ());
    let result = Rc::new(RefCell::new(None));
    let r = result.clone();
    h.link(move || *r.borrow_mut() = Some(sleep(MS)));
    h.join().unwrap();
    sleep(MS).unwrap();
    assert_eq!(*result.borrow(), Some(Err(Error::BlockingInHub)));
}

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

#[test]
fn io_wait_wakes_on_readable() {
    let (a, mut b) = pair();
    let reader = spawn(move || {
        let reg = Registration::new(a.as_raw_fd()).unwrap();
        let mut buf = [0u8; 16];
        let mut a = &a;
        loop {
            match a.read(&mut buf) {
                Ok(n) => return buf[..n].to_vec(),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    reg.wait(Direction::Read, None).unwrap();
                }
                Err(e) => panic!("{e}"),
            }
        }
    });
    sleep(5 * MS).unwrap();
    assert_eq!(Hub::current().io_waiters(), 1);
    b.write_all(b"ping").unwrap();
    assert_eq!(reader.join().unwrap(), b"ping");
    assert_clean();
}

#[test]
fn readiness_is_cleared_by_waits_and_drains_and_set_by_events() {
    let (a, mut b) = pair();
    let reg = Rc::new(Registration::new(a.as_raw_fd()).unwrap());
    // Unknown at first: a caller must try the syscall.
    assert!(reg.may_be_ready(Direction::Read));
    reg.clear_ready(Direction::Read);
    assert!(!reg.may_be_ready(Direction::Read));
    assert!(reg.may_be_ready(Direction::Write), "directions are apart");
    // An event while nobody waits sets it again (the edge is not lost).
    b.write_all(b"x").unwrap();
    sleep(5 * MS).unwrap();
    assert!(reg.may_be_ready(Direction::Read));
    let mut buf = [0u8; 8];
    assert_eq!((&a).read(&mut buf).unwrap(), 1);
    // A wait counts the fd as not ready until its event.
    let r = reg.clone();
    let waiting = spawn(move || r.wait(Direction::Read, None));
    sleep(MS).unwrap();
    assert!(!reg.may_be_ready(Direction::Read));
    b.write_all(b"y").unwrap();
    assert_eq!(waiting.join().unwrap(), Ok(()));
    assert!(reg.may_be_ready(Direction::Read));
    // Once the peer has closed, clearing cannot hide it: no event would follow.
    assert_eq!((&a).read(&mut buf).unwrap(), 1);
    drop(b);
    sleep(5 * MS).unwrap();
    reg.clear_ready(Direction::Read);
    assert!(reg.may_be_ready(Direction::Read));
    assert_clean();
}

#[test]
fn io_wait_timeout_and_kill_leave_nothing() {
    let (a, _b) = pair();
    let fd = a.as_raw_fd();
    let reg = Rc::new(Registration::new(fd).unwrap());
    assert_eq!(reg.wait(Direction::Read, Some(5 * MS)), Err(Error::Timeout));
    assert_clean();
    let r = reg.clone();
    let waiting = spawn(move || r.wait(Direction::Read, None));
    sleep(MS).unwrap();
    // A second reader on the same fd is refused; a writer is fine.
    assert_eq!(reg.wait(Direction::Read, Some(MS)), Err(Error::Busy));
    waiting.kill().unwrap();
    assert_clean();
    let r = reg.clone();
    let timed = spawn(move || with_timeout(5 * MS, || r.wait(Direction::Read, None)));
    assert_eq!(timed.join().unwrap(), Err(Error::Timeout));
    assert_clean();
    drop(a);
}

thread_local! {
    /// What the remote job delivers, and the greenlet waiting for it.
    static RECEIVED: Cell<i32> = const { Cell::new(0) };
    static WAITING: RefCell<Option<hub::Waiter>> = const { RefCell::new(None) };
}

#[test]
fn remote_call_from_another_thread() {
    let remote = Hub::current().remote();
    let h = spawn(|| {
        let waiter = hub::Waiter::new().unwrap();
        WAITING.with(|w| *w.borrow_mut() = Some(waiter.clone()));
        waiter.park().unwrap();
        RECEIVED.get()
    });
    sleep(MS).unwrap();
    let t = std::thread::spawn(move || {
        std::thread::sleep(5 * MS);
        // Runs on the hub's thread, where the thread-locals above are the hub's.
        remote
            .call(|| {
                RECEIVED.set(99);
                WAITING.with(|w| w.borrow_mut().take().unwrap().wake());
            })
            .unwrap();
    });
    assert_eq!(h.join().unwrap(), 99);
    t.join().unwrap();
}

#[test]
fn thousands_of_greenlets() {
    let counter = Rc::new(Cell::new(0));
    let handles: Vec<_> = (0..5000)
        .map(|i| {
            let c = counter.clone();
            spawn(move || {
                sleep(Duration::from_micros(i % 7)).unwrap();
                c.set(c.get() + 1);
            })
        })
        .collect();
    joinall(&handles, None, None).unwrap();
    assert_eq!(counter.get(), 5000);
    assert_eq!(Hub::current().live_tasks(), 0);
    assert_clean();
}

#[test]
fn huge_durations_mean_never_not_overflow() {
    let h = spawn(|| sleep(Duration::MAX));
    sleep(MS).unwrap();
    h.kill().unwrap();
    assert_eq!(h.join(), Err(Error::Killed));
    let t = Timeout::start(Duration::MAX);
    sleep(MS).unwrap();
    assert!(!t.fired());
    drop(t);
    let late = spawn(|| sleep(MS));
    assert_eq!(late.join_timeout(Duration::MAX), Ok(Ok(())));
    assert_clean();
}
