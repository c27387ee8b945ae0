//! The `echo_server` example done with std and one OS thread per connection (64 KiB
//! stacks), the same 4 KiB buffer and `TCP_NODELAY`. A peer of the network
//! benchmark (`src/bin/net.rs`).
//!
//! `net_std_echo [--addr HOST:PORT]` prints `listening on ADDR`, serves until killed.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use socket2::{Domain, Socket, Type};

fn echo(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n])?;
    }
}

/// A listener with the backlog the other servers use (1024; std's `bind` asks for 128).
fn listen(addr: &str) -> io::Result<TcpListener> {
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{addr}: {e}")))?;
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

fn main() -> io::Result<()> {
    let listener = listen(&bench::net::addr_arg("127.0.0.1:7002"))?;
    println!("listening on {}", listener.local_addr()?);
    io::stdout().flush()?;
    loop {
        let spawned = listener.accept().and_then(|(stream, _)| {
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || echo(stream))
        });
        if let Err(e) = spawned {
            eprintln!("accept failed: {e}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
