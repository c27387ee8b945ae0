//! The tokio current-thread twin of the `http_server` example: one task per
//! connection, the same buffers and the same protocol code (`examples::http`), so the
//! same response bytes. A peer of the network benchmark (`src/bin/net.rs`).
//!
//! `net_tokio_http [--addr HOST:PORT]` prints `listening on ADDR`, serves until killed.

use std::io::{self, Write};
use std::time::Duration;

use examples::http::{Conversation, READ_CHUNK};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Serves one connection: requests in, responses out, until either side closes.
async fn handle(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut talk = Conversation::default();
    let mut chunk = [0u8; READ_CHUNK];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        let close = talk.answer(&chunk[..n]);
        stream.write_all(&talk.out).await?;
        talk.out.clear();
        if close {
            return Ok(());
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> io::Result<()> {
    let listener = TcpListener::bind(bench::net::addr_arg("127.0.0.1:8081")).await?;
    println!("listening on {}", listener.local_addr()?);
    io::stdout().flush()?;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(handle(stream));
            }
            Err(e) => {
                eprintln!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}
