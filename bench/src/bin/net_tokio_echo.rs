//! The tokio twin of the `echo_server` example: one task per
//! connection, the same 4 KiB buffer, `TCP_NODELAY`, a 10 ms pause after an accept
//! error. A peer of the network benchmark (`src/bin/net.rs`).
//!
//! `net_tokio_echo [--addr HOST:PORT] [--threads N]` prints `listening on ADDR`, serves
//! until killed.
//! `--threads 1` (the default) runs tokio's `current_thread` runtime, `--threads N` a
//! `multi_thread` one with N workers: the peer of the examples' `--threads N`.

use std::io::{self, Write};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn echo(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}

fn main() -> io::Result<()> {
    let args = bench::net::args::server_args("127.0.0.1:7001");
    bench::net::args::tokio_runtime(args.threads)?.block_on(serve(&args.addr))
}

async fn serve(addr: &str) -> io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    println!("listening on {}", listener.local_addr()?);
    io::stdout().flush()?;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(echo(stream));
            }
            Err(e) => {
                eprintln!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}
