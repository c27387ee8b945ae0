//! Runs the twins of the seed tutorials' greenlet, gevent and asyncio programs and
//! checks that each prints exactly what its Python program prints, in the same order,
//! taking at least as long as the tutorial's sleeps.
//!
//! The twins run with `SEED_TIME_SCALE=0.02`, so a 3-second lesson takes 60 ms. Times
//! are checked only from below (a sleep never ends early); no upper bound is asserted,
//! since CI machines are loaded. Where a lesson's point is that waits overlap, the order
//! of the printed lines proves it: run one after another, they would print otherwise. `cargo test` builds a package's examples along with its
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

/// How long a twin may run before it counts as hung and is killed (a guard against
/// hangs, not a claim about speed).
const HANG_GUARD: Duration = Duration::from_secs(20);

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
        HANG_GUARD,
    );
    assert!(
        ran.stderr_besides_monitor().is_empty(),
        "{name} wrote to stderr: {}",
        ran.stderr
    );
    Run {
        lines: ran.lines,
        elapsed: ran.elapsed,
    }
}

fn assert_took_at_least(name: &str, run: &Run, at_least: Duration) {
    assert!(
        run.elapsed >= at_least,
        "{name} took {:?}, less than its sleeps' {at_least:?}",
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
    assert_took_at_least("greenlet_ab", &run, scaled(7.0 * 0.5));
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
    // Five 0.3 s sleeps per greenlet; the interleaved lines show the three greenlets'
    // sleeps overlapped.
    assert_took_at_least("gevent_interleaved", &run, scaled(5.0 * 0.3));
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
    // At least the longest sleep (3 s); the order above shows the sleeps overlapped.
    assert_took_at_least("foo_bar_eat", &run, scaled(3.0));
}

#[test]
fn asyncio_sleeps() {
    let run = run("asyncio_sleeps");
    assert_eq!(run.lines.len(), 4, "{:?}", run.lines);
    assert_eq!(
        run.lines[..3],
        ["washer2 finished", "washer1 finished", "washer3 finished"]
    );
    // Finished in the order of their sleeps, not of their start: they overlapped. The
    // printed timedelta is at least the longest sleep, 5 s scaled.
    let printed = parse_timedelta(&run.lines[3])
        .unwrap_or_else(|| panic!("not a timedelta: {:?}", run.lines[3]));
    let longest = scaled(5.0).as_secs_f64();
    assert!(printed >= longest, "printed {printed} s");
    assert_took_at_least("asyncio_sleeps", &run, scaled(5.0));
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
    assert!(printed >= longest, "printed {printed} s");
    assert_took_at_least("foo_bar_timing", &run, scaled(5.0));
}

#[test]
fn joinall_timeout() {
    let run = run("joinall_timeout");
    // The 3 s job is still running when the 2 s timeout ends joinall: no value.
    assert_eq!(run.lines, ["['job1 took 0.5 s', 'job2 took 1.0 s', None]"]);
    assert_took_at_least("joinall_timeout", &run, scaled(2.0));
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
