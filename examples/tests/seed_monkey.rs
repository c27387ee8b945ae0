//! Runs the monkey twins of the seed tutorials (`monkey_sleep`, `select_polling`)
//! and checks their output order and timing; then starts the `echo_server` and
//! `http_server` examples on an ephemeral port and talks to them.
//!
//! The twins run with `SEED_TIME_SCALE=0.1` (a 2-second lesson takes 0.2 s); times
//! are checked from below only (a sleep never ends early), and the order of the
//! printed lines proves that waits overlapped. `cargo test` builds a package's examples along with
//! its integration tests, into `<target>/<profile>/examples/`, next to the `deps/`
//! directory holding this binary.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SCALE: f64 = 0.1;

/// How long a twin may run before it counts as hung and is killed (a guard against
/// hangs, not a claim about speed).
const HANG_GUARD: Duration = Duration::from_secs(30);

use common::example;

/// Runs twin `name` at [`SCALE`]: its stdout lines and how long it took.
fn run(name: &str) -> (Vec<String>, Duration) {
    let ran = common::run_example(
        name,
        &[],
        &[("SEED_TIME_SCALE", &SCALE.to_string())],
        HANG_GUARD,
    );
    assert!(
        ran.stderr_besides_monitor().is_empty(),
        "{name} wrote to stderr: {}",
        ran.stderr
    );
    (ran.lines, ran.elapsed)
}

fn scaled(secs: f64) -> Duration {
    Duration::from_secs_f64(secs * SCALE)
}

#[test]
fn monkey_sleep_interleaves() {
    let (lines, elapsed) = run("monkey_sleep");
    // The tutorial's output: both greenlets (both named work1) print each i in turn.
    let expected: Vec<String> = (0..5)
        .flat_map(|i| {
            std::iter::repeat_n(format!("<built-in function getcurrent> name=work1 {i}"), 2)
        })
        .collect();
    assert_eq!(lines, expected);
    // The order above shows the sleeps let the other greenlet run (blocking ones
    // would print 0..4 twice); five 0.3 s sleeps each.
    assert!(elapsed >= scaled(1.5), "took {elapsed:?}");
}

/// The seconds in a `tic()` line (`... at 2.0 seconds`).
fn tic_seconds(line: &str) -> f64 {
    let rest = line
        .rsplit_once(" at ")
        .unwrap_or_else(|| panic!("no time in {line:?}"))
        .1;
    rest.strip_suffix(" seconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no time in {line:?}"))
}

#[test]
fn select_polling_ends_both_polls_at_two_seconds() {
    let (lines, elapsed) = run("select_polling");
    assert_eq!(lines.len(), 5, "{lines:?}");
    let prefixes = [
        "Started Polling: at ",
        "Started Polling: at ",
        "Hey lets do some stuff while the greenlets poll, at ",
        "Ended Polling: at ",
        "Ended Polling: at ",
    ];
    for (line, prefix) in lines.iter().zip(prefixes) {
        assert!(line.starts_with(prefix), "{lines:?}");
    }
    // The order above shows the polls overlapped: both had started, and the third
    // greenlet had run, before either ended. Neither ended before its 2 s.
    for line in &lines[3..] {
        let t = tic_seconds(line);
        assert!(t >= 1.95, "{line}");
    }
    assert!(elapsed >= scaled(2.0), "took {elapsed:?}");
}

/// A server example running on an ephemeral port; killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(name: &str) -> Server {
        let mut child = Command::new(example(name))
            .args(["--addr", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {name} ({e})"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("{name} printed {line:?}"));
        Server { child, addr }
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn echo_server_echoes_many_connections_at_once() {
    let server = Server::start("echo_server");
    let mut conns: Vec<TcpStream> = (0..20).map(|_| server.connect()).collect();
    for round in 0..3u8 {
        for (i, c) in conns.iter_mut().enumerate() {
            c.write_all(&[i as u8, round]).unwrap();
        }
        for (i, c) in conns.iter_mut().enumerate() {
            let mut b = [0u8; 2];
            c.read_exact(&mut b).unwrap();
            assert_eq!(b, [i as u8, round]);
        }
    }
}

/// Reads one response with a `Content-Length` body: (head, body).
fn read_response(r: &mut BufReader<&TcpStream>) -> (String, String) {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        assert!(r.read_line(&mut line).unwrap() > 0, "connection closed");
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .expect("a Content-Length")
        .parse()
        .unwrap();
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).unwrap();
    (head, String::from_utf8(body).unwrap())
}

#[test]
fn http_server_keeps_alive_pipelines_and_closes() {
    let server = Server::start("http_server");
    let s = server.connect();
    let mut r = BufReader::new(&s);
    // Two requests on one connection, the second pipelined behind a third.
    (&s).write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (head, body) = read_response(&mut r);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Connection: keep-alive"), "{head}");
    assert_eq!(body, "Hello, world!");
    (&s).write_all(
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let (head, _) = read_response(&mut r);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    let (head, body) = read_response(&mut r);
    assert!(head.contains("Connection: close"), "{head}");
    assert_eq!(body, "Hello, world!");
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "the server closed after Connection: close");

    // An oversized head is refused with 431, a malformed one with 400.
    let s = server.connect();
    let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
    big.resize(10_000, b'a');
    let _ = (&s).write_all(&big);
    let (head, _) = read_response(&mut BufReader::new(&s));
    assert!(head.starts_with("HTTP/1.1 431 "), "{head}");
    let s = server.connect();
    (&s).write_all(b"NOT HTTP\r\n\r\n").unwrap();
    let (head, _) = read_response(&mut BufReader::new(&s));
    assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
}
