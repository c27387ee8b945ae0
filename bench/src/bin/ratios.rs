//! Prints the summary table of gevent-rs against its peers: ours / peer per benchmark,
//! with the target each row is held to.
//!
//! `cargo run --release -p bench --bin ratios`

fn main() {
    println!("gevent-rs vs peers: median of interleaved Instant-timed runs, ratio = ours / peer");
    bench::ratios::run(bench::ratios::Plan::default());
}
