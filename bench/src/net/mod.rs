//! Group 7: network servers on 127.0.0.1, each a process of its own, driven by one
//! load client that is the same for every server.
//!
//! - TCP echo: gevent-rs's `echo_server` example (one hub, a greenlet per
//!   connection), tokio current-thread (`net_tokio_echo`, a task per connection) and
//!   std with a thread per connection (`net_std_echo`), loaded by [`echo_load`].
//! - HTTP hello world: the `http_server` example and its tokio current-thread twin
//!   (`net_tokio_http`), which share `examples::http` (same parsing, same response
//!   bytes), loaded by wrk ([`wrk`]).
//! - Memory: the server's RSS growth per idle connection ([`idle`]).
//! - With `net --server-threads N`: the examples' N hubs against tokio `multi_thread`
//!   with N workers (the peers' `--threads N`, [`args`]), pinned with `taskset`.
//!
//! The servers' CPU time is read from `/proc` before and after each window
//! ([`procfs`]), so the results hold both per second (which depends on how the
//! client and the server share the cores) and per server CPU-second (which does not
//! so much). `src/bin/net.rs` runs them all and prints the tables; the script
//! `bench/scripts/net.sh` builds everything and runs it.

pub mod args;
pub mod echo_load;
pub mod idle;
pub mod procfs;
pub mod server;
pub mod std_echo;
pub mod wrk;

use std::io;
use std::time::{Duration, Instant};

use server::Server;

/// `--addr HOST:PORT` from the command line, as the example servers take it.
pub fn addr_arg(default: &str) -> String {
    let mut args = std::env::args().skip(1);
    let mut addr = default.to_string();
    while let Some(arg) = args.next() {
        if arg == "--addr" {
            addr = args.next().unwrap_or_else(|| usage("--addr needs a value"));
        } else if let Some(a) = arg.strip_prefix("--addr=") {
            addr = a.to_string();
        } else {
            usage(&format!("unknown argument {arg:?}"));
        }
    }
    addr
}

fn usage(problem: &str) -> ! {
    eprintln!("{problem}\nusage: [--addr HOST:PORT]");
    std::process::exit(2)
}

/// Work done in a measured window, and the CPU time it took on each side.
#[derive(Clone, Copy, Debug, Default)]
pub struct Window {
    /// Round trips or requests.
    pub ops: u64,
    pub seconds: f64,
    pub server_cpu: f64,
    /// The part of `server_cpu` spent outside the kernel.
    pub server_user: f64,
    pub client_cpu: f64,
    pub errors: u64,
}

impl Window {
    pub fn per_second(&self) -> f64 {
        self.ops as f64 / self.seconds
    }

    /// Operations per CPU-second of the server process.
    pub fn per_server_cpu_second(&self) -> f64 {
        self.ops as f64 / self.server_cpu
    }

    /// Fraction of a core the server used.
    pub fn server_cores(&self) -> f64 {
        self.server_cpu / self.seconds
    }

    /// Fraction of the server's CPU time spent in the program rather than the kernel.
    pub fn server_user_share(&self) -> f64 {
        self.server_user / self.server_cpu
    }

    pub fn client_cores(&self) -> f64 {
        self.client_cpu / self.seconds
    }
}

/// Echo round trips on `conns` connections for `duration`, after `warmup`.
pub fn echo_window(
    server: &Server,
    conns: usize,
    client_threads: usize,
    warmup: Duration,
    duration: Duration,
) -> io::Result<Window> {
    let load = echo_load::EchoLoad::start(server.addr(), conns, client_threads)?;
    std::thread::sleep(warmup);
    let (ops0, server0, client0, t0) = (
        load.round_trips(),
        server.cpu_times()?,
        own_cpu_seconds()?,
        Instant::now(),
    );
    std::thread::sleep(duration);
    let (ops1, server1, client1, seconds) = (
        load.round_trips(),
        server.cpu_times()?,
        own_cpu_seconds()?,
        t0.elapsed().as_secs_f64(),
    );
    load.stop()?;
    Ok(Window {
        ops: ops1 - ops0,
        seconds,
        server_cpu: (server1 - server0).total(),
        server_user: (server1 - server0).user,
        client_cpu: client1 - client0,
        errors: 0,
    })
}

/// One wrk run of `duration` with `conns` connections.
pub fn http_window(
    server: &Server,
    conns: usize,
    wrk_threads: usize,
    duration: Duration,
) -> io::Result<Window> {
    let (server0, client0) = (server.cpu_times()?, children_cpu_seconds());
    let run = wrk::run(server.addr(), conns, wrk_threads, duration)?;
    let (server1, client1) = (server.cpu_times()?, children_cpu_seconds());
    Ok(Window {
        ops: run.requests,
        seconds: run.seconds,
        server_cpu: (server1 - server0).total(),
        server_user: (server1 - server0).user,
        client_cpu: client1 - client0,
        errors: run.errors,
    })
}

/// A fresh server's RSS before and after `n` idle connections: (before, after).
pub fn idle_rss(server: &Server, n: usize, exchange: idle::Exchange) -> io::Result<(u64, u64)> {
    let before = server.rss_bytes()?;
    let conns = idle::open(server.addr(), n, exchange)?;
    // Let the server finish with the last exchange and settle.
    std::thread::sleep(Duration::from_millis(300));
    let after = server.rss_bytes()?;
    drop(conns);
    Ok((before, after))
}

/// CPU time of this process (the echo client's threads).
fn own_cpu_seconds() -> io::Result<f64> {
    procfs::cpu_seconds(std::process::id())
}

/// CPU time of this process's finished children (the wrk runs).
fn children_cpu_seconds() -> f64 {
    // SAFETY: an all-zero rusage is valid, and getrusage only writes into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid out-pointer.
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) } != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}
