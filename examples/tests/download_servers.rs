//! The `download` binary against servers nobody here wrote: Python's `http.server` (listen
//! backlog 5, HTTP/1.0, one connection per request) and nginx, each started by the test on
//! 127.0.0.1 and stopped when it ends. A test whose server program is not installed says
//! so and passes without running (`.ci/run` installs both).

mod common;

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use examples::download::server::content;

/// Runs `download` with `args`; kills it and fails the test if it runs past `deadline`.
fn download(args: &[&str], deadline: Duration) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_download"));
    command.args(args);
    common::run_with_limit(command, &format!("download {args:?}"), deadline)
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
                start.elapsed() < Duration::from_secs(10), // not-a-time-bound: a wait loop gives up
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

/// nginx serving `root` on a free port, with its own prefix (config, logs, temp paths) in
/// a temp dir, in the foreground and without workers, so killing it stops it.
pub fn nginx_server(root: &Path, prefix: &Path) -> Option<Served> {
    let nginx = ["nginx", "/usr/sbin/nginx"]
        .into_iter()
        .find(|n| installed(n))?;
    let port = free_port();
    let built = Command::new(nginx).arg("-V").output().ok()?;
    let temp_paths: String = String::from_utf8_lossy(&built.stderr)
        .split_whitespace()
        .filter_map(|flag| flag.strip_prefix("--http-")?.split_once("-temp-path"))
        .map(|(kind, _)| {
            let kind = kind.replace('-', "_");
            let dir = prefix.join(&kind);
            std::fs::create_dir_all(&dir).unwrap();
            format!("    {kind}_temp_path {};\n", dir.display())
        })
        .collect();
    let conf = prefix.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nmaster_process off;\npid {pid};\nerror_log {log} warn;\n\
             events {{ worker_connections 256; }}\nhttp {{\n{temp_paths}    log_format ranges '$status $http_range';\n    \
             access_log {access} ranges;\n    \
             default_type application/octet-stream;\n    server {{\n        listen \
             127.0.0.1:{port};\n        root {root};\n    }}\n}}\n",
            pid = prefix.join("nginx.pid").display(),
            log = prefix.join("error.log").display(),
            access = prefix.join("access.log").display(),
            root = root.display(),
        ),
    )
    .unwrap();
    let mut command = Command::new(nginx);
    command
        .arg("-p")
        .arg(prefix)
        .arg("-c")
        .arg(&conf)
        .arg("-e")
        .arg(prefix.join("error.log"));
    Some(Served::start(
        command,
        SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
    ))
}

/// The value of header `name` in the response to `HEAD path`.
fn head_header(addr: SocketAddr, path: &str, name: &str) -> Option<String> {
    use std::io::Write;
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "HEAD {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

const BIG: u64 = 1_000_000;

/// A served dir with `big.bin` (`content(BIG)`) and an output dir holding `big.bin.part`
/// of `part` bytes (`content`'s first ones, or zeros when `garbage`) and, if given, its
/// validator.
fn partial_setup(
    part: u64,
    garbage: bool,
    validator: Option<&str>,
) -> (tempfile::TempDir, tempfile::TempDir) {
    let www = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("big.bin"), content(BIG)).unwrap();
    let out = tempfile::tempdir().unwrap();
    let bytes = if garbage {
        vec![0; part as usize]
    } else {
        content(part)
    };
    std::fs::write(out.path().join("big.bin.part"), bytes).unwrap();
    if let Some(v) = validator {
        std::fs::write(out.path().join(".big.bin.part.validator"), v).unwrap();
    }
    (www, out)
}

fn resume(url: &str, out: &Path) -> String {
    let out_dir = out.to_str().unwrap();
    let run = download(&["-C", url, "-o", out_dir], Duration::from_secs(30));
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(
        std::fs::read(out.join("big.bin")).unwrap(),
        content(BIG),
        "byte-identical to a fresh download"
    );
    let mut left: Vec<String> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["big.bin"],
        "the partial file and its validator are gone"
    );
    text(&run.stdout)
}

#[test]
fn continue_resumes_from_nginx_with_range_and_if_range() {
    let prefix = tempfile::tempdir().unwrap();
    let (www, out) = partial_setup(400_000, false, None);
    let Some(nginx) = nginx_server(www.path(), prefix.path()) else {
        eprintln!("SKIPPED: nginx is not installed");
        return;
    };
    let etag = head_header(nginx.addr, "/big.bin", "etag").expect("nginx sends an ETag");
    std::fs::write(out.path().join(".big.bin.part.validator"), &etag).unwrap();

    let stdout = resume(&nginx.url("/big.bin"), out.path());
    assert!(stdout.contains("600000 bytes received"), "{stdout}");
    assert!(stdout.contains("resumed at byte 400000"), "{stdout}");

    // The file changed since (another validator): If-Range makes nginx send it whole,
    // over a partial file that no longer matches.
    let (_, out) = partial_setup(400_000, true, Some("\"an-older-version\""));
    let stdout = resume(&nginx.url("/big.bin"), out.path());
    assert!(stdout.contains("1000000 bytes received"), "{stdout}");
    assert!(!stdout.contains("resumed"), "{stdout}");

    // Last-Modified works as the validator too.
    let modified = head_header(nginx.addr, "/big.bin", "last-modified").unwrap();
    let (_, out) = partial_setup(999_999, false, Some(&modified));
    let stdout = resume(&nginx.url("/big.bin"), out.path());
    assert!(stdout.contains("1 bytes received"), "{stdout}");

    // Already complete: nginx answers 416 for a range from the end, nothing is fetched.
    let (_, out) = partial_setup(BIG, false, Some(&etag));
    let stdout = resume(&nginx.url("/big.bin"), out.path());
    assert!(stdout.contains("0 bytes received"), "{stdout}");

    // Longer than the file: 416, then the whole file.
    let (_, out) = partial_setup(BIG + 10, true, Some(&etag));
    let stdout = resume(&nginx.url("/big.bin"), out.path());
    assert!(stdout.contains("1000000 bytes received"), "{stdout}");
}

#[test]
fn continue_against_a_server_that_ignores_ranges_downloads_it_whole() {
    let (www, out) = partial_setup(400_000, true, Some("Thu, 01 Jan 2026 00:00:00 GMT"));
    let Some(server) = python_server(www.path()) else {
        return;
    };
    let stdout = resume(&server.url("/big.bin"), out.path());
    assert!(stdout.contains("1000000 bytes received"), "{stdout}");
}

#[test]
fn segmented_download_from_nginx_is_reassembled_byte_identical() {
    let www = tempfile::tempdir().unwrap();
    let len = 3_000_001;
    std::fs::write(www.path().join("big.bin"), content(len)).unwrap();
    let prefix = tempfile::tempdir().unwrap();
    let Some(nginx) = nginx_server(www.path(), prefix.path()) else {
        eprintln!("SKIPPED: nginx is not installed");
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let run = download(
        &[
            "-x",
            "4",
            &nginx.url("/big.bin"),
            "-o",
            out.path().to_str().unwrap(),
        ],
        Duration::from_secs(30),
    );
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(
        text(&run.stdout).contains("3000001 bytes received"),
        "{}",
        text(&run.stdout)
    );
    assert!(std::fs::read(out.path().join("big.bin")).unwrap() == content(len));
    // nginx logs each request once it has sent the response: wait for the fifth line.
    let access = prefix.path().join("access.log");
    let start = Instant::now();
    let log = loop {
        let log = std::fs::read_to_string(&access).unwrap_or_default();
        if log.lines().count() >= 5 || start.elapsed() > Duration::from_secs(5) {
            break log;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let mut ranges: Vec<&str> = log.lines().collect();
    ranges.sort();
    assert_eq!(
        ranges,
        [
            "206 bytes=0-0",
            "206 bytes=1-750000",
            "206 bytes=1500002-2250002",
            "206 bytes=2250003-3000000",
            "206 bytes=750001-1500001",
        ],
        "the probe, then 4 segments"
    );
}

#[test]
fn segmented_download_from_a_server_without_ranges_still_arrives_whole() {
    let www = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("big.bin"), content(BIG)).unwrap();
    let Some(server) = python_server(www.path()) else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let run = download(
        &[
            "-x",
            "4",
            &server.url("/big.bin"),
            "-o",
            out.path().to_str().unwrap(),
        ],
        Duration::from_secs(30),
    );
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(std::fs::read(out.path().join("big.bin")).unwrap() == content(BIG));
}
