//! Shared by the seed twins that wait: the `SEED_TIME_SCALE` knob.
//!
//! Every duration a tutorial program sleeps or times out goes through [`secs`], which
//! multiplies it by `SEED_TIME_SCALE` (a float, 1.0 when unset): `SEED_TIME_SCALE=0.02`
//! runs a 3-second lesson in 60 ms with the same interleaving. A twin includes this file
//! with `#[path = "common/mod.rs"] mod common;`.
#![allow(dead_code)] // each twin uses only part of it

use std::time::Duration;

/// The factor from `SEED_TIME_SCALE`; 1.0 when unset, unparsable or negative.
pub fn time_scale() -> f64 {
    std::env::var("SEED_TIME_SCALE")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|f| f.is_finite() && *f >= 0.0)
        .unwrap_or(1.0)
}

/// `secs` seconds of tutorial time, scaled by [`time_scale`].
pub fn secs(secs: f64) -> Duration {
    Duration::from_secs_f64(secs * time_scale())
}
