//! Running the example binaries from integration tests.
//!
//! `cargo test -p examples` builds the examples next to the test binaries
//! (`<target>/<profile>/examples/`); running one test file alone with `--test` does not.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
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

/// Runs example `name` with `args` and `envs`; it must exit successfully within `limit`
/// (it is killed and the test fails otherwise).
pub fn run_example(name: &str, args: &[&str], envs: &[(&str, &str)], limit: Duration) -> Ran {
    let path = example(name);
    let start = Instant::now();
    let mut child = Command::new(&path)
        .args(args)
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): `cargo test -p examples` builds the examples; with \
                 `--test` alone, run `cargo build -p examples --examples` first",
                path.display()
            )
        });
    // Drain both pipes while it runs, so a chatty example cannot block on a full pipe.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name} ran longer than {limit:?}");
        }
        thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    assert!(
        status.success(),
        "{name} failed ({status}): {stderr}\n{stdout}"
    );
    Ran {
        lines: stdout.lines().map(str::to_owned).collect(),
        stderr,
        elapsed,
    }
}
