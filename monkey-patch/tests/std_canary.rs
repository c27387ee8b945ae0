//! One canary per row of the std table in `shared/PATCH_ALL.md`: each std call is
//! made by a greenlet after `patch_all()`, and the test checks both that it reached
//! the hook its row names (the per-thread counters of `monkey_patch::probe`) and,
//! where the call can wait, that it let another greenlet run while waiting. When a
//! new std calls other C functions, these fail loudly instead of the call silently
//! blocking the hub.

mod common;

use std::cell::Cell;
use std::io::{ErrorKind, IoSlice, IoSliceMut, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::rc::Rc;
use std::time::Duration;

use monkey_patch::probe::calls;

/// Runs `f`, returning its result and how many times each named hook was entered.
fn counting<R>(hooks: &[&str], f: impl FnOnce() -> R) -> (R, Vec<u64>) {
    let before: Vec<u64> = hooks.iter().map(|h| calls(h)).collect();
    let r = f();
    let after = hooks
        .iter()
        .zip(before)
        .map(|(h, b)| calls(h) - b)
        .collect();
    (r, after)
}

/// A greenlet that ticks twice, each time after letting the loop turn once: it is
/// done a few loop turns after the test starts waiting, long before any of the
/// tests' timers (50 ms) fire, if and only if the waiting call lets the loop run.
fn ticker() -> (Rc<Cell<u32>>, hub::JoinHandle<()>) {
    let ticks = Rc::new(Cell::new(0));
    let t = ticks.clone();
    let h = hub::spawn(move || {
        for _ in 0..2 {
            hub::yield_now().unwrap();
            t.set(t.get() + 1);
        }
    });
    (ticks, h)
}

fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    (a, l.accept().unwrap().0)
}

/// Asserts the ticker finished while the caller waited in a hook.
fn seen_ticks(ticks: &Cell<u32>) {
    assert_eq!(
        ticks.get(),
        2,
        "the ticker did not run while the call waited"
    );
}

/// Sends `bytes` on `to` after a short sleep, from another greenlet.
fn send_later(mut to: TcpStream, bytes: &'static [u8], ms: u64) -> hub::JoinHandle<TcpStream> {
    hub::spawn(move || {
        hub::sleep(Duration::from_millis(ms)).unwrap();
        to.write_all(bytes).unwrap();
        to
    })
}

#[test]
fn tcp_connect_by_name_uses_getaddrinfo_and_connect() {
    monkey_patch::patch_all();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (conn, n) = counting(&["getaddrinfo", "connect"], || {
        hub::spawn(move || TcpStream::connect(("localhost", port)))
            .join()
            .unwrap()
    });
    conn.unwrap();
    assert!(n[0] >= 1, "getaddrinfo not reached: {n:?}");
    assert!(n[1] >= 1, "connect not reached: {n:?}");
    // The lookup ran on this hub's thread pool.
    assert!(hub::Hub::current().threadpool().threads() >= 1);
}

#[test]
fn tcp_connect_timeout_uses_connect_and_poll() {
    monkey_patch::patch_all();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (conn, n) = counting(&["connect", "poll"], || {
        hub::spawn(move || TcpStream::connect_timeout(&addr, Duration::from_secs(5)))
            .join()
            .unwrap()
    });
    conn.unwrap();
    assert!(n[0] >= 1, "connect not reached: {n:?}");
    // A loopback connect may complete at once; when it did not, poll waited.
    let (_reserved, refused) = common::refused_addr();
    let (err, _) = counting(&["poll"], || {
        hub::spawn(move || TcpStream::connect_timeout(&refused, Duration::from_secs(5)))
            .join()
            .unwrap()
    });
    assert_eq!(err.unwrap_err().kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn tcp_accept_uses_accept4_and_cooperates() {
    monkey_patch::patch_all();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (ticks, t) = ticker();
    let (accepted, n) = counting(&["accept4"], || {
        let seen = ticks.clone();
        let server = hub::spawn(move || l.accept().map(|_| seen.get()));
        let client = hub::spawn(move || {
            hub::sleep(Duration::from_millis(50)).unwrap();
            TcpStream::connect(addr).unwrap()
        });
        let _c = client.join().unwrap();
        server.join().unwrap()
    });
    // The ticker ran while accept waited.
    assert_eq!(accepted.unwrap(), 2);
    t.join().unwrap();
    assert!(n[0] >= 1, "accept4 not reached: {n:?}");
}

#[test]
fn tcp_read_peek_and_read_vectored_use_recv_and_readv() {
    monkey_patch::patch_all();
    let (a, b) = pair();
    let (ticks, t) = ticker();
    let a = Rc::new(a);
    let (got, n) = counting(&["recv", "readv"], || {
        let reader = {
            let a = a.clone();
            let seen = ticks.clone();
            hub::spawn(move || {
                let mut buf = [0u8; 3];
                let peeked = a.peek(&mut buf).unwrap();
                seen_ticks(&seen);
                let mut one = [0u8; 1];
                let mut two = [0u8; 2];
                let read = (&*a)
                    .read_vectored(&mut [IoSliceMut::new(&mut one), IoSliceMut::new(&mut two)])
                    .unwrap();
                (peeked, read, one, two)
            })
        };
        let b = send_later(b, b"abc", 50).join().unwrap();
        let got = reader.join().unwrap();
        let reader = {
            let a = a.clone();
            hub::spawn(move || {
                let mut buf = [0u8; 2];
                (&*a).read_exact(&mut buf).unwrap();
                buf
            })
        };
        let _b = send_later(b, b"de", 1).join().unwrap();
        (got, reader.join().unwrap())
    });
    t.join().unwrap();
    assert_eq!(got, ((3, 3, *b"a", *b"bc"), *b"de"));
    assert!(n[0] >= 2, "recv (read, peek) not reached: {n:?}");
    assert!(n[1] >= 1, "readv not reached: {n:?}");
}

#[test]
fn tcp_write_and_write_vectored_use_send_and_writev() {
    monkey_patch::patch_all();
    let (mut a, mut b) = pair();
    let (_, n) = counting(&["send", "writev"], || {
        hub::spawn(move || {
            a.write_all(b"x").unwrap();
            let n = a
                .write_vectored(&[IoSlice::new(b"y"), IoSlice::new(b"z")])
                .unwrap();
            assert_eq!(n, 2);
        })
        .join()
        .unwrap()
    });
    let mut buf = [0u8; 3];
    b.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"xyz");
    assert!(n[0] >= 1, "send not reached: {n:?}");
    assert!(n[1] >= 1, "writev not reached: {n:?}");
}

#[test]
fn tcp_timeouts_set_with_setsockopt_are_honoured() {
    monkey_patch::patch_all();
    let (a, _b) = pair();
    a.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let (ticks, t) = ticker();
    let kind = hub::spawn(move || {
        let kind = (&a).read(&mut [0u8; 1]).unwrap_err().kind();
        seen_ticks(&ticks);
        kind
    });
    assert_eq!(kind.join().unwrap(), ErrorKind::WouldBlock);
    t.join().unwrap();
}

#[test]
fn tcp_set_nonblocking_is_seen_by_the_hooks() {
    monkey_patch::patch_all();
    let (a, _b) = pair();
    a.set_nonblocking(true).unwrap();
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let kind = hub::spawn(move || {
        let kind = (&a).read(&mut [0u8; 1]).unwrap_err().kind();
        (kind, r.get())
    });
    let _other = hub::spawn(move || ran.set(true));
    // The read failed before the greenlet spawned after it could run.
    assert_eq!(kind.join().unwrap(), (ErrorKind::WouldBlock, false));
}

#[test]
fn udp_uses_recvfrom_and_sendto_and_cooperates() {
    monkey_patch::patch_all();
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = a.local_addr().unwrap();
    let (ticks, t) = ticker();
    let (got, n) = counting(&["recvfrom", "sendto"], || {
        let receiver = hub::spawn(move || {
            let mut buf = [0u8; 8];
            let (len, _) = a.recv_from(&mut buf).unwrap();
            seen_ticks(&ticks);
            buf[..len].to_vec()
        });
        hub::spawn(move || {
            hub::sleep(Duration::from_millis(50)).unwrap();
            b.send_to(b"dgram", to).unwrap();
        })
        .join()
        .unwrap();
        receiver.join().unwrap()
    });
    t.join().unwrap();
    assert_eq!(got, b"dgram");
    assert!(n[0] >= 1, "recvfrom not reached: {n:?}");
    assert!(n[1] >= 1, "sendto not reached: {n:?}");
}

#[test]
fn thread_sleep_uses_clock_nanosleep_or_nanosleep_and_cooperates() {
    monkey_patch::patch_all();
    let (ticks, t) = ticker();
    let (_, n) = counting(&["clock_nanosleep", "nanosleep"], || {
        hub::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            seen_ticks(&ticks);
        })
        .join()
        .unwrap()
    });
    t.join().unwrap();
    assert!(n[0] + n[1] >= 1, "no sleep hook reached: {n:?}");
}
