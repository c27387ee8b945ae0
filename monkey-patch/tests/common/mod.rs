//! Real servers for the tests, each on 127.0.0.1 with a port and data directory of
//! its own, killed when dropped. A test skips (with a message saying which Debian
//! package to install) only when the server's binary is missing; `.ci/run` installs
//! them.

#![allow(dead_code)] // each test target uses part of it

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The first of `candidates` that exists, or `None` after printing why the test skips.
pub fn find_binary(candidates: &[&str], package: &str) -> Option<PathBuf> {
    let found = candidates.iter().map(PathBuf::from).find(|p| p.exists());
    if found.is_none() {
        eprintln!(
            "SKIPPED: none of {candidates:?} exists; install the Debian package `{package}` \
             (.ci/run does)"
        );
    }
    found
}

/// A port free now on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts connections on `port` (the server is up).
fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let start = Instant::now();
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening: {status}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(60), // not-a-time-bound: a wait loop gives up
            "{what} did not listen on port {port} within 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A server process, stopped with `stop_signal` and reaped when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
    stop_signal: i32,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: signals our own child, which has not been reaped yet.
        unsafe { libc::kill(self.child.id() as i32, self.stop_signal) };
        let _ = self.child.wait();
    }
}

/// `redis-server` with no persistence, in a temp dir.
pub fn redis() -> Option<Server> {
    let bin = find_binary(
        &["/usr/bin/redis-server", "/usr/local/bin/redis-server"],
        "redis-server",
    )?;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(bin)
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port, &mut child, "redis-server");
    Some(Server {
        child,
        port,
        stop_signal: libc::SIGKILL,
        _dir: dir,
    })
}

/// The newest PostgreSQL server binaries Debian installed.
fn postgres_bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("postgres").exists() && p.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

/// The uid and gid of the user PostgreSQL runs as when we are root (it refuses to
/// run as root): `postgres` (made by the Debian package), else `nobody`.
fn postgres_user() -> Option<(u32, u32)> {
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    for name in [c"postgres", c"nobody"] {
        // SAFETY: a NUL-terminated name; the entry is read at once, before any other
        // getpw* call on this thread.
        if let Some(pw) = unsafe { libc::getpwnam(name.as_ptr()).as_ref() } {
            return Some((pw.pw_uid, pw.pw_gid));
        }
    }
    panic!("running as root, and neither a postgres nor a nobody user exists");
}

/// Runs a PostgreSQL binary, as [`postgres_user`] when we are root.
fn postgres_command(bin: &Path) -> Command {
    use std::os::unix::process::CommandExt;
    let mut c = Command::new(bin);
    if let Some((uid, gid)) = postgres_user() {
        c.uid(uid).gid(gid);
    }
    c
}

/// A PostgreSQL server with a fresh cluster (user `postgres`, trust auth) in a temp
/// dir, listening on 127.0.0.1 only.
pub fn postgres() -> Option<Server> {
    let Some(bin) = postgres_bin_dir() else {
        eprintln!(
            "SKIPPED: no /usr/lib/postgresql/*/bin/postgres; install the Debian package \
             `postgresql` (.ci/run does)"
        );
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    if let Some((uid, gid)) = postgres_user() {
        for path in [dir.path(), &data] {
            std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
        }
    }
    let out = postgres_command(&bin.join("initdb"))
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "-D"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(out.status.success(), "initdb failed: {out:?}");
    let port = free_port();
    let mut child = postgres_command(&bin.join("postgres"))
        .arg("-D")
        .arg(&data)
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-k"])
        .arg(dir.path())
        .args(["-c", "fsync=off"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port, &mut child, "postgres");
    // Listening is not ready: until recovery ends, connections are refused.
    let start = Instant::now();
    while !Command::new(bin.join("pg_isready"))
        .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
        .status()
        .is_ok_and(|s| s.success())
    {
        assert!(
            start.elapsed() < Duration::from_secs(60), // not-a-time-bound: a wait loop gives up
            "postgres not ready within 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Server {
        child,
        port,
        // Immediate shutdown: the postmaster takes its backends down with it.
        stop_signal: libc::SIGQUIT,
        _dir: dir,
    })
}

/// Returns the events in `log` and checks that every `start` came before any `end`:
/// all the calls were in flight at once.
pub fn assert_all_started_before_any_ended(log: &[(&'static str, usize)], n: usize) {
    let first_end = log
        .iter()
        .position(|(e, _)| *e == "end")
        .unwrap_or_else(|| panic!("no call ended: {log:?}"));
    let starts = log[..first_end]
        .iter()
        .filter(|(e, _)| *e == "start")
        .count();
    assert_eq!(starts, n, "calls did not overlap: {log:?}");
}

/// An address on 127.0.0.1 where a TCP connect is refused for as long as the
/// returned socket lives: bound, never listening, so no other test can take the port.
pub fn refused_addr() -> (std::os::fd::OwnedFd, std::net::SocketAddr) {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket calls on a socket we own; the address structs are sized
    // for IPv4 and filled by the kernel.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0, "socket failed");
        let owned = std::os::fd::OwnedFd::from_raw_fd(fd);
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1]).to_be();
        let len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(
            libc::bind(fd, (&raw const addr).cast(), len),
            0,
            "bind failed"
        );
        let mut bound: libc::sockaddr_in = std::mem::zeroed();
        let mut len = len;
        assert_eq!(libc::getsockname(fd, (&raw mut bound).cast(), &mut len), 0);
        let port = u16::from_be(bound.sin_port);
        (owned, std::net::SocketAddr::from(([127, 0, 0, 1], port)))
    }
}
