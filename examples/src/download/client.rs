//! An HTTP/1.1 GET client generic over how TCP connections are made.
//!
//! [`Client`] owns the policy (keep-alive reuse per host, redirects, retries with backoff,
//! TLS); a [`Connector`] owns the mechanism (a `TcpStream` and its read timeout). With
//! [`StdConnector`] each call blocks its thread; with a connector returning
//! `monkey::net::TcpStream` (and `monkey::thread::sleep` in [`Options::sleep`]) the same code
//! switches greenlets instead, which is the point of the design: nothing here is `async`.
//!
//! A `Client` is shared by all concurrent downloads through `&self`. Its connection cache is
//! behind a `Mutex` that is only held to take or return a connection, never across I/O, so
//! greenlets of one thread cannot deadlock on it.

use std::collections::{HashMap, HashSet};
use std::io::{self, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use monkey::tls::rustls::pki_types::pem::PemObject;
use monkey::tls::rustls::pki_types::{CertificateDer, ServerName};
use monkey::tls::rustls::{ClientConnection, RootCertStore};
use monkey::tls::{ConnectorBuilder, TlsConnector, TlsStream};
use url::{Host, Url};

use super::auth;
use super::error::{DownloadError, TimeoutPhase};
use super::http::{self, BodyKind};
use super::pin::PinnedOrWebPki;
use super::proxy::{self, Hop, Proxies};
use super::{ranges, retry};

/// Makes TCP connections. Implemented for std by [`StdConnector`]; the greenlet version
/// returns monkey's `TcpStream`, whose blocking calls switch to the hub.
pub trait Connector {
    /// A connected byte stream.
    type Stream: Read + Write;

    /// Connects to `host:port` (a DNS name or an IP literal without brackets), giving up
    /// after `timeout`. A timeout should be reported as `io::ErrorKind::TimedOut`.
    fn connect(&self, host: &str, port: u16, timeout: Duration) -> io::Result<Self::Stream>;

    /// Makes reads on `stream` fail with `TimedOut` or `WouldBlock` after `timeout` without
    /// data, like `std::net::TcpStream::set_read_timeout`.
    fn set_read_timeout(&self, stream: &Self::Stream, timeout: Option<Duration>) -> io::Result<()>;
}

/// Blocking connections from `std::net`, for threads and tests.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdConnector;

impl Connector for StdConnector {
    type Stream = TcpStream;

    /// Tries each resolved address in turn, each with the full `timeout`.
    fn connect(&self, host: &str, port: u16, timeout: Duration) -> io::Result<TcpStream> {
        let mut last_error = None;
        for addr in (host, port).to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(stream) => {
                    // Requests are written in one piece; never let Nagle hold one back.
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

    fn set_read_timeout(&self, stream: &TcpStream, timeout: Option<Duration>) -> io::Result<()> {
        stream.set_read_timeout(timeout)
    }
}

/// Where a response body goes. `restart` discards what was written so a retry can write the
/// body again from its first byte.
pub trait Sink: Write {
    fn restart(&mut self) -> io::Result<()>;

    /// The body about to be written starts at byte `offset` of the file: keep the first
    /// `offset` bytes, drop the rest, write from there. Only a sink that can hold a part
    /// of a file (a resumed or segmented download) supports `offset > 0`.
    fn start_at(&mut self, offset: u64) -> io::Result<()> {
        if offset == 0 {
            self.restart()
        } else {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this sink cannot take a body from the middle of a file",
            ))
        }
    }

    /// The response's validator (a strong ETag, else its Last-Modified), for a later
    /// `If-Range`. Sinks that never resume ignore it.
    fn note_validator(&mut self, _validator: Option<&str>) {}

    /// For a sink that can take the rest of a body after a broken connection: how many
    /// bytes of the file it holds (what [`start_at`](Self::start_at) would keep). `None`,
    /// the default, makes a retry fetch the body again from its start.
    fn position(&self) -> Option<u64> {
        None
    }
}

/// Part of a file to ask for (`Range: bytes=start-end`), valid only while the file is
/// the one `if_range` (an ETag or a Last-Modified date) names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RangeAsk {
    pub start: u64,
    /// The last byte wanted (inclusive); `None` to the end.
    pub end: Option<u64>,
    pub if_range: Option<String>,
}

impl Sink for Vec<u8> {
    fn restart(&mut self) -> io::Result<()> {
        self.clear();
        Ok(())
    }
}

impl Sink for io::Sink {
    fn restart(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// How far a body has got. Reported once with `received == 0` when the body starts (and
/// again after a retry restarts it), then after every piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub received: u64,
    /// The Content-Length, when the server sent one.
    pub total: Option<u64>,
}

/// Client policy. `Default` gives verified TLS against the webpki roots, 10 s connect and
/// 30 s read timeouts, 3 retries from 250 ms backoff within 120 s, 10 redirects, 6
/// connections per host, one connection per file, no proxy.
#[derive(Debug, Clone)]
pub struct Options {
    pub connect_timeout: Duration,
    /// Longest wait for the next bytes of a response: what turns a stalled server into
    /// [`DownloadError::Timeout`].
    pub read_timeout: Duration,
    /// Retries after the first attempt, for errors where
    /// [`DownloadError::is_retryable`] holds. A body broken midway into a sink that knows
    /// its length ([`Sink::position`], a file) is resumed with `Range` + `If-Range` when the
    /// server gave a validator, else fetched again whole.
    pub retries: u32,
    /// Wait before the first retry; doubled for each further one, up to `max_backoff`, and
    /// each wait drawn between half of that and all of it (jitter, so clients that failed
    /// together do not come back together). A server's `Retry-After` replaces it.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// No retry starts later than this after a URL's first attempt: a `Retry-After` or a
    /// backoff that would end past it gives up instead.
    pub retry_max_time: Duration,
    pub max_redirects: usize,
    pub max_head_bytes: usize,
    /// Idle keep-alive connections kept per (scheme, host, port). Make it at least the
    /// number of downloads running at once: each one beyond it closes its connection on
    /// return, so the next URL pays a new connect (the `download` binary uses its `-c`).
    pub max_idle_per_host: usize,
    /// Most connections open to one (scheme, host, port) at once, honoured by the hub
    /// scheduler ([`super::greenlet::run_downloads`]): a backlog-5 server is never flooded.
    pub max_conns_per_host: usize,
    /// Connections for one file (`-x`): above 1, the hub scheduler downloads each URL in
    /// ranges over up to this many ([`super::segmented`]).
    pub segments: usize,
    pub user_agent: String,
    pub tls: TlsConnector,
    /// Proxies by target scheme ([`Proxies::from_env`] for `http_proxy` and friends);
    /// none by default.
    pub proxies: Proxies,
    /// How to wait between retries: `std::thread::sleep` here, `monkey::thread::sleep` on a
    /// hub so the other greenlets keep running.
    pub sleep: fn(Duration),
}

impl Default for Options {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            retries: 3,
            backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
            retry_max_time: Duration::from_secs(120),
            max_redirects: 10,
            max_head_bytes: http::DEFAULT_MAX_HEAD_BYTES,
            max_idle_per_host: 8,
            max_conns_per_host: super::hosts::DEFAULT_CONNS_PER_HOST,
            segments: 1,
            user_agent: concat!("gevent-rs-download/", env!("CARGO_PKG_VERSION")).to_owned(),
            tls: build_tls(http_tls()),
            proxies: Proxies::default(),
            sleep: std::thread::sleep,
        }
    }
}

/// Builds the TLS connector: certificates verified against the webpki roots plus every
/// certificate in the PEM `ca_files`, or — only when `insecure` is set, which ignores
/// `ca_files` — not verified at all.
pub fn tls_config(
    ca_files: &[impl AsRef<Path>],
    insecure: bool,
) -> Result<TlsConnector, DownloadError> {
    if insecure {
        return Ok(build_tls(http_tls().dangerous_disable_verification()));
    }
    let mut pinned = Vec::new();
    for path in ca_files {
        pinned.extend(read_pem_roots(path.as_ref())?);
    }
    if pinned.is_empty() {
        return Ok(build_tls(http_tls()));
    }
    // `--ca` may hold a self-signed server certificate: trusted exactly (see `pin`).
    http_tls()
        .add_root_certificates(pinned.clone())
        .build_with_verifier(|webpki| Arc::new(PinnedOrWebPki::new(webpki, pinned)))
        .map_err(|e| DownloadError::CaFile {
            path: ca_files
                .iter()
                .map(|p| p.as_ref().display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            reason: e.to_string(),
        })
}

/// Connector options for HTTP/1.1: the webpki roots, ALPN `http/1.1`.
fn http_tls() -> ConnectorBuilder {
    TlsConnector::builder().alpn_protocols(["http/1.1"])
}

/// Builds a connector whose roots were all checked already (or that checks nothing): only
/// the protocol versions could fail, and ring supports rustls's defaults.
fn build_tls(builder: ConnectorBuilder) -> TlsConnector {
    builder
        .build()
        .expect("the ring provider supports rustls's default protocol versions")
}

/// The certificates of `path`, each checked to be usable as a root (and so for pinning).
fn read_pem_roots(path: &Path) -> Result<Vec<CertificateDer<'static>>, DownloadError> {
    let fail = |reason: String| DownloadError::CaFile {
        path: path.display().to_string(),
        reason,
    };
    let mut roots = RootCertStore::empty();
    let mut added = Vec::new();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| fail(e.to_string()))? {
        let cert = cert.map_err(|e| fail(e.to_string()))?;
        roots.add(cert.clone()).map_err(|e| fail(e.to_string()))?;
        added.push(cert);
    }
    if added.is_empty() {
        return Err(fail("no PEM certificate in it".into()));
    }
    Ok(added)
}

/// What a successful [`Client::get`] did.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The URL the body came from, after redirects.
    pub url: Url,
    pub status: u16,
    /// Body bytes written to the sink.
    pub bytes: u64,
    /// The size of the whole file, if the server said (its Content-Length, or the total
    /// of a 206's Content-Range).
    pub total: Option<u64>,
    /// Where in the file the body started: 0, or the start of a range the server honoured.
    pub offset: u64,
    /// The response's strong ETag, else its Last-Modified.
    pub validator: Option<String>,
    pub redirects: usize,
    /// Retries performed (over all hops), not counting the first attempt.
    pub retries: u32,
}

/// Where a connection goes; connections are reused only for the same origin.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Origin {
    tls: bool,
    host: String,
    port: u16,
    /// The proxy the connection goes through, if any: part of the key, so a connection
    /// is reused only on the same path.
    proxy: Option<Hop>,
}

impl Origin {
    fn of(url: &Url) -> Result<Self, DownloadError> {
        let tls = match url.scheme() {
            "http" => false,
            "https" => true,
            other => {
                return Err(DownloadError::bad_url(
                    url.as_str(),
                    format!("unsupported scheme {other:?}"),
                ));
            }
        };
        let host = match url.host() {
            Some(Host::Domain(d)) if !d.is_empty() => d.to_owned(),
            Some(Host::Ipv4(a)) => a.to_string(),
            Some(Host::Ipv6(a)) => a.to_string(),
            _ => return Err(DownloadError::bad_url(url.as_str(), "no host")),
        };
        let port = url
            .port_or_known_default()
            .ok_or_else(|| DownloadError::bad_url(url.as_str(), "no port"))?;
        Ok(Self {
            tls,
            host,
            port,
            proxy: None,
        })
    }
}

/// Plain TCP or TLS over it.
enum Transport<S: Read + Write> {
    Plain(S),
    Tls(Box<TlsStream<ClientConnection, S>>),
}

impl<S: Read + Write> Read for Transport<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf),
            Self::Tls(s) => s.read(buf),
        }
    }
}

impl<S: Read + Write> Write for Transport<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(s) => s.write(buf),
            Self::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(s) => s.flush(),
            Self::Tls(s) => s.flush(),
        }
    }
}

/// Size of each connection's read buffer, and so of the pieces bodies are copied in.
const READ_BUFFER: usize = 64 * 1024;

/// Largest error or redirect body read to keep its connection alive; beyond it the
/// connection is dropped instead.
const MAX_DRAIN: u64 = 64 * 1024;

/// One connection. The buffer stays with it: bytes already buffered belong to it.
type Conn<S> = BufReader<Transport<S>>;

/// One request's outcome before redirects are applied.
enum Step {
    Done {
        status: u16,
        bytes: u64,
        total: Option<u64>,
        offset: u64,
        validator: Option<String>,
    },
    Redirect(String),
}

/// A GET client with per-origin keep-alive, redirects, retries and TLS. See the module docs.
pub struct Client<C: Connector> {
    connector: C,
    opts: Options,
    idle: Mutex<HashMap<Origin, Vec<Conn<C::Stream>>>>,
}

impl<C: Connector> Client<C> {
    pub fn new(connector: C, opts: Options) -> Self {
        Self {
            connector,
            opts,
            idle: Mutex::default(),
        }
    }

    pub fn options(&self) -> &Options {
        &self.opts
    }

    pub fn connector(&self) -> &C {
        &self.connector
    }

    /// Idle keep-alive connections currently cached, over all origins.
    pub fn idle_connections(&self) -> usize {
        self.lock_idle().values().map(Vec::len).sum()
    }

    /// Downloads `url` into `sink`, following redirects and retrying transient failures.
    ///
    /// Only a 2xx body reaches `sink`; redirect and error bodies are discarded. Before each
    /// retry `sink` is restarted, so on success it holds exactly one complete body.
    pub fn get(
        &self,
        url: &Url,
        sink: &mut (impl Sink + ?Sized),
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Fetched, DownloadError> {
        self.get_range(url, sink, progress, None)
    }

    /// [`get`](Self::get) asking for part of the file. A 206 must start where asked
    /// (else [`DownloadError::Protocol`]); its body goes to `sink` from that offset
    /// ([`Sink::start_at`]). A 200 (the server ignores ranges, or `if_range` no longer
    /// names its file) goes from offset 0. A 416 for a range that starts exactly at the
    /// end of the file means nothing was missing: `Fetched::bytes` is 0.
    pub fn get_range(
        &self,
        url: &Url,
        sink: &mut (impl Sink + ?Sized),
        progress: &mut dyn FnMut(Progress),
        range: Option<&RangeAsk>,
    ) -> Result<Fetched, DownloadError> {
        let mut current = url.clone();
        current.set_fragment(None);
        let mut visited = HashSet::from([current.clone()]);
        let mut retries = 0;
        for redirects in 0..=self.opts.max_redirects {
            match self.get_retrying(&current, sink, progress, range, &mut retries)? {
                Step::Done {
                    status,
                    bytes,
                    total,
                    offset,
                    validator,
                } => {
                    return Ok(Fetched {
                        url: current,
                        status,
                        bytes,
                        total,
                        offset,
                        validator,
                        redirects,
                        retries,
                    });
                }
                Step::Redirect(location) => {
                    let mut next = current.join(&location).map_err(|e| {
                        DownloadError::bad_url(location.as_str(), format!("in redirect: {e}"))
                    })?;
                    next.set_fragment(None);
                    let next = auth::carry_credentials(&current, next);
                    if !visited.insert(next.clone()) {
                        return Err(DownloadError::RedirectLoop {
                            url: auth::redact(next.as_str()),
                        });
                    }
                    current = next;
                }
            }
        }
        Err(DownloadError::TooManyRedirects {
            limit: self.opts.max_redirects,
        })
    }

    fn get_retrying(
        &self,
        url: &Url,
        sink: &mut (impl Sink + ?Sized),
        progress: &mut dyn FnMut(Progress),
        range: Option<&RangeAsk>,
        retries: &mut u32,
    ) -> Result<Step, DownloadError> {
        let mut failures = 0;
        let first_attempt = Instant::now();
        // Where the first body of this URL started, and the range a retry asks for to get
        // the rest of a broken one.
        let mut first_offset = None;
        let mut rest: Option<RangeAsk> = None;
        loop {
            let mut started = None;
            let ask = rest.as_ref().or(range);
            match self.get_once(url, sink, progress, ask, &mut started) {
                Ok(Step::Done {
                    status,
                    bytes,
                    total,
                    offset,
                    validator,
                }) => {
                    // After a resumed retry, count from where the first body started.
                    let first = first_offset.unwrap_or(offset).min(offset);
                    return Ok(Step::Done {
                        status,
                        bytes: bytes + (offset - first),
                        total,
                        offset: first,
                        validator,
                    });
                }
                Err(e) if e.is_retryable() && failures < self.opts.retries => {
                    if let Some((offset, validator)) = started {
                        first_offset.get_or_insert(offset);
                        rest = resume_rest(&*sink, offset, validator, range);
                    }
                    let wait = match &e {
                        DownloadError::Status {
                            retry_after: Some(after),
                            ..
                        } => *after,
                        _ => retry::jittered(retry::backoff(
                            self.opts.backoff,
                            self.opts.max_backoff,
                            failures,
                        )),
                    };
                    if first_attempt.elapsed() + wait > self.opts.retry_max_time {
                        return Err(e);
                    }
                    (self.opts.sleep)(wait);
                    failures += 1;
                    // The next body says where it starts (`Sink::start_at`); until then the
                    // sink keeps what it has, which a kept partial file wants.
                    *retries += 1;
                }
                result => return result,
            }
        }
    }

    fn get_once(
        &self,
        url: &Url,
        sink: &mut (impl Sink + ?Sized),
        progress: &mut dyn FnMut(Progress),
        range: Option<&RangeAsk>,
        started: &mut Option<(u64, Option<String>)>,
    ) -> Result<Step, DownloadError> {
        let origin = Origin {
            proxy: self.opts.proxies.for_url(url),
            ..Origin::of(url)?
        };
        let (mut conn, mut reused) = match self.checkout(&origin) {
            Some(conn) => (conn, true),
            None => (self.open(&origin)?, false),
        };
        let head = loop {
            match self.request(&mut conn, &origin, url, range) {
                Ok(head) => break head,
                // A cached connection the server closed while it sat idle. GET is
                // idempotent, so resend once on a fresh connection; this is not a retry.
                Err(DownloadError::NoResponse | DownloadError::Network(_)) if reused => {
                    conn = self.open(&origin)?;
                    reused = false;
                }
                Err(e) => return Err(e),
            }
        };
        let kind = head.body_kind()?;
        let reusable = head.keep_alive() && kind != BodyKind::UntilClose;

        let length = match kind {
            BodyKind::Length(n) => Some(n),
            BodyKind::Empty => Some(0),
            _ => None,
        };
        let ranged = match (head.status, range) {
            (206, Some(ask)) => Some(ranges::check_partial(&head, ask, length)?),
            (206, None) => {
                return Err(DownloadError::Protocol(
                    "206 Partial Content to a request without Range".into(),
                ));
            }
            (416, Some(ask)) if ranges::already_complete(&head, ask) => {
                if reusable && drain(&mut conn, kind) {
                    self.checkin(origin, conn);
                }
                sink.start_at(ask.start).map_err(DownloadError::File)?;
                return Ok(Step::Done {
                    status: 416,
                    bytes: 0,
                    total: Some(ask.start),
                    offset: ask.start,
                    validator: ask.if_range.clone(),
                });
            }
            _ => None,
        };

        if (200..300).contains(&head.status) {
            let (offset, total) = ranged.unwrap_or((0, length));
            let validator = ranges::validator(&head);
            sink.start_at(offset).map_err(DownloadError::File)?;
            sink.note_validator(validator.as_deref());
            *started = Some((offset, validator.clone()));
            progress(Progress {
                received: offset,
                total,
            });
            let bytes = http::read_body(&mut conn, kind, sink, &mut |received| {
                progress(Progress {
                    received: offset + received,
                    total,
                })
            })?;
            if reusable {
                self.checkin(origin, conn);
            }
            return Ok(Step::Done {
                status: head.status,
                bytes,
                total,
                offset,
                validator,
            });
        }

        if reusable && drain(&mut conn, kind) {
            self.checkin(origin, conn);
        }
        match head.redirect_location() {
            Some(location) => Ok(Step::Redirect(location.to_owned())),
            None => Err(DownloadError::Status {
                code: head.status,
                retry_after: head
                    .headers
                    .get("retry-after")
                    .and_then(|v| retry::parse_retry_after(v, std::time::SystemTime::now())),
                reason: head.reason,
            }),
        }
    }

    fn request(
        &self,
        conn: &mut Conn<C::Stream>,
        origin: &Origin,
        url: &Url,
        range: Option<&RangeAsk>,
    ) -> Result<http::ResponseHead, DownloadError> {
        let auth = auth::basic_auth(url);
        let range_value = range.map(ranges::range_header);
        // Plain HTTP through a proxy: the proxy gets the whole URL and its own credentials.
        // HTTPS goes through a tunnel, where the request is the target's alone.
        let via_proxy = origin.proxy.as_ref().filter(|_| !origin.tls);
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(auth) = &auth {
            headers.push(("Authorization", auth));
        }
        if let Some(proxy_auth) = via_proxy.and_then(|hop| hop.authorization.as_deref()) {
            headers.push(("Proxy-Authorization", proxy_auth));
        }
        if let Some(value) = &range_value {
            headers.push(("Range", value));
            if let Some(validator) = range.and_then(|r| r.if_range.as_deref()) {
                headers.push(("If-Range", validator));
            }
        }
        http::write_request_with(
            conn.get_mut(),
            url,
            &self.opts.user_agent,
            &headers,
            via_proxy.is_some(),
        )
        .map_err(DownloadError::from_stream)?;
        http::read_response_head(conn, self.opts.max_head_bytes)
    }

    fn open(&self, origin: &Origin) -> Result<Conn<C::Stream>, DownloadError> {
        let (host, port) = match &origin.proxy {
            Some(hop) => (&hop.host, hop.port),
            None => (&origin.host, origin.port),
        };
        let mut stream = self
            .connector
            .connect(host, port, self.opts.connect_timeout)
            .map_err(|e| match e.kind() {
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
                    DownloadError::Timeout(TimeoutPhase::Connect)
                }
                _ => DownloadError::Connect {
                    host: host.clone(),
                    port,
                    source: e,
                },
            })?;
        self.connector
            .set_read_timeout(&stream, Some(self.opts.read_timeout))
            .map_err(DownloadError::Network)?;
        if let (true, Some(hop)) = (origin.tls, &origin.proxy) {
            proxy::connect_tunnel(
                &mut stream,
                &origin.host,
                origin.port,
                hop,
                self.opts.max_head_bytes,
            )?;
        }
        let transport = if origin.tls {
            // Checked first so that a host TLS cannot name is a bad URL, not a network error.
            ServerName::try_from(origin.host.as_str()).map_err(|e| {
                DownloadError::bad_url(origin.host.as_str(), format!("not a TLS name: {e}"))
            })?;
            // The handshake runs here, under the read timeout; a failure is
            // `DownloadError::Tls`, a stall `DownloadError::Timeout`.
            let tls = self
                .opts
                .tls
                .connect(&origin.host, stream)
                .map_err(DownloadError::from_stream)?;
            Transport::Tls(Box::new(tls))
        } else {
            Transport::Plain(stream)
        };
        Ok(BufReader::with_capacity(READ_BUFFER, transport))
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, HashMap<Origin, Vec<Conn<C::Stream>>>> {
        // Nothing panics while the lock is held, but a poisoned map is still a valid map.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn checkout(&self, origin: &Origin) -> Option<Conn<C::Stream>> {
        self.lock_idle().get_mut(origin)?.pop()
    }

    fn checkin(&self, origin: Origin, conn: Conn<C::Stream>) {
        let mut idle = self.lock_idle();
        let conns = idle.entry(origin).or_default();
        if conns.len() < self.opts.max_idle_per_host {
            conns.push(conn);
        }
    }
}

/// The range that fetches the rest of a body broken after it started at `offset`: only
/// for a sink that knows how much it holds, a response with a validator (so `If-Range`
/// makes a changed file come whole instead of spliced), and some bytes already there.
fn resume_rest(
    sink: &(impl Sink + ?Sized),
    offset: u64,
    validator: Option<String>,
    range: Option<&RangeAsk>,
) -> Option<RangeAsk> {
    let held = sink.position()?;
    let validator = validator?;
    (held > offset).then(|| RangeAsk {
        start: held,
        end: range.and_then(|r| r.end),
        if_range: Some(validator),
    })
}

/// Reads and discards a small non-2xx body so its connection can be reused; `false` when the
/// body is too big or broken and the connection should be dropped instead.
fn drain<R: io::BufRead>(conn: &mut R, kind: BodyKind) -> bool {
    match kind {
        BodyKind::Length(n) if n > MAX_DRAIN => false,
        BodyKind::UntilClose => false,
        _ => http::read_body(conn, kind, &mut LimitedSink(MAX_DRAIN), &mut |_| {}).is_ok(),
    }
}

/// Discards up to its capacity, then fails.
struct LimitedSink(u64);

impl Write for LimitedSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len() as u64;
        if n > self.0 {
            return Err(io::Error::other("body too large to drain"));
        }
        self.0 -= n;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
