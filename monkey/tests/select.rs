//! The cooperative `select`.

mod common;

use std::cell::RefCell;
use std::io::{ErrorKind, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::{MS, assert_clean, pair};
use monkey::select::select;

#[test]
fn empty_selects_overlap_like_the_tutorial() {
    // Seed 002: two greenlets select([], [], [], 2) while a third sleeps 1 s; both
    // polls end at ~2 s. Scaled down by 10. Overlap is proven by the order of events:
    // both polls are under way when the sleeper wakes, and neither ends early.
    let events = Rc::new(RefCell::new(Vec::new()));
    let start = Instant::now();
    let polls: Vec<_> = (0..2)
        .map(|i| {
            let events = events.clone();
            hub::spawn(move || {
                events.borrow_mut().push(format!("poll {i} starts"));
                select(&[], &[], &[], Some(200 * MS)).unwrap();
                events.borrow_mut().push(format!("poll {i} ends"));
                start.elapsed()
            })
        })
        .collect();
    let log = events.clone();
    let sleeper = hub::spawn(move || {
        monkey::time::sleep(100 * MS);
        log.borrow_mut().push("sleeper wakes".to_string());
    });
    sleeper.join().unwrap();
    for p in &polls {
        let t = p.join().unwrap();
        assert!(t >= 200 * MS, "a poll ended early: {t:?}");
    }
    assert_eq!(
        *events.borrow(),
        [
            "poll 0 starts",
            "poll 1 starts",
            "sleeper wakes",
            "poll 0 ends",
            "poll 1 ends"
        ]
    );
    assert_clean();
}

#[test]
fn readable_writable_and_order() {
    let (a, b) = UnixStream::pair().unwrap();
    let (c, d) = UnixStream::pair().unwrap();
    let fds: [RawFd; 2] = [a.as_raw_fd(), c.as_raw_fd()];
    // Nothing to read; everything writable.
    let (r, w, x) = select(&fds, &fds, &[], Some(Duration::ZERO)).unwrap();
    assert!(r.is_empty() && x.is_empty());
    assert_eq!(w, fds);
    // Data arrives from another greenlet while we wait.
    let writer = hub::spawn(move || {
        monkey::thread::sleep(10 * MS);
        (&d).write_all(b"x").unwrap();
        monkey::thread::sleep(10 * MS);
        (&b).write_all(b"y").unwrap();
        (b, d)
    });
    let start = Instant::now();
    let (r, _, _) = select(&fds, &[], &[], Some(Duration::from_secs(5))).unwrap();
    assert!(start.elapsed() >= 10 * MS);
    assert_eq!(r, [c.as_raw_fd()], "woken by the first write");
    let (_b, _d) = writer.join().unwrap();
    let (r, _, _) = select(&fds, &[], &[], None).unwrap();
    assert_eq!(r, fds, "in the order given");
    assert_clean();
}

#[test]
fn end_of_file_counts_as_readable() {
    let (a, b) = UnixStream::pair().unwrap();
    let closer = hub::spawn(move || {
        monkey::thread::sleep(5 * MS);
        drop(b);
    });
    let (r, _, _) = select(&[a.as_raw_fd()], &[], &[], None).unwrap();
    assert_eq!(r, [a.as_raw_fd()]);
    closer.join().unwrap();
}

#[test]
fn monkey_socket_fds_and_urgent_data() {
    let (c, s) = pair();
    // Urgent (out-of-band) data is select's exceptional condition.
    let sender = hub::spawn(move || {
        monkey::thread::sleep(5 * MS);
        // SAFETY: send(2) on a connected socket with a valid one-byte buffer.
        let n = unsafe { libc::send(s.as_raw_fd(), b"!".as_ptr().cast(), 1, libc::MSG_OOB) };
        assert_eq!(n, 1);
        s
    });
    let fd = c.as_raw_fd();
    let (_, _, x) = select(&[], &[], &[fd], Some(Duration::from_secs(5))).unwrap();
    assert_eq!(x, [fd]);
    let _s = sender.join().unwrap();
    assert_clean();
}

#[test]
fn timeouts_and_bad_fds() {
    let (a, _b) = UnixStream::pair().unwrap();
    let start = Instant::now();
    let got = select(&[a.as_raw_fd()], &[], &[], Some(20 * MS)).unwrap();
    assert_eq!(got, (vec![], vec![], vec![]));
    assert!(start.elapsed() >= 20 * MS);
    let e = select(&[-1], &[], &[], None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let (x, y) = UnixStream::pair().unwrap();
    let closed = x.as_raw_fd();
    drop(x);
    drop(y);
    let e = select(&[closed], &[], &[], Some(MS)).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EBADF));
    // A hub Timeout interrupts it.
    let r = hub::with_timeout(10 * MS, || select(&[a.as_raw_fd()], &[], &[], None));
    assert_eq!(r.unwrap_err(), hub::Error::Timeout);
    let t = hub::Timeout::start(10 * MS);
    let e = select(&[a.as_raw_fd()], &[], &[], None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut);
    drop(t);
    assert_clean();
}

#[test]
fn kill_during_select_leaves_nothing() {
    let (a, _b) = UnixStream::pair().unwrap();
    let fd = a.as_raw_fd();
    let waiting = hub::spawn(move || select(&[fd], &[], &[], None));
    hub::sleep(5 * MS).unwrap();
    assert_eq!(hub::Hub::current().io_waiters(), 1);
    waiting.kill().unwrap();
    assert_eq!(waiting.join().unwrap_err(), hub::Error::Killed);
    assert_clean();
}

#[test]
fn huge_durations_do_not_overflow() {
    let sleeper = hub::spawn(|| monkey::thread::sleep(Duration::MAX));
    let poller = hub::spawn(|| select(&[], &[], &[], Some(Duration::MAX)));
    let (a, _b) = UnixStream::pair().unwrap();
    let fd = a.as_raw_fd();
    let reader = hub::spawn(move || select(&[fd], &[], &[], Some(Duration::MAX)));
    hub::sleep(2 * MS).unwrap();
    // Still waiting, none of them panicked on an Instant overflow.
    assert!(!sleeper.is_ready() && !poller.is_ready() && !reader.is_ready());
    sleeper.kill().unwrap();
    poller.kill().unwrap();
    reader.kill().unwrap();
    assert_clean();
}
