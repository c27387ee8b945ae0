//! The I/O half of the hello-world HTTP/1.1 server (the `http_server` example): one
//! greenlet per connection on monkey's blocking-style sockets, the protocol from
//! [`crate::http`], and timeouts that keep slow and idle clients from holding file
//! descriptors.
//!
//! A slowloris client opens many connections and trickles header bytes to keep each
//! one open; under an fd limit that locks everyone else out. Here (to within 100 ms,
//! see `watchdog`) a request head must
//! be complete within [`Limits::header_timeout`] of its first byte (then `408` and
//! close), a connection idle between requests closes after
//! [`Limits::idle_timeout`], a body must keep arriving ([`Limits::body_timeout`] per
//! read), and a client that does not read its responses is dropped after
//! [`Limits::write_timeout`]. While connections hold every fd, the server's accept
//! backs off and retries (see `monkey::server`) instead of failing.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use monkey::net::TcpStream;

use crate::http::{Conversation, READ_CHUNK};
use crate::read_buffer::ReadBuffer;

const _: () = assert!(READ_CHUNK <= ReadBuffer::SIZE);

/// How long a connection may take at each stage.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// From the first byte of a request head to its end.
    pub header_timeout: Duration,
    /// Between two reads of a request body.
    pub body_timeout: Duration,
    /// Between the end of a response and the first byte of the next request.
    pub idle_timeout: Duration,
    /// For each write of responses to make progress.
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(15),
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves one connection with the default [`Limits`] (a `serve::Handler`).
pub fn handle(stream: TcpStream, _peer: SocketAddr) -> io::Result<()> {
    serve_connection(stream, &Limits::default())
}

/// Serves one connection: requests in, responses out, until either side closes or a
/// limit passes.
pub fn serve_connection(stream: TcpStream, limits: &Limits) -> io::Result<()> {
    stream.set_nodelay(true)?;
    // Armed only when a write has to wait: costs nothing while the client reads.
    stream.set_write_timeout(Some(limits.write_timeout))?;
    let conn = watchdog::watch(stream);
    let mut stream = &conn.stream;
    let mut talk = Conversation::default();
    let mut head_started = false;
    loop {
        if talk.is_idle() {
            head_started = false;
            conn.expire_after(limits.idle_timeout);
        } else if talk.reading_body() {
            head_started = false;
            conn.expire_after(limits.body_timeout);
        } else if !head_started {
            // A head's clock starts once and is not reset by its later bytes.
            head_started = true;
            conn.expire_after(limits.header_timeout);
        }
        // Wait for data before taking a buffer: an idle keep-alive connection holds none.
        stream.readable()?;
        let mut chunk = ReadBuffer::take();
        let n = stream.read(&mut chunk[..READ_CHUNK])?;
        if n == 0 {
            if conn.expired() && head_started {
                // Best effort: the client is slow, perhaps hostile.
                let _ = stream.write_all(
                    b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
            return Ok(());
        }
        let close = talk.answer(&chunk[..n]);
        if !talk.out.is_empty() {
            // Every response to this read's requests (pipelining) in one write; a
            // new head starts its own clock.
            stream.write_all(&talk.out)?;
            talk.out.clear();
            head_started = false;
        }
        if close {
            return Ok(());
        }
    }
}

/// Coarse deadlines for connections: one sweeper greenlet per hub checks them every
/// [`PERIOD`](watchdog::PERIOD) and shuts the read side of those past theirs, which
/// ends the parked read with end of file. A request then costs a counter copy
/// instead of arming and cancelling one of the hub's exact timers around every read
/// (an ordered-map insert and removal, and a clock read).
mod watchdog {
    use std::cell::{Cell, RefCell};
    use std::net::Shutdown;
    use std::rc::{Rc, Weak};
    use std::time::Duration;

    use monkey::net::TcpStream;

    /// How often deadlines are checked: a limit is kept to within this much, and
    /// never cut short.
    pub const PERIOD: Duration = Duration::from_millis(100);

    pub struct Watched {
        pub stream: TcpStream,
        /// The sweep from which it is expired.
        deadline: Cell<u64>,
        expired: Cell<bool>,
    }

    impl Watched {
        /// Expires the connection once `limit` has passed from now.
        pub fn expire_after(&self, limit: Duration) {
            let periods = limit.as_nanos().div_ceil(PERIOD.as_nanos()) as u64;
            // +1: the current period has partly gone by.
            self.deadline.set(SWEEPS.get() + periods + 1);
        }

        /// True once a deadline passed (the read side is then shut).
        pub fn expired(&self) -> bool {
            self.expired.get()
        }
    }

    thread_local! {
        static SWEEPS: Cell<u64> = const { Cell::new(0) };
        static WATCHED: RefCell<Vec<Weak<Watched>>> = const { RefCell::new(Vec::new()) };
        static SWEEPING: Cell<bool> = const { Cell::new(false) };
    }

    /// Puts a connection under watch until the returned handle is dropped.
    pub fn watch(stream: TcpStream) -> Rc<Watched> {
        let watched = Rc::new(Watched {
            stream,
            deadline: Cell::new(u64::MAX),
            expired: Cell::new(false),
        });
        WATCHED.with(|w| w.borrow_mut().push(Rc::downgrade(&watched)));
        if !SWEEPING.replace(true) {
            hub::Builder::new().name("http watchdog").spawn(sweep);
        }
        watched
    }

    /// Runs while connections are watched.
    fn sweep() {
        loop {
            if hub::sleep(PERIOD).is_err() {
                SWEEPING.set(false);
                return;
            }
            let now = SWEEPS.get() + 1;
            SWEEPS.set(now);
            let expired: Vec<Rc<Watched>> = WATCHED.with(|w| {
                let mut watched = w.borrow_mut();
                watched.retain(|c| c.strong_count() > 0);
                watched
                    .iter()
                    .filter_map(Weak::upgrade)
                    .filter(|c| c.deadline.get() <= now && !c.expired.get())
                    .collect()
            });
            for c in expired {
                c.expired.set(true);
                let _ = c.stream.shutdown(Shutdown::Read);
            }
            if WATCHED.with(|w| w.borrow().is_empty()) {
                SWEEPING.set(false);
                return;
            }
        }
    }
}
