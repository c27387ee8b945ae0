//! A minimal HTTP/1.1 server answering `Hello, world!` to every request, with
//! keep-alive and pipelining, on monkey's `TcpListener`: one greenlet per connection
//! (gevent's `StreamServer`, or `WSGIServer` with a hello-world app), requests parsed
//! with httparse.
//!
//! ```text
//! cargo run --release -p examples --example http_server -- --addr 127.0.0.1:8080 [--threads N]
//! curl -v http://127.0.0.1:8080/
//! ```
//!
//! Prints `listening on ADDR`, then serves until killed. `--threads N` runs N hubs on
//! `SO_REUSEPORT` listeners, as in `echo_server`. A request whose head exceeds 8 KiB
//! or 32 headers gets `431`, a malformed one `400`; both close the connection.

use std::io::{self, Read, Write};

use monkey::net::TcpStream;

const BODY: &[u8] = b"Hello, world!";
/// The largest request head accepted.
const MAX_HEAD: usize = 8 * 1024;
const MAX_HEADERS: usize = 32;

/// What one parsed request asks of the connection.
struct Request {
    /// Bytes of the buffer it used, head and body.
    len: usize,
    keep_alive: bool,
}

/// Parses one request at the start of `buf`: `Ok(None)` if more bytes are needed,
/// `Err(status line)` if it cannot be served.
fn parse(buf: &[u8]) -> Result<Option<Request>, &'static str> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => {
            return Err("431 Request Header Fields Too Large");
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err("431 Request Header Fields Too Large");
        }
        Err(_) => return Err("400 Bad Request"),
    };
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    let has_token = |value: Option<&[u8]>, token: &str| {
        value.is_some_and(|v| {
            v.split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
        })
    };
    if header("transfer-encoding").is_some() {
        return Err("400 Bad Request"); // chunked request bodies are out of scope
    }
    let body_len = match header("content-length") {
        None => 0,
        Some(v) => std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .ok_or("400 Bad Request")?,
    };
    let connection = header("connection");
    let keep_alive = match req.version {
        Some(1) => !has_token(connection, "close"),
        _ => has_token(connection, "keep-alive"),
    };
    if buf.len() < head_len + body_len {
        return Ok(None);
    }
    Ok(Some(Request {
        len: head_len + body_len,
        keep_alive,
    }))
}

fn respond(out: &mut Vec<u8>, status: &str, keep_alive: bool, body: &[u8]) {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
        body.len()
    )
    .expect("writing to a Vec");
    out.extend_from_slice(body);
}

/// Serves one connection: requests in, responses out, until either side closes.
fn handle(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = Vec::with_capacity(4096);
    let mut out = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        // Answer every complete request in the buffer (pipelining), then write once.
        let mut used = 0;
        let mut close = false;
        loop {
            match parse(&buf[used..]) {
                Ok(Some(req)) => {
                    used += req.len;
                    respond(&mut out, "200 OK", req.keep_alive, BODY);
                    if !req.keep_alive {
                        close = true;
                        break;
                    }
                }
                Ok(None) => break,
                Err(status) => {
                    respond(&mut out, status, false, status.as_bytes());
                    close = true;
                    break;
                }
            }
        }
        buf.drain(..used);
        if !out.is_empty() {
            stream.write_all(&out)?;
            out.clear();
        }
        if close {
            return Ok(());
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn main() {
    examples::stream_server::run("http_server", "127.0.0.1:8080", handle);
}
