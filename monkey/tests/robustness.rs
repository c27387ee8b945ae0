//! Peers that reset or half-close, kills of greenlets blocked in socket calls,
//! timeouts firing during I/O, and a thousand connections on one thread: no panic,
//! no hang, nothing left on the hub.

mod common;

use std::cell::Cell;
use std::io::{ErrorKind, Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::{MS, assert_clean, listener, pair, unresponsive_listener};
use monkey::net::TcpStream;

struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// Closes with `SO_LINGER` 0: the peer gets a RST instead of a FIN.
fn reset(stream: TcpStream) {
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(stream);
}

#[test]
fn peer_reset_while_blocked_in_read() {
    let (c, s) = pair();
    let reader = hub::spawn(move || {
        let mut s = s;
        let mut buf = [0; 16];
        let first = s.read(&mut buf).map(|n| buf[..n].to_vec());
        let second = s.read(&mut buf);
        (first, second)
    });
    (&c).write_all(b"partial").unwrap();
    hub::sleep(5 * MS).unwrap(); // the reader got the data and is parked again
    reset(c);
    let (first, second) = reader.join().unwrap();
    assert_eq!(first.unwrap(), b"partial");
    assert_eq!(second.unwrap_err().kind(), ErrorKind::ConnectionReset);
    assert_clean();
}

#[test]
fn peer_reset_while_blocked_in_write() {
    let (c, s) = pair();
    let writer = hub::spawn(move || {
        let chunk = vec![0u8; 256 * 1024];
        loop {
            if let Err(e) = (&s).write(&chunk) {
                return e.kind();
            }
        }
    });
    hub::sleep(10 * MS).unwrap(); // buffers full, the writer parked
    assert_eq!(hub::Hub::current().io_waiters(), 1);
    reset(c);
    let kind = writer.join().unwrap();
    assert!(
        matches!(kind, ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
        "{kind:?}"
    );
    assert_clean();
}

#[test]
fn half_close_wakes_a_blocked_reader_with_eof() {
    let (c, mut s) = pair();
    let reader = hub::spawn(move || {
        let mut got = Vec::new();
        s.read_to_end(&mut got).map(|_| (got, s))
    });
    hub::sleep(2 * MS).unwrap();
    (&c).write_all(b"last words").unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let (got, s) = reader.join().unwrap().unwrap();
    assert_eq!(got, b"last words");
    // The other direction still works after the half-close.
    (&s).write_all(b"ack").unwrap();
    drop(s);
    let mut back = Vec::new();
    (&c).read_to_end(&mut back).unwrap();
    assert_eq!(back, b"ack");
    assert_clean();
}

/// A short read tells the stream its socket is drained, so the next read parks
/// without trying the syscall. Data that arrives while the reader is parked on
/// something else must still be read, not wait for an event that already came.
#[test]
fn data_arriving_while_the_reader_waits_elsewhere_is_read() {
    let (c, s) = pair();
    let reader = hub::spawn(move || {
        let mut buf = [0u8; 64];
        let n = (&s).read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"one", "a short read");
        hub::sleep(10 * MS).unwrap(); // "two" arrives meanwhile
        let n = (&s).read(&mut buf).unwrap();
        buf[..n].to_vec()
    });
    hub::sleep(2 * MS).unwrap();
    (&c).write_all(b"one").unwrap();
    hub::sleep(2 * MS).unwrap();
    (&c).write_all(b"two").unwrap();
    let got = hub::with_timeout(Duration::from_secs(5), || reader.join().unwrap());
    assert_eq!(got.expect("the second read did not hang"), b"two");
    assert_clean();
}

/// The same for a writer: a short write marks the socket full; room made while the
/// writer sleeps must let its next write through.
#[test]
fn room_made_while_the_writer_waits_elsewhere_is_used() {
    let (c, s) = pair();
    let writer = hub::spawn(move || {
        // Park once first: a socket registers with the hub on its first wait.
        (&s).read_exact(&mut [0u8; 1]).unwrap();
        let chunk = vec![7u8; 1 << 16];
        let mut sent = 0;
        loop {
            let n = (&s).write(&chunk).unwrap();
            sent += n;
            if n < chunk.len() {
                break; // a short write: the buffers are full
            }
        }
        hub::sleep(20 * MS).unwrap(); // the reader empties them meanwhile
        sent + (&s).write(&chunk[..1000]).unwrap()
    });
    hub::sleep(2 * MS).unwrap();
    (&c).write_all(b"g").unwrap();
    hub::sleep(10 * MS).unwrap();
    let mut drained = 0;
    let mut buf = vec![0u8; 1 << 16];
    c.set_nonblocking(true).unwrap();
    loop {
        match (&c).read(&mut buf) {
            Ok(0) => panic!("the writer ended early"),
            Ok(n) => drained += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
    }
    c.set_nonblocking(false).unwrap();
    let sent = hub::with_timeout(Duration::from_secs(5), || writer.join().unwrap())
        .expect("the second write did not hang");
    let mut rest = vec![0u8; sent - drained];
    (&c).read_exact(&mut rest).unwrap();
    assert_clean();
}

#[test]
fn kill_blocked_in_read_closes_the_socket() {
    let (mut c, s) = pair();
    let dropped = Rc::new(Cell::new(false));
    let d = dropped.clone();
    let reader = hub::spawn(move || {
        let _flag = DropFlag(d);
        let mut s = s;
        let _ = s.read(&mut [0; 8]);
        unreachable!("killed while reading");
    });
    hub::sleep(2 * MS).unwrap();
    assert_eq!(hub::Hub::current().io_waiters(), 1);
    reader.kill().unwrap();
    assert!(dropped.get());
    assert_eq!(reader.join().unwrap_err(), hub::Error::Killed);
    // The stream the greenlet owned was closed: the peer sees end of file.
    let mut rest = Vec::new();
    assert_eq!(c.read_to_end(&mut rest).unwrap(), 0);
    assert_clean();
}

#[test]
fn kill_blocked_in_accept_closes_the_listener() {
    let (l, addr) = listener();
    let acceptor = hub::spawn(move || l.accept().map(|_| ()));
    hub::sleep(2 * MS).unwrap();
    acceptor.kill().unwrap();
    assert_eq!(acceptor.join().unwrap_err(), hub::Error::Killed);
    let e = TcpStream::connect(addr).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    assert_clean();
}

#[test]
fn kill_blocked_in_connect() {
    let (_l, addr, _fill) = unresponsive_listener();
    let connecting = hub::spawn(move || TcpStream::connect(addr).map(|_| ()));
    hub::sleep(10 * MS).unwrap();
    assert!(!connecting.is_ready(), "the handshake cannot complete");
    connecting.kill().unwrap();
    assert_eq!(connecting.join().unwrap_err(), hub::Error::Killed);
    assert_clean();
}

#[test]
fn read_timeouts_fire_while_others_keep_working() {
    // One greenlet times out on a silent peer while another streams data.
    let (quiet, _quiet_peer) = pair();
    let (busy, mut busy_peer) = pair();
    quiet.set_read_timeout(Some(30 * MS)).unwrap();
    let waiting = hub::spawn(move || {
        let start = Instant::now();
        let e = (&quiet).read(&mut [0; 1]).unwrap_err();
        (e.kind(), start.elapsed())
    });
    let streaming = hub::spawn(move || {
        let mut got = 0;
        let mut buf = [0; 4];
        while (&busy).read_exact(&mut buf).is_ok() {
            got += 1;
        }
        got
    });
    for i in 0..20u32 {
        busy_peer.write_all(&i.to_be_bytes()).unwrap();
        hub::sleep(2 * MS).unwrap();
    }
    drop(busy_peer);
    let (kind, waited) = waiting.join().unwrap();
    assert_eq!(kind, ErrorKind::WouldBlock);
    assert!(waited >= 30 * MS, "{waited:?}");
    assert_eq!(streaming.join().unwrap(), 20);
    assert_clean();
}

#[test]
fn a_thousand_concurrent_connections_on_one_thread() {
    const N: usize = 1000;
    const ROUNDS: u32 = 3;
    common::raise_fd_limit(4 * N as u64).unwrap();
    let (l, addr) = listener();
    let server = hub::spawn(move || {
        let mut handlers = Vec::new();
        for _ in 0..N {
            let (mut s, _) = l.accept().unwrap();
            handlers.push(hub::spawn(move || {
                let mut buf = [0u8; 8];
                while s.read_exact(&mut buf).is_ok() {
                    s.write_all(&buf).unwrap();
                }
            }));
        }
        hub::joinall(&handlers, None, None).unwrap().len()
    });
    let open = Rc::new(Cell::new(0usize));
    let all_open = Rc::new(hub::Event::new());
    let clients: Vec<_> = (0..N as u64)
        .map(|i| {
            let (open, all_open) = (open.clone(), all_open.clone());
            let h = hub::spawn(move || {
                let mut c = TcpStream::connect(addr).unwrap();
                open.set(open.get() + 1);
                if open.get() == N {
                    all_open.set();
                }
                // Every connection is open before any round trip.
                all_open.wait(None).unwrap();
                for r in 0..ROUNDS as u64 {
                    let msg = (i * 10 + r).to_be_bytes();
                    c.write_all(&msg).unwrap();
                    let mut back = [0u8; 8];
                    c.read_exact(&mut back).unwrap();
                    assert_eq!(back, msg);
                }
            });
            // Let the acceptor keep up with the listen backlog (std's: 128).
            if i % 64 == 63 {
                monkey::thread::yield_now();
            }
            h
        })
        .collect();
    for c in &clients {
        c.join().unwrap();
    }
    assert_eq!(server.join().unwrap(), N);
    assert_eq!(hub::Hub::current().live_tasks(), 0);
    assert_clean();
}
