//! A minimal HTTP/1.1 server answering `Hello, world!` to every request, with
//! keep-alive and pipelining, on monkey's `TcpListener`: one greenlet per connection
//! (gevent's `StreamServer`, or `WSGIServer` with a hello-world app), requests parsed
//! with httparse.
//!
//! ```text
//! cargo run --release -p examples --example http_server -- --addr 127.0.0.1:8080 [--threads N]
//! curl -v http://127.0.0.1:8080/
//! ```
//!
//! Prints `listening on ADDR`, then serves until killed. `--threads N` runs N hubs on
//! `SO_REUSEPORT` listeners, as in `echo_server`. A request whose head exceeds 8 KiB
//! or 32 headers gets `431`, a malformed one `400`; both close the connection.

use std::io::{self, Read, Write};

use examples::http::{Conversation, READ_CHUNK};
use examples::stream_server::ReadBuffer;
use monkey::net::TcpStream;

const _: () = assert!(READ_CHUNK <= ReadBuffer::SIZE);

/// Serves one connection: requests in, responses out, until either side closes.
fn handle(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut talk = Conversation::default();
    loop {
        // Wait for data before taking a buffer: an idle keep-alive connection holds none.
        stream.readable()?;
        let mut chunk = ReadBuffer::take();
        let n = stream.read(&mut chunk[..READ_CHUNK])?;
        if n == 0 {
            return Ok(());
        }
        let close = talk.answer(&chunk[..n]);
        // Every response to this read's requests (pipelining) in one write.
        stream.write_all(&talk.out)?;
        talk.out.clear();
        if close {
            return Ok(());
        }
    }
}

fn main() {
    examples::stream_server::run("http_server", "127.0.0.1:8080", handle);
}
