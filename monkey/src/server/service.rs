//! What both servers share: the serving greenlet with its error back-off, the
//! handler greenlets and their cap, and the stop.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::time::Duration;

use hub::{Event, Group, JoinHandle, Semaphore};

/// The first pause after an accept error; it doubles while errors last.
const MIN_PAUSE: Duration = Duration::from_millis(10);
/// The longest pause between accept attempts.
const MAX_PAUSE: Duration = Duration::from_secs(1);

/// A handler run for one connection or datagram.
pub(super) type Job = Box<dyn FnOnce() -> io::Result<()>>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Idle,
    Serving,
    Stopped,
}

pub(super) struct Service {
    /// "StreamServer on 127.0.0.1:80": who reports.
    label: Rc<str>,
    handlers: Group,
    slots: RefCell<Option<Semaphore>>,
    state: Cell<State>,
    runner: RefCell<Option<JoinHandle<()>>>,
    signal_watcher: RefCell<Option<JoinHandle<()>>>,
    stopped: Event,
    fatal: RefCell<Option<io::Error>>,
}

impl Service {
    pub(super) fn new(label: String) -> Rc<Service> {
        Rc::new(Service {
            label: label.into(),
            handlers: Group::new(),
            slots: RefCell::new(None),
            state: Cell::new(State::Idle),
            runner: RefCell::new(None),
            signal_watcher: RefCell::new(None),
            stopped: Event::new(),
            fatal: RefCell::new(None),
        })
    }

    pub(super) fn set_cap(&self, max: usize) {
        assert!(max > 0, "a server needs room for at least one connection");
        *self.slots.borrow_mut() = Some(Semaphore::new(max));
    }

    pub(super) fn handlers(&self) -> usize {
        self.handlers.len()
    }

    pub(super) fn is_serving(&self) -> bool {
        self.state.get() == State::Serving
    }

    /// Spawns the serving greenlet: `next` waits for the next connection or datagram
    /// and returns its handler.
    pub(super) fn start(
        self: &Rc<Self>,
        next: impl FnMut() -> io::Result<Job> + 'static,
    ) -> io::Result<()> {
        match self.state.get() {
            State::Idle => {}
            State::Serving => {
                return Err(io::Error::other(format!("{} already started", self.label)));
            }
            State::Stopped => return Err(io::Error::other(format!("{} was stopped", self.label))),
        }
        self.state.set(State::Serving);
        let service = self.clone();
        let runner = hub::Builder::new()
            .name(&*self.label)
            .spawn(move || service.serve(next));
        *self.runner.borrow_mut() = Some(runner);
        Ok(())
    }

    fn serve(&self, mut next: impl FnMut() -> io::Result<Job>) {
        let slots = self.slots.borrow().clone();
        let mut pause = MIN_PAUSE;
        let mut failures = 0u64;
        loop {
            // Past the cap, wait for a handler to finish before accepting: the
            // connection waits in the backlog instead of being dropped.
            let permit = match &slots {
                Some(slots) => match slots.acquire(None) {
                    Ok(()) => Some(Permit(slots.clone())),
                    Err(_) => return,
                },
                None => None,
            };
            match next() {
                Ok(job) => {
                    if failures > 0 {
                        hub::report_error(
                            &self.label,
                            &format!("accepting again after {failures} failed attempts"),
                        );
                        failures = 0;
                        pause = MIN_PAUSE;
                    }
                    let label = self.label.clone();
                    // The handle is dropped: the group tracks the greenlet.
                    drop(self.handlers.spawn(move || {
                        let _permit = permit;
                        if let Err(e) = job()
                            && !is_peer_error(&e)
                        {
                            hub::report_error(&label, &format!("handler failed: {e}"));
                        }
                    }));
                }
                Err(e) if is_fatal(&e) => {
                    hub::report_error(&self.label, &format!("stops serving: {e}"));
                    *self.fatal.borrow_mut() = Some(e);
                    self.stopped.set();
                    return;
                }
                Err(e) => {
                    drop(permit);
                    if failures == 0 {
                        hub::report_error(
                            &self.label,
                            &format!("accept failed: {e}; retrying with back-off"),
                        );
                    }
                    failures += 1;
                    if hub::sleep(pause).is_err() {
                        return;
                    }
                    pause = (pause * 2).min(MAX_PAUSE);
                }
            }
        }
    }

    /// Parks until the server is stopped, or serving failed for good.
    pub(super) fn wait_stopped(&self) -> io::Result<()> {
        self.stopped.wait(None).map_err(io::Error::from)?;
        match self.fatal.borrow_mut().take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Stops serving and calls `close_socket` once the serving greenlet is gone,
    /// waits up to `timeout` for the handlers, kills those left. Returns how many
    /// were killed.
    pub(super) fn stop(&self, timeout: Duration, close_socket: impl FnOnce()) -> usize {
        if self.state.replace(State::Stopped) == State::Stopped {
            return 0;
        }
        if let Some(runner) = self.runner.take() {
            let _ = runner.kill();
        }
        close_socket();
        let mut killed = 0;
        if self.handlers.join(Some(timeout)).is_err() {
            killed = self.handlers.len();
            let _ = self.handlers.kill(None);
        }
        if let Some(watcher) = self.signal_watcher.take() {
            watcher.kill_nowait();
        }
        self.stopped.set();
        killed
    }

    pub(super) fn set_signal_watcher(&self, watcher: JoinHandle<()>) {
        if let Some(old) = self.signal_watcher.replace(Some(watcher)) {
            old.kill_nowait();
        }
    }

    /// For the signal watcher: forget it before it calls `stop` (which must not kill
    /// the greenlet calling it).
    pub(super) fn take_signal_watcher(&self) -> Option<JoinHandle<()>> {
        self.signal_watcher.take()
    }

    pub(super) fn label(&self) -> &str {
        &self.label
    }
}

/// A slot of the cap, freed however the handler ends.
struct Permit(Semaphore);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// Errors that end a connection because of what the peer did (or did not do in time).
fn is_peer_error(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionReset
            | ConnectionAborted
            | BrokenPipe
            | UnexpectedEof
            | NotConnected
            | TimedOut
            | WouldBlock
    )
}

/// Errors that say the listening socket itself is unusable: retrying cannot help.
fn is_fatal(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EBADF | libc::EINVAL | libc::ENOTSOCK | libc::EOPNOTSUPP | libc::EFAULT)
    ) || e.kind() == io::ErrorKind::ResourceBusy
}
