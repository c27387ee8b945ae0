//! The downloader's core on std threads and sockets, against `server::StdServer` and small
//! hand-written servers, all on 127.0.0.1 with short timeouts.

mod pki;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Component, Path};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use examples::download::args::{Args, Command, parse_args};
use examples::download::auth::base64;
use examples::download::proxy::Proxies;
use examples::download::server::{Route, Site, StdServer, content};
use examples::download::{
    Client, Connector, DownloadError, Fetched, Options, OutputDir, Placed, Progress, StdConnector,
    Summary, TimeoutPhase, download_to, file_name_for, parse_url, received_line,
    sanitize_file_name, tls_config,
};
use monkey::tls::rustls;
use pki::test_pki;
use url::Url;

fn options() -> Options {
    Options {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(2),
        retries: 0,
        backoff: Duration::from_millis(10),
        ..Options::default()
    }
}

fn client(opts: Options) -> Client<StdConnector> {
    Client::new(StdConnector, opts)
}

fn serve(site: Site) -> StdServer {
    StdServer::start(Arc::new(site)).expect("start server")
}

fn site() -> Site {
    Site::new(thread::sleep)
}

fn url(s: &str) -> Url {
    Url::parse(s).expect("test URL")
}

fn get(client: &Client<StdConnector>, u: &str) -> Result<(Vec<u8>, Fetched), DownloadError> {
    let mut body = Vec::new();
    let fetched = client.get(&url(u), &mut body, &mut |_| {})?;
    Ok((body, fetched))
}

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------- naming

#[test]
fn names_come_from_the_last_segment_and_are_safe() {
    let cases = [
        ("http://h/a/b/photo.jpg", "photo.jpg"),
        ("http://h/a/b/photo.jpg?size=large#top", "photo.jpg"),
        ("http://h/cat%20clip.mp4", "cat clip.mp4"),
        ("http://h/", "index.html"),
        ("http://h", "index.html"),
        ("http://h/dir/", "index.html"),
        ("http://h/a/../../../etc/passwd", "passwd"),
        ("http://h/%2e%2e/%2e%2e/secret", "secret"),
        ("http://h/..%2F..%2Fetc%2Fpasswd", "_.._etc_passwd"),
        ("http://h/..%5C..%5Cwin.ini", "_.._win.ini"),
        ("http://h/%2e%2e", "index.html"),
        ("http://h/..", "index.html"),
        ("http://h/.hidden", "hidden"),
        ("http://h//etc/passwd", "passwd"),
        ("http://h/a%00b", "a_b"),
        ("http://h/%0d%0aSet-Cookie", "__Set-Cookie"),
        ("http://h/%FF%FE.bin", "\u{FFFD}\u{FFFD}.bin"),
        ("http://h/%20%20.%20", "index.html"),
        ("file:///etc/passwd", "passwd"),
    ];
    for (input, expected) in cases {
        assert_eq!(file_name_for(&url(input)), expected, "{input}");
    }
    assert_eq!(sanitize_file_name("/etc/passwd"), "_etc_passwd");
    assert_eq!(sanitize_file_name("C:\\boot.ini"), "C__boot.ini");
    assert_eq!(sanitize_file_name(""), "index.html");
    assert_eq!(sanitize_file_name("."), "index.html");
}

#[test]
fn long_names_are_cut_keeping_the_extension() {
    let long = format!("http://h/{}.jpg", "a".repeat(1000));
    let name = file_name_for(&url(&long));
    assert!(name.len() <= 200, "{}", name.len());
    assert!(name.ends_with("aaa.jpg"));

    let multibyte = format!("http://h/{}", "é".repeat(300));
    let name = file_name_for(&url(&multibyte));
    assert!(name.len() <= 200 && name.chars().all(|c| c == 'é'));
}

#[test]
fn duplicates_get_a_suffix() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = OutputDir::new(tmp.path()).unwrap();
    assert_eq!(dir.reserve("clip.mp4"), "clip.mp4");
    assert_eq!(dir.reserve("clip.mp4"), "clip-1.mp4");
    assert_eq!(dir.reserve("clip.mp4"), "clip-2.mp4");
    assert_eq!(dir.reserve("clip-1.mp4"), "clip-1-1.mp4");
    assert_eq!(dir.reserve(""), "index.html");
    assert_eq!(dir.reserve("/"), "_");
    assert_eq!(dir.reserve(".."), "index-1.html");
    assert_eq!(dir.reserve("README"), "README");
    assert_eq!(dir.reserve("README"), "README-1");
    let long = "b".repeat(400) + ".tar.gz";
    let (first, second) = (dir.reserve(&long), dir.reserve(&long));
    assert_ne!(first, second);
    assert!(second.len() <= 255 && second.ends_with("-1.gz"));
}

/// Every name any URL or raw string produces is one plain component, and the file created
/// for it lands directly inside the output directory.
#[test]
fn no_input_escapes_the_output_directory() {
    const PIECES: &[&str] = &[
        "..", ".", "/", "\\", "%2e%2e", "%2E%2e", "%2e", "%2F", "%2f", "%5C", "%00", "%0a", "%7F",
        "a", "é", "%C3%A9", "%FF", " ", "%20", "~", ":", "*", "?", "#", ";", "%252F", "%", "..%2F",
        "C:", "CON", "\u{202E}", "\t",
    ];
    let tmp = tempfile::tempdir().unwrap();
    let dir = OutputDir::new(tmp.path()).unwrap();
    let root = dir.path().to_path_buf();
    let mut checked = 0;
    let mut created = 0;
    for a in PIECES {
        for b in PIECES {
            for c in PIECES {
                let raw = format!("{a}{b}{c}");
                let mut names = vec![sanitize_file_name(&raw)];
                for input in [format!("http://h/{raw}"), format!("http://h/x/{raw}?q=/..")] {
                    if let Ok(u) = Url::parse(&input) {
                        names.push(file_name_for(&u));
                    }
                }
                for name in names {
                    let mut parts = Path::new(&name).components();
                    assert!(
                        matches!(parts.next(), Some(Component::Normal(_)))
                            && parts.next().is_none(),
                        "{raw:?} gave {name:?}"
                    );
                    assert!(!name.contains(['/', '\\', '\0']) && !name.starts_with('.'));
                    assert!(
                        !name.is_empty() && name.len() <= 200,
                        "{raw:?} gave {name:?}"
                    );
                    assert_eq!(root.join(&name).parent(), Some(root.as_path()));
                    checked += 1;
                }
                // Creating files is slower: do it for the one- and two-piece inputs.
                if c.is_empty() || *c == "a" {
                    let part = dir.create_named(&raw).expect("create");
                    let path = part.commit().expect("commit");
                    assert_eq!(path.canonicalize().unwrap().parent(), Some(root.as_path()));
                    created += 1;
                }
            }
        }
    }
    assert!(checked > 30_000 && created > 1_000, "{checked} {created}");
    assert_eq!(dir_entries(&root).len(), created, "no stray temp files");
}

// ---------------------------------------------------------------- bodies

#[test]
fn content_length_body() {
    let len = 300_001;
    let server = serve(site().route("/file.bin", Route::File { len }));
    let client = client(options());
    let mut seen = Vec::new();
    let mut body = Vec::new();
    let fetched = client
        .get(&url(&server.url("/file.bin")), &mut body, &mut |p| {
            seen.push(p)
        })
        .unwrap();
    assert_eq!(body, content(len));
    assert_eq!(
        (fetched.status, fetched.bytes, fetched.total),
        (200, len, Some(len))
    );
    assert_eq!(
        seen.first(),
        Some(&Progress {
            received: 0,
            total: Some(len)
        })
    );
    assert_eq!(
        seen.last(),
        Some(&Progress {
            received: len,
            total: Some(len)
        })
    );
    assert!(seen.windows(2).all(|w| w[0].received <= w[1].received));
}

#[test]
fn chunked_body() {
    let len = 100_000;
    let server = serve(site().route("/c", Route::Chunked { len, chunk: 777 }));
    let (body, fetched) = get(&client(options()), &server.url("/c")).unwrap();
    assert_eq!(body, content(len));
    assert_eq!((fetched.bytes, fetched.total), (len, None));
}

#[test]
fn empty_and_until_close_bodies() {
    let server = serve(site().route("/empty", Route::File { len: 0 }));
    let (body, _) = get(&client(options()), &server.url("/empty")).unwrap();
    assert!(body.is_empty());

    let addr = raw_server(vec![b"HTTP/1.0 200 OK\r\n\r\nhello until close".to_vec()]);
    let (body, _) = get(&client(options()), &format!("http://{addr}/")).unwrap();
    assert_eq!(body, b"hello until close");
}

#[test]
fn not_found_is_a_typed_error() {
    let server = serve(site());
    let err = get(&client(options()), &server.url("/missing")).unwrap_err();
    assert!(
        matches!(err, DownloadError::Status { code: 404, .. }),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "HTTP 404 Not Found");
    assert!(!err.is_retryable());
}

#[test]
fn server_errors_are_retried_then_reported() {
    let server = serve(site().route("/busy", Route::Status(503)));
    let client = client(Options {
        retries: 2,
        ..options()
    });
    let err = get(&client, &server.url("/busy")).unwrap_err();
    assert!(
        matches!(err, DownloadError::Status { code: 503, .. }),
        "{err:?}"
    );
    assert_eq!(server.site().hits("/busy"), 3);
}

#[test]
fn truncated_and_malformed_bodies() {
    let addr = raw_server(vec![
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf!".to_vec(),
    ]);
    let err = get(&client(options()), &format!("http://{addr}/")).unwrap_err();
    assert!(
        matches!(
            err,
            DownloadError::Incomplete {
                received: 5,
                expected: Some(10)
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());

    let bad_chunk =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n";
    let addr = raw_server(vec![bad_chunk.to_vec()]);
    let err = get(&client(options()), &format!("http://{addr}/")).unwrap_err();
    assert!(matches!(err, DownloadError::Protocol(_)), "{err:?}");

    let addr = raw_server(vec![b"SMTP ready\r\n\r\n".to_vec()]);
    let err = get(&client(options()), &format!("http://{addr}/")).unwrap_err();
    assert!(matches!(err, DownloadError::Protocol(_)), "{err:?}");
}

#[test]
fn oversized_header_is_a_typed_error() {
    let server = serve(site().route("/big", Route::HugeHeader(100_000)));
    let err = get(&client(options()), &server.url("/big")).unwrap_err();
    assert!(
        matches!(err, DownloadError::HeaderTooLarge { limit: 65536 }),
        "{err:?}"
    );

    let small = client(Options {
        max_head_bytes: 1024,
        ..options()
    });
    let server = serve(site().route("/big", Route::HugeHeader(2000)));
    let err = get(&small, &server.url("/big")).unwrap_err();
    assert!(
        matches!(err, DownloadError::HeaderTooLarge { limit: 1024 }),
        "{err:?}"
    );
}

// ---------------------------------------------------------------- redirects

#[test]
fn redirects_relative_and_absolute() {
    let len = 5_000;
    let server = serve(
        site()
            .route("/files/data.bin", Route::File { len })
            .route(
                "/old/start",
                Route::Redirect {
                    status: 301,
                    location: "../files/go".into(),
                },
            )
            .route(
                "/files/go",
                Route::Redirect {
                    status: 307,
                    location: "data.bin".into(),
                },
            ),
    );
    let absolute = serve(site().route(
        "/elsewhere",
        Route::Redirect {
            status: 302,
            location: server.url("/old/start"),
        },
    ));
    let client = client(options());

    let (body, fetched) = get(&client, &server.url("/old/start")).unwrap();
    assert_eq!(body, content(len));
    assert_eq!(fetched.redirects, 2);
    assert_eq!(fetched.url.as_str(), server.url("/files/data.bin"));

    let (body, fetched) = get(&client, &absolute.url("/elsewhere")).unwrap();
    assert_eq!(body, content(len));
    assert_eq!(fetched.redirects, 3);
}

#[test]
fn redirect_loop_is_detected() {
    let server = serve(
        site()
            .route(
                "/a",
                Route::Redirect {
                    status: 302,
                    location: "/b".into(),
                },
            )
            .route(
                "/b",
                Route::Redirect {
                    status: 302,
                    location: "/a?#frag".into(),
                },
            )
            .route(
                "/self",
                Route::Redirect {
                    status: 308,
                    location: "self".into(),
                },
            ),
    );
    let client = client(options());
    let err = get(&client, &server.url("/a")).unwrap_err();
    // `/a?` differs from `/a`: the loop closes one hop later, at `/b`.
    assert!(
        matches!(&err, DownloadError::RedirectLoop { url } if url.ends_with("/b")),
        "{err:?}"
    );
    let err = get(&client, &server.url("/self")).unwrap_err();
    assert!(matches!(err, DownloadError::RedirectLoop { .. }), "{err:?}");
    assert!(server.site().requests() <= 6);
}

#[test]
fn too_many_redirects() {
    let mut chain = site().route("/r5", Route::File { len: 10 });
    for i in 0..5 {
        chain = chain.route(
            format!("/r{i}"),
            Route::Redirect {
                status: 302,
                location: format!("/r{}", i + 1),
            },
        );
    }
    let server = serve(chain);
    let strict = client(Options {
        max_redirects: 3,
        ..options()
    });
    let err = get(&strict, &server.url("/r0")).unwrap_err();
    assert!(
        matches!(err, DownloadError::TooManyRedirects { limit: 3 }),
        "{err:?}"
    );
    assert_eq!(server.site().requests(), 4);

    let exact = client(Options {
        max_redirects: 5,
        ..options()
    });
    let (_, fetched) = get(&exact, &server.url("/r0")).unwrap();
    assert_eq!(fetched.redirects, 5);
}

#[test]
fn redirect_to_another_scheme_is_refused() {
    let server = serve(site().route(
        "/ftp",
        Route::Redirect {
            status: 302,
            location: "ftp://127.0.0.1/file".into(),
        },
    ));
    let err = get(&client(options()), &server.url("/ftp")).unwrap_err();
    assert!(matches!(err, DownloadError::BadUrl { .. }), "{err:?}");
}

// ---------------------------------------------------------------- timeouts and retries

#[test]
fn stalled_server_times_out() {
    let server = serve(site().route(
        "/stall",
        Route::Stall {
            len: 100_000,
            sent: 1_000,
            silence: Duration::from_secs(3),
        },
    ));
    let client = client(Options {
        read_timeout: Duration::from_millis(300),
        ..options()
    });
    let start = Instant::now();
    let err = get(&client, &server.url("/stall")).unwrap_err();
    assert!(
        matches!(err, DownloadError::Timeout(TimeoutPhase::Read)),
        "{err:?}"
    );
    // The read timeout ended it (the server would have gone on after 3 s of
    // silence), and not before the timeout had passed.
    assert!(start.elapsed() >= Duration::from_millis(300));
}

#[test]
fn reset_mid_body_is_retried() {
    let len = 400_000;
    let server = serve(site().route("/flaky", Route::ResetMidBody { len, times: 1 }));
    let client = client(Options {
        retries: 2,
        ..options()
    });
    let mut starts = 0;
    let mut body = Vec::new();
    let fetched = client
        .get(&url(&server.url("/flaky")), &mut body, &mut |p| {
            starts += usize::from(p.received == 0)
        })
        .unwrap();
    assert_eq!(body, content(len), "the retry restarted the sink");
    assert_eq!((fetched.retries, starts), (1, 2));
    assert_eq!(server.site().hits("/flaky"), 2);
}

#[test]
fn connection_refused_is_a_connect_error() {
    let addr = {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        l.local_addr().unwrap()
    };
    let client = client(Options {
        retries: 1,
        ..options()
    });
    let err = get(&client, &format!("http://{addr}/x")).unwrap_err();
    assert!(
        matches!(err, DownloadError::Connect { port, .. } if port == addr.port()),
        "{err:?}"
    );
    assert!(err.is_retryable());
}

#[test]
fn failed_download_never_leaves_a_file_under_its_final_name() {
    let server = serve(
        site()
            .route(
                "/flaky.bin",
                Route::ResetMidBody {
                    len: 200_000,
                    times: 10,
                },
            )
            .route("/ok.bin", Route::File { len: 1234 }),
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = OutputDir::new(tmp.path()).unwrap();
    std::fs::write(dir.path().join("flaky.bin"), b"previous run").unwrap();
    let client = client(Options {
        retries: 1,
        ..options()
    });

    let mut summary = Summary::default();
    let result = download_to(&client, &dir, &url(&server.url("/flaky.bin")), &mut |_| {});
    assert!(
        result.as_ref().is_err_and(DownloadError::is_retryable),
        "{result:?}"
    );
    summary.record(&result);
    let result = download_to(
        &client,
        &dir,
        &url(&server.url("/missing.bin")),
        &mut |_| {},
    );
    assert!(matches!(
        result,
        Err(DownloadError::Status { code: 404, .. })
    ));
    summary.record(&result);
    let result = download_to(&client, &dir, &url(&server.url("/ok.bin")), &mut |_| {});
    let saved = result.as_ref().unwrap();
    assert_eq!(saved.path, dir.path().join("ok.bin"));
    assert_eq!(std::fs::read(&saved.path).unwrap(), content(1234));
    summary.record(&result);

    assert_eq!(dir_entries(dir.path()), ["flaky.bin", "ok.bin"]);
    assert_eq!(
        std::fs::read(dir.path().join("flaky.bin")).unwrap(),
        b"previous run"
    );
    assert_eq!(
        (summary.files, summary.failures, summary.bytes),
        (1, 2, 1234)
    );
}

// ---------------------------------------------------------------- keep-alive

#[test]
fn keep_alive_reuses_one_connection_per_host() {
    let server = serve(
        site()
            .route("/a", Route::File { len: 70_000 })
            .route(
                "/b",
                Route::Chunked {
                    len: 50_000,
                    chunk: 4096,
                },
            )
            .route(
                "/r",
                Route::Redirect {
                    status: 302,
                    location: "/a".into(),
                },
            ),
    );
    let client = client(options());
    for path in ["/a", "/b", "/missing", "/r", "/a"] {
        let _ = get(&client, &server.url(path));
    }
    assert_eq!(server.site().requests(), 6);
    assert_eq!(server.site().connections(), 1);
    assert_eq!(client.idle_connections(), 1);
}

#[test]
fn a_connection_closed_while_idle_is_replaced_transparently() {
    let response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec();
    // Each connection answers one request and closes without saying so.
    let addr = raw_server(vec![response.clone(), response]);
    let client = client(options());
    for _ in 0..2 {
        let (body, fetched) = get(&client, &format!("http://{addr}/")).unwrap();
        assert_eq!((body.as_slice(), fetched.retries), (&b"ok"[..], 0));
    }
}

// ---------------------------------------------------------------- TLS

#[test]
fn tls_with_test_ca_refused_without_it_and_insecure_opt_in() {
    let pki = test_pki();
    let len = 150_000;
    let server = StdServer::start_tls(
        Arc::new(site().route("/secure.bin", Route::File { len }).route(
            "/c",
            Route::Chunked {
                len: 999,
                chunk: 100,
            },
        )),
        pki.server.clone(),
    )
    .unwrap();
    let target = server.url("/secure.bin");
    assert!(target.starts_with("https://127.0.0.1:"));

    // Default: webpki roots only, so the test CA is unknown.
    let err = get(&client(options()), &target).unwrap_err();
    assert!(
        matches!(
            err,
            DownloadError::Tls(rustls::Error::InvalidCertificate(_))
        ),
        "{err:?}"
    );
    assert!(!err.is_retryable());

    let tmp = tempfile::tempdir().unwrap();
    let ca_file = tmp.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    let trusted = client(Options {
        tls: tls_config(&[&ca_file], false).unwrap(),
        ..options()
    });
    let (body, _) = get(&trusted, &target).unwrap();
    assert_eq!(body, content(len));
    let (body, _) = get(&trusted, &server.url("/c")).unwrap();
    assert_eq!(body, content(999));
    // The refused client never got past the server's handshake, so only the one
    // kept-alive connection reached the site.
    assert_eq!(
        server.site().connections(),
        1,
        "one connection, kept alive for both"
    );

    let insecure = client(Options {
        tls: tls_config(&[] as &[&Path], true).unwrap(),
        ..options()
    });
    let (body, _) = get(&insecure, &target).unwrap();
    assert_eq!(body, content(len));
}

#[test]
fn bad_ca_files_are_typed_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let junk = tmp.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    for path in [junk, tmp.path().join("absent.pem")] {
        let err = tls_config(&[&path], false).unwrap_err();
        assert!(matches!(err, DownloadError::CaFile { .. }), "{err:?}");
    }
}

// ---------------------------------------------------------------- small pieces

#[test]
fn command_line() {
    let args = |s: &str| parse_args(s.split_whitespace().map(String::from));
    let Ok(Command::Run(a)) = args(
        "http://a/x -o out -c 3 --timeout=1.5 --retries 0 --ca a.pem --ca b.pem --insecure -i list.txt -- -weird",
    ) else {
        panic!("should parse");
    };
    assert_eq!(a.urls, ["http://a/x", "-weird"]);
    assert_eq!(
        (a.out_dir.to_str(), a.concurrency, a.retries),
        (Some("out"), 3, 0)
    );
    assert_eq!(a.timeout, Duration::from_millis(1500));
    assert_eq!(
        (a.ca_files.len(), a.insecure, a.input.is_some()),
        (2, true, true)
    );
    assert_eq!(args("--help"), Ok(Command::Help));
    assert_eq!(args("-h http://a/"), Ok(Command::Help));
    assert_eq!(args("--version"), Ok(Command::Version));
    assert!(matches!(
        args("--completions bash"),
        Ok(Command::Completions(_))
    ));
    let Ok(Command::Run(defaults)) = args("") else {
        panic!("no argument is a run");
    };
    assert_eq!(
        defaults,
        Args::default(),
        "clap's defaults are Args::default()"
    );
    let Ok(Command::Run(a)) = args("--per-host 2 --retry-max-time 9 --overwrite") else {
        panic!("should parse");
    };
    assert_eq!(
        (a.per_host, a.retry_max_time, a.overwrite),
        (2, Duration::from_secs(9), true)
    );
    for (bad, says) in [
        ("-c 0", "at least 1"),
        ("-c x", "not a valid number"),
        ("--per-host 0", "at least 1"),
        ("--timeout -1", "positive number of seconds"),
        ("--timeout 0", "positive number of seconds"),
        ("--timeout", "a value is required"),
        ("--bogus", "unexpected argument '--bogus'"),
        ("--concurency 3", "similar argument exists: '--concurrency'"),
        ("-o", "a value is required"),
        ("--completions tcsh", "possible values"),
    ] {
        let err = args(bad).expect_err(bad);
        assert!(err.contains(says), "{bad}: {err}");
    }
}

#[test]
fn user_urls_are_checked_and_lines_formatted() {
    assert!(parse_url(" https://example.com/a ").is_ok());
    for bad in [
        "ftp://h/x",
        "not a url",
        "http://",
        "file:///etc/passwd",
        "mailto:a@b",
    ] {
        assert!(
            matches!(parse_url(bad), Err(DownloadError::BadUrl { .. })),
            "{bad}"
        );
    }
    assert_eq!(
        received_line(42, "http://h/x"),
        "42 bytes received from http://h/x."
    );
    let summary = Summary {
        files: 2,
        failures: 1,
        bytes: 3 << 20,
        elapsed: Duration::from_secs(2),
        ..Summary::default()
    };
    assert_eq!(
        summary.to_string(),
        "2 files, 3.0 MiB in 2.00 s (1.5 MiB/s), 1 failed"
    );
    let summary = Summary {
        renamed: 2,
        replaced: 1,
        ..summary
    };
    assert_eq!(
        summary.to_string(),
        "2 files, 3.0 MiB in 2.00 s (1.5 MiB/s), 1 failed, 2 saved under a new name \
         (name taken), 1 replaced"
    );
}

// ---------------------------------------------------------------- helpers

/// Serves one canned response per connection, in order, then stops; gives up after 5 s.
fn raw_server(responses: Vec<Vec<u8>>) -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut responses = responses.into_iter();
        let mut next = responses.next();
        while let Some(response) = next.take() {
            if Instant::now() > deadline {
                return;
            }
            let Ok((mut stream, _)) = listener.accept() else {
                thread::sleep(Duration::from_millis(2));
                next = Some(response);
                continue;
            };
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            let mut request = Vec::new();
            let mut byte = [0; 1];
            while !request.ends_with(b"\r\n\r\n") && request.len() < 65536 {
                match stream.read(&mut byte) {
                    Ok(1) => request.push(byte[0]),
                    _ => break,
                }
            }
            let _ = stream.write_all(&response);
            next = responses.next();
        }
    });
    addr
}

/// The client is generic over its connector: this one times out the first `fails` connects,
/// as a distant unreachable host would, then connects for real.
struct SlowToConnect {
    fails: std::cell::Cell<u32>,
}

impl Connector for SlowToConnect {
    type Stream = std::net::TcpStream;

    fn connect(&self, host: &str, port: u16, timeout: Duration) -> std::io::Result<Self::Stream> {
        if self.fails.get() > 0 {
            self.fails.set(self.fails.get() - 1);
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        StdConnector.connect(host, port, timeout)
    }

    fn set_read_timeout(&self, s: &Self::Stream, t: Option<Duration>) -> std::io::Result<()> {
        s.set_read_timeout(t)
    }
}

#[test]
fn connect_timeouts_are_retried_through_any_connector() {
    let server = serve(site().route("/f", Route::File { len: 10 }));
    let slow = |fails| SlowToConnect {
        fails: std::cell::Cell::new(fails),
    };

    let patient = Client::new(
        slow(2),
        Options {
            retries: 2,
            ..options()
        },
    );
    let mut body = Vec::new();
    let fetched = patient
        .get(&url(&server.url("/f")), &mut body, &mut |_| {})
        .unwrap();
    assert_eq!((body, fetched.retries), (content(10), 2));
    assert_eq!(patient.connector().fails.get(), 0);

    let impatient = Client::new(
        slow(2),
        Options {
            retries: 1,
            ..options()
        },
    );
    let err = impatient
        .get(&url(&server.url("/f")), &mut Vec::new(), &mut |_| {})
        .unwrap_err();
    assert!(
        matches!(err, DownloadError::Timeout(TimeoutPhase::Connect)),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "timed out connecting");
}

// ---------------------------------------------------------------- never destroy a file

#[test]
fn a_file_already_on_disk_is_kept_and_the_new_one_takes_the_next_name() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("clip.mp4"), b"mine").unwrap();
    let dir = OutputDir::new(tmp.path()).unwrap();
    assert_eq!(dir.reserve("clip.mp4"), "clip-1.mp4", "taken on disk");
    assert_eq!(dir.reserve("clip.mp4"), "clip-2.mp4", "taken by this run");

    // A file that appears between the choice of the name and the commit survives too.
    let mut part = dir.create_named("race.bin").unwrap();
    part.write_all(b"downloaded").unwrap();
    std::fs::write(tmp.path().join("race.bin"), b"theirs").unwrap();
    let (path, placed) = part.place().unwrap();
    assert_eq!(path.file_name().unwrap(), "race-1.bin");
    assert_eq!(
        placed,
        Placed::Renamed {
            wanted: "race.bin".into()
        }
    );
    assert_eq!(
        std::fs::read(tmp.path().join("race.bin")).unwrap(),
        b"theirs"
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"downloaded");
    assert_eq!(std::fs::read(tmp.path().join("clip.mp4")).unwrap(), b"mine");

    let mut fresh = dir.create_named("new.bin").unwrap();
    fresh.write_all(b"x").unwrap();
    assert_eq!(fresh.place().unwrap().1, Placed::New);
    assert_eq!(
        dir_entries(tmp.path()),
        ["clip.mp4", "new.bin", "race-1.bin", "race.bin"],
        "no temporary file left"
    );
}

#[test]
fn overwrite_replaces_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("a.txt"), b"old").unwrap();
    let dir = OutputDir::new(tmp.path()).unwrap().overwrite(true);
    assert_eq!(dir.reserve("a.txt"), "a.txt");
    let mut part = dir.create_named("b.txt").unwrap();
    part.write_all(b"b").unwrap();
    assert_eq!(part.place().unwrap().1, Placed::New);
    let dir = OutputDir::new(tmp.path()).unwrap().overwrite(true);
    let mut part = dir.create_named("a.txt").unwrap();
    part.write_all(b"new").unwrap();
    let (path, placed) = part.place().unwrap();
    assert_eq!(
        (path.file_name().unwrap(), placed),
        ("a.txt".as_ref(), Placed::Replaced)
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"new");
}

// ---------------------------------------------------------------- retries

/// Answers every request on every connection with the next of `responses` (the last one
/// repeats), closing after each; counts the requests. Stops after 10 s.
fn counting_server(responses: Vec<&'static str>) -> (SocketAddr, Arc<Heads>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(Heads::default());
    let counter = hits.clone();
    listener.set_nonblocking(true).unwrap();
    thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let Ok((mut stream, _)) = listener.accept() else {
                thread::sleep(Duration::from_millis(2));
                continue;
            };
            stream.set_nonblocking(false).unwrap();
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut request = Vec::new();
            let mut byte = [0; 1];
            while !request.ends_with(b"\r\n\r\n") && request.len() < 65536 {
                match stream.read(&mut byte) {
                    Ok(1) => request.push(byte[0]),
                    _ => break,
                }
            }
            let n = counter.record(String::from_utf8_lossy(&request).into_owned());
            let response = responses[n.min(responses.len() - 1)];
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (addr, hits)
}

/// The request heads a [`counting_server`] received.
#[derive(Default)]
struct Heads(std::sync::Mutex<Vec<String>>);

impl Heads {
    /// Records one; returns how many came before it.
    fn record(&self, head: String) -> usize {
        let mut heads = self.0.lock().unwrap();
        heads.push(head);
        heads.len() - 1
    }

    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

const OK_2: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

#[test]
fn too_many_requests_waits_for_retry_after() {
    let (addr, hits) = counting_server(vec![
        "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n",
        OK_2,
    ]);
    let client = client(Options {
        retries: 2,
        ..options()
    });
    let start = Instant::now();
    let (body, fetched) = get(&client, &format!("http://{addr}/")).unwrap();
    assert_eq!((body.as_slice(), fetched.retries), (&b"ok"[..], 1));
    assert_eq!(hits.count(), 2);
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 honoured, not the 10 ms backoff"
    );
}

#[test]
fn request_timeout_is_retried_but_not_implemented_is_not() {
    let (addr, hits) = counting_server(vec![
        "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        OK_2,
    ]);
    let client = client(Options {
        retries: 1,
        ..options()
    });
    assert_eq!(get(&client, &format!("http://{addr}/")).unwrap().0, b"ok");
    assert_eq!(hits.count(), 2);

    let (addr, hits) = counting_server(vec![
        "HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ]);
    let err = get(&client, &format!("http://{addr}/")).unwrap_err();
    assert!(
        matches!(err, DownloadError::Status { code: 501, .. }),
        "{err:?}"
    );
    assert_eq!(hits.count(), 1);
}

#[test]
fn a_retry_after_past_the_retry_time_cap_gives_up_at_once() {
    let (addr, hits) = counting_server(vec![
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 100\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n",
    ]);
    let client = client(Options {
        retries: 5,
        retry_max_time: Duration::from_secs(5),
        ..options()
    });
    let err = get(&client, &format!("http://{addr}/")).unwrap_err();
    assert!(
        matches!(
            err,
            DownloadError::Status {
                code: 503,
                retry_after: Some(d),
                ..
            } if d == Duration::from_secs(100)
        ),
        "{err:?}"
    );
    assert_eq!(hits.count(), 1, "never waited 100 s to try again");
}

#[test]
fn backoff_grows_until_the_retry_time_cap() {
    let (addr, hits) = counting_server(vec![
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ]);
    let client = client(Options {
        retries: 10,
        backoff: Duration::from_millis(200),
        retry_max_time: Duration::from_millis(500),
        ..options()
    });
    let start = Instant::now();
    get(&client, &format!("http://{addr}/")).unwrap_err();
    // Waits of 100..=200 ms, then 200..=400 ms: the third (400..=800 ms) would end past
    // 500 ms, so 2 or 3 requests in all, never the 11 that 10 retries allow.
    let n = hits.count();
    assert!((2..=3).contains(&n), "{n} requests");
    assert!(start.elapsed() >= Duration::from_millis(100), "backed off");
}

// ---------------------------------------------------------------- credentials

#[test]
fn url_credentials_go_as_basic_auth_and_not_to_another_origin() {
    let (other, other_heads) = counting_server(vec![OK_2]);
    let redirect: &'static str = Box::leak(
        format!(
            "HTTP/1.1 302 Found\r\nLocation: http://{other}/next\r\nContent-Length: 0\r\n\
             Connection: close\r\n\r\n"
        )
        .into_boxed_str(),
    );
    let (first, first_heads) = counting_server(vec![redirect]);
    let client = client(options());
    let (body, fetched) = get(&client, &format!("http://al%20ice:p%40ss@{first}/start")).unwrap();
    assert_eq!((body.as_slice(), fetched.redirects), (&b"ok"[..], 1));
    let first = first_heads.all().join("");
    // base64("al ice:p@ss")
    assert!(
        first.contains("\r\nAuthorization: Basic YWwgaWNlOnBAc3M=\r\n"),
        "{first}"
    );
    assert!(
        !first.contains("p%40ss") && !first.contains("al%20ice"),
        "{first}"
    );
    let second = other_heads.all().join("");
    assert!(
        !second.to_ascii_lowercase().contains("authorization"),
        "{second}"
    );
}

// ---------------------------------------------------------------- a pinned self-signed cert

/// A self-signed certificate that says `CA:TRUE`, as `openssl req -x509` makes, for
/// `names`, valid from `not_before` to `not_after` (years), and a server config using it.
fn self_signed(
    names: &[&str],
    common_name: &str,
    years: (i32, i32),
) -> (String, Arc<rustls::ServerConfig>) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.not_before = rcgen::date_time_ymd(2000 + years.0, 1, 1);
    params.not_after = rcgen::date_time_ymd(2000 + years.1, 1, 1);
    let cert = params.self_signed(&key).unwrap();
    let der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.der().clone()], der)
    .unwrap();
    (cert.pem(), Arc::new(server))
}

fn tls_get(pem: &str, server: &StdServer, host: &str) -> Result<Vec<u8>, DownloadError> {
    let tmp = tempfile::tempdir().unwrap();
    let ca_file = tmp.path().join("self.pem");
    std::fs::write(&ca_file, pem).unwrap();
    let client = client(Options {
        tls: tls_config(&[&ca_file], false).unwrap(),
        ..options()
    });
    let url = server.url("/f").replace("127.0.0.1", host);
    get(&client, &url).map(|(body, _)| body)
}

fn is_cert_error(err: &DownloadError, want: fn(&rustls::CertificateError) -> bool) -> bool {
    matches!(err, DownloadError::Tls(rustls::Error::InvalidCertificate(e)) if want(e))
}

#[test]
fn ca_pins_a_self_signed_server_certificate_exactly() {
    let site = || Arc::new(site().route("/f", Route::File { len: 100 }));
    let (pem, config) = self_signed(&["localhost", "127.0.0.1"], "localhost", (20, 60));
    let server = StdServer::start_tls(site(), config).unwrap();
    assert_eq!(tls_get(&pem, &server, "127.0.0.1").unwrap(), content(100));
    assert_eq!(tls_get(&pem, &server, "localhost").unwrap(), content(100));

    // Another self-signed certificate is not trusted because one was pinned.
    let (other_pem, _) = self_signed(&["localhost", "127.0.0.1"], "localhost", (20, 60));
    let err = tls_get(&other_pem, &server, "127.0.0.1").unwrap_err();
    assert!(
        is_cert_error(&err, |e| !matches!(
            e,
            rustls::CertificateError::NotValidForName
        )),
        "{err:?}"
    );

    // The pinned certificate is still checked for the name and the dates.
    let (pem, config) = self_signed(&["localhost"], "localhost", (20, 60));
    let server = StdServer::start_tls(site(), config).unwrap();
    let err = tls_get(&pem, &server, "127.0.0.1").unwrap_err();
    assert!(
        is_cert_error(&err, |e| matches!(
            e,
            rustls::CertificateError::NotValidForNameContext { .. }
                | rustls::CertificateError::NotValidForName
        )),
        "{err:?}"
    );
    let (pem, config) = self_signed(&["127.0.0.1"], "127.0.0.1", (10, 20));
    let server = StdServer::start_tls(site(), config).unwrap();
    let err = tls_get(&pem, &server, "127.0.0.1").unwrap_err();
    assert!(
        is_cert_error(&err, |e| matches!(
            e,
            rustls::CertificateError::Expired | rustls::CertificateError::ExpiredContext { .. }
        )),
        "{err:?}"
    );

    // No subjectAltName: the subject's CN names the server, as OpenSSL reads it.
    let (pem, config) = self_signed(&[], "127.0.0.1", (20, 60));
    let server = StdServer::start_tls(site(), config).unwrap();
    assert_eq!(tls_get(&pem, &server, "127.0.0.1").unwrap(), content(100));
    let (pem, config) = self_signed(&[], "example.com", (20, 60));
    let server = StdServer::start_tls(site(), config).unwrap();
    let err = tls_get(&pem, &server, "127.0.0.1").unwrap_err();
    assert!(
        is_cert_error(&err, |e| matches!(
            e,
            rustls::CertificateError::NotValidForName
        )),
        "{err:?}"
    );
}

#[test]
fn the_openssl_one_liners_certificate_works_with_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let (key, cert) = (tmp.path().join("key.pem"), tmp.path().join("self.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
        ])
        .arg("/CN=localhost")
        .args([
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED: openssl is not installed");
        return;
    }
    use rustls::pki_types::pem::PemObject;
    let certs = vec![rustls::pki_types::CertificateDer::from_pem_file(&cert).unwrap()];
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(&key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let server = StdServer::start_tls(
        Arc::new(site().route("/f", Route::File { len: 100 })),
        Arc::new(config),
    )
    .unwrap();
    let pem = std::fs::read_to_string(&cert).unwrap();
    assert_eq!(tls_get(&pem, &server, "127.0.0.1").unwrap(), content(100));
    // Without --ca it is refused as before.
    let err = get(&client(options()), &server.url("/f")).unwrap_err();
    assert!(matches!(err, DownloadError::Tls(_)), "{err:?}");
}

// ---------------------------------------------------------------- ranges, hostile servers

#[test]
fn a_206_for_another_range_or_unasked_is_a_protocol_error() {
    let ask = examples::download::RangeAsk {
        start: 5,
        end: None,
        if_range: Some("\"v1\"".into()),
    };
    let (addr, heads) = counting_server(vec![
        "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/10\r\nContent-Length: 10\r\n\
         Connection: close\r\n\r\n0123456789",
    ]);
    let client = client(options());
    let err = client
        .get_range(
            &url(&format!("http://{addr}/")),
            &mut Vec::new(),
            &mut |_| {},
            Some(&ask),
        )
        .unwrap_err();
    assert!(matches!(err, DownloadError::Protocol(_)), "{err:?}");
    let head = heads.all().join("");
    assert!(head.contains("\r\nRange: bytes=5-\r\n"), "{head}");
    assert!(head.contains("\r\nIf-Range: \"v1\"\r\n"), "{head}");

    let (addr, _) = counting_server(vec![
        "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 5-9/10\r\nContent-Length: 3\r\n\
         Connection: close\r\n\r\n567",
    ]);
    let err = client
        .get_range(
            &url(&format!("http://{addr}/")),
            &mut Vec::new(),
            &mut |_| {},
            Some(&ask),
        )
        .unwrap_err();
    assert!(
        matches!(err, DownloadError::Protocol(_)),
        "length disagrees: {err:?}"
    );

    let (addr, _) = counting_server(vec![
        "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-1/10\r\nContent-Length: 2\r\n\
         Connection: close\r\n\r\n01",
    ]);
    let err = get(&client, &format!("http://{addr}/")).unwrap_err();
    assert!(
        matches!(err, DownloadError::Protocol(_)),
        "unasked: {err:?}"
    );
}

#[test]
fn a_range_into_a_file_sink_keeps_the_first_bytes() {
    let (addr, _) = counting_server(vec![
        "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 3-5/6\r\nContent-Length: 3\r\n\
         ETag: \"v2\"\r\nConnection: close\r\n\r\ndef",
    ]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = OutputDir::new(tmp.path()).unwrap();
    let mut part = dir.create_named("f").unwrap();
    part.write_all(b"abcXYZ").unwrap();
    let ask = examples::download::RangeAsk {
        start: 3,
        end: None,
        if_range: None,
    };
    let fetched = client(options())
        .get_range(
            &url(&format!("http://{addr}/")),
            &mut part,
            &mut |_| {},
            Some(&ask),
        )
        .unwrap();
    assert_eq!(
        (fetched.offset, fetched.bytes, fetched.total),
        (3, 3, Some(6))
    );
    assert_eq!(fetched.validator.as_deref(), Some("\"v2\""));
    let path = part.commit().unwrap();
    assert_eq!(std::fs::read(path).unwrap(), b"abcdef");
}

// ---------------------------------------------------------------- proxies

/// A forward proxy for the tests: answers absolute-form GETs itself (`proxied`), opens
/// `CONNECT` tunnels (refusing port 9, with 403), and records every request head.
fn proxy_server() -> (SocketAddr, Arc<Heads>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let heads = Arc::new(Heads::default());
    let log = heads.clone();
    thread::spawn(move || {
        for stream in listener.incoming().take(20) {
            let Ok(mut client) = stream else { continue };
            let log = log.clone();
            thread::spawn(move || {
                let _ = client.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = Vec::new();
                let mut byte = [0; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 {
                    match client.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                log.record(head.clone());
                let Some(target) = head
                    .strip_prefix("CONNECT ")
                    .and_then(|r| r.split(' ').next())
                else {
                    let _ = client.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nproxied",
                    );
                    return;
                };
                if target.ends_with(":9") {
                    let _ = client.write_all(
                        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    return;
                }
                let Ok(upstream) = std::net::TcpStream::connect(target) else {
                    return;
                };
                let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                let (mut up_read, mut client_write) =
                    (upstream.try_clone().unwrap(), client.try_clone().unwrap());
                let back = thread::spawn(move || std::io::copy(&mut up_read, &mut client_write));
                let mut upstream = upstream;
                let _ = std::io::copy(&mut client, &mut upstream);
                let _ = upstream.shutdown(std::net::Shutdown::Write);
                let _ = back.join();
            });
        }
    });
    (addr, heads)
}

fn proxies(http: Option<String>, https: Option<String>, no_proxy: &[&str]) -> Proxies {
    Proxies {
        http: http.map(|u| Url::parse(&u).unwrap()),
        https: https.map(|u| Url::parse(&u).unwrap()),
        no_proxy: no_proxy.iter().map(|s| s.to_string()).collect(),
        direct_loopback: false,
    }
}

#[test]
fn plain_http_goes_to_the_proxy_in_absolute_form_with_its_credentials() {
    let (proxy, heads) = proxy_server();
    let client = client(Options {
        proxies: proxies(Some(format!("http://pu:pp@{proxy}")), None, &[]),
        ..options()
    });
    let (body, _) = get(&client, "http://user:pw@example.invalid:81/x?y=1").unwrap();
    assert_eq!(body, b"proxied");
    let head = heads.all().join("");
    assert!(
        head.starts_with("GET http://example.invalid:81/x?y=1 HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nHost: example.invalid:81\r\n"), "{head}");
    assert!(
        head.contains(&format!(
            "\r\nProxy-Authorization: Basic {}\r\n",
            base64(b"pu:pp")
        )),
        "{head}"
    );
    assert!(
        head.contains(&format!(
            "\r\nAuthorization: Basic {}\r\n",
            base64(b"user:pw")
        )),
        "{head}"
    );
}

#[test]
fn https_tunnels_through_connect_and_is_verified_end_to_end() {
    let pki = test_pki();
    let server = StdServer::start_tls(
        Arc::new(site().route("/f", Route::File { len: 5_000 })),
        pki.server.clone(),
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let ca_file = tmp.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    let (proxy, heads) = proxy_server();
    let via = |no_proxy: &[&str], ca: bool| {
        client(Options {
            proxies: proxies(None, Some(format!("http://{proxy}")), no_proxy),
            tls: if ca {
                tls_config(&[&ca_file], false).unwrap()
            } else {
                tls_config(&[] as &[&Path], false).unwrap()
            },
            ..options()
        })
    };

    let (body, _) = get(&via(&[], true), &server.url("/f")).unwrap();
    assert_eq!(body, content(5_000));
    let port = server.addr().port();
    assert_eq!(
        heads.all()[0].lines().next().unwrap(),
        format!("CONNECT 127.0.0.1:{port} HTTP/1.1")
    );
    // Through the tunnel the certificate is still checked against the target's name.
    let err = get(&via(&[], false), &server.url("/f")).unwrap_err();
    assert!(matches!(err, DownloadError::Tls(_)), "{err:?}");
    assert_eq!(heads.count(), 2);

    // no_proxy: straight to the server, the proxy sees nothing.
    let (body, _) = get(&via(&["127.0.0.1"], true), &server.url("/f")).unwrap();
    assert_eq!(body, content(5_000));
    assert_eq!(heads.count(), 2);

    // A refused tunnel is a typed error.
    let err = get(&via(&[], true), "https://127.0.0.1:9/f").unwrap_err();
    assert!(
        matches!(err, DownloadError::Proxy { code: 403, .. }),
        "{err:?}"
    );
}

// ---------------------------------------------------------------- segments

#[test]
fn a_segment_answered_with_the_whole_file_fails_the_download_and_leaves_nothing() {
    // The probe gets a 206 announcing 600 000 bytes; every segment then gets a 200, as
    // from a file changed since (If-Range no longer matching).
    let (addr, heads) = counting_server(vec![
        "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-0/600000\r\n\
         Content-Length: 1\r\nETag: \"v1\"\r\nConnection: close\r\n\r\nx",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: \"v2\"\r\nConnection: close\r\n\r\nnewer",
    ]);
    let tmp = tempfile::tempdir().unwrap();
    // Even with --continue: a file with holes is no prefix to resume from.
    let dir = OutputDir::new(tmp.path()).unwrap().resume(true);
    let client = std::rc::Rc::new(client(options()));
    let err = examples::download::segmented::download_segmented(
        &client,
        &dir,
        &url(&format!("http://{addr}/f.bin")),
        "f.bin",
        4,
        &hub::Semaphore::new(0),
        std::rc::Rc::new(|_| {}),
    )
    .unwrap_err();
    assert!(err.to_string().contains("it changed"), "{err}");
    let all = heads.all();
    assert!(
        all[1].contains("\r\nRange: bytes=1-199999\r\n"),
        "{}",
        all[1]
    );
    assert!(all[1].contains("\r\nIf-Range: \"v1\"\r\n"), "{}", all[1]);
    assert_eq!(
        dir_entries(tmp.path()),
        Vec::<String>::new(),
        "no partial file left"
    );
}

#[test]
fn a_body_broken_midway_is_resumed_on_retry_when_the_server_gave_a_validator() {
    let (addr, heads) = counting_server(vec![
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nETag: \"v1\"\r\nConnection: close\r\n\r\n01234",
        "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 5-9/10\r\nContent-Length: 5\r\n\
         ETag: \"v1\"\r\nConnection: close\r\n\r\n56789",
    ]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = OutputDir::new(tmp.path()).unwrap();
    let client = client(Options {
        retries: 1,
        ..options()
    });
    let saved = download_to(
        &client,
        &dir,
        &url(&format!("http://{addr}/f.bin")),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(std::fs::read(&saved.path).unwrap(), b"0123456789");
    assert_eq!(
        (
            saved.fetched.bytes,
            saved.fetched.offset,
            saved.fetched.retries
        ),
        (10, 0, 1)
    );
    let all = heads.all();
    assert!(!all[0].contains("Range:"), "{}", all[0]);
    assert!(
        all[1].contains("\r\nRange: bytes=5-\r\nIf-Range: \"v1\"\r\n"),
        "{}",
        all[1]
    );

    // Into a sink that cannot resume (memory), the retry fetches the body whole.
    let (addr, heads) = counting_server(vec![
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nETag: \"v1\"\r\nConnection: close\r\n\r\n01234",
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nETag: \"v1\"\r\nConnection: close\r\n\r\n0123456789",
    ]);
    let (body, _) = get(&client, &format!("http://{addr}/")).unwrap();
    assert_eq!(body, b"0123456789");
    assert!(!heads.all()[1].contains("Range:"));
}
