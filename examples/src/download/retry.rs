//! When to try a URL again: exponential backoff with jitter, and the server's own
//! `Retry-After` (delta-seconds or an HTTP date, RFC 9110 §10.2.3).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `base * 2^failures`, capped at `max`.
pub fn backoff(base: Duration, max: Duration, failures: u32) -> Duration {
    base.saturating_mul(1 << failures.min(16)).min(max)
}

/// A wait drawn uniformly between half of `wait` and all of it ("equal jitter"): clients
/// that failed together spread out, and none comes back sooner than half the backoff.
pub fn jittered(wait: Duration) -> Duration {
    let half = wait / 2;
    let span = (wait - half).as_nanos() as u64;
    if span == 0 {
        return wait;
    }
    half + Duration::from_nanos(random_u64() % (span + 1))
}

/// 64 random bits without a dependency: std seeds every `RandomState` from the OS once
/// per thread and varies it for each new one.
fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0x5DEE_CE66);
    hasher.finish()
}

/// A `Retry-After` value as a wait from `now`: delta-seconds, or an IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), a date in the past meaning "now". `None` if it
/// parses as neither.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = UNIX_EPOCH + Duration::from_secs(parse_http_date(value)?);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Seconds since the Unix epoch of an IMF-fixdate.
fn parse_http_date(s: &str) -> Option<u64> {
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    let (_weekday, rest) = s.split_once(", ")?;
    let mut parts = rest.split(' ');
    let day: u64 = parts.next()?.parse().ok()?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month_name = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == month_name)? as u64 + 1;
    let year: u64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if parts.next()? != "GMT" || parts.next().is_some() || hms.next().is_some() {
        return None;
    }
    if !(1..=31).contains(&day) || year < 1970 || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec)
}

/// Days from 1970-01-01 to the given date of the proleptic Gregorian calendar.
pub(crate) fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:40 GMT", now),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            parse_retry_after("Sat, 05 Nov 1994 08:49:37 GMT", now),
            Some(Duration::ZERO)
        );
        for bad in [
            "",
            "-1",
            "soon",
            "Sun, 06 Nov 1994 25:00:00 GMT",
            "1.5",
            "Sun, 06 Nov 1994",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn backoff_doubles_to_a_cap_and_jitter_stays_within_half() {
        let (base, max) = (Duration::from_millis(100), Duration::from_secs(1));
        let waits: Vec<_> = (0..6).map(|n| backoff(base, max, n)).collect();
        assert_eq!(waits[..4], [100, 200, 400, 800].map(Duration::from_millis));
        assert_eq!(waits[4..], [max, max]);
        let draws: Vec<_> = (0..200)
            .map(|_| jittered(Duration::from_millis(800)))
            .collect();
        assert!(draws.iter().all(|d| (400..=800).contains(&d.as_millis())));
        let distinct: std::collections::HashSet<_> = draws.iter().collect();
        assert!(
            distinct.len() > 100,
            "jitter varies: {} distinct",
            distinct.len()
        );
    }
}
