//! The documented negative case: the `postgres` crate runs a tokio runtime inside and
//! blocks the calling thread on it (epoll_wait and futexes, which no hook reaches), so
//! its queries do not cooperate. The point of the test is that this is not silent:
//! the hub's slow-loop monitor names the stalled greenlet on stderr. The case runs in
//! a child process (this binary again) so that its stderr can be read.

mod common;

use std::process::Command;

const CHILD: &str = "MONKEY_PATCH_POSTGRES_CHILD_PORT";

#[test]
fn child_case() {
    let Ok(port) = std::env::var(CHILD) else {
        return;
    };
    monkey_patch::patch_all();
    let query = hub::Builder::new().name("pg-query").spawn(move || {
        let mut client = postgres::Client::connect(
            &format!("host=127.0.0.1 port={port} user=postgres"),
            postgres::NoTls,
        )
        .unwrap();
        client.execute("SELECT pg_sleep(0.3)", &[]).unwrap();
    });
    query.join().unwrap();
}

#[test]
fn a_postgres_crate_query_stalls_the_loop_and_the_monitor_says_so() {
    let Some(server) = common::postgres() else {
        return;
    };
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_case", "--nocapture", "--test-threads=1"])
        .env(CHILD, server.port.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "child failed: {out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.contains("\"pg-query\" blocked the loop for"))
        .unwrap_or_else(|| panic!("no monitor report in {stderr}"));
    let seconds: f64 = line
        .split("for ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no time in {line}"));
    assert!(seconds >= 0.25, "{line}");
}
