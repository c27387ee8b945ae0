//! The network benchmark: TCP echo and HTTP hello world, gevent-rs's example servers
//! against tokio current-thread (and std thread-per-connection for echo), each server
//! a process of its own on 127.0.0.1 driven by the same load client, plus the RSS a
//! server spends per idle connection. Prints markdown tables.
//!
//! With `--server-threads N` (N > 1) the example servers run N hubs (`--threads N`)
//! and the tokio peers a `multi_thread` runtime of N workers; the std servers, which
//! have no such option, are left out. `--server-cpus LIST` starts every server under
//! `taskset -c LIST`; run `net` itself under `taskset` on other CPUs to keep the
//! clients (the echo load's threads and wrk, its children) off them.
//!
//! Run it through `bench/scripts/net.sh`, which builds the servers (release) and
//! installs wrk. The server binaries are looked up next to this one.
//!
//! ```text
//! net [--secs S] [--rounds R] [--conns 100,1000] [--idle 1000,10000]
//!     [--client-threads T] [--server-threads N] [--server-cpus LIST]
//!     [--only echo,http,rss]
//! ```
//!
//! `--client-threads T` is both the echo load's threads and wrk's `-t`.
//!
//! Every (load, server) pair is measured `R` times, the servers taking turns in a
//! rotating order, and the median window (by rate) is reported.
//!
//! `net echo-client --addr HOST:PORT [--conns N] [--secs S] [--client-threads T]`
//! only runs the echo load against a server started by hand (to profile it) and
//! prints the round trips per second.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use bench::net::idle::Exchange;
use bench::net::server::Server;
use bench::net::{Window, echo_window, http_window, idle_rss};

struct Options {
    secs: f64,
    rounds: usize,
    conns: Vec<usize>,
    idle: Vec<usize>,
    client_threads: usize,
    server_threads: usize,
    server_cpus: Option<String>,
    only: Vec<String>,
}

/// A server program: the label in the tables, where its binary is, and whether it
/// takes `--threads N`.
struct Program {
    label: String,
    path: PathBuf,
    threaded: bool,
}

const WARMUP: Duration = Duration::from_millis(500);

fn main() -> io::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("echo-client") {
        return echo_client();
    }
    let opts = parse_options();
    let dir = std::env::current_exe()?
        .parent()
        .expect("a binary lives in a directory")
        .to_path_buf();
    let n = opts.server_threads;
    let program = |label: &str, rel: &str, threaded| Program {
        label: label.to_string(),
        path: dir.join(rel),
        threaded,
    };
    let (ours, tokio) = if n > 1 {
        (format!(", {n} hubs"), format!("multi_thread, {n} workers"))
    } else {
        (String::new(), "current_thread".to_string())
    };
    let mut echo = vec![
        program(
            &format!("gevent-rs echo_server{ours}"),
            "examples/echo_server",
            true,
        ),
        program(&format!("tokio echo, {tokio}"), "net_tokio_echo", true),
    ];
    if n == 1 {
        echo.push(program("std echo, thread per conn", "net_std_echo", false));
        echo.push(program(
            "std echo under monkey_patch::patch_all",
            "net_patched_echo",
            false,
        ));
    }
    let http = [
        program(
            &format!("gevent-rs http_server{ours}"),
            "examples/http_server",
            true,
        ),
        program(&format!("tokio http, {tokio}"), "net_tokio_http", true),
    ];
    let wants = |part: &str| opts.only.is_empty() || opts.only.iter().any(|o| o == part);
    println!(
        "{} s windows, median of {} rounds; echo client: {} threads, 64-byte messages, \
         one in flight per connection; wrk -t{}; server threads: {n}; server CPUs: {}",
        opts.secs,
        opts.rounds,
        opts.client_threads,
        opts.client_threads,
        opts.server_cpus.as_deref().unwrap_or("any"),
    );
    if wants("echo") {
        let servers = start_all(&echo, &opts)?;
        println!("\n### TCP echo\n");
        print_header("round trips");
        let mut tokio_rows = Vec::new();
        for &conns in &opts.conns {
            let windows = measure(&servers, &opts, |s| {
                echo_window(s, conns, opts.client_threads, WARMUP, secs(opts.secs))
            })?;
            print_rows(&echo, conns, &windows);
            tokio_rows.push((conns, windows[1]));
        }
        print_ceilings(&tokio_rows);
    }
    if wants("http") {
        let servers = start_all(&http, &opts)?;
        println!("\n### HTTP hello world (wrk)\n");
        print_header("requests");
        let mut tokio_rows = Vec::new();
        for &conns in &opts.conns {
            // One unmeasured short run per server first: wrk's connection setup and
            // the servers' first allocations for this many connections.
            for s in &servers {
                http_window(s, conns, opts.client_threads, Duration::from_secs(1))?;
            }
            let windows = measure(&servers, &opts, |s| {
                http_window(s, conns, opts.client_threads, secs(opts.secs))
            })?;
            print_rows(&http, conns, &windows);
            tokio_rows.push((conns, windows[1]));
        }
        print_ceilings(&tokio_rows);
    }
    if wants("rss") {
        println!("\n### Server RSS per idle connection (fresh server each time)\n");
        println!("| server | idle connections | RSS before | RSS after | per connection |");
        println!("|---|---|---|---|---|");
        let kinds = echo
            .iter()
            .map(|p| (p, Exchange::Echo))
            .chain(http.iter().map(|p| (p, Exchange::Http)));
        for (p, exchange) in kinds {
            for &n in &opts.idle {
                let server = start(p, &opts)?;
                match idle_rss(&server, n, exchange) {
                    Ok((before, after)) => println!(
                        "| {} | {n} | {:.1} MiB | {:.1} MiB | {:.2} KiB |",
                        p.label,
                        before as f64 / MIB,
                        after as f64 / MIB,
                        (after as f64 - before as f64) / n as f64 / 1024.0
                    ),
                    Err(e) => println!("| {} | {n} | failed: {e} | | |", p.label),
                }
            }
        }
    }
    Ok(())
}

const MIB: f64 = 1024.0 * 1024.0;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Every program started, with `--threads N` for those that take it when N > 1, under
/// `taskset -c` when `--server-cpus` was given.
fn start_all(programs: &[Program], opts: &Options) -> io::Result<Vec<Server>> {
    programs.iter().map(|p| start(p, opts)).collect()
}

fn start(program: &Program, opts: &Options) -> io::Result<Server> {
    let args = if program.threaded && opts.server_threads > 1 {
        vec!["--threads".to_string(), opts.server_threads.to_string()]
    } else {
        Vec::new()
    };
    Server::start_with(&program.path, &args, opts.server_cpus.as_deref())
}

/// `opts.rounds` windows per server, taking turns (the order rotates every round);
/// the median window of each server by rate.
fn measure(
    servers: &[Server],
    opts: &Options,
    mut window: impl FnMut(&Server) -> io::Result<Window>,
) -> io::Result<Vec<Window>> {
    let mut all: Vec<Vec<Window>> = vec![Vec::new(); servers.len()];
    for round in 0..opts.rounds {
        for k in 0..servers.len() {
            let i = (k + round) % servers.len();
            all[i].push(window(&servers[i])?);
        }
    }
    Ok(all
        .into_iter()
        .map(|mut w| {
            w.sort_by(|a, b| a.per_second().total_cmp(&b.per_second()));
            w[w.len() / 2]
        })
        .collect())
}

fn print_header(ops: &str) {
    println!(
        "| conns | server | {ops}/s | {ops} per server CPU-s | server cores | server CPU in \
         user space | client cores | errors | vs tokio ({ops}/s) | vs tokio (per CPU-s) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
}

/// Rows of one load level; the ratios are against the tokio row (the second).
fn print_rows(programs: &[Program], conns: usize, windows: &[Window]) {
    let tokio = windows[1];
    for (p, w) in programs.iter().zip(windows) {
        println!(
            "| {conns} | {} | {:.0} | {:.0} | {:.2} | {:.0}% | {:.2} | {} | {:.2}x | {:.2}x |",
            p.label,
            w.per_second(),
            w.per_server_cpu_second(),
            w.server_cores(),
            w.server_user_share() * 100.0,
            w.client_cores(),
            w.errors,
            w.per_second() / tokio.per_second(),
            w.per_server_cpu_second() / tokio.per_server_cpu_second(),
        );
    }
}

/// What the tokio rows imply for any server making the same system calls: with no
/// user-space work at all it would spend only tokio's kernel time per operation,
/// so it could not beat tokio per CPU-second by more than 1 / (tokio's kernel share),
/// unless the kernel itself did less for it.
fn print_ceilings(tokio_rows: &[(usize, Window)]) {
    println!();
    for (conns, w) in tokio_rows {
        println!(
            "- {conns} connections: tokio spent {:.0}% of its CPU in the kernel; a server \
             with the same system calls and no user-space cost would reach at most \
             {:.2}x tokio per CPU-s.",
            (1.0 - w.server_user_share()) * 100.0,
            1.0 / (1.0 - w.server_user_share())
        );
    }
}

/// `net echo-client`: the echo load alone, against `--addr`.
fn echo_client() -> io::Result<()> {
    let (mut addr, mut conns, mut secs, mut threads) = (None, 100, 5.0, 2);
    let mut args = std::env::args().skip(2);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            print!("{USAGE}");
            std::process::exit(0);
        }
        let value = args
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        let number = || {
            value
                .parse::<f64>()
                .unwrap_or_else(|_| usage(&format!("bad {flag}")))
        };
        match flag.as_str() {
            "--addr" => {
                addr = Some(value.parse().unwrap_or_else(|_| usage("bad --addr")));
            }
            "--conns" => conns = number() as usize,
            "--secs" => secs = number(),
            "--client-threads" => threads = number() as usize,
            _ => usage(&format!("unknown argument {flag:?}")),
        }
    }
    let addr = addr.unwrap_or_else(|| usage("echo-client needs --addr"));
    let load = bench::net::echo_load::EchoLoad::start(addr, conns, threads)?;
    std::thread::sleep(WARMUP);
    let (start, t0) = (load.round_trips(), std::time::Instant::now());
    std::thread::sleep(Duration::from_secs_f64(secs));
    let done = load.round_trips() - start;
    println!(
        "{:.0} round trips/s",
        done as f64 / t0.elapsed().as_secs_f64()
    );
    load.stop()
}

fn parse_options() -> Options {
    let mut opts = Options {
        secs: 2.0,
        rounds: 3,
        conns: vec![100, 1000],
        idle: vec![1000, 10000],
        client_threads: 2,
        server_threads: 1,
        server_cpus: None,
        only: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            print!("{USAGE}");
            std::process::exit(0);
        }
        let value = args
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        let list = |v: &str| -> Vec<usize> {
            v.split(',')
                .map(|n| {
                    n.parse()
                        .unwrap_or_else(|_| usage(&format!("bad number {n:?}")))
                })
                .collect()
        };
        match flag.as_str() {
            "--secs" => opts.secs = value.parse().unwrap_or_else(|_| usage("bad --secs")),
            "--rounds" => opts.rounds = list(&value)[0].max(1),
            "--conns" => opts.conns = list(&value),
            "--idle" => opts.idle = list(&value),
            "--client-threads" => opts.client_threads = list(&value)[0].max(1),
            "--server-threads" => opts.server_threads = list(&value)[0].max(1),
            "--server-cpus" => opts.server_cpus = Some(value),
            "--only" => opts.only = value.split(',').map(String::from).collect(),
            _ => usage(&format!("unknown argument {flag:?}")),
        }
    }
    opts
}

const USAGE: &str = "usage: net [--secs S] [--rounds R] [--conns 100,1000] [--idle 1000,10000] \
     [--client-threads T] [--server-threads N] [--server-cpus LIST] [--only echo,http,rss]\n       \
     net echo-client --addr HOST:PORT [--conns N] [--secs S] [--client-threads T]\n";

fn usage(problem: &str) -> ! {
    eprint!("{problem}\n{USAGE}");
    std::process::exit(2)
}
