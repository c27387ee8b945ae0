//! HTTP/1.1 framing over any `Read + Write` stream: writing a GET request, reading a response
//! or request head with `httparse`, and streaming a body (Content-Length, chunked, or until
//! close) into a `Write` sink.
//!
//! Nothing here knows about sockets, TLS or retries, so the same code runs over std's
//! `TcpStream`, monkey's, or a rustls stream. Every read is bounded: heads by a byte limit
//! ([`DownloadError::HeaderTooLarge`]), chunk-size lines and trailers by fixed limits.

use std::io::{self, BufRead, Read, Write};

use url::{Position, Url};

use super::error::DownloadError;

/// Default limit for a response head (status line and headers).
pub const DEFAULT_MAX_HEAD_BYTES: usize = 64 * 1024;

/// Most headers accepted in one head; more is reported as [`DownloadError::HeaderTooLarge`].
const MAX_HEADERS: usize = 100;

/// Longest chunk-size line (hex size plus extensions) accepted.
const MAX_CHUNK_LINE: usize = 4096;

/// Most trailer bytes accepted after the last chunk.
const MAX_TRAILER_BYTES: usize = 16 * 1024;

/// Interim (1xx) responses skipped before giving up on a final one.
const MAX_INTERIM_RESPONSES: usize = 8;

/// Writes a `GET` request for `url` in one `write_all`, then flushes, so a TLS stream sends
/// it as one record and Nagle never delays it.
pub fn write_request(w: &mut impl Write, url: &Url, user_agent: &str) -> io::Result<()> {
    write_request_with(w, url, user_agent, &[], false)
}

/// [`write_request`] with `headers` added, and the target in absolute form
/// (`http://host/path`, what a proxy is sent) when `absolute_form` is set. Credentials in
/// `url` are never written as such; the caller sends them as a header.
pub fn write_request_with(
    w: &mut impl Write,
    url: &Url,
    user_agent: &str,
    headers: &[(&str, &str)],
    absolute_form: bool,
) -> io::Result<()> {
    let target = &url[Position::BeforePath..Position::AfterQuery];
    let host = url.host_str().unwrap_or_default();
    let mut req = Vec::with_capacity(256);
    req.extend_from_slice(b"GET ");
    if absolute_form {
        write!(req, "{}://{host}", url.scheme())?;
        if let Some(port) = url.port() {
            write!(req, ":{port}")?;
        }
    }
    write!(req, "{target} HTTP/1.1\r\nHost: {host}")?;
    if let Some(port) = url.port() {
        write!(req, ":{port}")?;
    }
    write!(
        req,
        "\r\nUser-Agent: {user_agent}\r\nAccept: */*\r\nAccept-Encoding: identity\r\n"
    )?;
    for (name, value) in headers {
        // A header value never spans lines: a CR or LF from a URL or a server's ETag
        // would split the request.
        if value.contains(['\r', '\n']) || name.contains(['\r', '\n', ':']) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("header {name:?} holds a line break"),
            ));
        }
        write!(req, "{name}: {value}\r\n")?;
    }
    req.extend_from_slice(b"\r\n");
    w.write_all(&req)?;
    w.flush()
}

/// How the length of a body is known (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body (204, 304, 1xx).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the server closes; the connection cannot be reused.
    UntilClose,
}

/// Headers as received; names keep their case, lookups ignore it.
#[derive(Debug, Clone, Default)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// The first value of header `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether a comma-separated header such as `Connection` lists `token`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name)
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// All headers in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    fn from_parsed(parsed: &[httparse::Header<'_>]) -> Self {
        Self(
            parsed
                .iter()
                .map(|h| {
                    (
                        h.name.to_owned(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect(),
        )
    }

    /// Connection persistence: HTTP/1.1 keeps the connection unless told `close`; HTTP/1.0
    /// closes it unless told `keep-alive`.
    fn keep_alive(&self, minor_version: u8) -> bool {
        if minor_version >= 1 {
            !self.has_token("connection", "close")
        } else {
            self.has_token("connection", "keep-alive")
        }
    }
}

/// The status line and headers of a response.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    pub status: u16,
    pub reason: String,
    /// `1` for HTTP/1.1, `0` for HTTP/1.0.
    pub minor_version: u8,
    pub headers: Headers,
}

impl ResponseHead {
    /// Whether the server lets the connection be reused after this response's body.
    pub fn keep_alive(&self) -> bool {
        self.headers.keep_alive(self.minor_version)
    }

    /// Whether this is a redirect the client should follow (it has a `Location`).
    pub fn redirect_location(&self) -> Option<&str> {
        matches!(self.status, 301 | 302 | 303 | 307 | 308)
            .then(|| self.headers.get("location"))
            .flatten()
    }

    /// How the body of this response (to a GET) is delimited.
    pub fn body_kind(&self) -> Result<BodyKind, DownloadError> {
        if matches!(self.status, 100..=199 | 204 | 304) {
            return Ok(BodyKind::Empty);
        }
        if let Some(te) = self.headers.get_all("transfer-encoding").last() {
            let last = te.rsplit(',').next().unwrap_or_default().trim();
            return Ok(if last.eq_ignore_ascii_case("chunked") {
                BodyKind::Chunked
            } else {
                BodyKind::UntilClose
            });
        }
        let mut length = None;
        for value in self.headers.get_all("content-length") {
            for part in value.split(',') {
                let n = parse_digits(part.trim(), 10).ok_or_else(|| {
                    DownloadError::Protocol(format!("bad Content-Length {value:?}"))
                })?;
                if length.is_some_and(|l| l != n) {
                    return Err(DownloadError::Protocol(
                        "conflicting Content-Length headers".into(),
                    ));
                }
                length = Some(n);
            }
        }
        Ok(length.map_or(BodyKind::UntilClose, BodyKind::Length))
    }
}

/// The request line and headers of a request (used by the test/demo server).
#[derive(Debug, Clone)]
pub struct RequestHead {
    pub method: String,
    /// The request target as sent, e.g. `/files/a.bin?x=1`.
    pub target: String,
    pub minor_version: u8,
    pub headers: Headers,
}

impl RequestHead {
    /// The target without its query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// Whether the client wants the connection kept open after the response.
    pub fn keep_alive(&self) -> bool {
        self.headers.keep_alive(self.minor_version)
    }
}

/// Reads one final response head, skipping interim 1xx responses (except 101).
///
/// [`DownloadError::NoResponse`] means the connection closed before the first byte, which is
/// what a kept-alive connection the server has since closed looks like.
pub fn read_response_head(
    r: &mut impl BufRead,
    max_bytes: usize,
) -> Result<ResponseHead, DownloadError> {
    for _ in 0..MAX_INTERIM_RESPONSES {
        let raw = read_head_bytes(r, max_bytes)?.ok_or(DownloadError::NoResponse)?;
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut headers);
        parse_status(parsed.parse(&raw), max_bytes)?;
        let (Some(status), Some(minor_version)) = (parsed.code, parsed.version) else {
            return Err(DownloadError::Protocol("missing status line".into()));
        };
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        return Ok(ResponseHead {
            status,
            reason: parsed.reason.unwrap_or_default().to_owned(),
            minor_version,
            headers: Headers::from_parsed(parsed.headers),
        });
    }
    Err(DownloadError::Protocol("too many interim responses".into()))
}

/// Reads one request head; `Ok(None)` when the client closed the connection cleanly first.
pub fn read_request_head(
    r: &mut impl BufRead,
    max_bytes: usize,
) -> Result<Option<RequestHead>, DownloadError> {
    let Some(raw) = read_head_bytes(r, max_bytes)? else {
        return Ok(None);
    };
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    parse_status(parsed.parse(&raw), max_bytes)?;
    let (Some(method), Some(target), Some(minor_version)) =
        (parsed.method, parsed.path, parsed.version)
    else {
        return Err(DownloadError::Protocol("missing request line".into()));
    };
    Ok(Some(RequestHead {
        method: method.to_owned(),
        target: target.to_owned(),
        minor_version,
        headers: Headers::from_parsed(parsed.headers),
    }))
}

fn parse_status(status: httparse::Result<usize>, max_bytes: usize) -> Result<(), DownloadError> {
    match status {
        Ok(httparse::Status::Complete(_)) => Ok(()),
        Ok(httparse::Status::Partial) => Err(DownloadError::Protocol("truncated head".into())),
        Err(httparse::Error::TooManyHeaders) => {
            Err(DownloadError::HeaderTooLarge { limit: max_bytes })
        }
        Err(e) => Err(DownloadError::Protocol(e.to_string())),
    }
}

/// Reads lines up to and including the blank line ending a head, at most `max_bytes` in all.
/// Blank lines before the head are skipped (RFC 9112 §2.2). `Ok(None)` on EOF before any
/// byte of the head.
fn read_head_bytes(
    r: &mut impl BufRead,
    max_bytes: usize,
) -> Result<Option<Vec<u8>>, DownloadError> {
    let mut head = Vec::new();
    loop {
        let start = head.len();
        // One byte over the limit tells "exactly full" apart from "too long".
        let budget = (max_bytes + 1).saturating_sub(start) as u64;
        let n = Read::take(&mut *r, budget)
            .read_until(b'\n', &mut head)
            .map_err(DownloadError::from_stream)?;
        if head.len() > max_bytes {
            return Err(DownloadError::HeaderTooLarge { limit: max_bytes });
        }
        if n == 0 {
            return if head.iter().all(|b| b.is_ascii_whitespace()) {
                Ok(None)
            } else {
                Err(DownloadError::Protocol(
                    "connection closed inside the head".into(),
                ))
            };
        }
        let line = &head[start..];
        if line == b"\r\n" || line == b"\n" {
            if head[..start].iter().all(|b| b.is_ascii_whitespace()) {
                head.clear();
            } else {
                return Ok(Some(head));
            }
        }
    }
}

/// Streams a body of the given kind from `r` into `sink`, calling `on_data` with the running
/// byte count after each piece. Returns the number of body bytes.
///
/// Errors from `r` are connection errors (timeouts, resets, TLS); a premature end is
/// [`DownloadError::Incomplete`]; errors from `sink` are [`DownloadError::File`].
pub fn read_body(
    r: &mut impl BufRead,
    kind: BodyKind,
    sink: &mut (impl Write + ?Sized),
    on_data: &mut dyn FnMut(u64),
) -> Result<u64, DownloadError> {
    let mut received = 0;
    match kind {
        BodyKind::Empty => {}
        BodyKind::Length(len) => {
            copy_exact(r, len, sink, &mut received, Some(len), on_data)?;
        }
        BodyKind::UntilClose => loop {
            let n = {
                let buf = fill(r, received, None)?;
                if buf.is_empty() {
                    break;
                }
                sink.write_all(buf).map_err(DownloadError::File)?;
                buf.len()
            };
            r.consume(n);
            received += n as u64;
            on_data(received);
        },
        BodyKind::Chunked => loop {
            let line = read_line(r, MAX_CHUNK_LINE, received)?;
            let size = parse_chunk_size(&line)?;
            if size == 0 {
                skip_trailers(r, received)?;
                break;
            }
            copy_exact(r, size, sink, &mut received, None, on_data)?;
            if !read_line(r, 2, received)?.is_empty() {
                return Err(DownloadError::Protocol("chunk not followed by CRLF".into()));
            }
        },
    }
    sink.flush().map_err(DownloadError::File)?;
    Ok(received)
}

/// `fill_buf`, with EOF and errors mapped; an empty slice only where EOF is acceptable.
fn fill(
    r: &mut impl BufRead,
    received: u64,
    expected: Option<u64>,
) -> Result<&[u8], DownloadError> {
    r.fill_buf().map_err(|e| match e.kind() {
        // rustls reports a close without close_notify this way: a possible truncation.
        io::ErrorKind::UnexpectedEof => DownloadError::Incomplete { received, expected },
        _ => DownloadError::from_stream(e),
    })
}

fn copy_exact(
    r: &mut impl BufRead,
    mut remaining: u64,
    sink: &mut (impl Write + ?Sized),
    received: &mut u64,
    expected: Option<u64>,
    on_data: &mut dyn FnMut(u64),
) -> Result<(), DownloadError> {
    while remaining > 0 {
        let n = {
            let buf = fill(r, *received, expected)?;
            if buf.is_empty() {
                return Err(DownloadError::Incomplete {
                    received: *received,
                    expected,
                });
            }
            let n = buf
                .len()
                .min(usize::try_from(remaining).unwrap_or(usize::MAX));
            sink.write_all(&buf[..n]).map_err(DownloadError::File)?;
            n
        };
        r.consume(n);
        remaining -= n as u64;
        *received += n as u64;
        on_data(*received);
    }
    Ok(())
}

/// Reads one CRLF- (or LF-) terminated line of at most `max` bytes, without the terminator.
fn read_line(r: &mut impl BufRead, max: usize, received: u64) -> Result<Vec<u8>, DownloadError> {
    let mut line = Vec::new();
    let n = Read::take(&mut *r, max as u64 + 2)
        .read_until(b'\n', &mut line)
        .map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => DownloadError::Incomplete {
                received,
                expected: None,
            },
            _ => DownloadError::from_stream(e),
        })?;
    if line.last() != Some(&b'\n') {
        return Err(if n == 0 || line.len() <= max {
            DownloadError::Incomplete {
                received,
                expected: None,
            }
        } else {
            DownloadError::Protocol("chunk framing line too long".into())
        });
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(line)
}

fn parse_chunk_size(line: &[u8]) -> Result<u64, DownloadError> {
    let digits = line.split(|&b| b == b';').next().unwrap_or_default();
    let digits = std::str::from_utf8(digits).unwrap_or_default().trim();
    parse_digits(digits, 16).ok_or_else(|| {
        DownloadError::Protocol(format!(
            "bad chunk size {:?}",
            String::from_utf8_lossy(line)
        ))
    })
}

/// A number written only with digits of `radix` (`1*DIGIT`, `1*HEXDIG`), as HTTP
/// requires: unlike `str::parse`, a sign is refused (`+5` would otherwise pass), so the
/// length we read is the one every other parser of the message reads.
fn parse_digits(digits: &str, radix: u32) -> Option<u64> {
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

fn skip_trailers(r: &mut impl BufRead, received: u64) -> Result<(), DownloadError> {
    let mut total = 0;
    loop {
        let line = read_line(r, MAX_TRAILER_BYTES, received)?;
        if line.is_empty() {
            return Ok(());
        }
        total += line.len() + 2;
        if total > MAX_TRAILER_BYTES {
            return Err(DownloadError::HeaderTooLarge {
                limit: MAX_TRAILER_BYTES,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> ResponseHead {
        read_response_head(&mut raw.as_bytes(), DEFAULT_MAX_HEAD_BYTES).unwrap()
    }

    /// Found by reading what the fuzz target accepted: `str::parse` takes a `+` sign.
    #[test]
    fn lengths_are_plain_digits() {
        let kind = |cl: &str| {
            head(&format!("HTTP/1.1 200 OK\r\nContent-Length: {cl}\r\n\r\n")).body_kind()
        };
        assert_eq!(kind("5").unwrap(), BodyKind::Length(5));
        assert_eq!(kind("5, 5").unwrap(), BodyKind::Length(5));
        for bad in ["+5", "-5", "5x", "0x5", " ", "5,", "99999999999999999999"] {
            assert!(kind(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(parse_chunk_size(b"1f;name=value").unwrap(), 31);
        assert_eq!(parse_chunk_size(b"0").unwrap(), 0);
        for bad in [
            &b"+5"[..],
            b"-5",
            b"0x5",
            b"",
            b"; ext",
            b"11111111111111111",
        ] {
            assert!(
                parse_chunk_size(bad).is_err(),
                "{:?} accepted",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
