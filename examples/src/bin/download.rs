//! `download [URL…] [-i FILE] [-o DIR] [-c N] [--timeout S] [--retries N] [--ca FILE]
//! [--insecure]`: the concurrent downloader, one greenlet per URL on one thread. With no
//! URL it serves generated files from an embedded server on the same hub and downloads
//! those. See `examples::download` for the pieces.

use std::process::ExitCode;

fn main() -> ExitCode {
    examples::logging::init();
    examples::download::greenlet::run_cli(std::env::args().skip(1))
}
