//! The tokio twin of the `http_server` example: one task per
//! connection, the same buffers and the same protocol code (`examples::http`), so the
//! same response bytes. A peer of the network benchmark (`src/bin/net.rs`).
//!
//! `net_tokio_http [--addr HOST:PORT] [--threads N]` prints `listening on ADDR`, serves
//! until killed.
//! `--threads 1` (the default) runs tokio's `current_thread` runtime, `--threads N` a
//! `multi_thread` one with N workers: the peer of the examples' `--threads N`.

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

fn main() -> io::Result<()> {
    let args = bench::net::args::server_args("127.0.0.1:8081");
    bench::net::args::tokio_runtime(args.threads)?.block_on(serve(&args.addr))
}

async fn serve(addr: &str) -> io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
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
