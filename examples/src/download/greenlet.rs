//! The downloader on one thread: one greenlet per URL on the thread's hub, over monkey's
//! sockets, and the embedded server on the same hub.
//!
//! The core ([`Client`], [`download_to`], [`Site`]) is plain blocking code; this module only
//! chooses how it is scheduled:
//!
//! - [`MonkeyConnector`] makes the client's connections `monkey::net::TcpStream`s, so every
//!   read, write, connect and DNS lookup parks the calling greenlet instead of the thread;
//!   [`on_hub`] gives the client `monkey::thread::sleep` for its retry backoff.
//! - [`run_downloads`] spawns one greenlet per URL on a [`hub::Pool`] of `concurrency`
//!   places (gevent's `Pool`: spawning waits for a free place), and reports each to an
//!   [`Observer`] as it starts, progresses and ends. One failure never stops the others;
//!   each URL gets its own result. A download also waits for a place of its host
//!   ([`super::hosts`]), and with `Options::segments` above 1 fetches its file in ranges
//!   ([`super::segmented`]). [`run_downloads_until`] stops early on a [`Stop`].
//! - [`run_cli`] watches SIGINT/SIGTERM ([`super::signals`]) and turns them into a
//!   [`Stop`]: nothing new starts, running downloads are killed, the summary is printed,
//!   and the exit status is 130/143.
//! - [`HubServer`] serves a [`Site`] on a `monkey::server::StreamServer`, one greenlet per
//!   connection, optionally over TLS (`monkey::tls`).
//! - [`run_cli`] is the `download` binary; [`run_embedded`] its default with no URLs: it
//!   serves generated files from this very hub, downloads them all concurrently, then times
//!   the same downloads one at a time for comparison.
//! - [`Twin`] is the tutorials' downloaders (`image_downloader`, `video_downloader`,
//!   `aiohttp_downloader`) as configurations of the same machinery.
//!
//! Everything here runs on the calling thread; nothing is `Send`, nothing needs to be.
//! Greenlets get the default stack (256 KiB): a full rustls handshake with ring fits in
//! 64 KiB even unoptimized (checked by running the TLS tests with 64 KiB stacks).
//!
//! ```no_run
//! use std::rc::Rc;
//! use examples::download::greenlet::{Job, MonkeyConnector, on_hub, run_downloads};
//! use examples::download::report::Report;
//! use examples::download::{Client, Options, OutputDir};
//!
//! let client = Rc::new(Client::new(MonkeyConnector, on_hub(Options::default())));
//! let dir = Rc::new(OutputDir::new("downloads")?);
//! let jobs = ["https://example.com/a.jpg", "https://example.org/b.mp4"].map(Job::new);
//! let run = run_downloads(&client, &dir, &jobs, 8, Rc::new(Report::new()));
//! println!("{}", run.summary);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hub::{JoinHandle, Pool};
use monkey::net::{TcpStream, ToSocketAddrs};
use monkey::server::StreamServer;
use monkey::tls::TlsAcceptor;
use monkey::tls::rustls::ServerConfig;

use super::args::{self, Args, Command};
use super::auth;
use super::hosts::{HostSlots, with_place};
use super::report::{Observer, Report};
use super::segmented::download_segmented;
use super::server::{Ending, Route, Site, end_tls, reset_on_drop};
use super::signals;
use super::stop::Stop;
use super::{
    Client, Connector, DownloadError, Options, OutputDir, Progress, Saved, Summary, download_named,
    file_name_for, human_bytes, parse_url,
};

/// How long [`HubServer`] keeps an idle kept-alive connection, and waits on a stuck write.
pub const SERVER_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections over monkey's `TcpStream`: connecting, reading and writing park the calling
/// greenlet, and host names are resolved on the hub's thread pool.
#[derive(Debug, Clone, Copy, Default)]
pub struct MonkeyConnector;

impl Connector for MonkeyConnector {
    type Stream = TcpStream;

    /// Resolves `host` (bounded by `timeout`), then tries each address in turn, each with
    /// the full `timeout`, as [`super::StdConnector`] does.
    fn connect(&self, host: &str, port: u16, timeout: Duration) -> io::Result<TcpStream> {
        let addrs: Vec<SocketAddr> = match hub::with_timeout(timeout, || {
            (host, port).to_socket_addrs().map(Iterator::collect)
        }) {
            Ok(resolved) => resolved?,
            // Outside a greenlet a hub Timeout cannot interrupt; resolve unbounded.
            Err(hub::Error::BlockingInHub) => (host, port).to_socket_addrs()?.collect(),
            Err(e) => return Err(io::Error::from(e)),
        };
        let mut last_error = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(stream) => {
                    // Requests go out in one write; never let Nagle hold one back.
                    stream.set_nodelay(true)?;
                    return Ok(stream);
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("no address for {host}"))
        }))
    }

    /// monkey runs the read timeout on the hub's timers; it expires with `WouldBlock`,
    /// which the client reports as a stalled server.
    fn set_read_timeout(&self, stream: &TcpStream, timeout: Option<Duration>) -> io::Result<()> {
        stream.set_read_timeout(timeout)
    }
}

/// `opts` with `monkey::thread::sleep` as the retry backoff's sleep, so a greenlet waiting
/// to retry lets the others run.
pub fn on_hub(opts: Options) -> Options {
    Options {
        sleep: monkey::thread::sleep,
        ..opts
    }
}

/// A client for greenlets of this thread's hub.
pub fn hub_client(opts: Options) -> Rc<Client<MonkeyConnector>> {
    Rc::new(Client::new(MonkeyConnector, on_hub(opts)))
}

/// One URL to download, and optionally the name to save it under (sanitized and made
/// unique like any other); without one the name comes from the URL ([`file_name_for`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub url: String,
    pub name: Option<String>,
}

impl Job {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            name: None,
        }
    }

    pub fn named(url: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            name: Some(name.into()),
        }
    }
}

/// How one URL ended.
#[derive(Debug)]
pub struct Outcome {
    /// The URL as given, its password hidden ([`auth::redact`]).
    pub url: String,
    pub result: Result<Saved, DownloadError>,
}

/// What [`run_downloads`] did: one outcome per job, in the order of the jobs.
#[derive(Debug)]
pub struct Run {
    pub outcomes: Vec<Outcome>,
    pub summary: Summary,
}

impl Run {
    /// Whether every URL was saved.
    pub fn all_ok(&self) -> bool {
        self.summary.failures == 0 && self.summary.interrupted == 0
    }
}

/// Downloads every job into `dir`, one greenlet per URL, at most `concurrency` at once,
/// all on this thread's hub. Returns when all have ended; a failing URL is recorded in its
/// [`Outcome`] and never stops the others.
///
/// Call it from a thread's root code or from a greenlet; the hub runs meanwhile (so a
/// [`HubServer`] on the same thread keeps serving).
pub fn run_downloads<C: Connector + 'static>(
    client: &Rc<Client<C>>,
    dir: &Rc<OutputDir>,
    jobs: &[Job],
    concurrency: usize,
    observer: Rc<dyn Observer>,
) -> Run {
    run_downloads_until(client, dir, jobs, concurrency, observer, &Stop::new())
}

/// [`run_downloads`] that ends early when `stop` is triggered: no download starts after
/// it, the running ones are killed (their partial files removed, or kept with
/// [`OutputDir::resume`]), and each URL not finished is
/// [`DownloadError::Interrupted`].
pub fn run_downloads_until<C: Connector + 'static>(
    client: &Rc<Client<C>>,
    dir: &Rc<OutputDir>,
    jobs: &[Job],
    concurrency: usize,
    observer: Rc<dyn Observer>,
    stop: &Stop,
) -> Run {
    let start = Instant::now();
    let pool = Rc::new(Pool::new(concurrency.max(1)));
    {
        let pool = Rc::downgrade(&pool);
        stop.on_stop(move || {
            if let Some(pool) = pool.upgrade() {
                // Each greenlet unwinds, dropping its partial file on the way.
                let _ = pool.kill(Some(Duration::from_secs(5)));
            }
        });
    }
    let hosts = HostSlots::new(client.options().max_conns_per_host);
    let mut running: Vec<(usize, JoinHandle<Result<Saved, DownloadError>>)> = Vec::new();
    let mut results: Vec<Option<Result<Saved, DownloadError>>> =
        jobs.iter().map(|_| None).collect();
    // What observers and outcomes see: passwords never leave this function.
    let shown: Vec<String> = jobs.iter().map(|job| auth::redact(&job.url)).collect();

    for (index, job) in jobs.iter().enumerate() {
        if stop.signal().is_some() {
            break;
        }
        let url = match parse_url(&job.url) {
            Ok(url) => url,
            Err(e) => {
                // Nothing to wait for: report it without taking a place in the pool.
                observer.started(index, &shown[index]);
                let result = Err(e);
                observer.finished(index, &shown[index], &result);
                results[index] = Some(result);
                continue;
            }
        };
        let name = job.name.clone().unwrap_or_else(|| file_name_for(&url));
        let (client, dir, observer_in) = (client.clone(), dir.clone(), observer.clone());
        let raw = shown[index].clone();
        let host = hosts.of(&url);
        let stop_in = stop.clone();
        // Parks this (the spawning) greenlet while the pool is full, like gevent's
        // `pool.spawn`: at most `concurrency` download greenlets exist at once.
        let spawned = pool.spawn(move || {
            let result = with_place(&host, || {
                // Stopped while this one waited for a place: it never starts.
                if let Some(signal) = stop_in.signal() {
                    return Err(DownloadError::Interrupted(signal));
                }
                observer_in.started(index, &raw);
                let segments = client.options().segments;
                if segments > 1 {
                    let observer = observer_in.clone();
                    let progress = Rc::new(move |p: Progress| observer.progress(index, p));
                    download_segmented(&client, &dir, &url, &name, segments, &host, progress)
                } else {
                    download_named(&client, &dir, &url, &name, &mut |p: Progress| {
                        observer_in.progress(index, p)
                    })
                }
            });
            if !matches!(result, Err(DownloadError::Interrupted(_))) {
                observer_in.finished(index, &raw, &result);
            }
            result
        });
        match spawned {
            Ok(handle) => running.push((index, handle)),
            // Only if this thread's hub cannot run at all; the URL fails, the rest go on.
            Err(e) => results[index] = Some(Err(DownloadError::Aborted(e.to_string()))),
        }
    }

    for (index, handle) in running {
        let result = match handle.join() {
            Ok(result) => result,
            Err(e) => {
                // Panicked or killed: its own `finished` never ran.
                let result = Err(match stop.signal() {
                    Some(signal) => DownloadError::Interrupted(signal),
                    None => DownloadError::Aborted(e.to_string()),
                });
                observer.finished(index, &shown[index], &result);
                result
            }
        };
        results[index] = Some(result);
    }
    stop.clear();

    let mut summary = Summary::default();
    let outcomes = shown
        .into_iter()
        .zip(results)
        .map(|(url, result)| {
            let result = result.unwrap_or_else(|| {
                Err(match stop.signal() {
                    Some(signal) => DownloadError::Interrupted(signal),
                    None => DownloadError::Aborted("never ran".into()),
                })
            });
            summary.record(&result);
            Outcome { url, result }
        })
        .collect();
    summary.elapsed = start.elapsed();
    Run { outcomes, summary }
}

/// Downloads each URL in turn, bodies discarded: the baseline the embedded default compares
/// its concurrent run with. Returns the wall time and the bytes of each URL.
pub fn one_at_a_time<C: Connector>(
    client: &Client<C>,
    urls: &[String],
) -> (Duration, Vec<Result<u64, DownloadError>>) {
    let start = Instant::now();
    let results = urls
        .iter()
        .map(|u| {
            let url = parse_url(u)?;
            Ok(client.get(&url, &mut io::sink(), &mut |_| {})?.bytes)
        })
        .collect();
    (start.elapsed(), results)
}

/// A [`Site`] served on `127.0.0.1` by greenlets of this thread's hub: a
/// [`StreamServer`] running [`Site::serve`] in one greenlet per connection, optionally over
/// TLS. The site must wait with `monkey::thread::sleep` so a delayed or stalled response
/// only parks its own greenlet.
///
/// It serves while the hub runs, that is while this thread's code waits on the hub (joins a
/// greenlet, sleeps, does monkey I/O). Dropping it closes the port and kills every
/// connection greenlet.
pub struct HubServer {
    tls: bool,
    site: Arc<Site>,
    server: StreamServer,
}

impl HubServer {
    /// Serves `site` over plain HTTP on an ephemeral port.
    pub fn start(site: Arc<Site>) -> io::Result<Self> {
        Self::spawn(site, None)
    }

    /// Serves `site` over HTTPS with `config`.
    pub fn start_tls(site: Arc<Site>, config: Arc<ServerConfig>) -> io::Result<Self> {
        Self::spawn(site, Some(config))
    }

    fn spawn(site: Arc<Site>, tls: Option<Arc<ServerConfig>>) -> io::Result<Self> {
        let is_tls = tls.is_some();
        let tls = tls.map(TlsAcceptor::from_config);
        let server = {
            let site = site.clone();
            StreamServer::bind((Ipv4Addr::LOCALHOST, 0), move |stream, _peer| {
                serve_connection(&site, stream, tls.as_ref());
                // How a connection ended is the site's business, never a report.
                Ok(())
            })?
        };
        server.start()?;
        Ok(Self {
            tls: is_tls,
            site,
            server,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// `http://127.0.0.1:PORT{path}` (or `https://`).
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr())
    }

    pub fn site(&self) -> &Site {
        &self.site
    }

    /// Connection greenlets still running.
    pub fn open_connections(&self) -> usize {
        self.server.connections()
    }
}

impl Drop for HubServer {
    fn drop(&mut self) {
        // No grace: the connections are killed at once, as a test or a finished demo
        // wants.
        self.server.stop(Some(Duration::ZERO));
    }
}

fn serve_connection(site: &Site, mut stream: TcpStream, tls: Option<&TlsAcceptor>) {
    // Option failures only cost latency or idle time; serve anyway.
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(SERVER_IDLE_TIMEOUT));
    let _ = stream.set_write_timeout(Some(SERVER_IDLE_TIMEOUT));
    match tls {
        None => {
            if let Ok(Ending::Reset) = site.serve(&mut stream) {
                let _ = reset_on_drop(&stream);
            }
        }
        // A failed handshake only costs that client its connection.
        Some(acceptor) => {
            if let Ok(mut tls) = acceptor.accept(stream) {
                end_tls(site.serve(&mut tls), &mut tls);
            }
        }
    }
}

/// The paths and sizes of a site's plain files, sorted by path.
pub fn site_files(site: &Site) -> Vec<(String, u64)> {
    let mut files: Vec<(String, u64)> = site
        .routes()
        .filter_map(|(path, route)| match route {
            Route::File { len } => Some((path.to_owned(), *len)),
            _ => None,
        })
        .collect();
    files.sort();
    files
}

/// The `download` binary: parses `argv` (without the program name), runs, and says how it
/// went: 0 all saved, 1 some URL failed, 2 a bad command line or setup.
pub fn run_cli(argv: impl IntoIterator<Item = String>) -> ExitCode {
    let args = match args::parse_args(argv) {
        Ok(Command::Run(args)) => args,
        Ok(Command::Help) => {
            println!("{}", args::usage());
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("{}", args::version());
            return ExitCode::SUCCESS;
        }
        Ok(Command::Completions(shell)) => {
            let _ = io::stdout().write_all(&args::completions(shell));
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let setup = |what: &str, e: &dyn std::fmt::Display| {
        eprintln!("download: {what}: {e}");
        ExitCode::from(2)
    };
    let opts = match args.client_options() {
        Ok(opts) => opts,
        Err(e) => return setup("setup (--ca, proxies)", &e),
    };
    let urls = match args.all_urls() {
        Ok(urls) => urls,
        Err(e) => return setup("cannot read the URL list", &e),
    };
    let report = Rc::new(Report::new());
    let stop = Stop::new();
    let _signals = watch_signals(&stop, &report);
    let run = if urls.is_empty() && args.input.is_none() {
        let site = Site::demo(monkey::thread::sleep);
        match run_embedded(&args, opts, site, report.clone(), &stop) {
            Ok(run) => run,
            Err(e) => return setup("embedded demo", &e),
        }
    } else {
        let dir = match OutputDir::new(&args.out_dir) {
            Ok(dir) => Rc::new(dir.overwrite(args.overwrite).resume(args.resume)),
            Err(e) => return setup("output directory", &e),
        };
        report_stale(&dir, &report);
        let jobs: Vec<Job> = urls.into_iter().map(Job::new).collect();
        let run = run_downloads_until(
            &hub_client(opts),
            &dir,
            &jobs,
            args.concurrency,
            report.clone(),
            &stop,
        );
        report.partials(&dir.partials());
        report.summary(&run.summary);
        run
    };
    match stop.signal() {
        Some(signal) => ExitCode::from(signal.exit_code()),
        None if run.all_ok() => ExitCode::SUCCESS,
        None => ExitCode::FAILURE,
    }
}

/// Stops the run on SIGINT/SIGTERM, saying so; without signal support the run goes on
/// (a warning, not a failure).
fn watch_signals(stop: &Stop, report: &Rc<Report>) -> Option<signals::SignalWatch> {
    let (stop, said) = (stop.clone(), report.clone());
    let watched = signals::on_signals(move |signal| {
        if stop.signal().is_none() {
            said.error_line(&format!(
                "{signal}: stopping; the same signal again exits at once"
            ));
        }
        stop.trigger(signal);
    });
    match watched {
        Ok(watch) => Some(watch),
        Err(e) => {
            report.error_line(&format!("download: cannot watch signals: {e}"));
            None
        }
    }
}

/// Removes (or, with `--continue`, adopts) the partial files of dead runs, and says so.
fn report_stale(dir: &OutputDir, report: &Report) {
    match dir.clean_stale() {
        Ok(stale) if stale.is_empty() => {}
        Ok(stale) => report.line(&format!(
            "{} {} partial file{} left by runs no longer alive",
            if dir.resumes() {
                "kept for --continue"
            } else {
                "removed"
            },
            stale.len(),
            if stale.len() == 1 { "" } else { "s" },
        )),
        Err(e) => report.error_line(&format!(
            "download: cannot clean up stale partial files in {}: {e}",
            dir.path().display()
        )),
    }
}

/// The embedded default: serves `site`'s files from this thread's hub, downloads them all
/// concurrently into [`Args::demo_out_dir`], prints the per-file lines and the summary, then
/// downloads them again one at a time (bodies discarded) and prints both times.
pub fn run_embedded(
    args: &Args,
    opts: Options,
    site: Site,
    report: Rc<Report>,
    stop: &Stop,
) -> io::Result<Run> {
    let server = HubServer::start(Arc::new(site))?;
    let files = site_files(server.site());
    let urls: Vec<String> = files.iter().map(|(path, _)| server.url(path)).collect();
    let total: u64 = files.iter().map(|(_, len)| len).sum();
    // The demo's own temp dir is refilled on every run; a directory given with -o is the
    // user's, where nothing is replaced unless asked.
    let dir = Rc::new(
        OutputDir::new(args.demo_out_dir("download"))?
            .overwrite(args.overwrite || !args.out_dir_given)
            .resume(args.resume),
    );
    report_stale(&dir, &report);
    report.line(&format!(
        "embedded server on this thread's hub at http://{}/: {} files, {}, each response \
         delayed {} ms",
        server.addr(),
        files.len(),
        human_bytes(total as f64),
        server.site().response_delay().as_millis(),
    ));
    report.line(&format!(
        "downloading all at once (at most {}) into {}",
        args.concurrency,
        dir.path().display()
    ));

    let client = hub_client(opts.clone());
    let jobs: Vec<Job> = urls.iter().map(Job::new).collect();
    let run = run_downloads_until(&client, &dir, &jobs, args.concurrency, report.clone(), stop);
    report.partials(&dir.partials());
    report.summary(&run.summary);
    if stop.signal().is_some() {
        return Ok(run);
    }

    report.line(&format!(
        "now one at a time, for comparison ({} requests in a row)…",
        urls.len()
    ));
    // In a greenlet of its own, so a signal can cut the comparison short too.
    let comparison = Rc::new({
        let urls = urls.clone();
        hub::spawn(move || one_at_a_time(&Client::new(MonkeyConnector, on_hub(opts)), &urls))
    });
    let killer = Rc::downgrade(&comparison);
    stop.on_stop(move || {
        if let Some(comparison) = killer.upgrade() {
            comparison.kill_nowait();
        }
    });
    let joined = comparison.join();
    stop.clear();
    let Ok((sequential, results)) = joined else {
        report.line("comparison interrupted");
        return Ok(run);
    };
    let failed = results.iter().filter(|r| r.is_err()).count();
    let concurrent = run.summary.elapsed;
    let caveat = if failed > 0 {
        format!(", {failed} of them failed")
    } else {
        String::new()
    };
    report.line(&format!(
        "total time: {:.2} s concurrently vs {:.2} s one at a time (measured: the same {} \
         files from the same server, one after another{caveat}); {:.1}x faster",
        concurrent.as_secs_f64(),
        sequential.as_secs_f64(),
        urls.len(),
        sequential.as_secs_f64() / concurrent.as_secs_f64().max(1e-9),
    ));
    Ok(run)
}

/// One of the tutorials' downloaders (`image_downloader`, `video_downloader`,
/// `aiohttp_downloader`): a fixed way to name files and announce requests, over the same
/// machinery as `download`. Given no URL it serves its demo files from an embedded server
/// on the same hub, delayed like a distant server, and downloads those.
pub struct Twin {
    /// The program's name; the demo saves into `gevent-rs-{name}` under the temp dir.
    pub name: &'static str,
    /// The embedded server's files, `(path, bytes)`, in the order they are downloaded.
    pub demo_files: &'static [(&'static str, u64)],
    /// The delay before each of the embedded server's responses.
    pub demo_delay: Duration,
    /// The file name of the `index`th URL; `None` names it from the URL.
    pub file_name: fn(usize, &str) -> Option<String>,
    /// A line printed as each request starts, like the tutorials' `print('GET: %s' % url)`.
    pub announce: Option<fn(&str) -> String>,
}

/// A [`Report`] that also prints a twin's announcement as each download starts.
struct Announcing {
    report: Rc<Report>,
    announce: Option<fn(&str) -> String>,
}

impl Observer for Announcing {
    fn started(&self, index: usize, url: &str) {
        if let Some(announce) = self.announce {
            self.report.line(&announce(url));
        }
        self.report.started(index, url);
    }

    fn progress(&self, index: usize, progress: Progress) {
        self.report.progress(index, progress);
    }

    fn finished(&self, index: usize, url: &str, result: &Result<Saved, DownloadError>) {
        self.report.finished(index, url, result);
    }
}

impl Twin {
    /// Runs the twin with the process's arguments (the `download` options apply; with no
    /// URL the demo runs). Exit status as for `download`.
    pub fn main(&self) -> ExitCode {
        let args = match args::parse_args(std::env::args().skip(1)) {
            Ok(Command::Run(args)) => args,
            Ok(Command::Help) => {
                println!(
                    "{} [URL...] [download's options]\n\n{}",
                    self.name,
                    args::usage()
                );
                return ExitCode::SUCCESS;
            }
            Ok(Command::Version) => {
                println!("{} {}", self.name, env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            Ok(Command::Completions(shell)) => {
                let mut cli = args::cli().name(self.name);
                clap_complete::generate(shell, &mut cli, self.name, &mut io::stdout());
                return ExitCode::SUCCESS;
            }
            Err(msg) => {
                eprintln!("{}: {msg}", self.name);
                return ExitCode::from(2);
            }
        };
        match self.run(&args) {
            Ok(run) if run.all_ok() => ExitCode::SUCCESS,
            Ok(_) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("{}: {e}", self.name);
                ExitCode::from(2)
            }
        }
    }

    /// Runs the twin: the demo when `args` holds no URL. All URLs run at once, as the
    /// tutorials' `joinall` of one `spawn` per URL does.
    pub fn run(&self, args: &Args) -> io::Result<Run> {
        let opts = args.client_options().map_err(io::Error::other)?;
        let mut urls = args.all_urls()?;
        let server = if urls.is_empty() {
            let site = Site::files(monkey::thread::sleep, self.demo_files).delay(self.demo_delay);
            let server = HubServer::start(Arc::new(site))?;
            urls = self
                .demo_files
                .iter()
                .map(|(path, _)| server.url(path))
                .collect();
            Some(server)
        } else {
            None
        };
        let out = match &server {
            Some(_) => args.demo_out_dir(self.name),
            None => args.out_dir.clone(),
        };
        let replace = args.overwrite || (server.is_some() && !args.out_dir_given);
        let dir = Rc::new(OutputDir::new(out)?.overwrite(replace));
        let jobs: Vec<Job> = urls
            .iter()
            .enumerate()
            .map(|(i, url)| Job {
                url: url.clone(),
                name: (self.file_name)(i, url),
            })
            .collect();
        let report = Rc::new(Report::new());
        let observer = Rc::new(Announcing {
            report: report.clone(),
            announce: self.announce,
        });
        let run = run_downloads(&hub_client(opts), &dir, &jobs, jobs.len(), observer);
        report.summary(&run.summary);
        report.line(&format!("saved in {}", dir.path().display()));
        drop(server);
        Ok(run)
    }
}

/// The seed's `url.rsplit('_')[-1]`: the part of `url` after its last `_` (all of it if
/// there is none). aiohttp_downloader names its files this way.
pub fn after_last_underscore(url: &str) -> &str {
    url.rsplit('_').next().unwrap_or(url)
}
