//! `download [URL…] [-i FILE] [-o DIR] [-c N] [--per-host N] [-x N] [-C] [--overwrite]
//! [--timeout S] [--retries N] [--retry-max-time S] [--ca FILE] [--insecure]`: the
//! concurrent downloader, one greenlet per URL on one thread (`--help` for all, `--version`,
//! `--completions SHELL`). With no URL it serves generated files from an embedded server on
//! the same hub and downloads those. Ctrl-C or SIGTERM stops it (exit 130/143) after the
//! summary; proxies come from `http_proxy`, `https_proxy` and `no_proxy`. See
//! `examples::download` for the pieces.

use std::process::ExitCode;

fn main() -> ExitCode {
    examples::logging::init();
    examples::download::greenlet::run_cli(std::env::args().skip(1))
}
