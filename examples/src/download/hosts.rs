//! Connections per host: a cap that keeps a small server's accept queue from overflowing.
//!
//! A server with a short listen backlog (Python's `http.server` listens with 5) drops the
//! SYNs that arrive while its queue is full, and the kernel resends them only after 1, 3,
//! 7, 15… seconds: opening 100 connections at once to such a server costs a minute. Browsers
//! and curl open at most a handful per host; so does this. `-c` stays the number of
//! downloads in flight; a download for a host at its cap waits here for a place.
//!
//! Every download holds one place of its host for its whole life, and the client's idle
//! cache keeps at most as many connections per host as there are places (see
//! [`super::Options::max_conns_per_host`]), so the connections open to one host never
//! exceed the cap: a download opens a new one only when no idle one is left.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use hub::{Semaphore, SemaphoreGuard};
use url::Url;

/// The default cap, as browsers use (and curl's `--parallel` in practice stays under).
pub const DEFAULT_CONNS_PER_HOST: usize = 6;

/// One semaphore per `(scheme, host, port)`, each with `per_host` places, for greenlets of
/// this thread's hub.
#[derive(Debug)]
pub struct HostSlots {
    per_host: usize,
    hosts: RefCell<HashMap<(String, String, u16), Rc<Semaphore>>>,
}

impl HostSlots {
    pub fn new(per_host: usize) -> Self {
        Self {
            per_host: per_host.max(1),
            hosts: RefCell::default(),
        }
    }

    /// The places of `url`'s origin (created on first use).
    pub fn of(&self, url: &Url) -> Rc<Semaphore> {
        let key = (
            url.scheme().to_owned(),
            url.host_str().unwrap_or_default().to_owned(),
            url.port_or_known_default().unwrap_or(0),
        );
        self.hosts
            .borrow_mut()
            .entry(key)
            .or_insert_with(|| Rc::new(Semaphore::new(self.per_host)))
            .clone()
    }

    /// The cap per host.
    pub fn per_host(&self) -> usize {
        self.per_host
    }
}

/// Runs `f` holding one place of `slots`, waiting for it first. A wait that fails (the
/// hub is gone) runs `f` anyway: the cap is politeness, never a reason to fail a URL.
pub fn with_place<T>(slots: &Semaphore, f: impl FnOnce() -> T) -> T {
    let _place: Option<SemaphoreGuard<'_>> = slots.guard(None).ok();
    f()
}
