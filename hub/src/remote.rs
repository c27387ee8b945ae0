//! Running code on a hub from other threads: a crossbeam channel plus the loop's
//! `mio::Waker`. The thread pool and cross-hub messages are built on this.

use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use mio::{Registry, Token, Waker};

use crate::hub::Hub;
use crate::{Error, panic_message};

type Job = Box<dyn FnOnce() + Send>;

pub(crate) struct RemoteQueue {
    rx: Receiver<Job>,
    handle: Remote,
}

impl RemoteQueue {
    pub(crate) fn new(registry: &Registry, token: Token) -> io::Result<RemoteQueue> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let waker = Arc::new(Waker::new(registry, token)?);
        Ok(RemoteQueue {
            rx,
            handle: Remote {
                tx,
                waker,
                senders: Arc::new(()),
            },
        })
    }

    pub(crate) fn handle(&self) -> Remote {
        self.handle.clone()
    }

    /// True while some other thread holds a [`Remote`] (it could still send), or jobs
    /// are queued.
    pub(crate) fn may_receive(&self) -> bool {
        Arc::strong_count(&self.handle.senders) > 1 || !self.rx.is_empty()
    }

    /// Runs every queued job on the hub.
    pub(crate) fn drain(&self, _hub: &Hub) {
        while let Ok(job) = self.rx.try_recv() {
            if let Err(p) = panic::catch_unwind(AssertUnwindSafe(job)) {
                tracing::error!("remote job on the hub failed with {}", panic_message(&p));
            }
        }
    }
}

/// A handle other threads use to run code on one hub (`Send + Sync + Clone`).
///
/// While any clone is alive the hub assumes a wake-up may still come from it, so a
/// greenlet waiting on it never gets [`Error::WouldBlockForever`]: hold clones only
/// while work is outstanding.
#[derive(Clone)]
pub struct Remote {
    tx: Sender<Job>,
    waker: Arc<Waker>,
    senders: Arc<()>,
}

impl Remote {
    /// Runs `f` on the hub's thread at its next turn, from any thread. Fails with
    /// [`Error::HubGone`] if that thread has exited.
    pub fn call(&self, f: impl FnOnce() + Send + 'static) -> Result<(), Error> {
        self.tx.send(Box::new(f)).map_err(|_| Error::HubGone)?;
        self.waker.wake().map_err(|_| Error::HubGone)
    }
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Remote { .. }")
    }
}
