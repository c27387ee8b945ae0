//! Runs the twins of the seed tutorials' downloaders with no URL (so each serves its demo
//! files from an embedded server on its own hub) and checks what each prints and saves.
//!
//! `cargo test` builds a package's examples along with its integration tests, into
//! `<target>/<profile>/examples/`, next to the `deps/` directory holding this binary.
//! The embedded servers delay every response, so "every request went out before any answer
//! came back" shows in the order of the lines: that is how these tests see concurrency,
//! without timing anything.

mod common;

use std::path::Path;
use std::time::Duration;

use examples::download::server::content;

/// Runs example `name` with `args`; returns its stdout lines after checking it succeeded.
/// Kills it and fails if it runs longer than 30 s.
fn run(name: &str, args: &[&str]) -> Vec<String> {
    common::run_example(name, args, &[], Duration::from_secs(30)).lines
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `N bytes received from http://127.0.0.1:PORT{path}.` → `(N, path)`.
fn received(line: &str) -> Option<(u64, String)> {
    let (n, rest) = line.split_once(" bytes received from http://127.0.0.1:")?;
    let path = &rest[rest.find('/')?..rest.len().checked_sub(1)?];
    Some((n.parse().ok()?, path.to_owned()))
}

/// Checks the per-file lines (any order) and the summary of a twin's demo run.
fn check_lines(lines: &[String], files: &[(&str, u64)]) {
    let mut got: Vec<(u64, String)> = lines.iter().filter_map(|l| received(l)).collect();
    got.sort_by(|a, b| a.1.cmp(&b.1));
    let mut want: Vec<(u64, String)> = files.iter().map(|(p, n)| (*n, p.to_string())).collect();
    want.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(got, want, "{lines:#?}");
    let summary = format!("summary: {} files, ", files.len());
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&summary) && l.ends_with(", 0 failed")),
        "{lines:#?}"
    );
}

#[test]
fn image_downloader_saves_20_png_and_21_png() {
    let tmp = tempfile::tempdir().unwrap();
    let lines = run("image_downloader", &["-o", tmp.path().to_str().unwrap()]);
    check_lines(
        &lines,
        &[
            (
                "/live-cover/appCovers/2018/11/15/5658062_20181115170406_small.jpg",
                96 * 1024,
            ),
            (
                "/live-cover/roomCover/2018/09/27/b0983e7b6267f5b8371106ccf5f113ab_big.jpg",
                320 * 1024,
            ),
        ],
    );
    assert_eq!(entries(tmp.path()), ["20.png", "21.png"]);
    assert_eq!(
        std::fs::read(tmp.path().join("20.png")).unwrap(),
        content(96 * 1024)
    );
    assert_eq!(
        std::fs::read(tmp.path().join("21.png")).unwrap(),
        content(320 * 1024)
    );
}

#[test]
fn video_downloader_saves_1_mp4_and_2_mp4() {
    let tmp = tempfile::tempdir().unwrap();
    let lines = run("video_downloader", &["-o", tmp.path().to_str().unwrap()]);
    check_lines(
        &lines,
        &[("/2.wx_test.mp4", 3 << 20), ("/3.wx_test.mp4", 5 << 20)],
    );
    assert_eq!(entries(tmp.path()), ["1.mp4", "2.mp4"]);
    assert_eq!(
        std::fs::read(tmp.path().join("2.mp4")).unwrap(),
        content(5 << 20)
    );
}

#[test]
fn aiohttp_downloader_names_files_after_the_last_underscore_and_sends_all_first() {
    let tmp = tempfile::tempdir().unwrap();
    let lines = run("aiohttp_downloader", &["-o", tmp.path().to_str().unwrap()]);
    let files = [
        (
            "/newsdfs/g26/M02/35/A9/120x90_0_autohomecar__ChsEe12AXQ6AOOH_AAFocMs8nzU621.jpg",
            92 * 1024,
        ),
        (
            "/newsdfs/g30/M01/3C/E2/120x90_0_autohomecar__ChcCSV2BBICAUntfAADjJFd6800429.jpg",
            57 * 1024,
        ),
        (
            "/newsdfs/g26/M0B/3C/65/120x90_0_autohomecar__ChcCP12BFCmAIO83AAGq7vK0sGY193.jpg",
            107 * 1024,
        ),
    ];
    check_lines(&lines, &files);
    // All three requests are announced before any body has arrived.
    let sent: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with("发送请求: http://127.0.0.1:"))
        .collect();
    let first_received = lines.iter().position(|l| received(l).is_some()).unwrap();
    assert_eq!(sent, [0, 1, 2], "{lines:#?}");
    assert!(first_received > 2);
    assert_eq!(
        entries(tmp.path()),
        [
            "AAFocMs8nzU621.jpg",
            "ChcCP12BFCmAIO83AAGq7vK0sGY193.jpg",
            "ChcCSV2BBICAUntfAADjJFd6800429.jpg"
        ]
    );
    assert_eq!(
        std::fs::read(tmp.path().join("AAFocMs8nzU621.jpg")).unwrap(),
        content(92 * 1024)
    );
}

#[test]
fn urlopen_sites_gets_all_three_before_any_answer_then_prints_the_time() {
    let lines = run("urlopen_sites", &[]);
    assert_eq!(lines.len(), 7, "{lines:#?}");
    let paths = ["/itk.org/", "/www.github.com/", "/zhihu.com/"];
    for (line, path) in lines[..3].iter().zip(paths) {
        assert!(
            line.starts_with("GET: http://127.0.0.1:") && line.ends_with(path),
            "{line}"
        );
    }
    let mut got: Vec<(u64, String)> = lines[3..6].iter().filter_map(|l| received(l)).collect();
    got.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        got,
        [
            (31 * 1024, "/itk.org/".to_owned()),
            (226 * 1024, "/www.github.com/".to_owned()),
            (58 * 1024, "/zhihu.com/".to_owned()),
        ]
    );
    let seconds: f64 = lines[6].parse().expect("the elapsed time, in seconds");
    assert!(seconds > 0.0);
}
