//! The concurrent downloader's core, independent of how it is scheduled.
//!
//! Everything here is plain blocking code over `Read + Write`: the [`Client`] is generic over
//! a [`Connector`], the [`server::Site`] over its stream, and every wait goes through a
//! `fn(Duration)` sleep. Run on std threads ([`StdConnector`], `std::thread::sleep`) it
//! blocks threads; given monkey's `TcpStream` and sleep it switches greenlets instead, which
//! is how the `download` binary runs one greenlet per URL on one thread.
//!
//! | module | what it owns |
//! |---|---|
//! | [`naming`] | URL → safe file name, unique names, temp file renamed on success |
//! | [`http`] | HTTP/1.1 request writing, head parsing, Content-Length/chunked bodies |
//! | [`client`] | keep-alive per origin, redirects, retries with backoff, TLS (`monkey::tls`, rustls) |
//! | [`retry`] | backoff with jitter, `Retry-After` |
//! | [`auth`] | URL credentials as Basic auth, and hidden in every printed line |
//! | [`pin`] | `--ca` trusting a self-signed server certificate exactly |
//! | [`proxy`] | `http_proxy`/`https_proxy`/`no_proxy`, `CONNECT` tunnels |
//! | [`ranges`] | `Range`/`Content-Range`/`If-Range` for resuming and segments |
//! | [`error`] | [`DownloadError`], one variant per way a URL can fail |
//! | [`segmented`] | one file over several connections (`-x N`), ranges reassembled |
//! | [`server`] | a small file server with misbehaving routes, for the demo and tests |
//! | [`args`] | the command line |
//! | [`hosts`] | the cap on connections per host |
//! | [`greenlet`] | the core on one hub: monkey's sockets, a greenlet pool, the embedded server |
//! | [`stop`] | a run stopped early: by which signal, what to cancel |
//! | [`signals`] | SIGINT/SIGTERM through the hub loop (`hub::signal`) |
//! | [`report`] | per-file progress bars on a terminal, the tutorials' plain lines otherwise |
//!
//! ```no_run
//! use examples::download::{download_to, Client, Options, OutputDir, StdConnector};
//!
//! let client = Client::new(StdConnector, Options::default());
//! let dir = OutputDir::new("downloads")?;
//! let url = url::Url::parse("https://example.com/")?;
//! match download_to(&client, &dir, &url, &mut |_progress| {}) {
//!     Ok(saved) => println!("{}", received_line(saved.fetched.bytes, url.as_str())),
//!     Err(e) => println!("{}", failed_line(url.as_str(), &e)),
//! }
//! # use examples::download::{failed_line, received_line};
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod args;
pub mod auth;
pub mod client;
pub mod error;
pub mod greenlet;
pub mod hosts;
pub mod http;
pub mod naming;
pub mod pin;
pub mod proxy;
pub mod ranges;
pub mod report;
pub mod retry;
pub mod segmented;
pub mod server;
pub mod signals;
pub mod stop;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

pub use client::{
    Client, Connector, Fetched, Options, Progress, RangeAsk, Sink, StdConnector, tls_config,
};
pub use error::{DownloadError, TimeoutPhase};
pub use naming::{OutputDir, PartFile, Partials, Placed, file_name_for, sanitize_file_name};

/// Parses a URL given by the user, accepting only `http` and `https` with a host, so a bad
/// line fails that URL alone with a clear reason.
pub fn parse_url(input: &str) -> Result<Url, DownloadError> {
    let url = Url::parse(input.trim()).map_err(|e| DownloadError::bad_url(input, e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(DownloadError::bad_url(
            input,
            "only http and https are supported",
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(DownloadError::bad_url(input, "no host"));
    }
    Ok(url)
}

/// A file saved by [`download_to`].
#[derive(Debug, Clone)]
pub struct Saved {
    pub path: PathBuf,
    pub fetched: Fetched,
    /// Whether the file got the name asked for, a new one, or replaced one.
    pub placed: Placed,
}

/// Downloads `url` into a new file of `dir`, named by [`file_name_for`]. The body goes to a
/// temporary file renamed into place only after the whole body arrived; on any error the
/// temporary file is removed and nothing appears under the final name.
pub fn download_to<C: Connector>(
    client: &Client<C>,
    dir: &OutputDir,
    url: &Url,
    progress: &mut dyn FnMut(Progress),
) -> Result<Saved, DownloadError> {
    download_named(client, dir, url, &file_name_for(url), progress)
}

/// Like [`download_to`], with the file named after `name` (sanitized, made unique) instead
/// of the URL: the tutorials' downloaders choose their own names.
pub fn download_named<C: Connector>(
    client: &Client<C>,
    dir: &OutputDir,
    url: &Url,
    name: &str,
    progress: &mut dyn FnMut(Progress),
) -> Result<Saved, DownloadError> {
    let mut part = dir.create_named(name).map_err(DownloadError::File)?;
    let fetched = match part.resume_point() {
        None => client.get(url, &mut part, progress)?,
        Some((start, if_range)) => {
            let ask = RangeAsk {
                start,
                end: None,
                if_range,
            };
            match client.get_range(url, &mut part, progress, Some(&ask)) {
                // The kept part is longer than the file now is: start over.
                Err(DownloadError::Status { code: 416, .. }) => {
                    client.get(url, &mut part, progress)?
                }
                other => other?,
            }
        }
    };
    let (path, placed) = part.place().map_err(DownloadError::File)?;
    Ok(Saved {
        path,
        fetched,
        placed,
    })
}

/// The tutorials' per-file line: `N bytes received from URL.`
pub fn received_line(bytes: u64, url: &str) -> String {
    format!("{bytes} bytes received from {url}.")
}

/// The per-file line of a failure: `failed URL: reason`.
pub fn failed_line(url: &str, error: &DownloadError) -> String {
    format!("failed {url}: {error}")
}

/// Totals for the closing summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub files: usize,
    pub failures: usize,
    /// Files saved as `name-N` because their name was taken.
    pub renamed: usize,
    /// Files that replaced one of the same name (`--overwrite`).
    pub replaced: usize,
    /// URLs a signal stopped before they finished (not counted in `failures`).
    pub interrupted: usize,
    pub bytes: u64,
    pub elapsed: Duration,
}

impl Summary {
    /// Counts one finished URL.
    pub fn record(&mut self, result: &Result<Saved, DownloadError>) {
        match result {
            Ok(saved) => {
                self.files += 1;
                self.bytes += saved.fetched.bytes;
                match saved.placed {
                    Placed::New => {}
                    Placed::Renamed { .. } => self.renamed += 1,
                    Placed::Replaced => self.replaced += 1,
                }
            }
            Err(DownloadError::Interrupted(_)) => self.interrupted += 1,
            Err(_) => self.failures += 1,
        }
    }

    /// Bytes per second over the wall time.
    pub fn throughput(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.bytes as f64 / secs
        } else {
            0.0
        }
    }
}

impl fmt::Display for Summary {
    /// `6 files, 37.6 MiB in 1.23 s (30.5 MiB/s), 0 failed`, then `, 2 saved under a new
    /// name (name taken)` and `, 1 replaced` when any were.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} file{}, {} in {:.2} s ({}/s), {} failed",
            self.files,
            if self.files == 1 { "" } else { "s" },
            human_bytes(self.bytes as f64),
            self.elapsed.as_secs_f64(),
            human_bytes(self.throughput()),
            self.failures,
        )?;
        if self.renamed > 0 {
            write!(f, ", {} saved under a new name (name taken)", self.renamed)?;
        }
        if self.replaced > 0 {
            write!(f, ", {} replaced", self.replaced)?;
        }
        if self.interrupted > 0 {
            write!(f, ", {} interrupted", self.interrupted)?;
        }
        Ok(())
    }
}

/// `1536` → `1.5 KiB`.
pub fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
