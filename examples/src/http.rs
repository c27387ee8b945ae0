//! The protocol half of the hello-world HTTP/1.1 server: parse the requests in a
//! buffer, append the responses. No I/O here, so that `http_server` (monkey, one
//! greenlet per connection, see [`crate::http_server`]) and the benchmark's tokio twin
//! do the same work and send the same bytes.
//!
//! Safe to face the open internet: strict framing (see [`parse`]), `HEAD` answered
//! without a body, request bodies counted and dropped as they arrive and capped at
//! [`MAX_BODY`] (`413`), `Expect: 100-continue` answered before the body comes.

use std::io::Write;

/// What every request gets.
pub const BODY: &[u8] = b"Hello, world!";
/// The largest request head accepted.
pub const MAX_HEAD: usize = 8 * 1024;
/// Bytes read at a time. A request longer than this takes several reads.
pub const READ_CHUNK: usize = 4096;
const MAX_HEADERS: usize = 32;

/// The largest request body accepted; a longer one gets `413` before any of it is
/// read. Bodies are never buffered: their bytes are counted and dropped as they come.
pub const MAX_BODY: u64 = 1024 * 1024;

/// What one parsed request head asks of the connection.
pub struct Request {
    /// Bytes of the buffer the head used.
    pub head_len: usize,
    /// Bytes of body that follow it (`Content-Length`).
    pub body_len: u64,
    pub keep_alive: bool,
    /// `HEAD`: the response has headers only.
    pub head_only: bool,
    /// `Expect: 100-continue`: the client waits for `100 Continue` before the body.
    pub expect_continue: bool,
}

/// Parses one request head at the start of `buf`: `Ok(None)` if more bytes are
/// needed, `Err(status line)` if it cannot be served (the connection then closes).
///
/// Framing is strict, so that no proxy in front can read a different request
/// boundary (request smuggling): `Content-Length` must be plain digits that fit in a
/// `u64`, and repeated ones must agree; `Transfer-Encoding` (chunked bodies) is
/// refused.
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
    if head_len > MAX_HEAD {
        return Err("431 Request Header Fields Too Large");
    }
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
    let mut body_len = None;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let len = content_length(h.value).ok_or("400 Bad Request")?;
            if body_len.is_some_and(|seen| seen != len) {
                return Err("400 Bad Request");
            }
            body_len = Some(len);
        }
    }
    let body_len = body_len.unwrap_or(0);
    let expect_continue = match header("expect") {
        None => false,
        Some(v) if v.trim_ascii().eq_ignore_ascii_case(b"100-continue") => true,
        Some(_) => return Err("417 Expectation Failed"),
    };
    let connection = header("connection");
    let keep_alive = match req.version {
        Some(1) => !has_token(connection, "close"),
        _ => has_token(connection, "keep-alive"),
    };
    Ok(Some(Request {
        head_len,
        body_len,
        keep_alive,
        head_only: req.method == Some("HEAD"),
        expect_continue,
    }))
}

/// A `Content-Length` value: one or more ASCII digits (surrounding blanks allowed),
/// no sign, no list, no overflow.
fn content_length(value: &[u8]) -> Option<u64> {
    let digits = value.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// Appends one response to `out`; for a `HEAD` request (`head_only`) the headers
/// announce the body but it is not sent.
pub fn respond(out: &mut Vec<u8>, status: &str, keep_alive: bool, body: &[u8], head_only: bool) {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
        body.len()
    )
    .expect("writing to a Vec");
    if !head_only {
        out.extend_from_slice(body);
    }
}

/// The answer owed to a request whose body is still arriving.
#[derive(Clone, Copy)]
struct Owed {
    keep_alive: bool,
    head_only: bool,
}

/// One connection's state between reads. Nothing is allocated up front: an idle
/// connection costs only what its responses and cut request heads have needed so far.
#[derive(Default)]
pub struct Conversation {
    /// The start of a request head that a read cut in two (at most [`MAX_HEAD`]).
    partial: Vec<u8>,
    /// Body bytes of the current request still to come, and dropped when they do.
    body_left: u64,
    /// The response to send once the body is in.
    owed: Option<Owed>,
    /// Responses to write.
    pub out: Vec<u8>,
}

impl Conversation {
    /// Takes the bytes of one read and appends the answers to every request they
    /// complete to [`out`](Self::out) (pipelining). Returns true if the connection
    /// must close once `out` is written (`Connection: close`, or a request that could
    /// not be served).
    pub fn answer(&mut self, input: &[u8]) -> bool {
        if self.partial.is_empty() {
            // The usual case: whole requests, parsed where the read put them.
            self.answer_slice(input)
        } else {
            let mut joined = std::mem::take(&mut self.partial);
            joined.extend_from_slice(input);
            self.answer_slice(&joined)
        }
    }

    /// True between requests: no head or body is partly read. A server gives an
    /// idle connection its keep-alive timeout, a busy one its request timeouts.
    pub fn is_idle(&self) -> bool {
        self.partial.is_empty() && self.owed.is_none()
    }

    /// True while a request's body is being read (its head is complete).
    pub fn reading_body(&self) -> bool {
        self.owed.is_some()
    }

    fn answer_slice(&mut self, mut rest: &[u8]) -> bool {
        loop {
            if let Some(owed) = self.owed {
                let n = self.body_left.min(rest.len() as u64);
                self.body_left -= n;
                rest = &rest[n as usize..];
                if self.body_left > 0 {
                    return false;
                }
                self.owed = None;
                respond(
                    &mut self.out,
                    "200 OK",
                    owed.keep_alive,
                    BODY,
                    owed.head_only,
                );
                if !owed.keep_alive {
                    return true;
                }
            }
            if rest.is_empty() {
                return false;
            }
            match parse(rest) {
                Ok(Some(req)) => {
                    rest = &rest[req.head_len..];
                    if req.body_len > MAX_BODY {
                        let status = "413 Content Too Large";
                        respond(&mut self.out, status, false, status.as_bytes(), false);
                        return true;
                    }
                    if req.expect_continue && req.body_len > 0 {
                        self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                    }
                    self.body_left = req.body_len;
                    self.owed = Some(Owed {
                        keep_alive: req.keep_alive,
                        head_only: req.head_only,
                    });
                }
                Ok(None) => {
                    self.partial.extend_from_slice(rest);
                    return false;
                }
                Err(status) => {
                    respond(&mut self.out, status, false, status.as_bytes(), false);
                    return true;
                }
            }
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

    fn status_of(input: &[u8]) -> (String, bool) {
        let mut talk = Conversation::default();
        let close = talk.answer(input);
        (String::from_utf8(talk.out).unwrap(), close)
    }

    #[test]
    fn head_gets_the_headers_without_the_body() {
        let (text, close) = status_of(b"HEAD / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n");
        assert!(!close);
        assert_eq!(text.matches("HTTP/1.1 200 OK\r\n").count(), 2, "{text}");
        assert!(text.contains("Content-Length: 13\r\n"));
        // One body in all: the GET's, at the very end.
        assert_eq!(text.matches("Hello, world!").count(), 1, "{text}");
        assert!(text.ends_with("Hello, world!"));
    }

    #[test]
    fn content_length_must_be_plain_digits_that_fit_and_agree() {
        for bad in [
            &b"+5"[..],
            b"-1",
            b"0x10",
            b"5 5",
            b"5,5",
            b"",
            b"18446744073709551616", // u64::MAX + 1
            b"99999999999999999999999",
        ] {
            let mut req = b"POST / HTTP/1.1\r\nContent-Length: ".to_vec();
            req.extend_from_slice(bad);
            req.extend_from_slice(b"\r\n\r\nhello");
            let (text, close) = status_of(&req);
            assert!(close, "{:?}", String::from_utf8_lossy(bad));
            assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
        }
        let (text, close) =
            status_of(b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!");
        assert!(close && text.starts_with("HTTP/1.1 400 "), "{text}");
        // Repeated but equal is the same framing: served.
        let (text, close) =
            status_of(b"POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length:  5 \r\n\r\nhello");
        assert!(!close && text.starts_with("HTTP/1.1 200 OK"), "{text}");
        let (text, close) =
            status_of(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
        assert!(close && text.starts_with("HTTP/1.1 400 "), "{text}");
    }

    #[test]
    fn bodies_are_streamed_not_buffered_and_capped() {
        let mut talk = Conversation::default();
        let head = format!("POST / HTTP/1.1\r\nContent-Length: {MAX_BODY}\r\n\r\n");
        assert!(!talk.answer(head.as_bytes()));
        assert!(talk.reading_body() && !talk.is_idle());
        let chunk = vec![b'x'; 4096];
        for _ in 0..MAX_BODY / 4096 {
            assert!(!talk.answer(&chunk));
            assert!(talk.partial.is_empty(), "the body is never kept");
        }
        assert!(talk.is_idle());
        assert!(talk.out.starts_with(b"HTTP/1.1 200 OK"));
        // One byte over the cap: 413 before any body byte is read.
        let (text, close) = status_of(
            format!(
                "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
                MAX_BODY + 1
            )
            .as_bytes(),
        );
        assert!(close && text.starts_with("HTTP/1.1 413 "), "{text}");
    }

    #[test]
    fn expect_100_continue_is_answered_before_the_body() {
        let mut talk = Conversation::default();
        let close =
            talk.answer(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
        assert!(!close);
        assert_eq!(talk.out, b"HTTP/1.1 100 Continue\r\n\r\n");
        talk.out.clear();
        assert!(!talk.answer(b"body"));
        assert!(talk.out.starts_with(b"HTTP/1.1 200 OK"));
        let (text, close) = status_of(b"POST / HTTP/1.1\r\nExpect: teapot\r\n\r\n");
        assert!(close && text.starts_with("HTTP/1.1 417 "), "{text}");
    }

    #[test]
    fn an_oversized_head_is_refused_even_when_cut_by_reads() {
        let mut talk = Conversation::default();
        assert!(!talk.answer(b"GET / HTTP/1.1\r\n"));
        let filler =
            b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
        let mut closed = false;
        for _ in 0..(MAX_HEAD / filler.len() + 2) {
            if talk.answer(filler) {
                closed = true;
                break;
            }
            assert!(talk.partial.len() <= MAX_HEAD);
        }
        assert!(closed);
        assert!(talk.out.starts_with(b"HTTP/1.1 431 "));
    }
}
