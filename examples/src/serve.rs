//! What the example servers share: the command line (`--addr`, `--threads N`) and
//! the life of a [`StreamServer`] per hub: one hub per thread, each accepting on its
//! own `SO_REUSEPORT` listener ([`serve_on_hubs`]), a greenlet per connection, and a
//! graceful stop on `SIGTERM` or `SIGINT` (stop accepting, let connections finish for
//! [`STOP_TIMEOUT`], then close them).

use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::Duration;

use hub::signal::{SIGINT, SIGTERM};
use monkey::net::{TcpListener, TcpStream};
use monkey::server::{StreamServer, serve_on_hubs};

/// How long a stop lets open connections finish before closing them.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(2);

/// A connection handler; its errors that are the client's doing (resets, broken
/// pipes, timeouts) end the connection quietly.
pub type Handler = fn(TcpStream, SocketAddr) -> io::Result<()>;

/// Parses `--addr HOST:PORT` (default `default_addr`) and `--threads N` from the command
/// line, prints `listening on ADDR`, and serves until `SIGTERM` or `SIGINT`. Exits with
/// status 2 on bad arguments and 1 if the address cannot be bound or serving fails.
pub fn run(name: &str, default_addr: &str, handler: Handler) {
    crate::logging::init();
    let usage = format!("usage: {name} [--addr HOST:PORT] [--threads N]");
    let args = parse_args(default_addr).unwrap_or_else(|e| {
        eprintln!("{name}: {e}\n{usage}");
        std::process::exit(2);
    });
    let Some(args) = args else {
        println!("{usage}");
        return;
    };
    let results = serve_on_hubs(args.threads, args.addr.as_str(), |i, listener| {
        serve(i, listener, handler)
    })
    .unwrap_or_else(|e| {
        eprintln!("cannot listen on {}: {e}", args.addr);
        std::process::exit(1);
    });
    let mut failed = false;
    for (i, result) in results.into_iter().enumerate() {
        if let Err(e) = result {
            eprintln!("{name}: hub {i} stopped serving: {e}");
            failed = true;
        }
    }
    if failed {
        std::process::exit(1);
    }
}

/// Hub `hub`'s server on `listener` until a stop signal; hub 0 prints
/// `listening on ADDR` once it accepts.
pub fn serve(hub: usize, listener: TcpListener, handler: Handler) -> io::Result<()> {
    let server = StreamServer::new(listener, handler)?;
    server.stop_on_signals(&[SIGTERM, SIGINT], STOP_TIMEOUT)?;
    server.start()?;
    if hub == 0 {
        println!("listening on {}", server.local_addr());
        let _ = io::stdout().flush();
    }
    server.serve_forever()
}

struct Args {
    addr: String,
    threads: usize,
}

/// `Ok(None)` for `--help`.
fn parse_args(default_addr: &str) -> Result<Option<Args>, String> {
    let mut args = Args {
        addr: default_addr.into(),
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
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Some(args))
}
