//! A TCP echo server on monkey's `TcpListener`, one greenlet per connection (gevent's
//! `StreamServer` with an echo handler).
//!
//! ```text
//! cargo run --release -p examples --example echo_server -- --addr 127.0.0.1:7000 [--threads N]
//! ```
//!
//! Prints `listening on ADDR` once it accepts (useful with port 0), then serves until
//! killed. With `--threads N`, N threads each run their own hub and accept on their
//! own `SO_REUSEPORT` listener for the same address: the kernel spreads connections
//! over them (one hub per core). Written in plain blocking style: each `read` and
//! `write_all` parks only its connection's greenlet.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use monkey::net::{TcpListener, TcpStream};

/// How long the accept loop pauses after an accept error.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(10);

/// Echoes until the client closes or the connection fails.
fn echo(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n])?;
    }
}

/// The accept loop of one hub: a greenlet per connection.
fn serve(listener: TcpListener) {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                // Resets and broken pipes are the clients' business.
                hub::spawn(move || echo(stream));
            }
            // Out of fds, a connection aborted before accept: keep serving, after a
            // pause so that a persistent error does not spin (gevent's StreamServer
            // does the same).
            Err(e) => {
                eprintln!("accept failed: {e}");
                monkey::thread::sleep(ACCEPT_ERROR_PAUSE);
            }
        }
    }
}

struct Args {
    addr: String,
    threads: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        addr: "127.0.0.1:7000".into(),
        threads: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (arg, None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or(format!("{name} needs a value"))
        };
        match flag.as_str() {
            "--addr" => args.addr = value("--addr")?,
            "--threads" => {
                args.threads = value("--threads")?
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or("--threads takes a positive number")?
            }
            "-h" | "--help" => {
                println!("usage: echo_server [--addr HOST:PORT] [--threads N]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("echo_server: {e}\nusage: echo_server [--addr HOST:PORT] [--threads N]");
        std::process::exit(2);
    });
    let bind = |addr: &str| {
        TcpListener::bind_reuseport(addr).unwrap_or_else(|e| {
            eprintln!("echo_server: cannot listen on {addr}: {e}");
            std::process::exit(1);
        })
    };
    let first = bind(&args.addr);
    let addr: SocketAddr = first.local_addr().expect("a bound listener has an address");
    // The other threads bind the port the first one got (it may have been 0).
    let others: Vec<_> = (1..args.threads)
        .map(|_| std::thread::spawn(move || serve(bind(&addr.to_string()))))
        .collect();
    println!("listening on {addr}");
    let _ = io::stdout().flush();
    serve(first);
    for t in others {
        let _ = t.join();
    }
}
