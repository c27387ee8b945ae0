//! StreamServer and DatagramServer: serving, the connection cap, stop(timeout) with
//! handlers mid-request, a socket that breaks for good, signals, many hubs.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use monkey::net::{TcpListener, TcpStream, UdpSocket};
use monkey::server::{DatagramServer, StreamServer, serve_on_hubs};

/// Reads one line-less request of 4 bytes and echoes it upper-cased.
fn upper(mut conn: TcpStream, _peer: SocketAddr) -> io::Result<()> {
    let mut buf = [0; 4];
    conn.read_exact(&mut buf)?;
    conn.write_all(&buf.to_ascii_uppercase())
}

fn ask(addr: SocketAddr, msg: &[u8; 4]) -> io::Result<Vec<u8>> {
    let mut c = TcpStream::connect(addr)?;
    c.write_all(msg)?;
    let mut reply = Vec::new();
    c.read_to_end(&mut reply)?;
    Ok(reply)
}

#[test]
fn serves_each_connection_in_its_own_greenlet_until_stopped() {
    let server = StreamServer::bind("127.0.0.1:0", upper).unwrap();
    let addr = server.local_addr();
    assert!(!server.is_serving());
    server.start().unwrap();
    assert!(server.is_serving());
    assert!(server.start().is_err(), "starting twice is refused");
    // Clients from several greenlets, served at once.
    let clients: Vec<_> = (0..10)
        .map(|_| hub::spawn(move || ask(addr, b"abcd")))
        .collect();
    for c in clients {
        assert_eq!(c.join().unwrap().unwrap(), b"ABCD");
    }
    assert_eq!(server.stop(None), 0);
    assert!(!server.is_serving());
    // The port is closed.
    let refused = TcpStream::connect(addr).unwrap_err();
    assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
    assert!(server.start().is_err(), "a stopped server does not restart");
}

#[test]
fn the_cap_makes_accept_wait_and_drops_nothing() {
    let running = Rc::new(Cell::new(0));
    let most = Rc::new(Cell::new(0));
    let (r, m) = (running.clone(), most.clone());
    let server = StreamServer::bind("127.0.0.1:0", move |conn, peer| {
        r.set(r.get() + 1);
        m.set(m.get().max(r.get()));
        hub::sleep(Duration::from_millis(20)).unwrap();
        let result = upper(conn, peer);
        r.set(r.get() - 1);
        result
    })
    .unwrap()
    .max_connections(2);
    server.start().unwrap();
    let addr = server.local_addr();
    let clients: Vec<_> = (0..6)
        .map(|_| hub::spawn(move || ask(addr, b"wxyz")))
        .collect();
    for c in clients {
        assert_eq!(
            c.join().unwrap().unwrap(),
            b"WXYZ",
            "every client is served"
        );
    }
    assert_eq!(
        most.get(),
        2,
        "never more than the cap, and the cap was used"
    );
    server.stop(None);
}

/// Counts the handlers whose destructors ran.
struct Dropped(Rc<Cell<usize>>);
impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn stop_lets_quick_handlers_finish_then_kills_the_rest() {
    let dropped = Rc::new(Cell::new(0));
    let d = dropped.clone();
    let server = StreamServer::bind("127.0.0.1:0", move |mut conn, _| {
        let _guard = Dropped(d.clone());
        let mut req = [0; 4];
        conn.read_exact(&mut req)?;
        // "slow" requests take far longer than the stop timeout.
        let work = if &req == b"slow" { 60_000 } else { 30 };
        hub::sleep(Duration::from_millis(work)).map_err(io::Error::from)?;
        conn.write_all(b"done")
    })
    .unwrap();
    server.start().unwrap();
    let addr = server.local_addr();
    let slow: Vec<_> = (0..3)
        .map(|_| hub::spawn(move || ask(addr, b"slow")))
        .collect();
    let quick = hub::spawn(move || ask(addr, b"fast"));
    while server.connections() < 4 {
        hub::sleep(Duration::from_millis(1)).unwrap();
    }
    hub::sleep(Duration::from_millis(5)).unwrap(); // all four are mid-request
    let killed = server.stop(Some(Duration::from_millis(300)));
    assert_eq!(killed, 3, "the slow handlers were killed");
    assert_eq!(server.connections(), 0);
    assert_eq!(dropped.get(), 4, "every handler's destructors ran");
    assert_eq!(
        quick.join().unwrap().unwrap(),
        b"done",
        "the quick one finished"
    );
    for s in slow {
        // Killed mid-request: the client sees the connection close without a reply.
        assert_eq!(s.join().unwrap().unwrap(), b"");
    }
}

#[test]
fn a_socket_broken_for_good_ends_serve_forever_with_its_error() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&listener);
    let server = StreamServer::new(listener, upper).unwrap();
    hub::spawn(move || {
        hub::sleep(Duration::from_millis(10)).unwrap();
        // SAFETY: shutting down our own listening socket; the fd stays open and
        // owned by the server. Linux then fails accept with EINVAL.
        unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
    });
    hub::set_failure_reports(hub::FailureReports::Off);
    let err = server.serve_forever().unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{err}");
    server.stop(None);
}

#[test]
fn stop_on_signals_ends_serve_forever() {
    let server = StreamServer::bind("127.0.0.1:0", upper).unwrap();
    server
        .stop_on_signals(&[libc::SIGUSR1], Duration::from_millis(100))
        .unwrap();
    let addr = server.local_addr();
    let client = hub::spawn(move || {
        let reply = ask(addr, b"sig!");
        std::thread::spawn(|| {
            // SAFETY: kill(2) on our own pid; SIGUSR1 is caught by signal-hook.
            unsafe { libc::kill(libc::getpid(), libc::SIGUSR1) };
        });
        reply
    });
    server.serve_forever().unwrap();
    assert!(!server.is_serving());
    assert_eq!(client.join().unwrap().unwrap(), b"SIG!");
    assert!(TcpStream::connect(addr).is_err(), "the port is closed");
}

#[test]
fn datagram_server_answers_each_datagram_and_stops() {
    let seen = Rc::new(Cell::new(0));
    let s = seen.clone();
    let server = DatagramServer::bind("127.0.0.1:0", move |socket, data, peer| {
        s.set(s.get() + 1);
        socket.send_to(&data.to_ascii_uppercase(), peer).map(drop)
    })
    .unwrap()
    .max_handlers(2);
    server.start().unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0; 64];
    for word in [&b"one"[..], b"two", b"three"] {
        client.send_to(word, server.local_addr()).unwrap();
        let (n, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!(from, server.local_addr());
        assert_eq!(&buf[..n], word.to_ascii_uppercase());
    }
    assert_eq!(seen.get(), 3);
    server.stop(None);
    assert!(!server.is_serving());
    // Closed: the port is free to bind again.
    UdpSocket::bind(server.local_addr()).unwrap();
}

#[test]
fn serve_on_hubs_shares_one_port_between_hubs() {
    let (tx, rx) = std::sync::mpsc::channel();
    let clients = std::thread::spawn(move || {
        let addr: SocketAddr = rx.recv().unwrap();
        let mut hubs = std::collections::BTreeSet::new();
        for _ in 0..40 {
            let mut c = std::net::TcpStream::connect(addr).unwrap();
            c.write_all(b"hub?").unwrap();
            let mut reply = String::new();
            c.read_to_string(&mut reply).unwrap();
            hubs.insert(reply);
        }
        // Every hub watches SIGUSR2: one signal stops them all.
        // SAFETY: kill(2) on our own pid; SIGUSR2 is caught by signal-hook.
        unsafe { libc::kill(libc::getpid(), libc::SIGUSR2) };
        hubs
    });
    let tx = std::sync::Mutex::new(tx);
    let results = serve_on_hubs(2, "127.0.0.1:0", |i, listener| {
        if i == 0 {
            tx.lock().unwrap().send(listener.local_addr()?).unwrap();
        }
        let server = StreamServer::new(listener, move |mut conn, _| {
            let mut req = [0; 4];
            conn.read_exact(&mut req)?;
            conn.write_all(format!("hub {i}").as_bytes())
        })?;
        server.stop_on_signals(&[libc::SIGUSR2], Duration::from_secs(1))?;
        server.serve_forever()
    })
    .unwrap();
    assert_eq!(results.len(), 2);
    for r in results {
        r.unwrap();
    }
    let hubs = clients.join().unwrap();
    assert!(!hubs.is_empty() && hubs.iter().all(|h| h == "hub 0" || h == "hub 1"));
}

#[test]
fn serve_on_one_hub_runs_on_the_calling_thread_and_reports_a_panic() {
    let caller = std::thread::current().id();
    let results = serve_on_hubs(1, "127.0.0.1:0", |i, listener| {
        assert_eq!(i, 0);
        assert_eq!(std::thread::current().id(), caller, "no thread was started");
        // The listener works on this thread's hub: a client greenlet is answered.
        let addr = listener.local_addr()?;
        let client = hub::spawn(move || -> std::io::Result<String> {
            let mut reply = String::new();
            monkey::net::TcpStream::connect(addr)?.read_to_string(&mut reply)?;
            Ok(reply)
        });
        let (mut conn, _) = listener.accept()?;
        conn.write_all(b"served here")?;
        drop(conn);
        assert_eq!(client.join().unwrap()?, "served here");
        Err(std::io::Error::other("handed back"))
    })
    .unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].as_ref().unwrap_err().to_string(), "handed back");

    let results = serve_on_hubs(1, "127.0.0.1:0", |_, _| panic!("serve broke")).unwrap();
    let err = results[0].as_ref().unwrap_err().to_string();
    assert!(err.contains("serve broke"), "{err}");
}
