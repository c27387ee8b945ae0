//! Seed 001, "使用协程 gevent 实现的图片下载器": two images downloaded by two greenlets
//! (`gevent.spawn(down_loader_image, "20.png", url)` ×2, then `joinall`), saved as
//! `20.png` and `21.png`, each reported as `N bytes received from URL.`.
//!
//! `cargo run -p examples --example image_downloader [URL…] [-o DIR]`: with no URL it
//! serves two image-sized files from an embedded server on the same hub, at the seed's
//! paths, each response delayed like a distant server. Unlike the seed, certificates are
//! verified (`--insecure` is the explicit opt-out).

use std::process::ExitCode;
use std::time::Duration;

use examples::download::greenlet::Twin;

fn main() -> ExitCode {
    Twin {
        name: "image_downloader",
        demo_files: &[
            (
                "/live-cover/appCovers/2018/11/15/5658062_20181115170406_small.jpg",
                96 * 1024,
            ),
            (
                "/live-cover/roomCover/2018/09/27/b0983e7b6267f5b8371106ccf5f113ab_big.jpg",
                320 * 1024,
            ),
        ],
        demo_delay: Duration::from_millis(400),
        // The seed names them itself: "20.png", "21.png" (and on, for more URLs).
        file_name: |i, _| Some(format!("{}.png", 20 + i)),
        announce: None,
    }
    .main()
}
