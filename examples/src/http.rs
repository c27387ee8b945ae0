//! The protocol half of the hello-world HTTP/1.1 server: parse the requests in a
//! buffer, append the responses. No I/O here, so that `http_server` (monkey, one
//! greenlet per connection) and the benchmark's tokio twin do the same work and send
//! the same bytes.

use std::io::Write;

/// What every request gets.
pub const BODY: &[u8] = b"Hello, world!";
/// The largest request head accepted.
pub const MAX_HEAD: usize = 8 * 1024;
/// Bytes read at a time. A request longer than this takes several reads.
pub const READ_CHUNK: usize = 4096;
const MAX_HEADERS: usize = 32;

/// What one parsed request asks of the connection.
pub struct Request {
    /// Bytes of the buffer it used, head and body.
    pub len: usize,
    pub keep_alive: bool,
}

/// Parses one request at the start of `buf`: `Ok(None)` if more bytes are needed,
/// `Err(status line)` if it cannot be served.
pub fn parse(buf: &[u8]) -> Result<Option<Request>, &'static str> {
    // Left uninitialised: httparse writes only the headers it finds, so a request
    // does not pay for storing 32 empty ones (1 KiB, on a stack that may be cold).
    let mut headers = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let head_len = match req.parse_with_uninit_headers(buf, &mut headers) {
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

/// Appends one response to `out`.
pub fn respond(out: &mut Vec<u8>, status: &str, keep_alive: bool, body: &[u8]) {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
        body.len()
    )
    .expect("writing to a Vec");
    out.extend_from_slice(body);
}

/// Answers every complete request at the start of `buf` (pipelining) into `out`.
/// Returns how many bytes of `buf` they used, and whether the connection must close
/// once `out` is written (`Connection: close`, or a request that could not be served).
pub fn answer_all(buf: &[u8], out: &mut Vec<u8>) -> (usize, bool) {
    let mut used = 0;
    loop {
        match parse(&buf[used..]) {
            Ok(Some(req)) => {
                used += req.len;
                respond(out, "200 OK", req.keep_alive, BODY);
                if !req.keep_alive {
                    return (used, true);
                }
            }
            Ok(None) => return (used, false),
            Err(status) => {
                respond(out, status, false, status.as_bytes());
                return (used, true);
            }
        }
    }
}

/// One connection's state between reads. Nothing is allocated up front: an idle
/// connection costs only what its responses and cut requests have needed so far.
#[derive(Default)]
pub struct Conversation {
    /// The start of a request that a read cut in two.
    partial: Vec<u8>,
    /// Responses to write.
    pub out: Vec<u8>,
}

impl Conversation {
    /// Takes the bytes of one read and appends the answers to every request they
    /// complete to [`out`](Self::out). Returns true if the connection must close once
    /// `out` is written.
    pub fn answer(&mut self, input: &[u8]) -> bool {
        if self.partial.is_empty() {
            // The usual case: whole requests, parsed where the read put them.
            let (used, close) = answer_all(input, &mut self.out);
            if !close {
                self.partial.extend_from_slice(&input[used..]);
            }
            close
        } else {
            self.partial.extend_from_slice(input);
            let (used, close) = answer_all(&self.partial, &mut self.out);
            self.partial.drain(..used);
            close
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_pipelined_requests_and_stops_at_close() {
        let mut talk = Conversation::default();
        let close = talk.answer(
            b"GET / HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\nGET /c HTTP/1.1\r\n\r\n",
        );
        assert!(close);
        let text = String::from_utf8(talk.out).unwrap();
        assert_eq!(text.matches("HTTP/1.1 200 OK\r\n").count(), 2);
        assert!(text.ends_with("Connection: close\r\n\r\nHello, world!"));
    }

    #[test]
    fn a_request_cut_by_reads_is_answered_once_complete() {
        let mut talk = Conversation::default();
        assert!(!talk.answer(b"GET / HTTP/1.1\r\nHo"));
        assert!(talk.out.is_empty());
        assert!(!talk.answer(b"st: x\r\n\r\nGET /2 HTT"));
        let text = String::from_utf8(talk.out.clone()).unwrap();
        assert_eq!(text.matches("HTTP/1.1 200 OK\r\n").count(), 1, "{text}");
        talk.out.clear();
        assert!(!talk.answer(b"P/1.1\r\n\r\n"));
        assert!(talk.out.ends_with(b"keep-alive\r\n\r\nHello, world!"));
        assert!(talk.partial.is_empty());
    }

    #[test]
    fn a_bad_request_gets_400_and_closes() {
        let mut talk = Conversation::default();
        assert!(talk.answer(b"NOT HTTP\r\n\r\n"));
        assert!(talk.out.starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
    }
}
