//! The `download` binary against servers nobody here wrote: Python's `http.server` (listen
//! backlog 5, HTTP/1.0, one connection per request) and nginx, each started by the test on
//! 127.0.0.1 and stopped when it ends. A test whose server program is not installed says
//! so and passes without running (`.ci/run` installs both).

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use examples::download::server::content;

/// Runs `download` with `args`; kills it and fails the test if it runs past `deadline`.
fn download(args: &[&str], deadline: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_download"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start download");
    let drain = |mut r: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("download {args:?} ran longer than {deadline:?}");
        }
        thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Whether `program` runs at all (`program --version` or `-v`).
fn installed(program: &str) -> bool {
    ["--version", "-v"].iter().any(|flag| {
        Command::new(program)
            .arg(flag)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    })
}

/// A port free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server process, killed when dropped.
pub struct Served {
    child: Child,
    pub addr: SocketAddr,
}

impl Served {
    /// Starts `command` and waits (at most 10 s) until `addr` accepts connections.
    pub fn start(mut command: Command, addr: SocketAddr) -> Served {
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the server");
        let served = Served { child, addr };
        let start = Instant::now();
        while TcpStream::connect(addr).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "server never listened"
            );
            thread::sleep(Duration::from_millis(20));
        }
        served
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `n` generated files `f{i}.bin` of `len` bytes into `dir`.
fn write_files(dir: &Path, n: usize, len: u64) {
    let body = content(len);
    for i in 0..n {
        std::fs::write(dir.join(format!("f{i}.bin")), &body).unwrap();
    }
}

/// `python3 -m http.server` serving `dir` on a free port: its default listen backlog (5).
pub fn python_server(dir: &Path) -> Option<Served> {
    if !installed("python3") {
        eprintln!("SKIPPED: python3 is not installed");
        return None;
    }
    let port = free_port();
    let mut command = Command::new("python3");
    command
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .arg("--directory")
        .arg(dir);
    Some(Served::start(
        command,
        SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
    ))
}

#[test]
fn many_files_from_python_http_server_at_c_100_all_arrive() {
    let files = tempfile::tempdir().unwrap();
    write_files(files.path(), 120, 3_000);
    let Some(server) = python_server(files.path()) else {
        return;
    };
    let list = files.path().join("urls.txt");
    let urls: Vec<String> = (0..120)
        .map(|i| server.url(&format!("/f{i}.bin")))
        .collect();
    std::fs::write(&list, urls.join("\n")).unwrap();
    let out_dir = tempfile::tempdir().unwrap();

    let out = download(
        &[
            "-c",
            "100",
            "-i",
            list.to_str().unwrap(),
            "-o",
            out_dir.path().to_str().unwrap(),
        ],
        Duration::from_secs(120),
    );

    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("summary: 120 files"), "{stdout}");
    for i in 0..120 {
        let got = std::fs::read(out_dir.path().join(format!("f{i}.bin"))).unwrap();
        assert!(got == content(3_000), "f{i}.bin differs");
    }
}
