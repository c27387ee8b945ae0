//! The downloader end to end: the real `download` binary against local servers, and the
//! greenlet pieces (`MonkeyConnector`, `run_downloads`, `HubServer`) with server and
//! clients on one hub. Everything listens on 127.0.0.1 with short timeouts; every child
//! process is killed if it outlives its deadline.

mod common;
mod pki;

use std::cell::{Cell, RefCell};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::rc::Rc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use examples::download::args::{Command as Cli, parse_args};
use examples::download::greenlet::{
    HubServer, Job, MonkeyConnector, Outcome, hub_client, one_at_a_time, run_downloads,
};
use examples::download::report::{Observer, Silent};
use examples::download::server::{DEMO_FILES, Route, Site, StdServer, content};
use examples::download::{
    Client, DownloadError, Options, OutputDir, Progress, Saved, TimeoutPhase, tls_config,
};
use monkey::tls::rustls;
use pki::test_pki;

// ---------------------------------------------------------------- helpers

/// Runs `download` with `args`; kills it and fails the test if it runs past `deadline`.
fn download(args: &[&str], deadline: Duration) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_download"));
    command.args(args);
    common::run_with_limit(command, &format!("download {args:?}"), deadline)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn lines(bytes: &[u8]) -> Vec<String> {
    text(bytes).lines().map(str::to_owned).collect()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn std_site() -> Site {
    Site::new(thread::sleep)
}

fn hub_site() -> Site {
    Site::new(monkey::thread::sleep)
}

fn quick() -> Options {
    Options {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(2),
        retries: 0,
        backoff: Duration::from_millis(20),
        ..Options::default()
    }
}

// ---------------------------------------------------------------- the binary

#[test]
fn embedded_default_downloads_every_demo_file_and_times_one_at_a_time() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("demo");
    let out = download(&["-o", out_dir.to_str().unwrap()], Duration::from_secs(60));
    let stdout = lines(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    // The tutorials' line for every demo file, from the embedded server's own port.
    let header = &stdout[0];
    let port_start = header.find("http://127.0.0.1:").expect(header) + "http://".len();
    let origin = &header[port_start..header[port_start..].find('/').unwrap() + port_start];
    for (path, len) in DEMO_FILES {
        let line = format!("{len} bytes received from http://{origin}{path}.");
        assert!(stdout.contains(&line), "missing {line:?} in {stdout:#?}");
    }

    // Every file complete, under its name from the URL, and nothing else (no .part).
    let mut expected: Vec<String> = DEMO_FILES
        .iter()
        .map(|(path, _)| path.rsplit('/').next().unwrap().to_owned())
        .collect();
    expected.sort();
    assert_eq!(entries(&out_dir), expected);
    for (path, len) in DEMO_FILES {
        let saved = std::fs::read(out_dir.join(path.rsplit('/').next().unwrap())).unwrap();
        assert!(saved == content(*len), "{path}: wrong content");
    }

    let summary = stdout
        .iter()
        .find(|l| l.starts_with("summary: "))
        .expect("a summary line");
    assert!(
        summary.starts_with(&format!("summary: {} files, ", DEMO_FILES.len())),
        "{summary}"
    );
    assert!(summary.ends_with(", 0 failed"), "{summary}");
    let comparison = stdout.last().unwrap();
    assert!(
        comparison.starts_with("total time: ")
            && comparison.contains("concurrently vs")
            && comparison.contains("one at a time (measured"),
        "{comparison}"
    );
}

#[test]
fn a_404_a_bad_url_and_a_redirect_loop_fail_alone() {
    let server = StdServer::start(Arc::new(
        std_site()
            .route("/files/a.bin", Route::File { len: 70_000 })
            .route(
                "/files/b.bin",
                Route::Chunked {
                    len: 123_457,
                    chunk: 1000,
                },
            )
            .route(
                "/moved",
                Route::Redirect {
                    status: 301,
                    location: "/files/c.bin".into(),
                },
            )
            .route("/files/c.bin", Route::File { len: 5 })
            .route(
                "/loop/1",
                Route::Redirect {
                    status: 302,
                    location: "/loop/2".into(),
                },
            )
            .route(
                "/loop/2",
                Route::Redirect {
                    status: 302,
                    location: "/loop/1".into(),
                },
            ),
    ))
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let missing = server.url("/files/missing.bin");
    let looping = server.url("/loop/1");
    // Some URLs on the command line, the rest through -i.
    let list = tmp.path().join("urls.txt");
    std::fs::write(
        &list,
        format!(
            "# comment\n{}\n\n{}\n{looping}\n",
            server.url("/moved"),
            server.url("/files/b.bin")
        ),
    )
    .unwrap();
    let out_dir = tmp.path().join("out");
    let a = server.url("/files/a.bin");
    let out = download(
        &[
            &a,
            &missing,
            "ftp://127.0.0.1/nope",
            "-i",
            list.to_str().unwrap(),
            "-o",
            out_dir.to_str().unwrap(),
            "-c",
            "2",
            "--retries",
            "1",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = lines(&out.stdout);
    let stderr = lines(&out.stderr);
    assert!(
        stderr.contains(&format!("failed {missing}: HTTP 404 Not Found")),
        "{stderr:#?}"
    );
    assert!(
        stderr.contains(&format!(
            "failed {looping}: redirect loop back to {looping}"
        )),
        "{stderr:#?}"
    );
    assert!(
        stderr
            .iter()
            .any(|l| l.starts_with("failed ftp://127.0.0.1/nope: bad URL")),
        "{stderr:#?}"
    );
    for (url, len) in [
        (a.clone(), 70_000),
        (server.url("/files/b.bin"), 123_457),
        (server.url("/moved"), 5),
    ] {
        let line = format!("{len} bytes received from {url}.");
        assert!(stdout.contains(&line), "missing {line:?} in {stdout:#?}");
    }
    assert!(
        stdout
            .iter()
            .any(|l| l.starts_with("summary: 3 files, ") && l.ends_with(", 3 failed")),
        "{stdout:#?}"
    );
    // The others are intact (named from the URL asked for, as curl -O and wget do, not
    // from where it redirected to); the failures left nothing behind.
    assert_eq!(entries(&out_dir), ["a.bin", "b.bin", "moved"]);
    assert_eq!(
        std::fs::read(out_dir.join("b.bin")).unwrap(),
        content(123_457)
    );
    assert_eq!(std::fs::read(out_dir.join("moved")).unwrap(), content(5));
    // A 404 is not retried; the redirect loop ends at the first repeat.
    assert_eq!(server.site().hits("/files/missing.bin"), 1);
    assert_eq!(server.site().hits("/loop/1"), 1);
}

#[test]
fn a_stalled_server_is_reported_as_a_timeout() {
    let server = StdServer::start(Arc::new(
        std_site()
            .route(
                "/stall.bin",
                Route::Stall {
                    len: 100_000,
                    sent: 1_000,
                    silence: Duration::from_secs(20),
                },
            )
            .route("/ok.bin", Route::File { len: 4096 }),
    ))
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let stall = server.url("/stall.bin");
    let out = download(
        &[
            &stall,
            &server.url("/ok.bin"),
            "-o",
            tmp.path().to_str().unwrap(),
            "--timeout",
            "0.5",
            "--retries",
            "0",
        ],
        // Far less than the stall's 20 s: only the read timeout can end it in time.
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        lines(&out.stderr),
        [format!(
            "failed {stall}: timed out waiting for data (server stalled)"
        )]
    );
    assert_eq!(entries(tmp.path()), ["ok.bin"]);
}

/// A listener whose accept queue is full, so connecting to it hangs in the handshake
/// (Linux drops SYNs to a full queue). Keep everything returned alive while using it.
fn unresponsive_listener() -> (std::net::TcpListener, SocketAddr, Vec<socket2::Socket>) {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
        .unwrap();
    s.listen(0).unwrap();
    let listener: std::net::TcpListener = s.into();
    let addr = listener.local_addr().unwrap();
    let mut fill = Vec::new();
    for _ in 0..8 {
        let c = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        c.set_nonblocking(true).unwrap();
        let _ = c.connect(&addr.into());
        thread::sleep(Duration::from_millis(20));
        let established = c.peer_addr().is_ok();
        fill.push(c);
        if !established {
            break;
        }
    }
    (listener, addr, fill)
}

#[test]
fn an_unreachable_server_is_reported_as_a_connect_timeout() {
    let (_listener, addr, _fill) = unresponsive_listener();
    let server = StdServer::start(Arc::new(
        std_site().route("/ok.bin", Route::File { len: 10 }),
    ))
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let unreachable = format!("http://{addr}/never.bin");
    let out = download(
        &[
            &unreachable,
            &server.url("/ok.bin"),
            "-o",
            tmp.path().to_str().unwrap(),
            "--timeout",
            "0.3",
            "--retries",
            "1",
        ],
        Duration::from_secs(10),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        lines(&out.stderr),
        [format!("failed {unreachable}: timed out connecting")]
    );
    assert_eq!(entries(tmp.path()), ["ok.bin"]);
}

#[test]
fn tls_with_the_test_ca_works_and_is_refused_without_it() {
    let pki = test_pki();
    let server = StdServer::start_tls(
        Arc::new(std_site().route("/secure.bin", Route::File { len: 200_000 })),
        pki.server.clone(),
    )
    .unwrap();
    let url = server.url("/secure.bin");
    assert!(url.starts_with("https://127.0.0.1:"));
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();

    // Verification is on by default: the test CA is not a webpki root.
    let refused_dir = tmp.path().join("refused");
    let out = download(
        &[&url, "-o", refused_dir.to_str().unwrap()],
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "failed {url}: TLS error: invalid peer certificate"
        )),
        "{stderr}"
    );
    assert!(entries(&refused_dir).is_empty());

    let trusted_dir = tmp.path().join("trusted");
    let out = download(
        &[
            &url,
            "--ca",
            ca.to_str().unwrap(),
            "-o",
            trusted_dir.to_str().unwrap(),
        ],
        Duration::from_secs(20),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        lines(&out.stdout)[0],
        format!("200000 bytes received from {url}.")
    );
    assert_eq!(
        std::fs::read(trusted_dir.join("secure.bin")).unwrap(),
        content(200_000)
    );

    // --insecure is an explicit opt-in that skips verification.
    let insecure_dir = tmp.path().join("insecure");
    let out = download(
        &[&url, "--insecure", "-o", insecure_dir.to_str().unwrap()],
        Duration::from_secs(20),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(entries(&insecure_dir), ["secure.bin"]);

    // A CA file that is not one is a setup error, before any download.
    let junk = tmp.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let out = download(
        &[&url, "--ca", junk.to_str().unwrap()],
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot use CA file"));
}

#[test]
fn path_traversal_urls_stay_inside_the_output_directory() {
    let server = StdServer::start(Arc::new(
        std_site()
            .route("/..%2F..%2Fescape.txt", Route::File { len: 11 })
            .route("/..%5C..%5Cwin.ini", Route::File { len: 12 })
            .route("/etc/passwd", Route::File { len: 13 })
            .route("/.bashrc", Route::File { len: 14 })
            .route("/", Route::File { len: 15 }),
    ))
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("a").join("out");
    let urls = [
        server.url("/..%2F..%2Fescape.txt"),
        server.url("/..%5C..%5Cwin.ini"),
        // The URL parser resolves the dots: the request is for /etc/passwd.
        server.url("/a/../../../etc/passwd"),
        server.url("/%2e%2e/%2e%2e/etc/passwd"),
        server.url("/.bashrc"),
        server.url("/"),
    ];
    let mut args: Vec<&str> = urls.iter().map(String::as_str).collect();
    args.extend(["-o", out_dir.to_str().unwrap()]);
    let out = download(&args, Duration::from_secs(20));
    assert!(out.status.success(), "{}", text(&out.stderr));

    assert_eq!(entries(tmp.path()), ["a"]);
    assert_eq!(entries(&tmp.path().join("a")), ["out"]);
    assert_eq!(
        entries(&out_dir),
        [
            "_.._escape.txt",
            "_.._win.ini",
            "bashrc",
            "index.html",
            "passwd",
            "passwd-1"
        ]
    );
    for name in entries(&out_dir) {
        let meta = std::fs::symlink_metadata(out_dir.join(&name)).unwrap();
        assert!(meta.is_file(), "{name}");
    }
    assert_eq!(
        std::fs::read(out_dir.join("_.._escape.txt")).unwrap(),
        content(11)
    );
}

#[test]
fn command_line_errors_exit_2_and_help_exits_0() {
    let out = download(&["-c", "0"], Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("must be at least 1"));
    let out = download(&["--bogus"], Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("Usage: download"),
        "{}",
        text(&out.stderr)
    );
    let out = download(&["--help"], Duration::from_secs(10));
    assert!(out.status.success());
    let help = text(&out.stdout);
    for flag in [
        "--input",
        "--output",
        "--concurrency",
        "--per-host",
        "--timeout",
        "--retries",
        "--retry-max-time",
        "--ca",
        "--insecure",
        "--overwrite",
        "--completions",
        "Exit status",
    ] {
        assert!(help.contains(flag), "{flag} in\n{help}");
    }
    let out = download(&["--version"], Duration::from_secs(10));
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout).trim(),
        concat!("download ", env!("CARGO_PKG_VERSION"))
    );
    let out = download(&["--completions", "bash"], Duration::from_secs(10));
    assert!(out.status.success());
    let script = text(&out.stdout);
    assert!(
        script.contains("_download()") && script.contains("--per-host"),
        "{script}"
    );
}

// ---------------------------------------------------------------- on one hub

/// Records what `run_downloads` reports, and checks the pool's limit as it goes.
#[derive(Default)]
struct Recorder {
    running: Cell<usize>,
    most: Cell<usize>,
    events: RefCell<Vec<String>>,
    restarts: RefCell<Vec<usize>>,
    thread: Cell<Option<thread::ThreadId>>,
}

impl Observer for Recorder {
    fn started(&self, index: usize, _url: &str) {
        self.running.set(self.running.get() + 1);
        self.most.set(self.most.get().max(self.running.get()));
        self.events.borrow_mut().push(format!("start {index}"));
        let me = thread::current().id();
        assert_eq!(
            *self.thread.get().get_or_insert(me),
            me,
            "all on one thread"
        );
    }

    fn progress(&self, index: usize, progress: Progress) {
        if progress.received == 0 {
            self.restarts.borrow_mut().push(index);
        }
    }

    fn finished(&self, index: usize, _url: &str, result: &Result<Saved, DownloadError>) {
        self.running.set(self.running.get() - 1);
        let how = if result.is_ok() { "ok" } else { "err" };
        self.events.borrow_mut().push(format!("end {index} {how}"));
    }
}

#[test]
fn server_and_downloads_share_one_hub_with_at_most_n_at_once() {
    let site = hub_site()
        .delay(Duration::from_millis(100))
        .route("/f0.bin", Route::File { len: 300_000 })
        .route("/f1.bin", Route::File { len: 1 })
        .route("/f2.bin", Route::File { len: 0 })
        .route(
            "/chunked.bin",
            Route::Chunked {
                len: 250_001,
                chunk: 4093,
            },
        )
        .route(
            "/old",
            Route::Redirect {
                status: 307,
                location: "/f1.bin".into(),
            },
        )
        .route(
            "/flaky.bin",
            Route::ResetMidBody {
                len: 400_000,
                times: 1,
            },
        )
        .route("/busy", Route::Status(503));
    let server = HubServer::start(Arc::new(site)).unwrap();
    let paths = [
        "/f0.bin",
        "/f1.bin",
        "/f2.bin",
        "/chunked.bin",
        "/old",
        "/flaky.bin",
        "/missing.bin",
        "/busy",
    ];
    let jobs: Vec<Job> = paths.iter().map(|p| Job::new(server.url(p))).collect();
    let tmp = tempfile::tempdir().unwrap();
    let dir = Rc::new(OutputDir::new(tmp.path()).unwrap());
    let client = hub_client(Options {
        retries: 1,
        ..quick()
    });
    let recorder = Rc::new(Recorder::default());

    let run = run_downloads(&client, &dir, &jobs, 3, recorder.clone());

    assert_eq!(recorder.most.get(), 3, "the pool ran 3 at once, never more");
    let by_path =
        |p: &str| -> &Outcome { &run.outcomes[paths.iter().position(|x| *x == p).unwrap()] };
    for (path, len) in [
        ("/f0.bin", 300_000),
        ("/f1.bin", 1),
        ("/f2.bin", 0),
        ("/chunked.bin", 250_001),
        ("/flaky.bin", 400_000),
    ] {
        let saved = by_path(path).result.as_ref().expect(path);
        assert_eq!(saved.fetched.bytes, len, "{path}");
        assert_eq!(std::fs::read(&saved.path).unwrap(), content(len), "{path}");
    }
    let flaky = by_path("/flaky.bin").result.as_ref().unwrap();
    assert_eq!(flaky.fetched.retries, 1, "the reset mid-body was retried");
    let moved = by_path("/old").result.as_ref().unwrap();
    assert_eq!((moved.fetched.redirects, moved.fetched.bytes), (1, 1));
    assert!(matches!(
        by_path("/missing.bin").result,
        Err(DownloadError::Status { code: 404, .. })
    ));
    assert!(matches!(
        by_path("/busy").result,
        Err(DownloadError::Status { code: 503, .. })
    ));
    assert_eq!(server.site().hits("/busy"), 2, "a 5xx is retried");
    assert_eq!(server.site().hits("/missing.bin"), 1, "a 404 is not");
    assert_eq!(
        (run.summary.files, run.summary.failures),
        (6, 2),
        "{:?}",
        run.summary
    );
    assert_eq!(
        entries(tmp.path()),
        [
            "chunked.bin",
            "f0.bin",
            "f1.bin",
            "f2.bin",
            "flaky.bin",
            "old"
        ]
    );
    // 8 URLs, +1 redirect hop, +2 retries. Keep-alive: 3 greenlets at a time reuse
    // connections; only the reset costs an extra one.
    assert_eq!(server.site().requests(), 11);
    assert!(
        server.site().connections() <= 4,
        "{}",
        server.site().connections()
    );
    assert_eq!(
        recorder.events.borrow().len(),
        2 * paths.len(),
        "every URL started and ended once"
    );
}

#[test]
fn the_command_lines_client_keeps_a_connection_for_every_download_in_flight() {
    let mut site = hub_site();
    for i in 0..200 {
        site = site.route(format!("/f{i}.bin"), Route::File { len: 2_000 });
    }
    let server = HubServer::start(Arc::new(site)).unwrap();
    let Ok(Cli::Run(args)) = parse_args(["-c".to_owned(), "20".to_owned()]) else {
        panic!("should parse");
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = Rc::new(OutputDir::new(tmp.path()).unwrap());
    let jobs: Vec<Job> = (0..200)
        .map(|i| Job::new(server.url(&format!("/f{i}.bin"))))
        .collect();

    let client = hub_client(args.client_options().unwrap());
    let run = run_downloads(&client, &dir, &jobs, args.concurrency, Rc::new(Silent));

    assert_eq!((run.summary.files, run.summary.failures), (200, 0));
    // Each greenlet hands its connection back before the next one starts, so 20 places in
    // the pool need 20 connections; an idle cache smaller than that would reconnect.
    assert_eq!(server.site().requests(), 200);
    assert!(
        server.site().connections() <= 20,
        "{} connections for 20 at once",
        server.site().connections()
    );
}

#[test]
fn a_stall_on_the_same_hub_times_out_without_holding_up_the_others() {
    let site = hub_site()
        .route(
            "/stall",
            Route::Stall {
                len: 50_000,
                sent: 100,
                silence: Duration::from_secs(10),
            },
        )
        .route("/ok", Route::File { len: 64_000 })
        .delay(Duration::from_millis(50));
    let server = HubServer::start(Arc::new(site)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = Rc::new(OutputDir::new(tmp.path()).unwrap());
    let client = hub_client(Options {
        read_timeout: Duration::from_millis(300),
        ..quick()
    });
    let recorder = Rc::new(Recorder::default());
    let jobs = [Job::new(server.url("/stall")), Job::new(server.url("/ok"))];

    let start = Instant::now();
    let run = run_downloads(&client, &dir, &jobs, 2, recorder.clone());

    assert!(matches!(
        run.outcomes[0].result,
        Err(DownloadError::Timeout(TimeoutPhase::Read))
    ));
    assert!(run.outcomes[1].result.is_ok());
    // The stalled greenlet parked; the other finished while it waited.
    assert_eq!(
        *recorder.events.borrow(),
        ["start 0", "start 1", "end 1 ok", "end 0 err"]
    );
    // Ended by the read timeout (the error says so), not by the server's 10 s of
    // silence, and not before the timeout had passed.
    assert!(start.elapsed() >= Duration::from_millis(300));
}

#[test]
fn tls_on_one_hub_with_the_test_ca_and_refused_without_it() {
    let pki = test_pki();
    let site = hub_site()
        .route("/a.bin", Route::File { len: 90_000 })
        .route(
            "/b.bin",
            Route::Chunked {
                len: 33_333,
                chunk: 1000,
            },
        );
    let server = HubServer::start_tls(Arc::new(site), pki.server.clone()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let ca = tmp.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let jobs = [
        Job::new(server.url("/a.bin")),
        Job::new(server.url("/b.bin")),
    ];

    let refused = hub_client(quick());
    let dir = Rc::new(OutputDir::new(tmp.path().join("refused")).unwrap());
    let run = run_downloads(&refused, &dir, &jobs, 2, Rc::new(Silent));
    for outcome in &run.outcomes {
        assert!(
            matches!(
                outcome.result,
                Err(DownloadError::Tls(rustls::Error::InvalidCertificate(_)))
            ),
            "{:?}",
            outcome.result
        );
    }
    assert!(entries(dir.path()).is_empty());

    let trusted = hub_client(Options {
        tls: tls_config(&[&ca], false).unwrap(),
        ..quick()
    });
    let dir = Rc::new(OutputDir::new(tmp.path().join("trusted")).unwrap());
    let run = run_downloads(&trusted, &dir, &jobs, 2, Rc::new(Silent));
    assert!(run.all_ok(), "{:?}", run.outcomes);
    assert_eq!(
        std::fs::read(dir.path().join("a.bin")).unwrap(),
        content(90_000)
    );
    assert_eq!(
        std::fs::read(dir.path().join("b.bin")).unwrap(),
        content(33_333)
    );

    // The same client, one at a time, reuses its kept-alive TLS connections.
    let before = server.site().connections();
    let urls: Vec<String> = jobs.iter().map(|j| j.url.clone()).collect();
    let (_, results) = one_at_a_time(&*trusted, &urls);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(server.site().connections(), before, "no new connection");
}

/// Panics in the middle of the `index`th body.
struct PanicsOn(usize);

impl Observer for PanicsOn {
    fn progress(&self, index: usize, progress: Progress) {
        if index == self.0 && progress.received > 0 {
            panic!("observer bug on purpose");
        }
    }
}

#[test]
fn a_panicking_download_fails_alone_and_leaves_no_partial_file() {
    let server = HubServer::start(Arc::new(
        hub_site()
            .route("/a", Route::File { len: 100_000 })
            .route("/b", Route::File { len: 100_000 }),
    ))
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = Rc::new(OutputDir::new(tmp.path()).unwrap());
    let client = Rc::new(Client::new(
        MonkeyConnector,
        examples::download::greenlet::on_hub(quick()),
    ));
    let jobs = [Job::new(server.url("/a")), Job::new(server.url("/b"))];
    let run = run_downloads(&client, &dir, &jobs, 2, Rc::new(PanicsOn(0)));
    let aborted = match &run.outcomes[0].result {
        Err(DownloadError::Aborted(why)) => why.contains("observer bug on purpose"),
        _ => false,
    };
    assert!(aborted, "{:?}", run.outcomes[0].result);
    assert!(run.outcomes[1].result.is_ok());
    assert_eq!(
        entries(tmp.path()),
        ["b"],
        "the temp file of /a was removed"
    );
}

// ---------------------------------------------------------------- per host, existing files

#[test]
fn connections_per_host_are_capped_while_c_limits_downloads_in_flight() {
    let files = |n: usize| {
        (0..n).fold(hub_site().delay(Duration::from_millis(20)), |site, i| {
            site.route(format!("/f{i}.bin"), Route::File { len: 5_000 })
        })
    };
    let (a, b) = (
        HubServer::start(Arc::new(files(24))).unwrap(),
        HubServer::start(Arc::new(files(24))).unwrap(),
    );
    let jobs: Vec<Job> = (0..24)
        .flat_map(|i| [a.url(&format!("/f{i}.bin")), b.url(&format!("/f{i}.bin"))])
        .map(Job::new)
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let dir = Rc::new(OutputDir::new(tmp.path()).unwrap());
    let client = hub_client(Options {
        max_conns_per_host: 3,
        max_idle_per_host: 3,
        ..quick()
    });
    let recorder = Rc::new(Recorder::default());

    let run = run_downloads(&client, &dir, &jobs, 40, recorder.clone());

    assert_eq!((run.summary.files, run.summary.failures), (48, 0));
    assert_eq!(
        recorder.most.get(),
        6,
        "3 per host on 2 hosts, though -c is 40"
    );
    for server in [&a, &b] {
        assert_eq!(server.site().requests(), 24);
        assert!(
            server.site().connections() <= 3,
            "{} connections to one host",
            server.site().connections()
        );
    }
}

#[test]
fn existing_files_get_a_new_name_unless_overwrite_is_given() {
    let server = StdServer::start(Arc::new(
        std_site().route("/a.bin", Route::File { len: 1000 }),
    ))
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().to_str().unwrap();
    std::fs::write(tmp.path().join("a.bin"), b"the user's own file").unwrap();

    let out = download(
        &[&server.url("/a.bin"), "-o", out_dir],
        Duration::from_secs(20),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("saved as a-1.bin (a.bin was taken)"),
        "{stdout}"
    );
    assert!(stdout.contains("1 saved under a new name"), "{stdout}");
    assert_eq!(
        std::fs::read(tmp.path().join("a.bin")).unwrap(),
        b"the user's own file"
    );
    assert_eq!(
        std::fs::read(tmp.path().join("a-1.bin")).unwrap(),
        content(1000)
    );

    let out = download(
        &[&server.url("/a.bin"), "-o", out_dir, "--overwrite"],
        Duration::from_secs(20),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("replaced a.bin"), "{stdout}");
    assert!(stdout.contains(", 1 replaced"), "{stdout}");
    assert_eq!(
        std::fs::read(tmp.path().join("a.bin")).unwrap(),
        content(1000)
    );
    assert_eq!(entries(tmp.path()), ["a-1.bin", "a.bin"]);
}

#[test]
fn passwords_in_urls_are_never_printed() {
    let server = StdServer::start(Arc::new(
        std_site().route("/a.bin", Route::File { len: 10 }),
    ))
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let with_password = |path: &str| server.url(path).replace("://", "://user:hunter2@");
    let ok = with_password("/a.bin");
    let missing = with_password("/missing");
    let bad = "http://user:hunter2@[::1/x";
    let out = download(
        &[&ok, &missing, bad, "-o", tmp.path().to_str().unwrap()],
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(1));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!all.contains("hunter2"), "{all}");
    assert!(all.contains("user:***@"), "{all}");
    assert_eq!(
        std::fs::read(tmp.path().join("a.bin")).unwrap(),
        content(10)
    );
}

// ---------------------------------------------------------------- signals, partial files

/// Starts `download` with `args`, output piped.
fn spawn_download(args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_download"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start download")
}

/// Sends `signal` (`INT`, `TERM`) to `child`.
fn send(child: &std::process::Child, signal: &str) {
    let sent = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(sent.success());
}

/// Waits for `child` to exit (killing it past `deadline`) and collects its output.
fn finish(mut child: std::process::Child, deadline: Duration) -> Output {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > deadline {
            let _ = child.kill();
            panic!("download ran longer than {deadline:?} after the signal");
        }
        thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Waits (at most 20 s) until `dir` holds a file whose name satisfies `name` with
/// `len` bytes, and `done` (a finished file) exists.
fn wait_for_file(dir: &Path, name: impl Fn(&str) -> bool, len: u64, done: &str) {
    let start = Instant::now();
    loop {
        let partial = std::fs::read_dir(dir).unwrap().flatten().any(|e| {
            name(&e.file_name().to_string_lossy()) && e.metadata().is_ok_and(|m| m.len() == len)
        });
        if partial && dir.join(done).exists() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20), // not-a-time-bound: a wait loop gives up
            "no {len}-byte partial file in {:?}",
            entries(dir)
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// A server whose `/big.bin` sends 300 000 of 1 000 000 bytes and then nothing for 30 s,
/// and whose `/small.bin` is whole.
fn stalling_server() -> StdServer {
    StdServer::start(Arc::new(
        std_site()
            .route(
                "/big.bin",
                Route::Stall {
                    len: 1_000_000,
                    sent: 300_000,
                    silence: Duration::from_secs(30),
                },
            )
            .route("/small.bin", Route::File { len: 1_000 }),
    ))
    .unwrap()
}

#[test]
fn sigint_cancels_removes_partial_files_prints_the_summary_and_exits_130() {
    let server = stalling_server();
    let tmp = tempfile::tempdir().unwrap();
    let child = spawn_download(&[
        &server.url("/big.bin"),
        &server.url("/small.bin"),
        "-o",
        tmp.path().to_str().unwrap(),
    ]);
    wait_for_file(
        tmp.path(),
        |n| n.starts_with(".big.bin."),
        300_000,
        "small.bin",
    );
    send(&child, "INT");
    let out = finish(child, Duration::from_secs(10));

    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("summary: 1 file,") && stdout.contains("0 failed, 1 interrupted"),
        "{stdout}"
    );
    assert!(stdout.contains("removed 1 partial file"), "{stdout}");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("big.bin: interrupted by SIGINT"),
        "{stderr}"
    );
    assert_eq!(entries(tmp.path()), ["small.bin"], "no partial file left");
}

#[test]
fn sigterm_with_continue_keeps_the_partial_file_and_exits_143() {
    let server = stalling_server();
    let tmp = tempfile::tempdir().unwrap();
    let child = spawn_download(&[
        "-C",
        &server.url("/big.bin"),
        &server.url("/small.bin"),
        "-o",
        tmp.path().to_str().unwrap(),
    ]);
    wait_for_file(
        tmp.path(),
        |n| n.starts_with(".big.bin."),
        300_000,
        "small.bin",
    );
    send(&child, "TERM");
    let out = finish(child, Duration::from_secs(10));

    assert_eq!(out.status.code(), Some(143), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("big.bin.part (300000 bytes): run again with --continue"),
        "{stdout}"
    );
    assert_eq!(entries(tmp.path()), ["big.bin.part", "small.bin"]);
    assert_eq!(
        std::fs::read(tmp.path().join("big.bin.part")).unwrap(),
        content(300_000)
    );

    // Resumed from a server that ignores ranges (this one does): the whole file comes
    // again and replaces the partial one, byte for byte what a fresh download gives.
    let whole = StdServer::start(Arc::new(
        std_site().route("/big.bin", Route::File { len: 1_000_000 }),
    ))
    .unwrap();
    let out = download(
        &[
            "-C",
            &whole.url("/big.bin"),
            "-o",
            tmp.path().to_str().unwrap(),
        ],
        Duration::from_secs(20),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("1000000 bytes received"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(entries(tmp.path()), ["big.bin", "small.bin"]);
    assert_eq!(
        std::fs::read(tmp.path().join("big.bin")).unwrap(),
        content(1_000_000)
    );
}

/// A PID no process has now.
fn dead_pid() -> u32 {
    (100_000..4_000_000)
        .step_by(7919)
        .find(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        .expect("a free PID")
}

#[test]
fn partial_files_of_dead_runs_are_removed_or_adopted_with_continue() {
    let server = StdServer::start(Arc::new(
        std_site().route("/a.bin", Route::File { len: 10 }),
    ))
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dead = format!(".x.bin.{}.part", dead_pid());
    let alive = format!(".y.bin.{}.part", std::process::id());
    for name in [&dead, &alive, &".z.bin.notapid.part".to_owned()] {
        std::fs::write(tmp.path().join(name), b"partial").unwrap();
    }
    let out = download(
        &[&server.url("/a.bin"), "-o", tmp.path().to_str().unwrap()],
        Duration::from_secs(20),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("removed 1 partial file left by runs no longer alive"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        entries(tmp.path()),
        [&alive, ".z.bin.notapid.part", "a.bin"]
    );

    std::fs::write(tmp.path().join(&dead), b"partial").unwrap();
    let out = download(
        &[
            "-C",
            &server.url("/a.bin"),
            "-o",
            tmp.path().to_str().unwrap(),
        ],
        Duration::from_secs(20),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("kept for --continue 1 partial file"));
    assert!(entries(tmp.path()).contains(&"x.bin.part".to_owned()));
}

#[test]
fn the_binary_takes_its_proxy_from_http_proxy_and_honours_no_proxy() {
    // A proxy sees the whole URL as the request target: this server serves exactly that.
    let proxy = StdServer::start(Arc::new(
        std_site().route("http://example.invalid/a.bin", Route::File { len: 321 }),
    ))
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let run = |envs: &[(&str, String)], url: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_download"));
        child
            .args([url, "-o", tmp.path().to_str().unwrap(), "--timeout", "5"])
            .env_remove("no_proxy")
            .env_remove("NO_PROXY")
            .stdin(Stdio::null());
        for (k, v) in envs {
            child.env(k, v);
        }
        child.output().unwrap()
    };
    let via = format!("http://{}", proxy.addr());
    let out = run(
        &[("http_proxy", via.clone())],
        "http://example.invalid/a.bin",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read(tmp.path().join("a.bin")).unwrap(),
        content(321)
    );

    // no_proxy sends it straight to the (unresolvable) host instead.
    let out = run(
        &[("http_proxy", via), ("no_proxy", "example.invalid".into())],
        "http://example.invalid/b.bin",
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(proxy.site().requests(), 1);

    let out = run(&[("http_proxy", "socks5://p:1".into())], "http://h/");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("only http:// proxies"),
        "{}",
        text(&out.stderr)
    );
}

/// The child half of the next test: watches signals with a handler that blocks the whole
/// thread, so only the signal handler itself can end the process.
fn blocked_signal_child() {
    use std::io::Write;
    let say = |line: &str| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    let _watch = examples::download::signals::on_signals(move |_| {
        say("handler");
        thread::sleep(Duration::from_secs(30));
    })
    .unwrap();
    say("ready");
    let _ = hub::sleep(Duration::from_secs(30));
    std::process::exit(3);
}

#[test]
fn a_second_sigint_exits_at_once_even_while_the_first_is_being_handled() {
    if std::env::var_os("DOWNLOAD_SIGNAL_CHILD").is_some() {
        return blocked_signal_child();
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_second_sigint_exits_at_once_even_while_the_first_is_being_handled",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("DOWNLOAD_SIGNAL_CHILD", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let wait_for = |want: &str| loop {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) if line.ends_with(want) => return,
            Ok(_) => {}
            Err(e) => panic!("no {want:?} from the child: {e}"),
        }
    };
    wait_for("ready");
    send(&child, "INT");
    wait_for("handler");
    send(&child, "INT");
    let out = finish(child, Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(130));
}
