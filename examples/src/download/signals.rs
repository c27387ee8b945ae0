//! SIGINT and SIGTERM delivered through this thread's hub loop ([`hub::signal`]).
//!
//! A watcher greenlet waits on a [`hub::signal::Signals`] like on any socket and calls the
//! handler from ordinary code, where it may kill greenlets and print.
//!
//! A second SIGINT (or SIGTERM) exits at once, from inside the signal handler, with
//! 130 (143): it works even if the loop never gets to run again. That part is signal-hook's
//! flags, registered next to the hub's delivery: a hub wake-up needs the loop to run.

use std::io;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use hub::signal::Signals;
use hub::{Builder, JoinHandle};
use signal_hook::SigId;

use super::stop::Signal;

/// Watches SIGINT and SIGTERM while it lives. Once dropped they are no longer acted on:
/// signal-hook's handler stays installed, so they are ignored rather than fatal.
pub struct SignalWatch {
    exits: Vec<SigId>,
    watcher: Option<JoinHandle<()>>,
}

/// Calls `handler` on this thread's hub for each SIGINT or SIGTERM; a second one of the
/// same kind ends the process at once with `128 + signal`.
pub fn on_signals(handler: impl Fn(Signal) + 'static) -> io::Result<SignalWatch> {
    const WATCHED: [Signal; 2] = [Signal::Interrupt, Signal::Terminate];
    let signals = Signals::new(&WATCHED.map(Signal::number))?;
    // Built first, so a failed registration below drops (unregisters) the earlier ones.
    let mut watch = SignalWatch {
        exits: Vec::new(),
        watcher: None,
    };
    for signal in WATCHED {
        let number = signal.number();
        // The first delivery arms the flag; the next one finds it armed and exits.
        let armed = Arc::new(AtomicBool::new(false));
        watch
            .exits
            .push(signal_hook::flag::register_conditional_shutdown(
                number,
                i32::from(signal.exit_code()),
                armed.clone(),
            )?);
        watch
            .exits
            .push(signal_hook::flag::register(number, armed)?);
    }
    watch.watcher = Some(Builder::new().name("signal watcher").spawn(move || {
        while let Ok(number) = signals.wait() {
            if let Some(signal) = Signal::from_number(number) {
                handler(signal);
            }
        }
    }));
    Ok(watch)
}

impl Drop for SignalWatch {
    fn drop(&mut self) {
        for id in self.exits.drain(..) {
            signal_hook::low_level::unregister(id);
        }
        // Its `Signals` goes with it.
        if let Some(watcher) = &self.watcher {
            watcher.kill_nowait();
        }
    }
}
