//! Logging for the example binaries: what the hub reports through `tracing` (a
//! greenlet that failed, one that held the loop too long) goes to stderr, as gevent
//! prints it. `RUST_LOG` picks more (`RUST_LOG=hub=debug` shows spawns and kills,
//! each line tagged with its greenlet's span); the default is warnings and errors.

use tracing_subscriber::EnvFilter;

/// Installs a stderr subscriber; does nothing if one is already installed.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
