//! The downloader's command line.

use std::io::{self, BufRead};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::client::{self, Options};
use super::error::DownloadError;

/// Usage text for `--help` and argument errors.
pub const USAGE: &str = "\
usage: download [URL...] [-i FILE] [-o DIR] [-c N] [--timeout S] [--retries N]
                [--ca FILE] [--insecure]

Downloads every URL concurrently, on one thread, one greenlet per URL. With no
URL, serves generated files from an embedded server on the same hub and
downloads those (into a directory under the system's temp dir unless -o is
given), timing the run against a one-at-a-time run.

Exit status: 0 when every URL was saved, 1 when any failed (each failure is
printed with its reason), 2 for a bad command line or --ca file.

  -i, --input FILE   read more URLs from FILE, one per line (`-` is stdin;
                     blank lines and lines starting with # are skipped)
  -o, --output DIR   save files into DIR (default: ., created if missing)
  -c, --concurrency N
                     at most N downloads at once (default: 8)
      --timeout S    seconds allowed to connect, and without data (default: 30)
      --retries N    retries on connection errors and 5xx (default: 3)
      --ca FILE      also trust the PEM certificates in FILE (repeatable)
      --insecure     do not verify TLS certificates at all
  -h, --help         show this help";

/// Parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    pub urls: Vec<String>,
    pub input: Option<PathBuf>,
    pub out_dir: PathBuf,
    /// Whether `-o` was given (the embedded default then writes there, not to a temp dir).
    pub out_dir_given: bool,
    pub concurrency: usize,
    pub timeout: Duration,
    pub retries: u32,
    pub ca_files: Vec<PathBuf>,
    pub insecure: bool,
}

impl Default for Args {
    fn default() -> Self {
        Self {
            urls: Vec::new(),
            input: None,
            out_dir: PathBuf::from("."),
            out_dir_given: false,
            concurrency: 8,
            timeout: Duration::from_secs(30),
            retries: 3,
            ca_files: Vec::new(),
            insecure: false,
        }
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Run(Args),
    Help,
}

/// Parses the arguments after the program name. Options take their value as the next
/// argument or after `=` (`--timeout=5`); `--` ends options. The error is a message for
/// the user, to print with [`USAGE`].
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut out = Args::default();
    let mut args = args.into_iter();
    let mut only_urls = false;
    while let Some(arg) = args.next() {
        if only_urls || !arg.starts_with('-') || arg == "-" {
            out.urls.push(arg);
            continue;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "--" => only_urls = true,
            "-h" | "--help" => return Ok(Command::Help),
            "-i" | "--input" => out.input = Some(value(&flag)?.into()),
            "-o" | "--output" => {
                out.out_dir = value(&flag)?.into();
                out.out_dir_given = true;
            }
            "-c" | "--concurrency" => {
                out.concurrency = parse_number(&flag, &value(&flag)?)?;
                if out.concurrency == 0 {
                    return Err(format!("{flag} must be at least 1"));
                }
            }
            "--timeout" => {
                let v = value(&flag)?;
                out.timeout = v
                    .parse::<f64>()
                    .ok()
                    .filter(|s| *s > 0.0)
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
                    .ok_or_else(|| format!("{flag}: {v:?} is not a positive number of seconds"))?;
            }
            "--retries" => out.retries = parse_number(&flag, &value(&flag)?)?,
            "--ca" => out.ca_files.push(value(&flag)?.into()),
            "--insecure" => out.insecure = true,
            _ => return Err(format!("unknown option {arg:?}")),
        }
    }
    Ok(Command::Run(out))
}

fn parse_number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag}: {value:?} is not a valid number"))
}

impl Args {
    /// The URLs from the command line followed by those of `--input`.
    pub fn all_urls(&self) -> io::Result<Vec<String>> {
        let mut urls = self.urls.clone();
        if let Some(path) = &self.input {
            let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
                Box::new(io::stdin().lock())
            } else {
                let file = std::fs::File::open(path)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
                Box::new(io::BufReader::new(file))
            };
            for line in reader.lines() {
                let line = line?;
                let line = line.trim();
                if !line.is_empty() && !line.starts_with('#') {
                    urls.push(line.to_owned());
                }
            }
        }
        Ok(urls)
    }

    /// Where a demo run (no URL given, the embedded server) saves its files: `-o DIR` if
    /// given, else `gevent-rs-{name}` under the system's temp dir, so trying the demo never
    /// litters the current directory.
    pub fn demo_out_dir(&self, name: &str) -> PathBuf {
        if self.out_dir_given {
            self.out_dir.clone()
        } else {
            std::env::temp_dir().join(format!("gevent-rs-{name}"))
        }
    }

    /// Client options for these arguments (TLS roots loaded from `--ca`). Every download
    /// in flight can hand its connection back to the keep-alive cache: with fewer idle
    /// places than `-c`, most URLs to one host would open a connection of their own.
    pub fn client_options(&self) -> Result<Options, DownloadError> {
        let tls: Arc<rustls::ClientConfig> = client::tls_config(&self.ca_files, self.insecure)?;
        Ok(Options {
            connect_timeout: self.timeout,
            read_timeout: self.timeout,
            retries: self.retries,
            max_idle_per_host: self.concurrency,
            tls,
            ..Options::default()
        })
    }
}
