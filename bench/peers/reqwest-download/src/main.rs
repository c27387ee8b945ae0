//! The downloader benchmark's tokio + reqwest peer.
//!
//! ```text
//! reqwest-download -i URLS -o DIR [-c N] [--threads N]
//! ```
//!
//! Reads one URL per line from `URLS`, downloads them all with one shared `reqwest::Client`
//! (its pool keeps connections alive per host), at most `N` at once (default 100, a tokio
//! `Semaphore`), and saves each body as the URL's last path segment in `DIR`. `--threads 1`
//! (the default) runs a current-thread runtime, like the greenlet downloader and curl, which
//! each use one thread; `--threads N` runs a multi-thread runtime with N workers.
//!
//! Bodies are streamed chunk by chunk into a plain `std::fs::File`: the greenlet downloader
//! writes with std too, so both pay the same for the disk and the comparison is about the
//! network side. Prints one summary line; exits 1 if any URL failed.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Semaphore;

struct Args {
    input: PathBuf,
    out_dir: PathBuf,
    concurrency: usize,
    threads: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut input = None;
    let mut out_dir = None;
    let mut concurrency = 100;
    let mut threads = 1;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "-i" => input = Some(PathBuf::from(value()?)),
            "-o" => out_dir = Some(PathBuf::from(value()?)),
            "-c" => concurrency = value()?.parse().map_err(|e| format!("-c: {e}"))?,
            "--threads" => threads = value()?.parse().map_err(|e| format!("--threads: {e}"))?,
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    Ok(Args {
        input: input.ok_or("-i URLS is required")?,
        out_dir: out_dir.ok_or("-o DIR is required")?,
        concurrency: concurrency.max(1),
        threads: threads.max(1),
    })
}

/// The part of `url` after its last `/`, refused if it could leave `dir`.
fn file_name(url: &str) -> Result<&str, String> {
    let name = url.rsplit('/').next().unwrap_or_default();
    if name.is_empty() || name.starts_with('.') || name.contains('\\') {
        return Err(format!("{url}: no plain file name"));
    }
    Ok(name)
}

async fn download(client: &reqwest::Client, url: &str, dir: &Path) -> Result<u64, String> {
    let fail = |e: &dyn std::fmt::Display| format!("{url}: {e}");
    let path = dir.join(file_name(url)?);
    let mut response = client
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| fail(&e))?;
    let mut file = File::create(&path).map_err(|e| fail(&e))?;
    let mut bytes = 0;
    while let Some(chunk) = response.chunk().await.map_err(|e| fail(&e))? {
        file.write_all(&chunk).map_err(|e| fail(&e))?;
        bytes += chunk.len() as u64;
    }
    Ok(bytes)
}

async fn run(args: Args, urls: Vec<String>) -> ExitCode {
    let start = Instant::now();
    let client = reqwest::Client::builder()
        .build()
        .expect("a client with the default settings");
    let limit = Arc::new(Semaphore::new(args.concurrency));
    let dir = Arc::new(args.out_dir);
    let mut tasks = Vec::with_capacity(urls.len());
    for url in urls {
        let (client, limit, dir) = (client.clone(), limit.clone(), dir.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = limit
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            download(&client, &url, &dir).await
        }));
    }
    let (mut files, mut bytes, mut failed) = (0, 0, 0);
    for task in tasks {
        match task.await.expect("a download task panicked") {
            Ok(n) => {
                files += 1;
                bytes += n;
            }
            Err(e) => {
                eprintln!("failed {e}");
                failed += 1;
            }
        }
    }
    println!(
        "summary: {files} files, {bytes} bytes in {:.3} s, {failed} failed",
        start.elapsed().as_secs_f64()
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            eprintln!(
                "reqwest-download: {msg}\nusage: reqwest-download -i URLS -o DIR [-c N] [--threads N]"
            );
            return ExitCode::from(2);
        }
    };
    let urls: Vec<String> = match std::fs::read_to_string(&args.input) {
        Ok(text) => text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect(),
        Err(e) => {
            eprintln!("reqwest-download: {}: {e}", args.input.display());
            return ExitCode::from(2);
        }
    };
    let runtime = if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    }
    .expect("a tokio runtime");
    runtime.block_on(run(args, urls))
}
