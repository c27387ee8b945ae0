//! Waiting for file descriptors to become readable or writable.
//!
//! Each fd is registered with mio once, for both directions, edge-triggered; one
//! reader and one writer greenlet may wait on it at the same time. The protocol for
//! the layer above: try the non-blocking syscall, and only when it says `WouldBlock`
//! call [`Registration::wait`]. Edge-triggered readiness then cannot be missed: the
//! loop only runs while we are parked, so any readiness after the `WouldBlock` is a
//! new edge that reaches the parked waiter.

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Interest, Token};

use crate::Error;
use crate::hub::Hub;
use crate::timer::TimerGuard;
use crate::wait::Waiter;

/// Which readiness a greenlet waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Readable (or closed, or in error).
    Read,
    /// Writable (or closed, or in error).
    Write,
}

#[derive(Default)]
struct Entry {
    reader: Option<Waiter>,
    writer: Option<Waiter>,
}

impl Entry {
    fn slot(&mut self, direction: Direction) -> &mut Option<Waiter> {
        match direction {
            Direction::Read => &mut self.reader,
            Direction::Write => &mut self.writer,
        }
    }
}

/// Registered fds by token, and how many greenlets wait on them.
#[derive(Default)]
pub(crate) struct IoTable {
    entries: RefCell<Vec<Option<Entry>>>,
    free: RefCell<Vec<usize>>,
    waiters: Cell<usize>,
}

impl IoTable {
    pub(crate) fn waiters(&self) -> usize {
        self.waiters.get()
    }

    /// Fds registered now: every slot ever made, less the free ones.
    pub(crate) fn registered(&self) -> usize {
        self.entries.borrow().len() - self.free.borrow().len()
    }

    fn insert(&self) -> usize {
        let mut entries = self.entries.borrow_mut();
        match self.free.borrow_mut().pop() {
            Some(i) => {
                entries[i] = Some(Entry::default());
                i
            }
            None => {
                entries.push(Some(Entry::default()));
                entries.len() - 1
            }
        }
    }

    fn remove(&self, token: usize) {
        let entry = self.entries.borrow_mut()[token].take();
        if let Some(entry) = entry {
            let parked = [entry.reader, entry.writer].into_iter().flatten().count();
            self.waiters.set(self.waiters.get() - parked);
        }
        self.free.borrow_mut().push(token);
    }

    /// Takes the waiter out of a slot (it is being woken or has given up).
    fn take(&self, token: usize, direction: Direction) -> Option<Waiter> {
        let waiter = self
            .entries
            .borrow_mut()
            .get_mut(token)?
            .as_mut()?
            .slot(direction)
            .take();
        if waiter.is_some() {
            self.waiters.set(self.waiters.get() - 1);
        }
        waiter
    }

    pub(crate) fn dispatch(&self, event: &mio::event::Event) {
        let token = event.token().0;
        let failed = event.is_error();
        if (event.is_readable() || event.is_read_closed() || failed)
            && let Some(w) = self.take(token, Direction::Read)
        {
            w.wake();
        }
        if (event.is_writable() || event.is_write_closed() || failed)
            && let Some(w) = self.take(token, Direction::Write)
        {
            w.wake();
        }
    }
}

/// An fd registered with this thread's hub; deregistered when dropped, which must
/// happen before the fd is closed.
pub struct Registration {
    fd: RawFd,
    token: usize,
    hub: Rc<Hub>,
}

impl Registration {
    /// Registers `fd` (which should be in non-blocking mode) for both directions.
    pub fn new(fd: RawFd) -> io::Result<Registration> {
        let hub = Hub::current_or_gone()?;
        let token = hub.io.insert();
        let registered = hub.poll.borrow().registry().register(
            &mut SourceFd(&fd),
            Token(token),
            Interest::READABLE | Interest::WRITABLE,
        );
        if let Err(e) = registered {
            hub.io.remove(token);
            return Err(e);
        }
        Ok(Registration { fd, token, hub })
    }

    /// Parks the current greenlet until the fd is ready in `direction`, or `timeout`
    /// passes ([`Error::Timeout`]). Call it only after the syscall said `WouldBlock`.
    /// A second greenlet waiting in the same direction is [`Error::Busy`].
    pub fn wait(&self, direction: Direction, timeout: Option<Duration>) -> Result<(), Error> {
        let waiter = Waiter::new()?;
        {
            let mut entries = self.hub.io.entries.borrow_mut();
            let slot = entries[self.token]
                .as_mut()
                .expect("registered")
                .slot(direction);
            if slot.as_ref().is_some_and(|w| !w.is_stale()) {
                return Err(Error::Busy);
            }
            if slot.replace(waiter.clone()).is_none() {
                self.hub.io.waiters.set(self.hub.io.waiters.get() + 1);
            }
        }
        let _slot = ClearSlot {
            registration: self,
            direction,
            waiter: &waiter,
        };
        let _deadline = timeout.map(|d| TimerGuard::wake_after(d, &waiter));
        waiter.park()
    }

    /// The registered fd.
    pub fn fd(&self) -> RawFd {
        self.fd
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let _ = self
            .hub
            .poll
            .borrow()
            .registry()
            .deregister(&mut SourceFd(&self.fd));
        self.hub.io.remove(self.token);
    }
}

/// Empties our slot however the wait ends (woken slots are already empty).
struct ClearSlot<'a> {
    registration: &'a Registration,
    direction: Direction,
    waiter: &'a Waiter,
}

impl Drop for ClearSlot<'_> {
    fn drop(&mut self) {
        let io = &self.registration.hub.io;
        let ours = io.entries.borrow_mut()[self.registration.token]
            .as_mut()
            .and_then(|e| {
                e.slot(self.direction)
                    .as_ref()
                    .map(|w| w.same_wait(self.waiter))
            })
            .unwrap_or(false);
        if ours {
            io.take(self.registration.token, self.direction);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    use super::*;

    #[test]
    fn registrations_count_live_registrations_and_reuse_slots() {
        let hub = Hub::current();
        let before = hub.registrations();
        let (a, b) = UnixStream::pair().unwrap();
        let ra = Registration::new(a.as_raw_fd()).unwrap();
        let rb = Registration::new(b.as_raw_fd()).unwrap();
        assert_eq!(hub.registrations(), before + 2);
        drop(ra);
        assert_eq!(hub.registrations(), before + 1);
        // The freed slot is reused, and the count stays exact.
        let ra = Registration::new(a.as_raw_fd()).unwrap();
        assert_eq!(hub.registrations(), before + 2);
        // A wait that times out leaves the registration (it belongs to the socket).
        assert_eq!(
            ra.wait(Direction::Read, Some(Duration::from_millis(1))),
            Err(Error::Timeout)
        );
        assert_eq!(hub.registrations(), before + 2);
        drop((ra, rb));
        assert_eq!(hub.registrations(), before);
    }
}
