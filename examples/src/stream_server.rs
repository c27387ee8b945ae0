//! gevent's `StreamServer` for the example servers: listen on `--addr`, optionally on
//! `--threads N` hubs sharing the port through `SO_REUSEPORT`, and run a handler in a
//! greenlet of its own for every connection.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::Duration;

use monkey::net::{TcpListener, TcpStream};

/// How long the accept loop pauses after an accept error (out of fds, a connection
/// aborted before accept), so that a persistent error does not spin, as gevent's
/// StreamServer does.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(10);

/// A connection handler; its errors (resets, broken pipes) are the client's business.
pub type Handler = fn(TcpStream) -> io::Result<()>;

/// Parses `--addr HOST:PORT` (default `default_addr`) and `--threads N` from the command
/// line, prints `listening on ADDR`, and serves forever. Exits with status 2 on bad
/// arguments and 1 if the address cannot be bound.
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
    let bind = move |addr: &str| {
        TcpListener::bind_reuseport(addr).unwrap_or_else(|e| {
            eprintln!("cannot listen on {addr}: {e}");
            std::process::exit(1);
        })
    };
    let first = bind(&args.addr);
    let addr: SocketAddr = first.local_addr().expect("a bound listener has an address");
    // The other threads bind the port the first one got (it may have been 0).
    let others: Vec<_> = (1..args.threads)
        .map(|_| std::thread::spawn(move || serve(bind(&addr.to_string()), handler)))
        .collect();
    println!("listening on {addr}");
    let _ = io::stdout().flush();
    serve(first, handler);
    for t in others {
        let _ = t.join();
    }
}

/// The accept loop of one hub: a greenlet per connection.
fn serve(listener: TcpListener, handler: Handler) {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                hub::spawn(move || handler(stream));
            }
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

/// A 4 KiB read buffer from the thread's pool, given back when dropped. A handler takes
/// one after [`TcpStream::readable`] says data has come and drops it once the reply is
/// written, so a connection parked between messages owns no buffer: its greenlet's
/// stack then stays within one page.
pub struct ReadBuffer(Vec<u8>);

thread_local! {
    static FREE_BUFFERS: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl ReadBuffer {
    /// Bytes per buffer: what one read may take.
    pub const SIZE: usize = 4096;
    /// Buffers kept for reuse per thread; more are freed.
    const KEPT: usize = 256;

    /// A buffer of [`SIZE`](Self::SIZE) bytes (a reused one when there is one).
    pub fn take() -> ReadBuffer {
        let reused = FREE_BUFFERS.with(|free| free.borrow_mut().pop());
        ReadBuffer(reused.unwrap_or_else(|| vec![0; Self::SIZE]))
    }
}

impl std::ops::Deref for ReadBuffer {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl std::ops::DerefMut for ReadBuffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl Drop for ReadBuffer {
    fn drop(&mut self) {
        let buffer = std::mem::take(&mut self.0);
        let _ = FREE_BUFFERS.try_with(|free| {
            let mut free = free.borrow_mut();
            if free.len() < Self::KEPT {
                free.push(buffer);
            }
        });
    }
}
