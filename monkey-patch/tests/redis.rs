//! The unmodified `redis` crate's blocking client against a real `redis-server`:
//! 20 greenlets each `BLPOP key 0.5` at once finish together after patch_all();
//! with the hooks passing through, the same calls run one after another.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use redis::Commands;

const GREENLETS: usize = 20;

/// `n` greenlets each connect and `BLPOP` an empty list for 0.5 s; the event log
/// and the time all took.
fn blpops(port: u16, n: usize) -> (Vec<(&'static str, usize)>, Duration) {
    let log = Rc::new(RefCell::new(Vec::new()));
    let start = Instant::now();
    let greenlets: Vec<_> = (0..n)
        .map(|i| {
            let log = log.clone();
            hub::spawn(move || -> redis::RedisResult<()> {
                let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
                let mut con = client.get_connection()?;
                log.borrow_mut().push(("start", i));
                let popped: Option<(String, String)> = con.blpop(format!("empty-{i}"), 0.5)?;
                assert_eq!(popped, None, "nobody pushes: BLPOP times out");
                log.borrow_mut().push(("end", i));
                Ok(())
            })
        })
        .collect();
    for g in greenlets {
        g.join().unwrap().unwrap();
    }
    let elapsed = start.elapsed();
    let log = log.borrow().clone();
    (log, elapsed)
}

#[test]
fn twenty_blpops_overlap_when_patched_and_not_when_unpatched() {
    let Some(server) = common::redis() else {
        return;
    };
    monkey_patch::patch_all();
    let (log, patched) = blpops(server.port, GREENLETS);
    common::assert_all_started_before_any_ended(&log, GREENLETS);

    // The same code with the hooks passing through: each BLPOP blocks the thread.
    // Four are enough to see it (about 2 s).
    let serial_n = 4;
    let (log, unpatched) = monkey_patch::unpatched(|| {
        // `unpatched` covers this greenlet only: run the greenlets' bodies inside it.
        let port = server.port;
        let log = Rc::new(RefCell::new(Vec::new()));
        let start = Instant::now();
        for i in 0..serial_n {
            let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
            let mut con = client.get_connection().unwrap();
            log.borrow_mut().push(("start", i));
            let _: Option<(String, String)> = con.blpop("empty", 0.5).unwrap();
            log.borrow_mut().push(("end", i));
        }
        (log.borrow().clone(), start.elapsed())
    });
    eprintln!(
        "redis: {GREENLETS} BLPOP 0.5 patched in {patched:?}, {serial_n} unpatched in {unpatched:?}"
    );
    assert_eq!(log[..2], [("start", 0), ("end", 0)]);
    // The 20 cooperative BLPOPs take less than half of what 20 blocking ones would
    // take one after another (extrapolated from the 4): a ratio, never a time bound.
    assert!(
        patched * 2 * (serial_n as u32) < unpatched * GREENLETS as u32,
        "20 patched BLPOPs took {patched:?}, 4 unpatched {unpatched:?}"
    );
}

#[test]
fn a_pushed_value_wakes_a_blocked_blpop_in_another_greenlet() {
    let Some(server) = common::redis() else {
        return;
    };
    monkey_patch::patch_all();
    let port = server.port;
    let url = format!("redis://127.0.0.1:{port}/");
    let popper = {
        let url = url.clone();
        hub::spawn(move || -> redis::RedisResult<Option<(String, String)>> {
            let mut con = redis::Client::open(url)?.get_connection()?;
            con.blpop("queue", 10.0)
        })
    };
    let pusher = hub::spawn(move || -> redis::RedisResult<()> {
        std::thread::sleep(Duration::from_millis(50));
        let mut con = redis::Client::open(url)?.get_connection()?;
        con.rpush::<_, _, ()>("queue", "job")
    });
    pusher.join().unwrap().unwrap();
    assert_eq!(
        popper.join().unwrap().unwrap(),
        Some(("queue".to_string(), "job".to_string()))
    );
}
