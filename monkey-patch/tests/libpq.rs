//! libpq, through diesel's `PgConnection` (built on `pq-sys`), against a real
//! PostgreSQL server: 10 greenlets each `SELECT pg_sleep(0.5)` at once overlap after
//! patch_all() — libpq connects without blocking, then waits in `poll` and reads with
//! `recv`, all hooked — and run one after another with the hooks passing through.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};

const GREENLETS: usize = 10;

fn url(port: u16) -> String {
    format!("postgres://postgres@127.0.0.1:{port}/postgres")
}

fn sleep_query(conn: &mut PgConnection) {
    diesel::sql_query("SELECT pg_sleep(0.5)")
        .execute(conn)
        .unwrap();
}

#[test]
fn ten_pg_sleeps_overlap_when_patched_and_not_when_unpatched() {
    let Some(server) = common::postgres() else {
        return;
    };
    monkey_patch::patch_all();
    let log = Rc::new(RefCell::new(Vec::new()));
    let start = Instant::now();
    let greenlets: Vec<_> = (0..GREENLETS)
        .map(|i| {
            let (log, url) = (log.clone(), url(server.port));
            hub::spawn(move || {
                let mut conn = PgConnection::establish(&url).unwrap();
                log.borrow_mut().push(("start", i));
                sleep_query(&mut conn);
                log.borrow_mut().push(("end", i));
            })
        })
        .collect();
    for g in greenlets {
        g.join().unwrap();
    }
    let patched = start.elapsed();
    common::assert_all_started_before_any_ended(&log.borrow(), GREENLETS);

    let serial_n = 3;
    let unpatched = monkey_patch::unpatched(|| {
        let start = Instant::now();
        for _ in 0..serial_n {
            let mut conn = PgConnection::establish(&url(server.port)).unwrap();
            sleep_query(&mut conn);
        }
        start.elapsed()
    });
    eprintln!(
        "libpq: {GREENLETS} pg_sleep(0.5) patched in {patched:?}, {serial_n} unpatched in {unpatched:?}"
    );
    assert!(unpatched >= Duration::from_millis(500) * serial_n);
    // Less than half of what as many blocking queries would take one after another
    // (extrapolated from the serial sample): a ratio, never a wall-clock bound.
    assert!(
        patched * 2 * serial_n < unpatched * GREENLETS as u32,
        "{GREENLETS} patched queries took {patched:?}, {serial_n} unpatched {unpatched:?}"
    );
}

#[test]
fn a_hub_timeout_interrupts_a_query_and_the_connection_reports_an_error() {
    let Some(server) = common::postgres() else {
        return;
    };
    monkey_patch::patch_all();
    let url = url(server.port);
    let ticks = Rc::new(RefCell::new(0));
    let t = ticks.clone();
    let ticker = hub::spawn(move || {
        for _ in 0..3 {
            hub::sleep(Duration::from_millis(10)).unwrap();
            *t.borrow_mut() += 1;
        }
    });
    let query = hub::spawn(move || {
        let mut conn = PgConnection::establish(&url).unwrap();
        hub::with_timeout(Duration::from_millis(100), || {
            diesel::sql_query("SELECT pg_sleep(5)").execute(&mut conn)
        })
    });
    // The timeout fired inside libpq's poll: the query fails (libpq sees an error
    // from poll), and with_timeout reports the timeout.
    match query.join().unwrap() {
        Err(hub::Error::Timeout) => {}
        other => panic!("expected the timeout, got {other:?}"),
    }
    ticker.join().unwrap();
    assert_eq!(*ticks.borrow(), 3);
}
