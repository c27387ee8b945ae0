//! The `echo_server` example written with plain std (`std::net::TcpListener`,
//! `TcpStream::read`/`write_all`), one greenlet per connection, made cooperative by
//! `monkey_patch::patch_all()` alone: the cost of the hooks against `monkey`'s own
//! sockets (`examples/echo_server`) under the same load. A peer of the network
//! benchmark (`src/bin/net.rs`), with the same 4 KiB buffer, `TCP_NODELAY` and
//! backlog.
//!
//! `net_patched_echo [--addr HOST:PORT]` prints `listening on ADDR`, serves until killed.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

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
    monkey_patch::patch_all();
    let listener = listen(&bench::net::addr_arg("127.0.0.1:7003"))?;
    println!("listening on {}", listener.local_addr()?);
    io::stdout().flush()?;
    // The thread's hub exists from here on, so the accept below cooperates.
    hub::Hub::current();
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                hub::spawn(move || echo(stream));
            }
            Err(e) => {
                eprintln!("accept failed: {e}");
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
}
