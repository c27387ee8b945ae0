//! A TCP echo server on `monkey::server::StreamServer`, one greenlet per connection
//! (gevent's `StreamServer` with an echo handler).
//!
//! ```text
//! cargo run --release -p examples --example echo_server -- --addr 127.0.0.1:7000 [--threads N]
//! ```
//!
//! Prints `listening on ADDR` once it accepts (useful with port 0), then serves until
//! `SIGTERM` or `SIGINT`. With `--threads N`, N threads each run their own hub and accept on their
//! own `SO_REUSEPORT` listener for the same address: the kernel spreads connections
//! over them (one hub per core). Written in plain blocking style: each `read` and
//! `write_all` parks only its connection's greenlet.

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use examples::read_buffer::ReadBuffer;
use monkey::net::TcpStream;

/// Echoes until the client closes or the connection fails. It waits for data before
/// taking a read buffer, so an idle connection holds none.
fn echo(mut stream: TcpStream, _peer: SocketAddr) -> io::Result<()> {
    stream.set_nodelay(true)?;
    loop {
        stream.readable()?;
        let mut buf = ReadBuffer::take();
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n])?;
    }
}

fn main() {
    examples::serve::run("echo_server", "127.0.0.1:7000", echo);
}
