//! The I/O half of the hello-world HTTP/1.1 server (the `http_server` example): one
//! greenlet per connection on monkey's blocking-style sockets, the protocol from
//! [`crate::http`], and timeouts that keep slow and idle clients from holding file
//! descriptors.
//!
//! A slowloris client opens many connections and trickles header bytes to keep each
//! one open; under an fd limit that locks everyone else out. Here a request head must
//! be complete within [`Limits::header_timeout`] of its first byte (then `408` and
//! close), a connection idle between requests closes after
//! [`Limits::idle_timeout`], a body must keep arriving ([`Limits::body_timeout`] per
//! read), and a client that does not read its responses is dropped after
//! [`Limits::write_timeout`]. While connections hold every fd, the server's accept
//! backs off and retries (see `monkey::server`) instead of failing.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

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
pub fn serve_connection(mut stream: TcpStream, limits: &Limits) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(limits.write_timeout))?;
    let mut talk = Conversation::default();
    // When the head being read must be complete.
    let mut head_deadline = None;
    loop {
        let timeout = if talk.is_idle() {
            head_deadline = None;
            limits.idle_timeout
        } else if talk.reading_body() {
            head_deadline = None;
            limits.body_timeout
        } else {
            let deadline =
                *head_deadline.get_or_insert_with(|| Instant::now() + limits.header_timeout);
            deadline.saturating_duration_since(Instant::now())
        };
        // Wait for data before taking a buffer: an idle keep-alive connection holds none.
        let ready = if timeout.is_zero() {
            Err(io::ErrorKind::WouldBlock.into())
        } else {
            stream.set_read_timeout(Some(timeout))?;
            stream.readable()
        };
        if let Err(e) = ready {
            if e.kind() == io::ErrorKind::WouldBlock && head_deadline.is_some() {
                // Best effort: the client is slow, perhaps hostile.
                let _ = stream.write_all(
                    b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
            return Err(e);
        }
        let mut chunk = ReadBuffer::take();
        let n = stream.read(&mut chunk[..READ_CHUNK])?;
        if n == 0 {
            return Ok(());
        }
        let close = talk.answer(&chunk[..n]);
        if !talk.out.is_empty() {
            // Every response to this read's requests (pipelining) in one write; a
            // new head starts its own clock.
            stream.write_all(&talk.out)?;
            talk.out.clear();
            head_deadline = None;
        }
        if close {
            return Ok(());
        }
    }
}
