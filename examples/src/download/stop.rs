//! Stopping a run early (Ctrl-C, SIGTERM): what was asked, and who must be told.
//!
//! A [`Stop`] is shared by the signal watcher and the scheduler on one hub. Triggering it
//! records the [`Signal`] once and runs the actions registered with
//! [`Stop::on_stop`] (the scheduler's: kill every download greenlet, whose unwinding
//! removes or keeps its partial file). The scheduler also asks [`Stop::signal`] before
//! starting each download, so nothing new starts after it.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::rc::Rc;

/// The signals that stop a run, and the exit status each gives (128 + its number, as
/// shells report a process killed by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C): exit 130.
    Interrupt,
    /// SIGTERM: exit 143.
    Terminate,
}

impl Signal {
    /// The signal's number.
    pub fn number(self) -> i32 {
        match self {
            Self::Interrupt => hub::signal::SIGINT,
            Self::Terminate => hub::signal::SIGTERM,
        }
    }

    /// The signal numbered `number`, if it is one of these.
    pub fn from_number(number: i32) -> Option<Self> {
        [Self::Interrupt, Self::Terminate]
            .into_iter()
            .find(|s| s.number() == number)
    }

    /// `128 + number`: 130 for SIGINT, 143 for SIGTERM.
    pub fn exit_code(self) -> u8 {
        (128 + self.number()) as u8
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Interrupt => "SIGINT",
            Self::Terminate => "SIGTERM",
        })
    }
}

/// A request to stop, shared on one thread (cheap to clone).
#[derive(Clone, Default)]
pub struct Stop(Rc<State>);

#[derive(Default)]
struct State {
    signal: Cell<Option<Signal>>,
    actions: RefCell<Vec<Box<dyn Fn()>>>,
}

impl Stop {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the run to stop because of `signal`. Only the first call counts; it runs the
    /// registered actions, in order.
    pub fn trigger(&self, signal: Signal) {
        if self.0.signal.get().is_some() {
            return;
        }
        self.0.signal.set(Some(signal));
        // Taken out first: an action may block (a kill waits for the greenlet to unwind),
        // and code running meanwhile may register more.
        let actions = std::mem::take(&mut *self.0.actions.borrow_mut());
        for action in actions {
            action();
        }
    }

    /// The signal that stopped the run, if any.
    pub fn signal(&self) -> Option<Signal> {
        self.0.signal.get()
    }

    /// Runs `action` when the run is stopped (at once if it already is).
    pub fn on_stop(&self, action: impl Fn() + 'static) {
        if self.signal().is_some() {
            action();
        } else {
            self.0.actions.borrow_mut().push(Box::new(action));
        }
    }

    /// Forgets the registered actions (the run they were for has ended).
    pub fn clear(&self) {
        self.0.actions.borrow_mut().clear();
    }
}

impl fmt::Debug for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stop")
            .field("signal", &self.signal())
            .finish_non_exhaustive()
    }
}
