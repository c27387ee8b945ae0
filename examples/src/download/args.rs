//! The downloader's command line, on `clap` (help, errors with suggestions, `--version`,
//! shell completions).

use std::ffi::OsString;
use std::io::{self, BufRead};
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Arg, ArgAction, ArgMatches, value_parser};
use clap_complete::Shell;

use super::client::{self, Options};
use super::error::DownloadError;
use super::hosts::DEFAULT_CONNS_PER_HOST;

/// What the help says after the options: the exit statuses are a contract for scripts.
const AFTER_HELP: &str = "\
With no URL, serves generated files from an embedded server on the same hub and
downloads those (into a directory under the system's temp dir unless -o is given),
timing the run against a one-at-a-time run.

Exit status: 0 when every URL was saved, 1 when any failed (each failure is printed
with its reason), 2 for a bad command line or --ca file.";

/// Parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    pub urls: Vec<String>,
    pub input: Option<PathBuf>,
    pub out_dir: PathBuf,
    /// Whether `-o` was given (the embedded default then writes there, not to a temp dir).
    pub out_dir_given: bool,
    pub concurrency: usize,
    /// Most connections open to one host at once (`--per-host`).
    pub per_host: usize,
    pub timeout: Duration,
    pub retries: u32,
    /// Longest time spent retrying one URL, backoff waits included (`--retry-max-time`).
    pub retry_max_time: Duration,
    pub ca_files: Vec<PathBuf>,
    pub insecure: bool,
    /// Replace files already on disk instead of saving under a new name.
    pub overwrite: bool,
    /// `-C/--continue`: resume `NAME.part` files, keep unfinished downloads as them.
    pub resume: bool,
    /// `-x/--split N`: connections for one file.
    pub split: usize,
}

impl Default for Args {
    fn default() -> Self {
        Self {
            urls: Vec::new(),
            input: None,
            out_dir: PathBuf::from("."),
            out_dir_given: false,
            concurrency: 8,
            per_host: DEFAULT_CONNS_PER_HOST,
            timeout: Duration::from_secs(30),
            retries: 3,
            retry_max_time: Duration::from_secs(120),
            ca_files: Vec::new(),
            insecure: false,
            overwrite: false,
            resume: false,
            split: 1,
        }
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Run(Args),
    /// `-h/--help`: print [`usage`].
    Help,
    /// `-V/--version`: print [`version`].
    Version,
    /// `--completions SHELL`: print the completion script ([`completions`]).
    Completions(Shell),
}

/// The clap definition of the command line.
/// Clap's defaults, the same as [`Args::default`] (checked by a test).
pub fn cli() -> clap::Command {
    clap::Command::new("download")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Downloads every URL concurrently, on one thread, one greenlet per URL.")
        .after_help(AFTER_HELP)
        .disable_help_flag(true)
        .disable_version_flag(true)
        .arg(
            Arg::new("urls")
                .value_name("URL")
                .num_args(0..)
                .allow_hyphen_values(false)
                .help("http:// or https:// URLs to download"),
        )
        .arg(
            Arg::new("input")
                .short('i')
                .long("input")
                .value_name("FILE")
                .value_parser(value_parser!(PathBuf))
                .help(
                    "read more URLs from FILE, one per line (`-` is stdin; blank lines and \
                     lines starting with # are skipped)",
                ),
        )
        .arg(
            Arg::new("output")
                .short('o')
                .long("output")
                .value_name("DIR")
                .value_parser(value_parser!(PathBuf))
                .help("save files into DIR (default: ., created if missing)"),
        )
        .arg(
            Arg::new("concurrency")
                .short('c')
                .long("concurrency")
                .value_name("N")
                .value_parser(at_least_one())
                .default_value("8")
                .help("at most N downloads in flight"),
        )
        .arg(
            Arg::new("per-host")
                .long("per-host")
                .value_name("N")
                .value_parser(at_least_one())
                .default_value("6")
                .help("at most N connections to one host at once (a small server's backlog)"),
        )
        .arg(
            Arg::new("timeout")
                .long("timeout")
                .value_name("S")
                .value_parser(seconds())
                .allow_negative_numbers(true)
                .default_value("30")
                .help("seconds allowed to connect, and without data"),
        )
        .arg(
            Arg::new("retries")
                .long("retries")
                .value_name("N")
                .value_parser(value_parser!(u32))
                .default_value("3")
                .help("retries on connection errors, 408, 429 and 5xx"),
        )
        .arg(
            Arg::new("retry-max-time")
                .long("retry-max-time")
                .value_name("S")
                .value_parser(seconds())
                .allow_negative_numbers(true)
                .default_value("120")
                .help("no retry starts later than S seconds after a URL's first attempt"),
        )
        .arg(
            Arg::new("ca")
                .long("ca")
                .value_name("FILE")
                .action(ArgAction::Append)
                .value_parser(value_parser!(PathBuf))
                .help("also trust the PEM certificates in FILE (repeatable)"),
        )
        .arg(
            Arg::new("insecure")
                .long("insecure")
                .action(ArgAction::SetTrue)
                .help("do not verify TLS certificates at all"),
        )
        .arg(
            Arg::new("overwrite")
                .long("overwrite")
                .action(ArgAction::SetTrue)
                .help("replace files already on disk (default: save as NAME-1, NAME-2, …)"),
        )
        .arg(
            Arg::new("continue")
                .short('C')
                .long("continue")
                .action(ArgAction::SetTrue)
                .help(
                    "resume from NAME.part where one exists (Range + If-Range), and keep \
                     unfinished downloads as NAME.part",
                ),
        )
        .arg(
            Arg::new("split")
                .short('x')
                .long("split")
                .value_name("N")
                .value_parser(at_least_one())
                .default_value("1")
                .help(
                    "download each file over up to N connections, in ranges (within \
                     --per-host)",
                ),
        )
        .arg(
            Arg::new("completions")
                .long("completions")
                .value_name("SHELL")
                .value_parser(
                    PossibleValuesParser::new(["bash", "elvish", "fish", "powershell", "zsh"])
                        .map(|s| s.parse::<Shell>().expect("listed shells parse")),
                )
                .help("print a completion script for SHELL and exit"),
        )
        .arg(
            Arg::new("help")
                .short('h')
                .long("help")
                .action(ArgAction::SetTrue)
                .help("show this help"),
        )
        .arg(
            Arg::new("version")
                .short('V')
                .long("version")
                .action(ArgAction::SetTrue)
                .help("show the version"),
        )
}

fn at_least_one() -> clap::builder::ValueParser {
    clap::builder::ValueParser::new(|v: &str| -> Result<usize, String> {
        match v.parse::<usize>() {
            Ok(0) => Err("must be at least 1".into()),
            Ok(n) => Ok(n),
            Err(_) => Err(format!("{v:?} is not a valid number")),
        }
    })
}

fn seconds() -> impl TypedValueParser<Value = Duration> {
    clap::builder::StringValueParser::new().try_map(|v: String| {
        v.parse::<f64>()
            .ok()
            .filter(|s| *s > 0.0)
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .ok_or_else(|| format!("{v:?} is not a positive number of seconds"))
    })
}

/// The help text.
pub fn usage() -> String {
    cli().render_help().to_string()
}

/// `download 0.1.0`.
pub fn version() -> String {
    cli().render_version().trim_end().to_owned()
}

/// The completion script for `shell`.
pub fn completions(shell: Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cli(), "download", &mut out);
    out
}

/// Parses the arguments after the program name. Options take their value as the next
/// argument or after `=` (`--timeout=5`); `--` ends options. The error is clap's message
/// for the user (what is wrong, a suggestion, the usage line).
pub fn parse_args<I, T>(args: I) -> Result<Command, String>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let argv = std::iter::once(OsString::from("download")).chain(args.into_iter().map(Into::into));
    let m = cli()
        .try_get_matches_from(argv)
        .map_err(|e| e.render().to_string().trim_end().to_owned())?;
    if m.get_flag("help") {
        return Ok(Command::Help);
    }
    if m.get_flag("version") {
        return Ok(Command::Version);
    }
    if let Some(shell) = m.get_one::<Shell>("completions") {
        return Ok(Command::Completions(*shell));
    }
    Ok(Command::Run(args_from(&m)))
}

fn args_from(m: &ArgMatches) -> Args {
    let one = |id: &str| m.get_one::<usize>(id).copied().expect("has a default");
    let secs = |id: &str| m.get_one::<Duration>(id).copied().expect("has a default");
    let output = m.get_one::<PathBuf>("output").cloned();
    Args {
        urls: m
            .get_many::<String>("urls")
            .map(|urls| urls.cloned().collect())
            .unwrap_or_default(),
        input: m.get_one::<PathBuf>("input").cloned(),
        out_dir_given: output.is_some(),
        out_dir: output.unwrap_or_else(|| PathBuf::from(".")),
        concurrency: one("concurrency"),
        per_host: one("per-host"),
        timeout: secs("timeout"),
        retries: m.get_one::<u32>("retries").copied().expect("has a default"),
        retry_max_time: secs("retry-max-time"),
        ca_files: m
            .get_many::<PathBuf>("ca")
            .map(|files| files.cloned().collect())
            .unwrap_or_default(),
        insecure: m.get_flag("insecure"),
        overwrite: m.get_flag("overwrite"),
        resume: m.get_flag("continue"),
        split: one("split"),
    }
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

    /// Client options for these arguments (TLS roots loaded from `--ca`, proxies from
    /// `http_proxy`, `https_proxy` and `no_proxy`). Every download
    /// in flight can hand its connection back to the keep-alive cache: with fewer idle
    /// places than `-c`, most URLs to one host would open a connection of their own.
    pub fn client_options(&self) -> Result<Options, DownloadError> {
        let tls = client::tls_config(&self.ca_files, self.insecure)?;
        Ok(Options {
            connect_timeout: self.timeout,
            read_timeout: self.timeout,
            retries: self.retries,
            retry_max_time: self.retry_max_time,
            max_idle_per_host: self.concurrency.min(self.per_host),
            max_conns_per_host: self.per_host,
            segments: self.split,
            tls,
            proxies: super::proxy::Proxies::from_env()?,
            ..Options::default()
        })
    }
}
