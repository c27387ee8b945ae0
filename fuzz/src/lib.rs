//! The properties the fuzz targets check, one function per target.
//!
//! Shared by the libFuzzer targets (`fuzz_targets/`, nightly) and by
//! `examples/tests/fuzz_corpus.rs`, which replays the seed corpus in `corpus/<target>/`
//! through the same functions on stable, so CI exercises them. A violated property is a
//! panic, which libFuzzer reports as a crash and the test as a failure.

use std::io::{self, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use examples::download::http::{self, BodyKind};
use examples::download::naming::MAX_NAME_BYTES;
use examples::download::{
    Client, Connector, Options, OutputDir, file_name_for, sanitize_file_name,
};
use url::Url;

/// A target's check: panics if a property does not hold for the input.
pub type Check = fn(&[u8]);

/// The targets, by the names of their corpus directories.
pub const TARGETS: [(&str, Check); 2] = [
    ("http_response", check_http_response),
    ("file_name", check_file_name),
];

/// In an `http_response` input, separates what successive connections receive: the
/// first connection the client opens reads the first part, the next one the second, and
/// so on, round robin.
pub const NEXT_CONNECTION: &[u8] = b"\n--next-connection--\n";

/// Bytes a server sent, through every layer of the downloader that reads them: the head
/// and body framing on their own (request heads too, for the embedded server), then the
/// whole [`Client`] (keep-alive reuse, redirects, retries, draining error bodies) over
/// connections that replay `data`.
///
/// Properties: nothing panics or hangs; a Content-Length is only taken when it is plain
/// digits; a body read successfully has exactly the bytes its framing announced, never more than arrived, and progress only grows; a successful
/// GET is a 2xx whose byte count is what reached the sink.
pub fn check_http_response(data: &[u8]) {
    let first = data.split(|&b| b == b'\n').next().unwrap_or_default();
    // Small buffers put the framing's buffer boundaries everywhere.
    let capacity = 1 + first.len() % 61;
    check_framing(data, capacity);
    check_request_head(data, capacity);
    check_client(data);
}

fn check_framing(data: &[u8], capacity: usize) {
    let mut r = BufReader::with_capacity(capacity, data);
    let Ok(head) = http::read_response_head(&mut r, 4096) else {
        return;
    };
    let _ = (head.keep_alive(), head.redirect_location());
    let Ok(kind) = head.body_kind() else {
        return;
    };
    if let BodyKind::Length(n) = kind {
        // RFC 9110 §8.6: `1*DIGIT`, possibly repeated in a list, all equal.
        for value in head.headers.get_all("content-length") {
            for part in value.split(',').map(str::trim) {
                assert!(
                    !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()),
                    "Content-Length {value:?} accepted"
                );
                assert_eq!(part.parse::<u64>().ok(), Some(n), "{value:?} read as {n}");
            }
        }
    }
    let mut sink = Vec::new();
    let mut last = 0;
    let read = http::read_body(&mut r, kind, &mut sink, &mut |n| {
        assert!(n >= last, "progress went back from {last} to {n}");
        last = n;
    });
    assert!(
        sink.len() <= data.len(),
        "the body has bytes that never arrived"
    );
    if let Ok(n) = read {
        assert_eq!(
            n,
            sink.len() as u64,
            "returned count differs from bytes written"
        );
        match kind {
            BodyKind::Length(len) => assert_eq!(n, len, "body differs from Content-Length"),
            BodyKind::Empty => assert_eq!(n, 0, "a body where none is allowed"),
            BodyKind::Chunked | BodyKind::UntilClose => {}
        }
    }
}

fn check_request_head(data: &[u8], capacity: usize) {
    let mut r = BufReader::with_capacity(capacity, data);
    if let Ok(Some(head)) = http::read_request_head(&mut r, 4096) {
        let _ = (head.path(), head.keep_alive());
    }
}

fn check_client(data: &[u8]) {
    let parts: Vec<Vec<u8>> = split(data, NEXT_CONNECTION);
    // Building the TLS configuration costs more than a run: made once.
    static OPTIONS: OnceLock<Options> = OnceLock::new();
    let options = OPTIONS.get_or_init(|| Options {
        retries: 2,
        max_redirects: 4,
        max_head_bytes: 4096,
        max_idle_per_host: 2,
        sleep: |_| {},
        ..Options::default()
    });
    let replay = Replay {
        parts,
        opened: Default::default(),
    };
    let client = Client::new(replay, options.clone());
    let url = Url::parse("http://fuzz.invalid/dir/file.bin").unwrap();
    // Twice: the second GET reuses a kept-alive connection and reads what is left in it.
    for _ in 0..2 {
        let mut sink = Vec::new();
        let mut last = 0;
        let got = client.get(&url, &mut sink, &mut |p| {
            // Restarted at 0 for each attempt; otherwise it only grows.
            assert!(p.received == 0 || p.received >= last, "progress went back");
            last = p.received;
        });
        if let Ok(fetched) = got {
            assert!((200..300).contains(&fetched.status), "{fetched:?}");
            assert_eq!(fetched.bytes, sink.len() as u64, "{fetched:?}");
            if let Some(total) = fetched.total {
                assert_eq!(fetched.bytes, total, "{fetched:?}");
            }
        }
    }
}

fn split(data: &[u8], separator: &[u8]) -> Vec<Vec<u8>> {
    let mut parts = Vec::new();
    let mut rest = data;
    while let Some(i) = rest.windows(separator.len()).position(|w| w == separator) {
        parts.push(rest[..i].to_vec());
        rest = &rest[i + separator.len()..];
    }
    parts.push(rest.to_vec());
    parts
}

/// Connections that replay the parts of an input in turn; what the client writes is
/// discarded.
struct Replay {
    parts: Vec<Vec<u8>>,
    opened: std::cell::Cell<usize>,
}

impl Connector for Replay {
    type Stream = ReplayStream;

    fn connect(&self, _host: &str, _port: u16, _timeout: Duration) -> io::Result<ReplayStream> {
        let n = self.opened.get();
        self.opened.set(n + 1);
        Ok(ReplayStream(io::Cursor::new(
            self.parts[n % self.parts.len()].clone(),
        )))
    }

    fn set_read_timeout(&self, _: &ReplayStream, _: Option<Duration>) -> io::Result<()> {
        Ok(())
    }
}

struct ReplayStream(io::Cursor<Vec<u8>>);

impl Read for ReplayStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for ReplayStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Untrusted text as a file name, a URL path and a whole URL: the name is always one
/// plain path component (not empty, not `.` or `..`, no separator or NUL, at most
/// [`MAX_NAME_BYTES`]), and the file [`OutputDir`] creates for it, temporary and final,
/// is directly inside the output directory.
pub fn check_file_name(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    check_name(&sanitize_file_name(&text), &text);
    for candidate in [
        format!("http://h/{text}"),
        format!("http://h/d/{text}"),
        text.to_string(),
    ] {
        if let Ok(url) = Url::parse(&candidate) {
            check_name(&file_name_for(&url), &candidate);
        }
    }
    let dir = OutputDir::new(scratch_dir()).expect("scratch output directory");
    let part = dir
        .create_named(&text)
        .unwrap_or_else(|e| panic!("no file for {text:?}: {e}"));
    for path in [part.path(), part.temp_path()] {
        assert_eq!(
            path.parent(),
            Some(dir.path()),
            "{path:?} escapes for {text:?}"
        );
    }
    assert!(
        part.temp_path().is_file(),
        "temporary file not created for {text:?}"
    );
    let temp = part.temp_path().to_owned();
    drop(part); // not committed: removed
    assert!(!temp.exists(), "uncommitted file {temp:?} left behind");
}

fn check_name(name: &str, from: &str) {
    assert!(!name.is_empty(), "empty name from {from:?}");
    assert!(name != "." && name != "..", "{name:?} from {from:?}");
    assert!(
        !name.contains(['/', '\\', '\0']),
        "separator or NUL in {name:?} from {from:?}"
    );
    assert!(
        name.len() <= MAX_NAME_BYTES,
        "{} bytes from {from:?}",
        name.len()
    );
    let mut components = Path::new(name).components();
    assert!(
        matches!(
            (components.next(), components.next()),
            (Some(Component::Normal(_)), None)
        ),
        "{name:?} from {from:?} is not one plain component"
    );
}

/// Removes the output directory [`check_file_name`] uses (it is empty between checks).
pub fn remove_scratch_dir() {
    let _ = std::fs::remove_dir_all(scratch_dir());
}

/// One output directory per process, under the system's temporary directory.
fn scratch_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        std::env::temp_dir().join(format!("gevent-rs-fuzz-names-{}", std::process::id()))
    })
}
