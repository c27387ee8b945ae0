//! Seed 001, "使用协程 gevent 实现多个视频下载": two videos downloaded by two greenlets,
//! saved as `1.mp4` and `2.mp4`, each reported as `%d bytes received from %s.`.
//!
//! `cargo run -p examples --example video_downloader [URL…] [-o DIR]`: with no URL it
//! serves two video-sized files (a few MiB, to stay quick) from an embedded server on the
//! same hub, at the seed's paths, each response delayed like a distant server.

use std::process::ExitCode;
use std::time::Duration;

use examples::download::greenlet::Twin;

fn main() -> ExitCode {
    Twin {
        name: "video_downloader",
        demo_files: &[
            ("/2.wx_test.mp4", 3 * 1024 * 1024),
            ("/3.wx_test.mp4", 5 * 1024 * 1024),
        ],
        demo_delay: Duration::from_millis(400),
        // The seed names them itself: "1.mp4", "2.mp4" (and on, for more URLs).
        file_name: |i, _| Some(format!("{}.mp4", 1 + i)),
        announce: None,
    }
    .main()
}
