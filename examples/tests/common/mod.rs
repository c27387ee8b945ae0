//! Running the example binaries from integration tests.
//!
//! `cargo test -p examples` builds the examples next to the test binaries
//! (`<target>/<profile>/examples/`); running one test file alone with `--test` does not.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// What a finished example printed, and how long it ran.
pub struct Ran {
    pub lines: Vec<String>,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Ran {
    /// What it wrote to stderr, less the hub's slow-loop reports ("greenlet … blocked
    /// the loop"): on a loaded machine a twin can be descheduled for longer than the
    /// monitor's 100 ms, which the monitor rightly reports but which is no fault of the
    /// twin's.
    pub fn stderr_besides_monitor(&self) -> String {
        self.stderr
            .lines()
            .filter(|l| !(l.starts_with("hub: greenlet ") && l.contains(" blocked the loop for ")))
            .map(|l| format!("{l}\n"))
            .collect()
    }
}

/// The path of example `name`.
pub fn example(name: &str) -> PathBuf {
    std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in <target>/<profile>/deps")
        .join("examples")
        .join(name)
}

/// Runs `command` with its output captured; kills it and fails the test if it runs
/// longer than `limit` (a guard against hangs, not a claim about speed).
pub fn run_with_limit(mut command: Command, what: &str, limit: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what} ({e})"));
    // Drain both pipes while it runs, so a chatty child cannot block on a full pipe.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} ran longer than {limit:?}");
        }
        thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Runs example `name` with `args` and `envs`; it must exit successfully within `limit`
/// (it is killed and the test fails otherwise).
pub fn run_example(name: &str, args: &[&str], envs: &[(&str, &str)], limit: Duration) -> Ran {
    let path = example(name);
    assert!(
        path.exists(),
        "no {}: `cargo test -p examples` builds the examples; with `--test` alone, run \
         `cargo build -p examples --examples` first",
        path.display()
    );
    let mut command = Command::new(&path);
    command.args(args).envs(envs.iter().copied());
    let start = Instant::now();
    let out = run_with_limit(command, name, limit);
    let elapsed = start.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{name} failed ({}): {stderr}\n{stdout}",
        out.status
    );
    Ran {
        lines: stdout.lines().map(str::to_owned).collect(),
        stderr,
        elapsed,
    }
}
