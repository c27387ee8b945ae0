//! A StreamServer out of file descriptors keeps its port, reports the error once, and
//! serves again once fds free up. Its own test binary: it lowers the process's fd
//! limit.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use monkey::net::TcpStream;
use monkey::server::StreamServer;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn nofile() -> libc::rlimit {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct we own.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    limit
}

fn set_nofile(limit: &libc::rlimit) {
    // SAFETY: setrlimit reads the struct we own; lowering the soft limit is allowed.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, limit) }, 0);
}

fn ask(addr: std::net::SocketAddr) -> std::io::Result<Vec<u8>> {
    let mut c = TcpStream::connect(addr)?;
    c.write_all(b"ping")?;
    let mut reply = Vec::new();
    c.read_to_end(&mut reply)?;
    Ok(reply)
}

#[test]
fn the_server_survives_fd_exhaustion_and_serves_once_fds_free_up() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    hub::set_failure_reports(hub::FailureReports::Tracing);
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = StreamServer::bind("127.0.0.1:0", |mut conn: TcpStream, _| {
        let mut buf = [0; 4];
        conn.read_exact(&mut buf)?;
        conn.write_all(b"pong")
    })
    .unwrap();
    server.start().unwrap();
    let addr = server.local_addr();
    assert_eq!(ask(addr).unwrap(), b"pong");

    // Use up every fd below a lowered limit, then free exactly one: the client's.
    let saved = nofile();
    let highest = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    set_nofile(&libc::rlimit {
        rlim_cur: highest + 32,
        rlim_max: saved.rlim_max,
    });
    let mut hoard = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(f) => hoard.push(f),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                break;
            }
        }
    }
    hoard.pop();
    let client = hub::spawn(move || ask(addr));
    // The connection is made (the kernel completes it) but accept has no fd.
    hub::sleep(Duration::from_millis(150)).unwrap();
    assert!(!client.is_ready(), "nothing can serve it yet");
    assert_eq!(server.connections(), 0);
    assert!(server.is_serving(), "the accept error was not fatal");

    drop(hoard);
    set_nofile(&saved);
    assert_eq!(
        client.join().unwrap().unwrap(),
        b"pong",
        "served once fds freed"
    );
    assert_eq!(ask(addr).unwrap(), b"pong", "and it keeps serving");
    server.stop(None);

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let failures = log.lines().filter(|l| l.contains("accept failed")).count();
    assert_eq!(failures, 1, "one report per streak of errors:\n{log}");
    assert!(log.contains("Too many open files"), "{log}");
    assert!(log.contains("accepting again after"), "{log}");
}
