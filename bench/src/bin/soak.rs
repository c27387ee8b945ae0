//! Soak: thousands of connections echoing against the examples' `echo_server` for a set
//! time, with the server's RSS and open fds sampled as it goes. A leak shows as a curve
//! that keeps rising after warm-up; at the end, once every client has closed, the
//! server's fd count must be back where it started.
//!
//! ```sh
//! cargo build --release -p examples --example echo_server
//! cargo run --release -p bench --bin soak -- --duration 60 --connections 10000
//! ```
//!
//! The server runs as a child process (found next to this binary, in
//! `<target>/release/examples/`, or given with `--server PATH`), so its figures are its
//! own. The load comes from this process: one greenlet per connection on monkey's
//! `TcpStream`, each writing a message, reading it back and checking it, in a loop. Every
//! `--churn` round trips a connection closes — alternately with a FIN and with a RST —
//! and reconnects, so the server keeps accepting, and losing, connections both ways
//! (the first lifetimes are staggered so that reconnects are spread out evenly).
//!
//! Options: `--duration S` (60), `--connections N` (10000), `--sample S` (5),
//! `--warmup S` (a quarter of the duration), `--churn N` (100; 0 never reconnects),
//! `--message BYTES` (64), `--pause-ms MS` (0: each connection echoes back to back),
//! `--server PATH`. The exit status is 1 if the server died, the curve is not flat after
//! warm-up, the fds did not come back, or a round trip returned wrong bytes.

use std::cell::Cell;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use monkey::net::TcpStream;

/// RSS may grow this much (relative) between the first and the last sample after
/// warm-up and still count as flat. (The fds count as flat when the server's fds beyond
/// the client's open connections keep the same floor; see `Verdict::judge`.)
const RSS_SLACK: f64 = 0.05;

/// Connections opened at once while ramping up (the listen backlog is 1024).
const CONNECTS_AT_ONCE: usize = 256;

struct Args {
    duration: Duration,
    connections: usize,
    sample: Duration,
    warmup: Option<Duration>,
    churn: u64,
    message: usize,
    pause: Duration,
    server: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        duration: Duration::from_secs(60),
        connections: 10_000,
        sample: Duration::from_secs(5),
        warmup: None,
        churn: 100,
        message: 64,
        pause: Duration::ZERO,
        server: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let secs = |v: String| {
            v.parse::<f64>()
                .ok()
                .filter(|s| *s > 0.0)
                .map(Duration::from_secs_f64)
                .ok_or(format!("{flag} takes a positive number of seconds"))
        };
        let number = |v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag} takes a number"))
        };
        match flag.as_str() {
            "--duration" => args.duration = secs(value()?)?,
            "--connections" => args.connections = number(value()?)?.max(1) as usize,
            "--sample" => args.sample = secs(value()?)?,
            "--warmup" => args.warmup = Some(secs(value()?)?),
            "--churn" => args.churn = number(value()?)?,
            "--message" => args.message = number(value()?)?.max(1) as usize,
            "--pause-ms" => args.pause = Duration::from_millis(number(value()?)?),
            "--server" => args.server = Some(value()?.into()),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        if !e.is_empty() {
            eprintln!("soak: {e}");
        }
        eprintln!(
            "usage: soak [--duration S] [--connections N] [--sample S] [--warmup S] \
             [--churn N] [--message BYTES] [--pause-ms MS] [--server PATH]"
        );
        std::process::exit(2);
    });
    // Client and server (which inherits the limit) each hold one fd per connection.
    let limit = raise_fd_limit();
    if (limit as usize) < args.connections + 64 {
        eprintln!(
            "soak: the fd limit is {limit}, too low for {} connections",
            args.connections
        );
        std::process::exit(2);
    }
    let server = Server::start(args.server.clone());
    let ok = soak(&args, &server);
    drop(server);
    std::process::exit(if ok { 0 } else { 1 });
}

/// The echo server child; killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(path: Option<PathBuf>) -> Server {
        let path = path.unwrap_or_else(|| {
            let exe = std::env::current_exe().expect("own path");
            exe.parent()
                .expect("a directory")
                .join("examples/echo_server")
        });
        if !path.is_file() {
            eprintln!(
                "soak: no echo server at {}; build it with\n  \
                 cargo build --release -p examples --example echo_server\n\
                 or pass --server PATH",
                path.display()
            );
            std::process::exit(2);
        }
        let mut child = Command::new(&path)
            .args(["--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().expect("piped"))
            .read_line(&mut line)
            .expect("the server's first line");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from the server: {line:?}"));
        Server { child, addr }
    }

    /// False once the server has exited (a zombie until we reap it).
    fn alive(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).is_ok_and(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("State:"))
                .is_some_and(|state| !state.trim_start().starts_with('Z'))
        })
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// Prints what the server's fds point to, and the TCP sockets on its port, to tell
    /// what was kept.
    fn show_fds(&self) {
        if let Ok(dir) = std::fs::read_dir(format!("/proc/{}/fd", self.child.id())) {
            for entry in dir.flatten() {
                let target = std::fs::read_link(entry.path()).unwrap_or_default();
                println!("  fd {:?} -> {}", entry.file_name(), target.display());
            }
        }
        let port = self.addr.port();
        let _ = Command::new("ss")
            .args(["-tan", &format!("( sport = :{port} or dport = :{port} )")])
            .status();
    }

    fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the client greenlets count, shared on the hub's thread.
#[derive(Default)]
struct Counters {
    round_trips: Cell<u64>,
    connected: Cell<usize>,
    reconnects: Cell<u64>,
    errors: Cell<u64>,
    wrong_bytes: Cell<u64>,
    stop: Cell<bool>,
}

struct Sample {
    at: Duration,
    rss_kib: u64,
    fds: usize,
    /// Connections the client holds open at that moment.
    connected: usize,
}

impl Sample {
    /// Server fds that are not one of the client's open connections: the listener, the
    /// loop's own, and connections on their way in or out. A leak makes this grow.
    fn excess_fds(&self) -> isize {
        self.fds as isize - self.connected as isize
    }
}

fn soak(args: &Args, server: &Server) -> bool {
    // One echo first, so the server's hub (epoll, waker) exists before the baseline.
    {
        let probe = TcpStream::connect(server.addr).expect("connect to the echo server");
        (&probe)
            .write_all(b"probe")
            .expect("write to the echo server");
        (&probe)
            .read_exact(&mut [0; 5])
            .expect("the echo server's reply");
    }
    hub::sleep(Duration::from_millis(200)).expect("sleep");
    let baseline_fds = server.open_fds();
    println!(
        "soak: {} connections to echo_server (pid {}) at {} for {:.0} s, \
         churn every {} round trips, {}-byte messages",
        args.connections,
        server.child.id(),
        server.addr,
        args.duration.as_secs_f64(),
        args.churn,
        args.message
    );
    println!(
        "server at start: RSS {:.1} MiB, {baseline_fds} fds",
        server.rss_kib() as f64 / 1024.0
    );
    println!(
        "{:>6}  {:>10}  {:>8}  {:>12}  {:>13}  {:>10}  {:>6}",
        "t (s)", "server MiB", "srv fds", "client conns", "round trips/s", "reconnects", "errors"
    );

    let counters = Rc::new(Counters::default());
    let connecting = hub::Semaphore::new(CONNECTS_AT_ONCE);
    let clients: Vec<_> = (0..args.connections)
        .map(|id| {
            let counters = counters.clone();
            let connecting = connecting.clone();
            let (addr, churn, message, pause) = (server.addr, args.churn, args.message, args.pause);
            hub::spawn(move || client(id, addr, churn, message, pause, &connecting, &counters))
        })
        .collect();

    let start = Instant::now();
    let mut samples = Vec::new();
    let mut last_trips = 0;
    let mut last_at = Duration::ZERO;
    let mut died = false;
    while start.elapsed() < args.duration {
        let left = args.duration.saturating_sub(start.elapsed());
        hub::sleep(args.sample.min(left)).expect("the sampler sleeps");
        let at = start.elapsed();
        let sample = Sample {
            at,
            rss_kib: server.rss_kib(),
            fds: server.open_fds(),
            connected: counters.connected.get(),
        };
        let trips = counters.round_trips.get();
        let rate = (trips - last_trips) as f64 / (at - last_at).as_secs_f64();
        (last_trips, last_at) = (trips, at);
        println!(
            "{:>6.1}  {:>10.1}  {:>8}  {:>12}  {:>13.0}  {:>10}  {:>6}",
            at.as_secs_f64(),
            sample.rss_kib as f64 / 1024.0,
            sample.fds,
            sample.connected,
            rate,
            counters.reconnects.get(),
            counters.errors.get()
        );
        samples.push(sample);
        if !server.alive() {
            println!("the server has exited");
            died = true;
            break;
        }
    }

    let ran = start.elapsed();
    // Stop: each client finishes its round trip and closes.
    counters.stop.set(true);
    let finished = hub::joinall(&clients, Some(Duration::from_secs(30)), None).unwrap_or_default();
    if finished.len() < clients.len() {
        println!(
            "{} clients did not stop in 30 s; killed",
            clients.len() - finished.len()
        );
        let _ = hub::killall(&clients, Some(Duration::from_secs(5)));
    }
    let fds_after = wait_for_fds(server, baseline_fds);

    let warmup = args.warmup.unwrap_or(args.duration / 4);
    let verdict = Verdict::judge(&samples, warmup, args.connections);
    let total = counters.round_trips.get();
    println!(
        "{total} round trips in {:.1} s ({:.0}/s), {} reconnects, {} errors, {} wrong replies",
        ran.as_secs_f64(),
        total as f64 / ran.as_secs_f64(),
        counters.reconnects.get(),
        counters.errors.get(),
        counters.wrong_bytes.get()
    );
    verdict.print(warmup);
    let fds_back = fds_after == baseline_fds;
    println!(
        "after every client closed: server fds {fds_after} (at start {baseline_fds}): {}",
        if fds_back {
            "all released"
        } else {
            "NOT released"
        }
    );
    if !fds_back {
        server.show_fds();
    }
    !died && verdict.flat && fds_back && counters.wrong_bytes.get() == 0
}

/// The server closes a connection when it reads the client's FIN or RST, a moment after
/// the client closed: wait a little for the count to settle.
fn wait_for_fds(server: &Server, baseline: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let fds = server.open_fds();
        if fds <= baseline || Instant::now() > deadline {
            return fds;
        }
        hub::sleep(Duration::from_millis(100)).expect("sleep");
    }
}

/// One connection's life: connect, echo `churn` messages, close, again, until told to
/// stop.
fn client(
    id: usize,
    addr: SocketAddr,
    churn: u64,
    message: usize,
    pause: Duration,
    connecting: &hub::Semaphore,
    counters: &Counters,
) {
    let mut sent = vec![0u8; message];
    let mut received = vec![0u8; message];
    let mut generation = 0u64;
    while !counters.stop.get() {
        let stream = {
            let _slot = connecting.guard(None).expect("a connect slot");
            TcpStream::connect(addr)
        };
        let stream = match stream.and_then(|s| s.set_nodelay(true).map(|()| s)) {
            Ok(s) => s,
            Err(_) => {
                counters.errors.set(counters.errors.get() + 1);
                let _ = hub::sleep(Duration::from_millis(50));
                continue;
            }
        };
        // A server that stops answering is an error, not a hang.
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        counters.connected.set(counters.connected.get() + 1);
        // The first connections live 1, 2, … `churn` round trips, so that reconnects are
        // spread evenly over time instead of all connections churning at once.
        let lifetime = if generation == 0 {
            id as u64 % churn.max(1) + 1
        } else {
            churn
        };
        let mut trips = 0;
        let outcome = loop {
            if counters.stop.get() || (churn > 0 && trips == lifetime) {
                break Ok(());
            }
            fill(&mut sent, id, generation, trips);
            if let Err(e) = (&stream)
                .write_all(&sent)
                .and_then(|()| (&stream).read_exact(&mut received))
            {
                break Err(e);
            }
            if received != sent {
                counters.wrong_bytes.set(counters.wrong_bytes.get() + 1);
            }
            trips += 1;
            counters.round_trips.set(counters.round_trips.get() + 1);
            if !pause.is_zero() {
                let _ = hub::sleep(pause);
            }
        };
        counters.connected.set(counters.connected.get() - 1);
        if outcome.is_err() {
            counters.errors.set(counters.errors.get() + 1);
        }
        if generation % 2 == 1 {
            // Every other close is a reset, the way a crashed client leaves.
            let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
        }
        drop(stream);
        generation += 1;
        if !counters.stop.get() {
            counters.reconnects.set(counters.reconnects.get() + 1);
        }
    }
}

/// A message no other connection or round trip sends.
fn fill(buf: &mut [u8], id: usize, generation: u64, trip: u64) {
    let stamp = (id as u64) << 40 ^ generation << 24 ^ trip;
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (stamp >> ((i % 8) * 8)) as u8 ^ i as u8;
    }
}

/// Whether RSS and fds stayed flat after warm-up.
struct Verdict {
    flat: bool,
    rss_first: u64,
    rss_last: u64,
    rss_max: u64,
    /// Lowest server fds beyond the client's open connections, in the first and the
    /// second half of the samples after warm-up.
    excess_floor: (isize, isize),
    excess_max: isize,
    samples: usize,
}

impl Verdict {
    fn judge(samples: &[Sample], warmup: Duration, connections: usize) -> Verdict {
        let steady: Vec<&Sample> = samples.iter().filter(|s| s.at >= warmup).collect();
        let first = steady.first().map_or(0, |s| s.rss_kib);
        let last = steady.last().map_or(0, |s| s.rss_kib);
        let rss_flat = (last as f64) <= first as f64 * (1.0 + RSS_SLACK);
        // Connections on their way in or out add spikes to the excess; a leak raises
        // its floor, sample after sample.
        let (early, late) = steady.split_at(steady.len() / 2);
        let floor = |part: &[&Sample]| part.iter().map(|s| s.excess_fds()).min().unwrap_or(0);
        let excess_floor = (floor(early), floor(late));
        let fds_flat = excess_floor.1 - excess_floor.0 <= (connections / 100 + 16) as isize;
        Verdict {
            flat: steady.len() >= 2 && rss_flat && fds_flat,
            rss_first: first,
            rss_last: last,
            rss_max: steady.iter().map(|s| s.rss_kib).max().unwrap_or(0),
            excess_floor,
            excess_max: steady.iter().map(|s| s.excess_fds()).max().unwrap_or(0),
            samples: steady.len(),
        }
    }

    fn print(&self, warmup: Duration) {
        let mib = |k: u64| k as f64 / 1024.0;
        if self.samples < 2 {
            println!(
                "fewer than 2 samples after the {:.0} s warm-up: no verdict",
                warmup.as_secs_f64()
            );
            return;
        }
        let growth = (self.rss_last as f64 / self.rss_first.max(1) as f64 - 1.0) * 100.0;
        println!(
            "after the {:.0} s warm-up ({} samples): server RSS {:.1} -> {:.1} MiB \
             ({growth:+.1}%, max {:.1}); server fds beyond the client's open connections: \
             floor {} in the first half, {} in the second (max {}): {}",
            warmup.as_secs_f64(),
            self.samples,
            mib(self.rss_first),
            mib(self.rss_last),
            mib(self.rss_max),
            self.excess_floor.0,
            self.excess_floor.1,
            self.excess_max,
            if self.flat { "flat" } else { "NOT flat" }
        );
    }
}

/// Raises the soft limit on open files to the hard limit; returns the new soft limit.
fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid out-pointer for getrlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: `raised` is a valid rlimit; raising the soft limit up to the hard one
        // needs no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return raised.rlim_cur;
        }
    }
    lim.rlim_cur
}
