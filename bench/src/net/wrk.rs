//! Runs wrk against a server and reads its summary.

use std::io;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

/// What one wrk run reported.
#[derive(Debug)]
pub struct WrkRun {
    pub requests: u64,
    pub seconds: f64,
    /// Connect, read, write and timeout errors, plus non-2xx responses.
    pub errors: u64,
}

/// `wrk -t<threads> -c<conns> -d<duration> http://<addr>/`; wrk takes whole seconds,
/// so `duration` is rounded up to one.
pub fn run(
    addr: SocketAddr,
    conns: usize,
    threads: usize,
    duration: Duration,
) -> io::Result<WrkRun> {
    let output = Command::new("wrk")
        .arg(format!("-t{threads}"))
        .arg(format!("-c{conns}"))
        .arg(format!("-d{}s", duration.as_secs_f64().ceil().max(1.0)))
        .arg(format!("http://{addr}/"))
        .output()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("wrk: {e} (install it: apt-get install wrk)"),
            )
        })?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(io::Error::other(format!(
            "wrk failed: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    parse(&text).ok_or_else(|| io::Error::other(format!("cannot read wrk's summary:\n{text}")))
}

/// Reads "N requests in Xs, ..." and the error lines of wrk's output.
fn parse(text: &str) -> Option<WrkRun> {
    let summary = text.lines().find(|l| l.contains(" requests in "))?;
    let mut words = summary.split_whitespace();
    let requests = words.next()?.parse().ok()?;
    let seconds = seconds(words.nth(2)?.trim_end_matches(','))?;
    let mut errors = 0;
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            errors += rest
                .split(',')
                .filter_map(|part| part.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>();
        } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            errors += rest.trim().parse::<u64>().ok()?;
        }
    }
    Some(WrkRun {
        requests,
        seconds,
        errors,
    })
}

/// wrk's durations: "3.00s", "2.99m", "500.00ms".
fn seconds(d: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = d.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = d.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = d.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = d.strip_suffix('m') {
        (n, 60.0)
    } else {
        return None;
    };
    Some(number.parse::<f64>().ok()? * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_summary_and_errors() {
        let out = "Running 3s test @ http://127.0.0.1:1/\n  2 threads and 100 connections\n  \
                   Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency     1.00ms\n  \
                   300000 requests in 3.00s, 30.00MB read\n  \
                   Socket errors: connect 0, read 2, write 1, timeout 0\n  \
                   Non-2xx or 3xx responses: 4\nRequests/sec: 100000.00\nTransfer/sec: 10.00MB\n";
        let run = parse(out).unwrap();
        assert_eq!(run.requests, 300_000);
        assert!((run.seconds - 3.0).abs() < 1e-9);
        assert_eq!(run.errors, 7);
        assert_eq!(seconds("500.00ms"), Some(0.5));
    }
}
