//! Several hubs, one per thread, and the ways they talk: run N hubs on N threads,
//! hand a closure to another hub, and send values across hubs.
//!
//! A greenlet never moves between hubs (nothing a greenlet holds is `Send`); work
//! moves instead. A cross-hub send goes through a crossbeam channel, and when the
//! receiving greenlet is parked the sender wakes its hub through the hub's
//! [`Remote`] (a `mio::Waker`). Listening sockets shared by the hubs
//! (`SO_REUSEPORT`) belong to the `monkey` crate.

use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering, fence};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use crossbeam_channel::TryRecvError;

use crate::hub::Hub;
use crate::sync::{Doorbell, PutError, QueueError, deadline, ring};
use crate::{Error, Remote};

/// Hardware threads available to this process (at least 1): the default number of
/// hubs.
pub fn cores() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs `f(i)` for `i` in `0..n`, each on a new thread in the root greenlet of that
/// thread's own hub, and returns each thread's result in order: `Err(Error::Panicked)`
/// if it panicked. Pass [`cores()`] for one hub per core. `f` may borrow from the
/// caller: the threads are joined before this returns.
///
/// Greenlets a hub spawns should be joined before `f` returns: the thread, and its
/// hub, end with it.
///
/// ```
/// let squares = hub::run_hubs(4, |i| {
///     // Each thread has its own hub: greenlets here never leave it.
///     let g = hub::spawn(move || i * i);
///     g.join().unwrap()
/// });
/// let squares: Vec<usize> = squares.into_iter().map(Result::unwrap).collect();
/// assert_eq!(squares, [0, 1, 4, 9]);
/// ```
pub fn run_hubs<R, F>(n: usize, f: F) -> Vec<Result<R, Error>>
where
    R: Send,
    F: Fn(usize) -> R + Sync,
{
    run_hubs_with((0..n).map(|_| ()), |i, ()| f(i))
}

/// Like [`run_hubs`], one hub per input: runs `f(i, input)` on hub `i`. Handy to give
/// each hub its own [`Receiver`].
///
/// ```
/// let (tx, rx) = hub::channel();
/// let results = hub::run_hubs_with([Some(rx), None], |i, rx| match rx {
///     Some(rx) => rx.recv(None).unwrap(), // hub 0 waits for hub 1
///     None => {
///         tx.send(format!("hello from hub {i}")).unwrap();
///         String::new()
///     }
/// });
/// assert_eq!(results[0].as_ref().unwrap(), "hello from hub 1");
/// ```
pub fn run_hubs_with<I, R, F>(inputs: impl IntoIterator<Item = I>, f: F) -> Vec<Result<R, Error>>
where
    I: Send,
    R: Send,
    F: Fn(usize, I) -> R + Sync,
{
    let f = &f;
    thread::scope(|scope| {
        let threads: Vec<_> = inputs
            .into_iter()
            .enumerate()
            .map(|(i, input)| {
                thread::Builder::new()
                    .name(format!("hub-{i}"))
                    .spawn_scoped(scope, move || {
                        let _hub = Hub::current();
                        f(i, input)
                    })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| match t {
                Ok(t) => t.join().map_err(Error::Panicked),
                Err(e) => Err(Error::Panicked(Box::new(format!(
                    "cannot start a hub thread: {e}"
                )))),
            })
            .collect()
    })
}

/// A handle to one hub that other threads use to hand it work (`Send + Sync +
/// Clone`). Like a [`Remote`], which it wraps, it keeps its hub from reporting
/// [`Error::WouldBlockForever`] while it exists: hold it while you may still send.
///
/// ```
/// let (name_tx, name_rx) = hub::channel::<String>();
/// let (handle_tx, handle_rx) = std::sync::mpsc::channel();
/// let inputs = [(Some(name_rx), None), (None, Some(handle_rx))];
/// let results = hub::run_hubs_with(inputs, |_, (names, handles)| {
///     if let Some(names) = names {
///         // Hub 0 publishes a handle, then parks its root greenlet.
///         handle_tx.send(hub::HubHandle::current()).unwrap();
///         names.recv(None).unwrap()
///     } else {
///         // Hub 1 hands hub 0 a greenlet: it runs on hub 0's thread.
///         let hub0 = handles.unwrap().recv().unwrap();
///         let name_tx = name_tx.clone();
///         hub0.spawn(move || {
///             let here = std::thread::current().name().unwrap().to_string();
///             name_tx.send(here).unwrap();
///         })
///         .unwrap();
///         String::new()
///     }
/// });
/// assert_eq!(results[0].as_ref().unwrap(), "hub-0");
/// ```
#[derive(Clone)]
pub struct HubHandle {
    remote: Remote,
}

impl HubHandle {
    /// A handle to this thread's hub.
    pub fn current() -> HubHandle {
        HubHandle {
            remote: Hub::current().remote(),
        }
    }

    /// Runs `f` as a new greenlet of that hub (it starts at the hub's next turn).
    /// Fails with [`Error::HubGone`] if the hub's thread has exited.
    pub fn spawn(&self, f: impl FnOnce() + Send + 'static) -> Result<(), Error> {
        self.remote.call(move || {
            crate::spawn(f);
        })
    }

    /// Runs `f` on that hub as a callback (it must not block); see [`Remote::call`].
    pub fn call(&self, f: impl FnOnce() + Send + 'static) -> Result<(), Error> {
        self.remote.call(f)
    }

    /// The [`Remote`] it wraps.
    pub fn remote(&self) -> &Remote {
        &self.remote
    }
}

impl fmt::Debug for HubHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HubHandle { .. }")
    }
}

/// A channel between hubs (or any threads and a hub): many [`Sender`]s, one
/// [`Receiver`] whose `recv` parks the calling greenlet, not its thread. Unbounded.
///
/// ```
/// let (tx, rx) = hub::channel();
/// let producer = std::thread::spawn(move || {
///     for i in 0..3 {
///         tx.send(i).unwrap();
///     }
/// }); // dropping the last sender closes the channel
/// let got: Vec<i32> = rx.iter().collect();
/// assert_eq!(got, [0, 1, 2]);
/// producer.join().unwrap();
/// ```
pub fn channel<T: Send>() -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let shared = Arc::new(Shared {
        parked: Mutex::new(VecDeque::new()),
        parked_count: AtomicUsize::new(0),
        senders: AtomicUsize::new(1),
    });
    (
        Sender {
            tx,
            shared: shared.clone(),
        },
        Receiver {
            rx,
            shared,
            _not_sync: PhantomData,
        },
    )
}

struct Shared {
    /// Greenlets parked in `recv`: their hub's remote and doorbell.
    parked: Mutex<VecDeque<(Remote, u64)>>,
    parked_count: AtomicUsize,
    senders: AtomicUsize,
}

impl Shared {
    fn parked(&self) -> MutexGuard<'_, VecDeque<(Remote, u64)>> {
        self.parked.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The sending side of a [`channel`]: `Send + Sync + Clone`, usable from any thread
/// (a hub's greenlet, a pool thread, a plain thread). It never blocks.
///
/// ```
/// let (tx, rx) = hub::channel();
/// let tx2 = tx.clone();
/// std::thread::spawn(move || tx2.send("from a thread").unwrap()).join().unwrap();
/// tx.send("from the hub").unwrap();
/// assert_eq!(rx.recv(None).unwrap(), "from a thread");
/// assert_eq!(rx.try_recv().unwrap(), "from the hub");
/// ```
pub struct Sender<T> {
    tx: crossbeam_channel::Sender<T>,
    shared: Arc<Shared>,
}

impl<T: Send> Sender<T> {
    /// Sends `value`, waking the receiving greenlet's hub if it is parked. Fails with
    /// [`QueueError::Closed`], giving the value back, if the [`Receiver`] is gone.
    pub fn send(&self, value: T) -> Result<(), PutError<T>> {
        self.tx.send(value).map_err(|e| PutError {
            item: e.0,
            error: QueueError::Closed,
        })?;
        // Pairs with the fence in `Receiver::recv`: either it sees our value, or we
        // see it parked.
        fence(Ordering::SeqCst);
        if self.shared.parked_count.load(Ordering::SeqCst) > 0 {
            let parked = self.shared.parked().pop_front();
            if let Some((remote, bell)) = parked {
                self.shared.parked_count.fetch_sub(1, Ordering::SeqCst);
                let _ = remote.call(move || ring(bell));
            }
        }
        Ok(())
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::SeqCst);
        Sender {
            tx: self.tx.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::SeqCst) == 1 {
            fence(Ordering::SeqCst);
            // The last one: wake every parked receiver to see the channel closed.
            let parked = std::mem::take(&mut *self.shared.parked());
            self.shared.parked_count.store(0, Ordering::SeqCst);
            for (remote, bell) in parked {
                let _ = remote.call(move || ring(bell));
            }
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sender { .. }")
    }
}

/// The receiving side of a [`channel`]. It is `Send` (move it to the hub that will
/// read) but not `Sync`; several greenlets of one hub may share it (e.g. in an `Rc`).
///
/// ```
/// use std::time::Duration;
/// use hub::{Error, QueueError};
///
/// let (tx, rx) = hub::channel::<u32>();
/// let waited = rx.recv(Some(Duration::from_millis(1)));
/// assert_eq!(waited, Err(QueueError::Wait(Error::Timeout)));
/// drop(tx);
/// assert_eq!(rx.recv(None), Err(QueueError::Closed)); // every sender is gone
/// ```
pub struct Receiver<T> {
    rx: crossbeam_channel::Receiver<T>,
    shared: Arc<Shared>,
    _not_sync: PhantomData<Cell<()>>,
}

impl<T> Receiver<T> {
    /// Takes the next value, parking the calling greenlet (not the thread) until one
    /// comes or `timeout` passes. [`QueueError::Closed`] once every [`Sender`] is gone
    /// and every value taken. Parked, it keeps its hub from reporting
    /// [`Error::WouldBlockForever`] while a sender exists.
    pub fn recv(&self, timeout: Option<Duration>) -> Result<T, QueueError> {
        let deadline = deadline(timeout);
        loop {
            match self.try_recv() {
                Err(QueueError::Empty) => {}
                other => return other,
            }
            let hub = Hub::current();
            let bell = Doorbell::new();
            let _parked = Parked::new(&self.shared, hub.remote(), bell.id());
            // Pairs with the fences in `Sender::send` and `Sender::drop`.
            fence(Ordering::SeqCst);
            match self.try_recv() {
                Err(QueueError::Empty) => {}
                other => return other,
            }
            bell.wait(deadline)?;
        }
    }

    /// Takes the next value if there is one now; [`QueueError::Empty`] if not,
    /// [`QueueError::Closed`] if there never will be.
    pub fn try_recv(&self) -> Result<T, QueueError> {
        match self.rx.try_recv() {
            Ok(v) => Ok(v),
            Err(TryRecvError::Disconnected) => Err(QueueError::Closed),
            Err(TryRecvError::Empty) => {
                if self.shared.senders.load(Ordering::SeqCst) == 0 {
                    // The last sender is going: take what it sent before.
                    self.rx.try_recv().map_err(|_| QueueError::Closed)
                } else {
                    Err(QueueError::Empty)
                }
            }
        }
    }

    /// Values waiting now.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// True if no value waits now.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    /// Iterates by [`recv`](Self::recv) until the channel is closed (or a wait fails).
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        std::iter::from_fn(|| self.recv(None).ok())
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.rx.len())
            .finish()
    }
}

/// A parked receiver's registration, removed however the wait ends.
struct Parked<'a> {
    shared: &'a Shared,
    bell: u64,
}

impl<'a> Parked<'a> {
    fn new(shared: &'a Shared, remote: Remote, bell: u64) -> Parked<'a> {
        shared.parked().push_back((remote, bell));
        shared.parked_count.fetch_add(1, Ordering::SeqCst);
        Parked { shared, bell }
    }
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        let removed = {
            let mut parked = self.shared.parked();
            let i = parked.iter().position(|(_, b)| *b == self.bell);
            i.and_then(|i| parked.remove(i))
        };
        if removed.is_some() {
            self.shared.parked_count.fetch_sub(1, Ordering::SeqCst);
        }
    }
}
