//! Prints the summary table of gevent-rs against its peers: ours / peer per benchmark,
//! with the target each row is held to.
//!
//! `cargo run --release -p bench --bin ratios [coroutines|hub|float|all]` (default: all)

use bench::ratios::{Groups, Plan};

fn main() {
    let groups = match std::env::args().nth(1).as_deref() {
        None | Some("all") => Groups::All,
        Some("coroutines") => Groups::Coroutines,
        Some("hub") => Groups::Hub,
        Some("float") => Groups::Float,
        Some(other) => {
            eprintln!("unknown group {other:?}: expected coroutines, hub, float or all");
            std::process::exit(2);
        }
    };
    println!("gevent-rs vs peers: median of interleaved Instant-timed runs, ratio = ours / peer");
    bench::ratios::run(Plan::default(), groups);
}
