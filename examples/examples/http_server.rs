//! A minimal HTTP/1.1 server answering `Hello, world!` to every request, with
//! keep-alive and pipelining, on `monkey::server::StreamServer`: one greenlet per
//! connection (gevent's `StreamServer`, or `WSGIServer` with a hello-world app),
//! requests parsed with httparse.
//!
//! ```text
//! cargo run --release -p examples --example http_server -- --addr 127.0.0.1:8080 [--threads N]
//! curl -v http://127.0.0.1:8080/
//! ```
//!
//! Prints `listening on ADDR`, then serves until `SIGTERM` or `SIGINT`, when it stops
//! accepting and lets open connections finish. `--threads N` runs N hubs on
//! `SO_REUSEPORT` listeners, as in `echo_server`. Safe to face the internet: a request
//! whose head exceeds 8 KiB or 32 headers gets `431`, a malformed one or one with
//! ambiguous framing `400`, a body over 1 MiB `413` (bodies are never buffered), a
//! head not complete within 10 s `408`; idle keep-alive connections close after 15 s
//! (see `examples::http` and `examples::http_server`).

fn main() {
    examples::serve::run(
        "http_server",
        "127.0.0.1:8080",
        examples::http_server::handle,
    );
}
