//! Idle connections, for the memory a server spends per connection: each one is
//! opened and has done one exchange (so the server has accepted it and its handler
//! has run and is parked in a read), then stays open and silent.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};

/// The exchange done on each connection before it goes idle.
#[derive(Clone, Copy, Debug)]
pub enum Exchange {
    /// One 64-byte echo round trip.
    Echo,
    /// One HTTP/1.1 keep-alive GET, its whole response read.
    Http,
}

/// Opens `n` connections to `addr`, one after the other, each doing `exchange`.
pub fn open(addr: SocketAddr, n: usize, exchange: Exchange) -> io::Result<Vec<TcpStream>> {
    (0..n)
        .map(|_| {
            let mut s = TcpStream::connect(addr)?;
            match exchange {
                Exchange::Echo => echo_once(&mut s)?,
                Exchange::Http => get_once(&mut s)?,
            }
            Ok(s)
        })
        .collect()
}

fn echo_once(s: &mut TcpStream) -> io::Result<()> {
    let msg = [b'x'; 64];
    s.write_all(&msg)?;
    let mut back = [0u8; 64];
    s.read_exact(&mut back)?;
    if back != msg {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "bad echo"));
    }
    Ok(())
}

fn get_once(s: &mut TcpStream) -> io::Result<()> {
    s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = Vec::new();
    let mut buf = [0u8; 512];
    while !response.ends_with(examples::http::BODY) {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        response.extend_from_slice(&buf[..n]);
    }
    if !response.starts_with(b"HTTP/1.1 200 OK\r\n") {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "not a 200"));
    }
    Ok(())
}
