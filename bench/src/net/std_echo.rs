//! The echo handler and listener written with plain std, shared by the peers that run
//! it on OS threads (`net_std_echo`) and on greenlets under `patch_all()`
//! (`net_patched_echo`): the same 4 KiB buffer, `TCP_NODELAY` and backlog as the
//! other servers.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

use socket2::{Domain, Socket, Type};

/// Echoes what `stream` sends until it closes.
pub fn echo(mut stream: TcpStream) -> io::Result<()> {
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
pub fn listen(addr: &str) -> io::Result<TcpListener> {
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{addr}: {e}")))?;
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}
