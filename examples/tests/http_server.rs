//! The example HTTP server against hostile clients, over raw sockets: HEAD, request
//! smuggling, huge bodies, `Expect: 100-continue`, slow heads, idle keep-alive,
//! slowloris under a 256-fd limit, and a graceful stop on SIGTERM.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use examples::http::MAX_BODY;
use examples::http_server::{Limits, serve_connection};
use monkey::net::TcpStream;
use monkey::server::StreamServer;

/// Short limits, so the timeout tests run quickly.
const SHORT: Limits = Limits {
    header_timeout: Duration::from_millis(300),
    body_timeout: Duration::from_millis(300),
    idle_timeout: Duration::from_millis(300),
    write_timeout: Duration::from_millis(300),
};

fn short_limits(stream: TcpStream, _peer: SocketAddr) -> io::Result<()> {
    serve_connection(stream, &SHORT)
}

fn server() -> StreamServer {
    let server = StreamServer::bind("127.0.0.1:0", short_limits).unwrap();
    server.start().unwrap();
    server
}

fn connect(addr: SocketAddr) -> TcpStream {
    let c = TcpStream::connect(addr).unwrap();
    // A guard against hanging, far above any limit here: never what a test asserts.
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    c
}

/// Reads until the server closes.
fn read_all(c: &mut TcpStream) -> String {
    let mut out = Vec::new();
    c.read_to_end(&mut out).unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads until `text` contains `end`.
fn read_until(c: &mut TcpStream, end: &str) -> String {
    let mut text = String::new();
    let mut buf = [0; 4096];
    while !text.contains(end) {
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0, "closed before {end:?}; got {text:?}");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    text
}

#[test]
fn head_is_answered_without_a_body_and_the_connection_stays_in_step() {
    let server = server();
    let mut c = connect(server.local_addr());
    c.write_all(b"HEAD / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let text = read_all(&mut c);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    assert_eq!(text.matches("Hello, world!").count(), 1, "{text}");
    assert!(
        text.ends_with("Connection: close\r\n\r\nHello, world!"),
        "{text}"
    );
    server.stop(None);
}

#[test]
fn ambiguous_framing_gets_400_and_the_smuggled_request_is_never_answered() {
    let server = server();
    for framing in [
        "Content-Length: 5\r\nContent-Length: 44",
        "Content-Length: +44",
        "Content-Length: 4 4",
        "Content-Length: 18446744073709551616",
        "Transfer-Encoding: chunked\r\nContent-Length: 44",
    ] {
        let mut c = connect(server.local_addr());
        // Behind a proxy that took the other framing, the second GET would be a
        // request of its own.
        let attack =
            format!("POST / HTTP/1.1\r\n{framing}\r\n\r\nhelloGET /admin HTTP/1.1\r\n\r\n");
        c.write_all(attack.as_bytes()).unwrap();
        let text = read_all(&mut c);
        assert!(
            text.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{framing}: {text}"
        );
        assert_eq!(text.matches("HTTP/1.1").count(), 1, "{framing}: {text}");
    }
    server.stop(None);
}

#[test]
fn a_huge_body_gets_413_before_it_is_sent_and_an_allowed_one_is_streamed() {
    let server = server();
    let mut c = connect(server.local_addr());
    c.write_all(b"POST / HTTP/1.1\r\nContent-Length: 1073741824\r\n\r\n")
        .unwrap();
    let text = read_all(&mut c);
    assert!(text.starts_with("HTTP/1.1 413 "), "{text}");
    // A body at the cap, sent in pieces on a keep-alive connection, then another
    // request: both answered.
    let mut c = connect(server.local_addr());
    c.write_all(format!("POST / HTTP/1.1\r\nContent-Length: {MAX_BODY}\r\n\r\n").as_bytes())
        .unwrap();
    let piece = vec![b'x'; 64 * 1024];
    for _ in 0..MAX_BODY / piece.len() as u64 {
        c.write_all(&piece).unwrap();
    }
    c.write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let text = read_all(&mut c);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
    server.stop(None);
}

#[test]
fn expect_100_continue_is_answered_before_the_body_is_sent() {
    let server = server();
    let mut c = connect(server.local_addr());
    c.write_all(b"PUT /f HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        .unwrap();
    let interim = read_until(&mut c, "\r\n\r\n");
    assert_eq!(interim, "HTTP/1.1 100 Continue\r\n\r\n");
    c.write_all(b"hello").unwrap();
    let text = read_until(&mut c, "Hello, world!");
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    server.stop(None);
}

#[test]
fn a_head_that_trickles_in_is_cut_off_with_408() {
    let server = server();
    let mut c = connect(server.local_addr());
    let start = Instant::now();
    c.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    // One header byte every 50 ms: each read is quick, the head never ends.
    let writer = c.try_clone().unwrap();
    let trickle = hub::spawn(move || {
        let mut writer = writer;
        while writer.write_all(b"X").is_ok() {
            if hub::sleep(Duration::from_millis(50)).is_err() {
                break;
            }
        }
    });
    let mut text = String::new();
    let mut buf = [0; 256];
    loop {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
    assert!(start.elapsed() >= SHORT.header_timeout, "not cut off early");
    trickle.kill().unwrap();
    server.stop(None);
}

#[test]
fn an_idle_keep_alive_connection_is_closed() {
    let server = server();
    let mut c = connect(server.local_addr());
    c.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    read_until(&mut c, "Hello, world!");
    let idle_from = Instant::now();
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "nothing more was sent: {rest:?}");
    assert!(
        idle_from.elapsed() >= SHORT.idle_timeout,
        "not closed early"
    );
    assert_eq!(server.connections(), 0);
    server.stop(None);
}

// --- In a child process: the server under an fd limit, and its stop on SIGTERM.

/// The child: `examples::serve::serve` (as the `http_server` example runs it) with
/// the short limits, under the fd limit given in `HTTP_CHILD_NOFILE`.
#[test]
fn child_server() {
    let Ok(nofile) = std::env::var("HTTP_CHILD_NOFILE") else {
        return;
    };
    let nofile: u64 = nofile.parse().unwrap();
    let limit = libc::rlimit {
        rlim_cur: nofile,
        rlim_max: nofile,
    };
    // SAFETY: setrlimit reads the struct we own.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    let listener = monkey::net::TcpListener::bind("127.0.0.1:0").unwrap();
    examples::serve::serve(0, listener, short_limits).unwrap();
    println!("stopped cleanly");
}

struct ChildServer {
    child: Child,
    addr: SocketAddr,
    stdout: BufReader<std::process::ChildStdout>,
}

impl ChildServer {
    fn start(nofile: u64) -> ChildServer {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_server", "--nocapture", "--test-threads=1"])
            .env("HTTP_CHILD_NOFILE", nofile.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let addr = loop {
            line.clear();
            assert!(
                stdout.read_line(&mut line).unwrap() > 0,
                "child said nothing"
            );
            // libtest prints the test's name on the same line first.
            if let Some((_, addr)) = line.trim().split_once("listening on ") {
                break addr.parse().unwrap();
            }
        };
        ChildServer {
            child,
            addr,
            stdout,
        }
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, signal) }, 0);
    }

    /// Waits for the child to exit; its status and the rest of its output.
    fn finish(mut self) -> (std::process::ExitStatus, String) {
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        (self.child.wait().unwrap(), rest)
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn slowloris_under_a_256_fd_limit_cannot_lock_a_client_out() {
    let server = ChildServer::start(256);
    let addr = server.addr;
    let attacking = std::rc::Rc::new(std::cell::Cell::new(true));
    // 400 slow clients: each sends a head a byte at a time, and reconnects when the
    // server drops it, for as long as the test runs.
    let attackers: Vec<_> = (0..400)
        .map(|_| {
            let attacking = attacking.clone();
            hub::spawn(move || {
                while attacking.get() {
                    let Ok(mut c) = TcpStream::connect(addr) else {
                        let _ = hub::sleep(Duration::from_millis(20));
                        continue;
                    };
                    let _ = c.write_all(b"GET / HTTP/1.1\r\n");
                    while attacking.get() && c.write_all(b"X").is_ok() {
                        if hub::sleep(Duration::from_millis(100)).is_err() {
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    // Let the attack fill the server's fds.
    hub::sleep(Duration::from_millis(200)).unwrap();
    // A real client, while the attack goes on: served once slow heads time out.
    let mut served = false;
    for _ in 0..20 {
        let Ok(mut c) = TcpStream::connect(addr) else {
            continue;
        };
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        if c.write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
            .is_err()
        {
            continue;
        }
        let mut reply = Vec::new();
        let _ = c.read_to_end(&mut reply);
        if reply.starts_with(b"HTTP/1.1 200 OK") {
            served = true;
            break;
        }
    }
    assert!(attacking.get(), "the attack was still running");
    assert!(served, "the client was served during the attack");
    attacking.set(false);
    for a in attackers {
        a.kill().unwrap();
    }
    server.signal(libc::SIGTERM);
    let (status, out) = server.finish();
    assert!(status.success(), "{status:?}");
    assert!(out.contains("stopped cleanly"), "{out}");
}

#[test]
fn sigterm_stops_gracefully_letting_a_request_in_flight_finish() {
    let server = ChildServer::start(1024);
    let mut c = connect(server.addr);
    // A request whose body is still coming when SIGTERM arrives.
    c.write_all(b"POST / HTTP/1.1\r\nContent-Length: 4\r\nConnection: close\r\n\r\nab")
        .unwrap();
    hub::sleep(Duration::from_millis(50)).unwrap();
    server.signal(libc::SIGTERM);
    // The listener closes: new connections are refused.
    let mut refused = false;
    for _ in 0..100 {
        match std::net::TcpStream::connect(server.addr) {
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                refused = true;
                break;
            }
            _ => hub::sleep(Duration::from_millis(2)).unwrap(),
        }
    }
    assert!(refused, "the port closed on SIGTERM");
    // The request in flight is still answered.
    c.write_all(b"cd").unwrap();
    let text = read_all(&mut c);
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    let (status, out) = server.finish();
    assert!(status.success(), "{status:?}");
    assert!(out.contains("stopped cleanly"), "{out}");
}
