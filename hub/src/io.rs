//! Waiting for file descriptors to become readable or writable.
//!
//! Each fd is registered with mio once, for both directions, edge-triggered; one
//! reader and one writer greenlet may wait on it at the same time. The protocol for
//! the layer above: try the non-blocking syscall, and only when it says `WouldBlock`
//! call [`Registration::wait`]. Edge-triggered readiness then cannot be missed: the
//! loop only runs while we are parked, so any readiness after the `WouldBlock` is a
//! new edge that reaches the parked waiter.
//!
//! Each registration also remembers, per direction, whether the fd may be ready: an
//! event sets that, and the layer above clears it when a syscall shows the fd drained
//! (a `WouldBlock`, or a short read of a stream socket). While it is clear, the next
//! syscall could only say `WouldBlock`, so the caller skips it and waits at once: a
//! request-response connection then costs one read per message instead of two.

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

struct Entry {
    fd: RawFd,
    reader: Option<Waiter>,
    writer: Option<Waiter>,
    /// Per direction (read, write): no `clear_ready` since the last event. A new
    /// registration may be ready in both.
    may_be_ready: [bool; 2],
    /// Per direction: an event said the direction is closed or the fd failed. That
    /// lasts, and `clear_ready` cannot hide it: the data read before the end of file
    /// may have come with it in one event, and no event will follow.
    closed: [bool; 2],
}

impl Entry {
    fn new(fd: RawFd) -> Entry {
        Entry {
            fd,
            reader: None,
            writer: None,
            may_be_ready: [true; 2],
            closed: [false; 2],
        }
    }
}

impl Entry {
    fn slot(&mut self, direction: Direction) -> &mut Option<Waiter> {
        match direction {
            Direction::Read => &mut self.reader,
            Direction::Write => &mut self.writer,
        }
    }
}

impl Direction {
    fn index(self) -> usize {
        match self {
            Direction::Read => 0,
            Direction::Write => 1,
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

    /// Every greenlet waiting for an fd: the waiter, the fd, the direction (for
    /// [`crate::run_info`]).
    pub(crate) fn waits(&self) -> Vec<(Waiter, RawFd, Direction)> {
        let entries = self.entries.borrow();
        let mut waits = Vec::new();
        for entry in entries.iter().flatten() {
            let slots = [
                (&entry.reader, Direction::Read),
                (&entry.writer, Direction::Write),
            ];
            for (slot, direction) in slots {
                if let Some(w) = slot.as_ref().filter(|w| !w.is_stale()) {
                    waits.push((w.clone(), entry.fd, direction));
                }
            }
        }
        waits
    }

    fn insert(&self, fd: RawFd) -> usize {
        let mut entries = self.entries.borrow_mut();
        match self.free.borrow_mut().pop() {
            Some(i) => {
                entries[i] = Some(Entry::new(fd));
                i
            }
            None => {
                entries.push(Some(Entry::new(fd)));
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
        let failed = event.is_error();
        let read_closed = event.is_read_closed() || failed;
        let write_closed = event.is_write_closed() || failed;
        let readable = event.is_readable() || read_closed;
        let writable = event.is_writable() || write_closed;
        let (reader, writer) = {
            let mut entries = self.entries.borrow_mut();
            let Some(Some(entry)) = entries.get_mut(event.token().0) else {
                return;
            };
            entry.may_be_ready[0] |= readable;
            entry.may_be_ready[1] |= writable;
            entry.closed[0] |= read_closed;
            entry.closed[1] |= write_closed;
            (
                entry.reader.take_if(|_| readable),
                entry.writer.take_if(|_| writable),
            )
        };
        let woken = usize::from(reader.is_some()) + usize::from(writer.is_some());
        self.waiters.set(self.waiters.get() - woken);
        for w in [reader, writer].into_iter().flatten() {
            w.wake();
        }
    }

    fn clear_ready(&self, token: usize, direction: Direction) {
        if let Some(Some(entry)) = self.entries.borrow_mut().get_mut(token) {
            entry.may_be_ready[direction.index()] = false;
        }
    }
}

/// An fd registered with this thread's hub; deregistered when dropped, which must
/// happen before the fd is closed.
pub struct Registration {
    fd: RawFd,
    token: usize,
    hub: Rc<Hub>,
    /// The fd was closed or replaced behind the poller's back: dropping must not
    /// touch the poller (the number may name another file by then).
    fd_gone: Cell<bool>,
}

impl Registration {
    /// Registers `fd` (which should be in non-blocking mode) for both directions.
    pub fn new(fd: RawFd) -> io::Result<Registration> {
        let hub = Hub::current_or_gone()?;
        let token = hub.io.insert(fd);
        let registered = hub.poll.borrow().registry().register(
            &mut SourceFd(&fd),
            Token(token),
            Interest::READABLE | Interest::WRITABLE,
        );
        if let Err(e) = registered {
            hub.io.remove(token);
            return Err(e);
        }
        Ok(Registration {
            fd,
            token,
            hub,
            fd_gone: Cell::new(false),
        })
    }

    /// Parks the current greenlet until the fd is ready in `direction`, or `timeout`
    /// passes ([`Error::Timeout`]). Call it only after the syscall said `WouldBlock`
    /// (or while [`may_be_ready`](Self::may_be_ready) is false): it counts the fd as
    /// not ready until the next event. A second greenlet waiting in the same direction
    /// is [`Error::Busy`].
    pub fn wait(&self, direction: Direction, timeout: Option<Duration>) -> Result<(), Error> {
        let waiter = Waiter::new()?;
        {
            let mut entries = self.hub.io.entries.borrow_mut();
            let entry = entries[self.token].as_mut().expect("registered");
            entry.may_be_ready[direction.index()] = false;
            let slot = entry.slot(direction);
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

    /// False when the fd is known not to be ready in `direction`: it was found drained
    /// ([`clear_ready`](Self::clear_ready), or a [`wait`](Self::wait)), no event has
    /// come since, and no event ever said that direction closed. A syscall would then
    /// only say `WouldBlock`, and the caller can [`wait`](Self::wait) at once. Events
    /// arrive only while the loop runs, so a non-blocking caller that never parks
    /// must not rely on it.
    pub fn may_be_ready(&self, direction: Direction) -> bool {
        self.hub.io.entries.borrow()[self.token]
            .as_ref()
            .is_none_or(|e| e.may_be_ready[direction.index()] || e.closed[direction.index()])
    }

    /// Records that a syscall found the fd drained in `direction` (a short read or
    /// write on a stream socket): the next event says when to try again. Any later
    /// readiness comes as a new event, because events are only read while the
    /// caller is parked, after this call.
    pub fn clear_ready(&self, direction: Direction) {
        self.hub.io.clear_ready(self.token, direction);
    }

    /// The registered fd.
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// Wakes the greenlets waiting on this fd, in both directions (their
    /// [`wait`](Self::wait) returns `Ok`); for a close done by another greenlet, which
    /// then tells them why. Returns how many were woken.
    pub fn wake_waiters(&self) -> usize {
        let io = &self.hub.io;
        [Direction::Read, Direction::Write]
            .into_iter()
            .filter_map(|d| io.take(self.token, d))
            .filter(|w| w.wake())
            .count()
    }

    /// Records that the fd was already closed or replaced without this registration
    /// being dropped first: dropping it will then only free its slot, leaving the
    /// poller alone (the fd's number may name another file by then).
    pub fn forget_fd(&self) {
        self.fd_gone.set(true);
    }

    /// Deregisters the fd now, because it is about to be closed or replaced while
    /// this registration lives on (a waiter woken by
    /// [`wake_waiters`](Self::wake_waiters) still holds it); dropping it later then
    /// leaves the poller alone.
    pub fn deregister_now(&self) {
        if !self.fd_gone.replace(true) {
            self.deregister();
        }
    }

    fn deregister(&self) {
        let _ = self
            .hub
            .poll
            .borrow()
            .registry()
            .deregister(&mut SourceFd(&self.fd));
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if !self.fd_gone.get() {
            self.deregister();
        }
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
