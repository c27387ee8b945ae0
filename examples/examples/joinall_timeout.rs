//! Twin of the passage at the end of seed 004 (after gevent's documentation example):
//! "`gevent.spawn()` spawns some jobs, `gevent.joinall` waits for them with a timeout
//! of 2 seconds, and the results are collected by checking `gevent.Greenlet.value`".
//!
//! The documentation's jobs are DNS look-ups (`socket.gethostbyname`), whose results
//! and speed depend on the network. Here the three jobs take a known time instead,
//! 0.5, 1 and 3 s, so one of them outlasts the timeout: `joinall` returns after 2 s
//! and the program prints the values as Python prints `[job.value for job in jobs]`,
//! with `None` for the job that has not finished. Durations follow `SEED_TIME_SCALE`
//! (see `common/mod.rs`).

#[path = "common/mod.rs"]
mod common;

/// A job that takes `seconds` and then reports it.
fn job(name: &'static str, seconds: f64) -> String {
    hub::sleep(common::secs(seconds)).expect("nothing interrupts the sleep");
    format!("{name} took {seconds:?} s")
}

/// Python's repr of a list of optional strings.
fn py_list(values: &[Option<String>]) -> String {
    let items: Vec<String> = values
        .iter()
        .map(|v| match v {
            Some(s) => format!("'{s}'"),
            None => "None".to_string(),
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn main() {
    let jobs = [
        hub::spawn(|| job("job1", 0.5)),
        hub::spawn(|| job("job2", 1.0)),
        hub::spawn(|| job("job3", 3.0)),
    ];
    // _ = gevent.joinall(jobs, timeout=2): a timeout is not an error.
    let _finished = hub::joinall(&jobs, Some(common::secs(2.0)), None).expect("no dead wait");
    // [job.value for job in jobs]: a value for each job that finished, None otherwise.
    let values: Vec<Option<String>> = jobs.iter().map(|j| j.value()).collect();
    println!("{}", py_list(&values));
    // Python abandons the unfinished job when the program exits; here it is killed, so
    // its stack unwinds before the program ends.
    hub::killall(&jobs, None).expect("killing ends every job");
}
