//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use monkey::net::{TcpListener, TcpStream};

pub const MS: Duration = Duration::from_millis(1);

/// Asserts the hub holds no timers or I/O waiters: nothing was left behind.
pub fn assert_clean() {
    let hub = hub::Hub::current();
    assert_eq!(hub.pending_timers(), 0, "timers left behind");
    assert_eq!(hub.io_waiters(), 0, "I/O waiters left behind");
}

/// A listener on an ephemeral loopback port, and its address.
pub fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

/// A connected pair: (client, server side).
pub fn pair() -> (TcpStream, TcpStream) {
    let (l, addr) = listener();
    let accepting = hub::spawn(move || l.accept().map(|(s, _)| s));
    let client = TcpStream::connect(addr).unwrap();
    let server = accepting.join().unwrap().unwrap();
    (client, server)
}

/// Open fds of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Raises the soft fd limit to the hard one (for the many-connections tests).
pub fn raise_fd_limit(wanted: u64) -> io::Result<()> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid out-pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if lim.rlim_cur >= wanted {
        return Ok(());
    }
    lim.rlim_cur = wanted.min(lim.rlim_max);
    // SAFETY: `lim` is a valid rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if lim.rlim_cur < wanted {
        return Err(io::Error::other(format!(
            "fd limit {} is below the {wanted} this test needs",
            lim.rlim_cur
        )));
    }
    Ok(())
}

/// A listener whose accept queue is full, so that connecting to it hangs in the
/// handshake (Linux drops SYNs to a full queue): for connect timeouts and kills.
/// Keep the returned clients alive while using it.
pub fn unresponsive_listener() -> (std::net::TcpListener, SocketAddr, Vec<std::net::TcpStream>) {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    s.listen(0).unwrap();
    let l: std::net::TcpListener = s.into();
    let addr = l.local_addr().unwrap();
    let mut fill = Vec::new();
    // Fill the queue: non-blocking connects until one stays in progress.
    for _ in 0..8 {
        let c = Socket::new(Domain::IPV4, Type::STREAM.nonblocking(), None).unwrap();
        let _ = c.connect(&addr.into());
        std::thread::sleep(20 * MS);
        let established = c.peer_addr().is_ok();
        fill.push(c.into());
        if !established {
            break;
        }
    }
    (l, addr, fill)
}
