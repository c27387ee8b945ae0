//! The fd count of the process is the same before and after a workload that
//! exercises every way a socket call can end: success, error, timeout, reset, kill.
//! (Alone in its binary: other tests running in parallel would change the count.)

mod common;

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::time::Duration;

use common::{MS, assert_clean, listener, open_fds, pair, unresponsive_listener};
use monkey::net::{TcpStream, UdpSocket};

fn workload() {
    // Echo, with a clone used for writing.
    let (c, mut s) = pair();
    let w = c.try_clone().unwrap();
    (&w).write_all(b"hi").unwrap();
    let mut b = [0; 2];
    s.read_exact(&mut b).unwrap();
    s.write_all(&b).unwrap();
    (&c).read_exact(&mut b).unwrap();
    // Conversions both ways.
    let std_c: std::net::TcpStream = c.into();
    drop(TcpStream::from(std_c));
    // Read timeout, hub Timeout.
    let (c, s2) = pair();
    c.set_read_timeout(Some(5 * MS)).unwrap();
    assert!((&c).read(&mut b).is_err());
    c.set_read_timeout(None).unwrap();
    assert!(hub::with_timeout(5 * MS, || (&c).read(&mut b)).is_err());
    // Reset.
    socket2::SockRef::from(&s2)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(s2);
    assert!((&c).read(&mut b).is_err());
    // Kills in read, accept and connect.
    let (c, s) = pair();
    let reader = hub::spawn(move || {
        let _ = (&s).read(&mut [0; 1]);
    });
    let (l, _) = listener();
    let acceptor = hub::spawn(move || {
        let _ = l.accept();
    });
    let (unresponsive, addr, fill) = unresponsive_listener();
    let connector = hub::spawn(move || {
        let _ = TcpStream::connect(addr);
    });
    hub::sleep(5 * MS).unwrap();
    hub::killall([&reader, &acceptor, &connector], None).unwrap();
    drop((c, unresponsive, fill));
    // Connect timeout, refused.
    let (unresponsive, addr, fill) = unresponsive_listener();
    assert!(TcpStream::connect_timeout(&addr, 5 * MS).is_err());
    drop((unresponsive, fill));
    let (l, addr) = listener();
    drop(l);
    assert!(TcpStream::connect(addr).is_err());
    // Names resolved on the pool.
    let (l, addr) = listener();
    let server = hub::spawn(move || l.accept().map(|_| ()));
    TcpStream::connect(("localhost", addr.port())).unwrap_or_else(|_| {
        // localhost may resolve to ::1 first; the v4 literal always works.
        TcpStream::connect(addr).unwrap()
    });
    server.join().unwrap().unwrap();
    // UDP.
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.set_read_timeout(Some(5 * MS)).unwrap();
    assert!(u.recv_from(&mut b).is_err());
    u.send_to(b"x", u.local_addr().unwrap()).unwrap();
    u.recv_from(&mut b).unwrap();
    // select: a wait that ends, one that times out, one that is killed.
    let (x, y) = std::os::unix::net::UnixStream::pair().unwrap();
    let fd = x.as_raw_fd();
    monkey::select::select(&[fd], &[], &[], Some(5 * MS)).unwrap();
    let waiting = hub::spawn(move || monkey::select::select(&[fd], &[], &[], None).map(|_| ()));
    hub::sleep(2 * MS).unwrap();
    waiting.kill().unwrap();
    (&y).write_all(b"!").unwrap();
    monkey::select::select(&[fd], &[], &[], None).unwrap();
}

#[test]
fn no_fd_is_leaked() {
    // The hub's own fds (epoll, waker) and the pool's threads come up first.
    hub::spawn_blocking(|| ()).unwrap();
    workload();
    let before = open_fds();
    for _ in 0..3 {
        workload();
    }
    assert_clean();
    assert_eq!(open_fds(), before, "fds leaked");
}
