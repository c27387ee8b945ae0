//! `UdpSocket` behaves like std's, cooperatively.

mod common;

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{MS, assert_clean};
use monkey::net::UdpSocket;

fn bound() -> (UdpSocket, SocketAddr) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let a = s.local_addr().unwrap();
    (s, a)
}

#[test]
fn send_to_recv_from_between_greenlets() {
    let (a, a_addr) = bound();
    let (b, b_addr) = bound();
    let echo = hub::spawn(move || {
        let mut buf = [0u8; 64];
        let (n, from) = b.recv_from(&mut buf).unwrap();
        b.send_to(&buf[..n], from).unwrap();
    });
    hub::sleep(MS).unwrap(); // the echo greenlet is parked in recv_from
    a.send_to(b"dgram", b_addr).unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = a.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"dgram"[..], b_addr));
    echo.join().unwrap();
    let _ = a_addr;
    assert_clean();
}

#[test]
fn connected_send_recv_peek() {
    let (a, a_addr) = bound();
    let (b, b_addr) = bound();
    a.connect(b_addr).unwrap();
    b.connect(("127.0.0.1", a_addr.port())).unwrap();
    assert_eq!(a.peer_addr().unwrap(), b_addr);
    a.send(b"one").unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(b.peek(&mut buf).unwrap(), 3);
    let (n, from) = b.peek_from(&mut buf).unwrap();
    assert_eq!((n, from), (3, a_addr));
    assert_eq!(b.recv(&mut buf).unwrap(), 3);
    assert_eq!(&buf[..3], b"one");
}

#[test]
fn read_timeout_nonblocking_and_errors() {
    let (a, _) = bound();
    a.set_read_timeout(Some(20 * MS)).unwrap();
    assert_eq!(a.read_timeout().unwrap(), Some(20 * MS));
    let start = Instant::now();
    assert_eq!(
        a.recv_from(&mut [0; 8]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    assert!(start.elapsed() >= 20 * MS);
    a.set_read_timeout(None).unwrap();
    a.set_nonblocking(true).unwrap();
    assert_eq!(
        a.recv(&mut [0; 8]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    a.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    assert_eq!(a.write_timeout().unwrap(), Some(Duration::from_secs(1)));
    assert_eq!(
        a.set_write_timeout(Some(Duration::ZERO))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    let none: &[SocketAddr] = &[];
    let e = a.send_to(b"x", none).unwrap_err();
    assert_eq!(
        (e.kind(), e.to_string()),
        (
            ErrorKind::InvalidInput,
            "no addresses to send data to".into()
        )
    );
    assert_clean();
}

#[test]
fn options_clone_and_conversions() {
    let (a, addr) = bound();
    a.set_broadcast(true).unwrap();
    assert!(a.broadcast().unwrap());
    a.set_ttl(9).unwrap();
    assert_eq!(a.ttl().unwrap(), 9);
    a.set_multicast_ttl_v4(3).unwrap();
    assert_eq!(a.multicast_ttl_v4().unwrap(), 3);
    a.set_multicast_loop_v4(false).unwrap();
    assert!(!a.multicast_loop_v4().unwrap());
    assert!(a.take_error().unwrap().is_none());
    let b = a.try_clone().unwrap();
    assert_eq!(b.local_addr().unwrap(), addr);
    let std_a: std::net::UdpSocket = a.into();
    std_a.set_read_timeout(Some(200 * MS)).unwrap();
    let a = UdpSocket::from(std_a);
    assert_eq!(a.read_timeout().unwrap(), Some(200 * MS));
    assert_eq!(
        a.recv(&mut [0; 1]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    assert!(format!("{a:?}").starts_with("UdpSocket"));
}
