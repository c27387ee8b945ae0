//! Seed 003, the aiohttp downloader: `fetch(session, url)` for three images as tasks on one
//! event loop, each printing `发送请求: URL` ("sending request") and saving the body under
//! the part of the URL after its last `_` (`url.rsplit('_')[-1]`).
//!
//! Here each fetch is a greenlet on one hub instead of an `async` task; the code that
//! fetches is plain blocking code. `cargo run -p examples --example aiohttp_downloader
//! [URL…] [-o DIR]`: with no URL it serves three images from an embedded server on the same
//! hub, at the seed's paths. The name is sanitized like any other (a URL without `_`, or
//! one ending in `/`, still gets a safe name inside the output directory).

use std::process::ExitCode;
use std::time::Duration;

use examples::download::greenlet::{Twin, after_last_underscore};

fn main() -> ExitCode {
    Twin {
        name: "aiohttp_downloader",
        demo_files: &[
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
        ],
        demo_delay: Duration::from_millis(400),
        file_name: |_, url| Some(after_last_underscore(url).to_owned()),
        announce: Some(|url| format!("发送请求: {url}")),
    }
    .main()
}
