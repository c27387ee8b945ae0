//! Memory of N concurrently sleeping greenlets against tokio tasks and OS threads,
//! each case in a child process of its own (see `bench::memory`).
//!
//! `cargo run --release -p bench --bin memory [N ...] [--threads-up-to N]`
//!
//! Default: 10 000 and 100 000 sleepers; OS threads only up to 10 000. 100 000
//! greenlets need `vm.max_map_count` raised (each stack is two mappings): the binary
//! says what to run when the limit is too low, and skips that case.

use bench::memory::{self, Kind, Sample};

/// Target of issue #4: resident KiB per sleeping greenlet.
const TARGET_KIB: f64 = 4.5;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        let kind: Kind = args[1].parse().unwrap_or_else(|e| panic!("{e}"));
        let count = args[2].parse().expect("a count");
        memory::child_main(kind, count);
    }
    let mut counts = Vec::new();
    let mut threads_up_to = 10_000;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--threads-up-to" {
            threads_up_to = it
                .next()
                .and_then(|v| v.parse().ok())
                .expect("--threads-up-to N");
        } else {
            counts.push(arg.parse::<u64>().unwrap_or_else(|_| {
                eprintln!("usage: memory [N ...] [--threads-up-to N]");
                std::process::exit(2)
            }));
        }
    }
    if counts.is_empty() {
        counts = vec![10_000, 100_000];
    }

    println!(
        "Sleepers, each case in a child process; vm.max_map_count = {}, gen-core stack budget = {}",
        memory::max_map_count(),
        gen_core::stack_budget()
    );
    let mut samples: Vec<Sample> = Vec::new();
    let mut skipped = Vec::new();
    for &count in &counts {
        for kind in [Kind::Hub, Kind::Tokio, Kind::Threads] {
            if kind == Kind::Threads && count > threads_up_to {
                continue;
            }
            match memory::measure_in_child(kind, count) {
                Ok(s) => samples.push(s),
                Err(why) => {
                    eprintln!("skipped {} x {count}: {why}", kind.name());
                    skipped.push((kind, count));
                }
            }
        }
    }

    println!();
    println!("{}", memory::TABLE_HEADER);
    for s in &samples {
        println!("{s}");
    }

    println!();
    println!("| benchmark | gevent-rs | peer | ratio | target |");
    println!("|---|---|---|---|---|");
    for ours in samples.iter().filter(|s| s.kind == Kind::Hub) {
        let per = ours.rss_per_sleeper();
        let verdict = if per <= TARGET_KIB { "met" } else { "NOT met" };
        for peer in samples
            .iter()
            .filter(|s| s.kind != Kind::Hub && s.count == ours.count)
        {
            println!(
                "| RSS per sleeper, {} (KiB) | {per:.2} KiB | {}: {:.2} KiB | {:.2}x | <= {TARGET_KIB} KiB ({verdict}) |",
                ours.count,
                peer.kind.name(),
                peer.rss_per_sleeper(),
                per / peer.rss_per_sleeper()
            );
        }
    }
    if !skipped.is_empty() {
        println!();
        println!("Skipped (see the messages above): {skipped:?}");
    }
}
