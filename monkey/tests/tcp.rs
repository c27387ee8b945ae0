//! `TcpStream` and `TcpListener` behave like std's, cooperatively.

mod common;

use std::cell::Cell;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::{MS, assert_clean, listener, pair, unresponsive_listener};
use monkey::net::{TcpListener, TcpStream};

#[test]
fn echo_between_greenlets_and_root() {
    let (l, addr) = listener();
    let server = hub::spawn(move || {
        let (mut s, peer) = l.accept().unwrap();
        assert_eq!(peer, s.peer_addr().unwrap());
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap();
        s.write_all(&buf[..n]).unwrap();
    });
    let mut c = TcpStream::connect(addr).unwrap();
    assert_eq!(c.peer_addr().unwrap(), addr);
    c.write_all(b"ping").unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"ping");
    server.join().unwrap();
    assert_clean();
}

#[test]
fn connect_by_host_name_and_address_forms() {
    let (l, addr) = listener();
    let port = addr.port();
    let server = hub::spawn(move || {
        for _ in 0..4 {
            l.accept().unwrap();
        }
    });
    TcpStream::connect(("localhost", port)).unwrap();
    TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    TcpStream::connect(("127.0.0.1".to_string(), port)).unwrap();
    TcpStream::connect(&[addr][..]).unwrap();
    server.join().unwrap();
    let none: &[SocketAddr] = &[];
    let e = TcpStream::connect(none).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(e.to_string(), "could not resolve to any addresses");
    // What std says for a string without a port.
    let e = TcpStream::connect("localhost").unwrap_err();
    assert_eq!(
        e.kind(),
        std::net::TcpStream::connect("localhost")
            .unwrap_err()
            .kind()
    );
}

#[test]
fn resolution_does_not_block_the_loop() {
    // Greenlets keep ticking while names resolve on the pool.
    let ticks = Rc::new(Cell::new(0));
    let t = ticks.clone();
    let ticker = hub::spawn(move || {
        for _ in 0..5 {
            hub::sleep(MS).unwrap();
            t.set(t.get() + 1);
        }
    });
    use monkey::net::ToSocketAddrs;
    for _ in 0..3 {
        let addrs: Vec<_> = ("localhost", 1).to_socket_addrs().unwrap().collect();
        assert!(!addrs.is_empty());
    }
    ticker.join().unwrap();
    assert_eq!(ticks.get(), 5);
}

#[test]
fn connection_refused() {
    let (l, addr) = listener();
    drop(l);
    let e = TcpStream::connect(addr).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    let e = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    assert_clean();
}

#[test]
fn connect_timeout_times_out_like_std() {
    let (_l, addr, _fill) = unresponsive_listener();
    let start = Instant::now();
    let e = TcpStream::connect_timeout(&addr, 50 * MS).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
    assert!(start.elapsed() >= 50 * MS);
    let e = TcpStream::connect_timeout(&addr, Duration::ZERO).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_clean();
}

#[test]
fn read_timeout_is_would_block_like_std() {
    let (c, _s) = pair();
    assert_eq!(c.read_timeout().unwrap(), None);
    c.set_read_timeout(Some(30 * MS)).unwrap();
    assert_eq!(c.read_timeout().unwrap(), Some(30 * MS));
    let start = Instant::now();
    let e = (&c).read(&mut [0; 8]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WouldBlock);
    assert!(start.elapsed() >= 30 * MS);
    let e = c.peek(&mut [0; 8]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WouldBlock);
    // std: a zero timeout is refused.
    let e = c.set_read_timeout(Some(Duration::ZERO)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    c.set_read_timeout(None).unwrap();
    assert_eq!(c.read_timeout().unwrap(), None);
    assert_clean();
}

#[test]
fn write_timeout_when_the_peer_does_not_read() {
    let (c, _s) = pair();
    c.set_write_timeout(Some(30 * MS)).unwrap();
    let chunk = vec![7u8; 64 * 1024];
    let mut sent = 0usize;
    let e = loop {
        match (&c).write(&chunk) {
            Ok(n) => sent += n,
            Err(e) => break e,
        }
        assert!(sent < 1 << 30, "the socket buffers never filled");
    };
    assert_eq!(e.kind(), ErrorKind::WouldBlock);
    assert!(sent > 0);
    assert_clean();
}

#[test]
fn hub_timeout_interrupts_with_timed_out() {
    let (c, _s) = pair();
    let r = hub::with_timeout(20 * MS, || (&c).read(&mut [0; 8]));
    assert_eq!(r.unwrap_err(), hub::Error::Timeout);
    let t = hub::Timeout::start(20 * MS);
    let e = (&c).read(&mut [0; 8]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut);
    assert!(t.interrupted());
    drop(t);
    // A read timeout longer than the hub Timeout: the Timeout wins, with its kind.
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let t = hub::Timeout::start(20 * MS);
    assert_eq!(
        (&c).read(&mut [0; 8]).unwrap_err().kind(),
        ErrorKind::TimedOut
    );
    drop(t);
    assert_clean();
}

#[test]
fn nonblocking_mode_returns_would_block() {
    let (c, mut s) = pair();
    c.set_nonblocking(true).unwrap();
    // A greenlet that runs as soon as anything parks: the read must not.
    let parked = Rc::new(Cell::new(false));
    let p = parked.clone();
    let watcher = hub::spawn(move || p.set(true));
    assert_eq!(
        (&c).read(&mut [0; 8]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    assert!(!parked.get(), "a non-blocking read switched to the hub");
    watcher.join().unwrap();
    s.write_all(b"x").unwrap();
    // Poll like std code would, yielding in between.
    let mut buf = [0; 8];
    let n = loop {
        match (&c).read(&mut buf) {
            Ok(n) => break n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => monkey::thread::yield_now(),
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(&buf[..n], b"x");
    let (l, _) = listener();
    l.set_nonblocking(true).unwrap();
    assert_eq!(l.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
    l.set_nonblocking(false).unwrap();
    assert_clean();
}

#[test]
fn peek_then_read() {
    let (c, mut s) = pair();
    s.write_all(b"hello").unwrap();
    let mut buf = [0; 5];
    assert_eq!(c.peek(&mut buf).unwrap(), 5);
    assert_eq!(&buf, b"hello");
    let mut buf = [0; 5];
    (&c).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hello");
}

#[test]
fn half_close_delivers_eof_and_keeps_the_other_way() {
    let (mut c, mut s) = pair();
    c.write_all(b"request").unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap(); // ends: the client half-closed
    assert_eq!(got, b"request");
    s.write_all(b"response").unwrap();
    drop(s);
    let mut got = Vec::new();
    c.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"response");
    assert_clean();
}

#[test]
fn one_greenlet_reads_while_another_writes_the_same_stream() {
    // Both sides send 4 MiB while receiving: only works if reading and writing the
    // same stream overlap (socket buffers are much smaller).
    const N: usize = 4 << 20;
    let (c, s) = pair();
    let c = Rc::new(c);
    let s = Rc::new(s);
    let mut handles = Vec::new();
    for stream in [c.clone(), s.clone()] {
        let w = stream.clone();
        handles.push(hub::spawn(move || {
            let chunk = vec![1u8; 64 * 1024];
            let mut left = N;
            while left > 0 {
                let n = (&*w).write(&chunk[..left.min(chunk.len())]).unwrap();
                left -= n;
            }
            0
        }));
        handles.push(hub::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            let mut got = 0;
            while got < N {
                got += (&*stream).read(&mut buf).unwrap();
            }
            got
        }));
    }
    let total: usize = handles.iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(total, 2 * N);
    assert_clean();
}

#[test]
fn second_reader_is_busy() {
    let (c, mut s) = pair();
    let c = Rc::new(c);
    let c2 = c.clone();
    let first = hub::spawn(move || {
        let mut b = [0; 1];
        (&*c2).read(&mut b).map(|_| b[0])
    });
    hub::sleep(MS).unwrap();
    let e = (&*c).read(&mut [0; 1]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ResourceBusy);
    s.write_all(b"z").unwrap();
    assert_eq!(first.join().unwrap().unwrap(), b'z');
}

#[test]
fn try_clone_shares_the_connection_and_settings() {
    let (c, mut s) = pair();
    let c2 = c.try_clone().unwrap();
    assert_ne!(c.as_raw_fd(), c2.as_raw_fd());
    c2.set_read_timeout(Some(10 * MS)).unwrap();
    assert_eq!(c.read_timeout().unwrap(), Some(10 * MS));
    // Reader on one handle, writer on the other.
    let reader = hub::spawn(move || {
        let mut b = [0; 3];
        c2.set_read_timeout(None).unwrap();
        (&c2).read_exact(&mut b).map(|_| (b, c2))
    });
    (&c).write_all(b"abc").unwrap();
    let mut b = [0; 3];
    s.read_exact(&mut b).unwrap();
    s.write_all(&b).unwrap();
    let (got, c2) = reader.join().unwrap().unwrap();
    assert_eq!(&got, b"abc");
    // Both handles have waited: each is registered with the hub on its own fd.
    c.set_read_timeout(Some(5 * MS)).unwrap();
    assert_eq!((&c).read(&mut b).unwrap_err().kind(), ErrorKind::WouldBlock);
    c.set_read_timeout(None).unwrap();
    s.write_all(b"d").unwrap();
    (&c2).read_exact(&mut b[..1]).unwrap();
    assert_eq!(b[0], b'd');
    c.set_nonblocking(true).unwrap();
    let c3 = c.try_clone().unwrap();
    assert_eq!(
        (&c3).read(&mut b).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    let l = listener().0;
    let l2 = l.try_clone().unwrap();
    assert_eq!(l.local_addr().unwrap(), l2.local_addr().unwrap());
}

#[test]
fn socket_options() {
    let (c, _s) = pair();
    c.set_nodelay(true).unwrap();
    assert!(c.nodelay().unwrap());
    c.set_nodelay(false).unwrap();
    assert!(!c.nodelay().unwrap());
    c.set_ttl(42).unwrap();
    assert_eq!(c.ttl().unwrap(), 42);
    assert!(c.take_error().unwrap().is_none());
    assert!(c.local_addr().unwrap().ip().is_loopback());
    let l = listener().0;
    l.set_ttl(17).unwrap();
    assert_eq!(l.ttl().unwrap(), 17);
    assert!(l.take_error().unwrap().is_none());
    assert!(format!("{c:?}").starts_with("TcpStream"));
    assert!(format!("{l:?}").starts_with("TcpListener"));
}

fn is_nonblocking(fd: i32) -> bool {
    // SAFETY: F_GETFL on an fd we own.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    assert!(flags >= 0);
    flags & libc::O_NONBLOCK != 0
}

#[test]
fn conversions_to_and_from_std() {
    let (c, mut s) = pair();
    c.set_read_timeout(Some(200 * MS)).unwrap();
    assert!(
        is_nonblocking(c.as_raw_fd()),
        "monkey keeps the kernel socket non-blocking"
    );
    // Back to std: blocking, with the timeout in the kernel.
    let std_c: std::net::TcpStream = c.into();
    assert!(!is_nonblocking(std_c.as_raw_fd()));
    assert_eq!(std_c.read_timeout().unwrap(), Some(200 * MS));
    // A std stream in non-blocking mode stays non-blocking for its user.
    std_c.set_nonblocking(true).unwrap();
    let c = TcpStream::from(std_c);
    assert_eq!(c.read_timeout().unwrap(), Some(200 * MS));
    assert_eq!(
        (&c).read(&mut [0; 1]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    c.set_nonblocking(false).unwrap();
    s.write_all(b"q").unwrap();
    let mut b = [0; 1];
    (&c).read_exact(&mut b).unwrap();
    // Raw fds.
    let fd = c.into_raw_fd();
    assert!(!is_nonblocking(fd));
    // SAFETY: `fd` came from into_raw_fd and nothing else owns it.
    let c = unsafe { TcpStream::from_raw_fd(fd) };
    assert_eq!(c.peer_addr().unwrap(), s.local_addr().unwrap());
    // Listener round trip.
    let (l, addr) = listener();
    let std_l: std::net::TcpListener = l.into();
    assert!(!is_nonblocking(std_l.as_raw_fd()));
    let l = TcpListener::from(std_l);
    let fd = l.into_raw_fd();
    // SAFETY: as above.
    let l = unsafe { TcpListener::from_raw_fd(fd) };
    let connecting = hub::spawn(move || TcpStream::connect(addr).map(|_| ()));
    l.accept().unwrap();
    connecting.join().unwrap().unwrap();
    assert_clean();
}

#[test]
fn incoming_serves_connections_in_greenlets() {
    let (l, addr) = listener();
    let server = hub::spawn(move || {
        for stream in l.incoming().take(3) {
            let mut stream = stream.unwrap();
            hub::spawn(move || {
                let mut b = [0u8; 1];
                stream.read_exact(&mut b).unwrap();
                stream.write_all(&[b[0] + 1]).unwrap();
            });
        }
    });
    let clients: Vec<_> = (0..3u8)
        .map(|i| {
            hub::spawn(move || {
                let mut c = TcpStream::connect(addr).unwrap();
                c.write_all(&[i]).unwrap();
                let mut b = [0u8; 1];
                c.read_exact(&mut b).unwrap();
                b[0]
            })
        })
        .collect();
    let replies: Vec<u8> = clients.iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(replies, [1, 2, 3]);
    server.join().unwrap();
}

#[test]
fn works_from_a_plain_thread_with_a_fresh_hub() {
    // No hub exists on this thread until the first blocking call.
    std::thread::spawn(|| {
        let (l, addr) = listener();
        let t = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(b"from std").unwrap();
        });
        let (mut s, _) = l.accept().unwrap();
        let mut got = String::new();
        s.read_to_string(&mut got).unwrap();
        assert_eq!(got, "from std");
        t.join().unwrap();
    })
    .join()
    .unwrap();
}

#[test]
fn bind_reuseport_spreads_connections_over_two_hubs() {
    use std::sync::mpsc;
    // The first thread binds an ephemeral port and tells the second.
    let (port_tx, port_rx) = mpsc::channel::<SocketAddr>();
    let (addr_tx, addr_rx) = mpsc::channel::<SocketAddr>();
    let serve = |id: u8, l: TcpListener| -> usize {
        // Each thread has its own hub; one greenlet per connection.
        let served = Rc::new(Cell::new(0));
        loop {
            let (s, _) = l.accept().unwrap();
            let mut b = [0u8; 1];
            (&s).read_exact(&mut b).unwrap();
            served.set(served.get() + 1);
            (&s).write_all(&[id]).unwrap();
            if b[0] == b'q' {
                return served.get();
            }
        }
    };
    let t1 = std::thread::spawn(move || {
        let l = TcpListener::bind_reuseport("127.0.0.1:0").unwrap();
        port_tx.send(l.local_addr().unwrap()).unwrap();
        serve(1, l)
    });
    let t2 = std::thread::spawn(move || {
        let addr = port_rx.recv().unwrap();
        let l = TcpListener::bind_reuseport(addr).unwrap();
        addr_tx.send(addr).unwrap();
        serve(2, l)
    });
    let addr = addr_rx.recv().unwrap();
    let ask = |byte: u8| -> std::io::Result<u8> {
        let mut c = std::net::TcpStream::connect(addr)?;
        c.write_all(&[byte])?;
        let mut b = [0u8; 1];
        c.read_exact(&mut b)?;
        Ok(b[0])
    };
    // The kernel hashes connections over the two listeners: both get some.
    let mut seen = [false; 3];
    for _ in 0..200 {
        seen[ask(b'p').unwrap() as usize] = true;
        if seen[1] && seen[2] {
            break;
        }
    }
    assert!(seen[1] && seen[2], "one listener got every connection");
    // Stop both: a 'q' ends the thread that receives it. A connection the kernel
    // queued on a listener that is closing at that moment is reset: ask again.
    let mut stopped = [false; 3];
    for _ in 0..200 {
        if let Ok(id) = ask(b'q') {
            stopped[id as usize] = true;
        }
        if stopped[1] && stopped[2] {
            break;
        }
    }
    assert!(t1.join().unwrap() >= 2);
    assert!(t2.join().unwrap() >= 2);
}

#[test]
fn hub_timeout_ends_connect_without_trying_the_next_address() {
    let (_l, hanging, _fill) = unresponsive_listener();
    let (good, good_addr) = listener();
    let t = hub::Timeout::start(20 * MS);
    let e = TcpStream::connect(&[hanging, good_addr][..]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut);
    assert!(t.interrupted());
    drop(t);
    good.set_nonblocking(true).unwrap();
    assert_eq!(
        good.accept().unwrap_err().kind(),
        ErrorKind::WouldBlock,
        "the second address was not tried"
    );
    // Without the Timeout, a failing address is followed by the next one.
    let (refusing, refused_addr) = listener();
    drop(refusing);
    let c = TcpStream::connect(&[refused_addr, good_addr][..]).unwrap();
    assert_eq!(c.peer_addr().unwrap(), good_addr);
    assert_clean();
}

#[test]
fn huge_timeouts_wait_for_ever_instead_of_overflowing() {
    let (c, mut s) = pair();
    c.set_read_timeout(Some(Duration::MAX)).unwrap();
    let reader = hub::spawn(move || {
        let mut b = [0u8; 1];
        (&c).read_exact(&mut b).map(|_| b[0])
    });
    hub::sleep(2 * MS).unwrap();
    s.write_all(b"k").unwrap();
    assert_eq!(reader.join().unwrap().unwrap(), b'k');
    let (l, addr) = listener();
    let server = hub::spawn(move || l.accept().map(|_| ()));
    TcpStream::connect_timeout(&addr, Duration::MAX).unwrap();
    server.join().unwrap().unwrap();
    assert_clean();
}

#[test]
fn readable_waits_without_a_buffer_for_data_eof_or_timeout() {
    let (mut a, mut b) = pair();
    // Data already there: a fresh socket is registered, and epoll reports it.
    b.write_all(b"one").unwrap();
    a.readable().unwrap();
    let mut buf = [0u8; 64];
    // A short read drains it; then readable parks until the peer writes.
    assert_eq!(a.read(&mut buf).unwrap(), 3);
    let writer = hub::spawn(move || {
        hub::sleep(20 * MS).unwrap();
        b.write_all(b"two").unwrap();
        b
    });
    let started = Instant::now();
    a.readable().unwrap();
    assert!(
        started.elapsed() >= 15 * MS,
        "returned before the data came"
    );
    assert_eq!(a.read(&mut buf).unwrap(), 3);
    assert_eq!(&buf[..3], b"two");

    // The read timeout applies, with read's error kind.
    a.set_read_timeout(Some(30 * MS)).unwrap();
    let err = a.readable().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock);

    // End of file wakes it too.
    a.set_read_timeout(None).unwrap();
    let b = writer.join().unwrap();
    let closer = hub::spawn(move || {
        hub::sleep(10 * MS).unwrap();
        drop(b);
    });
    a.readable().unwrap();
    assert_eq!(a.read(&mut buf).unwrap(), 0);
    closer.join().unwrap();
    a.writable().unwrap();
    drop(a);
    assert_clean();
}
