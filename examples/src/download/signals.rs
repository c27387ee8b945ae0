//! SIGINT and SIGTERM delivered through this thread's hub loop.
//!
//! The signal handler itself (signal-hook's self-pipe) only writes a byte to a socket; a
//! greenlet waits for that socket to be readable through a `hub::Registration` like any
//! other fd, and calls the handler from ordinary code, where it may kill greenlets and
//! print. [`on_signals`] is the one place that knows how signals arrive, so it can be
//! swapped for the hub's own signal support later.
//!
//! A second SIGINT (or SIGTERM) exits at once, from inside the signal handler, with
//! 130 (143): it works even if the loop never gets to run again.

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use hub::{Builder, Direction, JoinHandle, Registration};
use signal_hook::SigId;

use super::stop::Signal;

/// Watches SIGINT and SIGTERM while it lives; dropping it restores the previous handling.
pub struct SignalWatch {
    ids: Vec<SigId>,
    watchers: Vec<JoinHandle<()>>,
}

/// Calls `handler` on this thread's hub for each SIGINT or SIGTERM; a second one of the
/// same kind ends the process at once with `128 + signal`.
pub fn on_signals(handler: impl Fn(Signal) + 'static) -> io::Result<SignalWatch> {
    let handler: std::rc::Rc<dyn Fn(Signal)> = std::rc::Rc::new(handler);
    let mut watch = SignalWatch {
        ids: Vec::new(),
        watchers: Vec::new(),
    };
    for signal in [Signal::Interrupt, Signal::Terminate] {
        let number = signal.number();
        // The first delivery arms the flag; the next one finds it armed and exits.
        let armed = Arc::new(AtomicBool::new(false));
        watch
            .ids
            .push(signal_hook::flag::register_conditional_shutdown(
                number,
                i32::from(signal.exit_code()),
                armed.clone(),
            )?);
        watch.ids.push(signal_hook::flag::register(number, armed)?);
        let (read, write) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        watch
            .ids
            .push(signal_hook::low_level::pipe::register(number, write)?);
        let handler = handler.clone();
        watch.watchers.push(
            Builder::new()
                .name(format!("{signal} watcher"))
                .spawn(move || watch_one(read, signal, &*handler)),
        );
    }
    Ok(watch)
}

/// Reads the self-pipe until it closes, calling `handler` once per wake-up.
fn watch_one(read: UnixStream, signal: Signal, handler: &dyn Fn(Signal)) {
    // Declared after `read`, so dropped (deregistered) before the fd closes.
    let Ok(registration) = Registration::new(read.as_raw_fd()) else {
        return;
    };
    let mut buf = [0u8; 64];
    loop {
        match (&read).read(&mut buf) {
            Ok(0) => return,
            Ok(_) => handler(signal),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if registration.wait(Direction::Read, None).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

impl Drop for SignalWatch {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
        self.watchers.iter().for_each(JoinHandle::kill_nowait);
    }
}
