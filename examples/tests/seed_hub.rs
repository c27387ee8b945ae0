//! Runs the twins of the seed tutorials' greenlet, gevent and asyncio programs and
//! checks that each prints exactly what its Python program prints, in the same order,
//! taking about as long as the tutorial says.
//!
//! The twins run with `SEED_TIME_SCALE=0.02`, so a 3-second lesson takes 60 ms. Times
//! are checked only as generous bounds: at least the scaled sleeps (a sleep never ends
//! early), and well under what running the waits one after another would need when
//! that is the lesson's point. `cargo test` builds a package's examples along with its
//! integration tests, into `<target>/<profile>/examples/`, next to the `deps/`
//! directory holding this binary.

mod common;

use std::time::Duration;

/// The `SEED_TIME_SCALE` the twins run with.
const SCALE: f64 = 0.02;

/// `secs` seconds of tutorial time at [`SCALE`].
fn scaled(secs: f64) -> Duration {
    Duration::from_secs_f64(secs * SCALE)
}

/// Far more than any twin needs at [`SCALE`], even on a loaded machine.
const GENEROUS: Duration = Duration::from_secs(2);

struct Run {
    lines: Vec<String>,
    elapsed: Duration,
}

/// Runs example `name` at [`SCALE`]; it must succeed without writing to stderr.
fn run(name: &str) -> Run {
    let ran = common::run_example(
        name,
        &[],
        &[("SEED_TIME_SCALE", &SCALE.to_string())],
        GENEROUS * 10,
    );
    assert!(
        ran.stderr.is_empty(),
        "{name} wrote to stderr: {}",
        ran.stderr
    );
    Run {
        lines: ran.lines,
        elapsed: ran.elapsed,
    }
}

fn assert_took(name: &str, run: &Run, at_least: Duration, less_than: Duration) {
    assert!(
        run.elapsed >= at_least && run.elapsed < less_than,
        "{name} took {:?}, expected at least {at_least:?} and less than {less_than:?}",
        run.elapsed
    );
}

/// The seconds in Python's `str(timedelta)`, `H:MM:SS[.ffffff]`.
fn parse_timedelta(s: &str) -> Option<f64> {
    let mut parts = s.split(':');
    let hours: u64 = parts.next()?.parse().ok()?;
    let minutes = parts.next()?;
    let seconds = parts.next()?;
    if parts.next().is_some() || minutes.len() != 2 || seconds.len() < 2 {
        return None;
    }
    let minutes: u64 = minutes.parse().ok()?;
    let (whole, micros) = match seconds.split_once('.') {
        Some((whole, frac)) if frac.len() == 6 => (whole, frac.parse::<u64>().ok()?),
        Some(_) => return None,
        None => (seconds, 0),
    };
    if whole.len() != 2 || minutes >= 60 {
        return None;
    }
    let whole: u64 = whole.parse().ok()?;
    Some((hours * 3600 + minutes * 60 + whole) as f64 + micros as f64 / 1e6)
}

#[test]
fn greenlet_ab() {
    let run = run("greenlet_ab");
    assert_eq!(run.lines, ["---A--", "---B--"].repeat(4));
    // Blocking sleeps, one after another: test1 sleeps after each of its 4 rounds,
    // test2 after 3 (its last switch never returns).
    assert_took("greenlet_ab", &run, scaled(7.0 * 0.5), GENEROUS);
}

#[test]
fn greenlet_12_56() {
    assert_eq!(run("greenlet_12_56").lines, ["12", "56", "34", "78"]);
}

/// The tutorial's line for `f`'s `i`.
fn getcurrent_line(i: u32) -> String {
    format!("<built-in function getcurrent> {i}")
}

#[test]
fn gevent_sequential() {
    // Each greenlet prints 0 to 4 before the next one starts.
    let expected: Vec<String> = (0..3).flat_map(|_| (0..5).map(getcurrent_line)).collect();
    assert_eq!(run("gevent_sequential").lines, expected);
}

#[test]
fn gevent_interleaved() {
    let run = run("gevent_interleaved");
    let expected: Vec<String> = (0..5)
        .flat_map(|i| std::iter::repeat_n(getcurrent_line(i), 3))
        .collect();
    assert_eq!(run.lines, expected);
    // Five 0.3 s sleeps per greenlet, the three greenlets' sleeps overlapping: ~1.5 s.
    assert_took("gevent_interleaved", &run, scaled(5.0 * 0.3), GENEROUS);
}

#[test]
fn foo_bar_eat() {
    let run = run("foo_bar_eat");
    assert_eq!(
        run.lines,
        [
            "foo start",
            "bar start",
            "eat start",
            "eat end ",
            "bar end",
            "foo end"
        ]
    );
    // The longest sleep (3 s), not the sum (6 s): the order above already shows the
    // sleeps overlapped.
    assert_took("foo_bar_eat", &run, scaled(3.0), GENEROUS);
}

#[test]
fn asyncio_sleeps() {
    let run = run("asyncio_sleeps");
    assert_eq!(run.lines.len(), 4, "{:?}", run.lines);
    assert_eq!(
        run.lines[..3],
        ["washer2 finished", "washer1 finished", "washer3 finished"]
    );
    // The printed timedelta: the longest sleep, 5 s scaled.
    let printed = parse_timedelta(&run.lines[3])
        .unwrap_or_else(|| panic!("not a timedelta: {:?}", run.lines[3]));
    let longest = scaled(5.0).as_secs_f64();
    assert!(
        printed >= longest && printed < GENEROUS.as_secs_f64(),
        "printed {printed} s"
    );
    assert_took("asyncio_sleeps", &run, scaled(5.0), GENEROUS);
}

#[test]
fn foo_bar_timing() {
    let run = run("foo_bar_timing");
    assert_eq!(run.lines.len(), 5, "{:?}", run.lines);
    assert_eq!(
        run.lines[..4],
        [
            "running in foo",
            "switch to bar",
            "switch to foo again",
            "switch to bar again"
        ]
    );
    let printed: f64 = run.lines[4]
        .parse()
        .unwrap_or_else(|_| panic!("not a float: {:?}", run.lines[4]));
    let longest = scaled(5.0).as_secs_f64();
    assert!(
        printed >= longest && printed < GENEROUS.as_secs_f64(),
        "printed {printed} s"
    );
    assert_took("foo_bar_timing", &run, scaled(5.0), GENEROUS);
}

#[test]
fn joinall_timeout() {
    let run = run("joinall_timeout");
    // The 3 s job is still running when the 2 s timeout ends joinall: no value.
    assert_eq!(run.lines, ["['job1 took 0.5 s', 'job2 took 1.0 s', None]"]);
    assert_took("joinall_timeout", &run, scaled(2.0), GENEROUS);
}

#[test]
fn timedelta_format_is_understood() {
    assert_eq!(parse_timedelta("0:00:05.009762"), Some(5.009762));
    assert_eq!(parse_timedelta("0:00:05"), Some(5.0));
    assert_eq!(parse_timedelta("1:02:03.000001"), Some(3723.000001));
    assert_eq!(parse_timedelta("0:0:05"), None);
    assert_eq!(parse_timedelta("0:00:05.1"), None);
    assert_eq!(parse_timedelta("5.0"), None);
}
