//! Greenlet-local storage: gevent's `gevent.local.local`, declared like
//! `thread_local!`.
//!
//! Each greenlet (and the thread's root code) sees its own value of a [`LocalKey`],
//! made by the key's initialiser on first access and dropped when that greenlet
//! finishes, whether it returned, panicked or was killed. The values live in the
//! hub's record of the greenlet (an empty table costs one pointer), indexed by a
//! number each key draws on first use; a value is held by an `Rc` while a closure
//! borrows it, so a value dropped meanwhile (its greenlet is killed from inside the
//! closure) stays valid until the closure returns.
//!
//! The hub knows only the greenlets it schedules: a raw [`greenlet::Greenlet`]
//! switched to from inside one of them sees that one's values.

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::hub::Hub;
use crate::task::Task;

/// Declares greenlet-local statics, each a [`LocalKey`]: one value per greenlet,
/// made on first access by the initialiser and dropped when the greenlet ends.
///
/// The syntax is `thread_local!`'s (without `const { }` initialisers):
///
/// ```
/// use std::cell::Cell;
///
/// hub::local! {
///     /// The request the current greenlet is serving.
///     static REQUEST_ID: Cell<u64> = Cell::new(0);
/// }
///
/// let workers: Vec<_> = (1..=3u64)
///     .map(|id| hub::spawn(move || {
///         REQUEST_ID.with(|r| r.set(id));
///         hub::yield_now().unwrap(); // the others set theirs meanwhile
///         REQUEST_ID.with(|r| r.get())
///     }))
///     .collect();
/// let seen: Vec<u64> = workers.iter().map(|w| w.join().unwrap()).collect();
/// assert_eq!(seen, [1, 2, 3]);
/// // The root greenlet has its own value, still the initial one.
/// assert_eq!(REQUEST_ID.with(|r| r.get()), 0);
/// ```
///
/// Putting a request id on everything a greenlet logs: enter a span made from the
/// local wherever the handler logs.
///
/// ```
/// use std::cell::Cell;
///
/// hub::local! {
///     static REQUEST_ID: Cell<Option<u64>> = Cell::new(None);
/// }
///
/// fn request_span() -> tracing::Span {
///     match REQUEST_ID.with(|r| r.get()) {
///         Some(id) => tracing::info_span!("request", id),
///         None => tracing::Span::none(),
///     }
/// }
///
/// fn deep_in_the_handler() {
///     let _span = request_span().entered();
///     tracing::info!("working"); // logged as `request{id=7}: working`
/// }
///
/// let h = hub::spawn(|| {
///     REQUEST_ID.with(|r| r.set(Some(7)));
///     deep_in_the_handler();
/// });
/// h.join().unwrap();
/// ```
#[macro_export]
macro_rules! local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr; $($rest:tt)*) => {
        $(#[$attr])*
        $vis static $name: $crate::LocalKey<$t> = $crate::LocalKey::new(|| $init);
        $crate::local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr) => {
        $(#[$attr])*
        $vis static $name: $crate::LocalKey<$t> = $crate::LocalKey::new(|| $init);
    };
}

/// A greenlet-local value, declared with [`local!`](crate::local!).
pub struct LocalKey<T: 'static> {
    init: fn() -> T,
    /// The key's index in every greenlet's table, plus one; 0 until first use.
    slot: AtomicUsize,
}

/// Numbers keys as they are first used, process-wide (a key is a static, shared by
/// every thread's hub).
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

impl<T: 'static> LocalKey<T> {
    #[doc(hidden)]
    pub const fn new(init: fn() -> T) -> LocalKey<T> {
        LocalKey {
            init,
            slot: AtomicUsize::new(0),
        }
    }

    /// Runs `f` with the current greenlet's value, made first if this greenlet has
    /// none yet.
    ///
    /// # Panics
    /// Where [`try_with`](Self::try_with) gives an error: inside a hub callback, or
    /// once the thread's hub is gone.
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        match self.try_with(f) {
            Ok(r) => r,
            Err(e) => panic!("hub::local! value: {e}"),
        }
    }

    /// Runs `f` with the current greenlet's value, made first if this greenlet has
    /// none yet; an error where no greenlet is current: inside a hub callback (a
    /// [`JoinHandle::link`](crate::JoinHandle::link) callback, a
    /// [`Remote`](crate::Remote) call) or once the thread's hub is gone (a
    /// thread-local destructor running after the hub's teardown).
    pub fn try_with<R>(&'static self, f: impl FnOnce(&T) -> R) -> Result<R, LocalAccessError> {
        let task = current_task()?;
        let slot = self.slot();
        let value = match task.locals.get(slot) {
            Some(value) => value,
            None => {
                // The initialiser runs with no table borrowed: it may use other locals.
                let value: Rc<dyn Any> = Rc::new((self.init)());
                task.locals.insert(slot, value)
            }
        };
        let value = value
            .downcast_ref::<T>()
            .expect("a key's slot holds values of its own type");
        Ok(f(value))
    }

    /// Replaces the current greenlet's value, dropping the old one.
    pub fn set(&'static self, value: T) -> Result<(), LocalAccessError> {
        let task = current_task()?;
        drop(task.locals.replace(self.slot(), Rc::new(value)));
        Ok(())
    }

    /// True if the current greenlet has made its value (a hub callback has none).
    pub fn is_set(&'static self) -> bool {
        current_task().is_ok_and(|task| task.locals.get(self.slot()).is_some())
    }

    fn slot(&self) -> usize {
        match self.slot.load(Ordering::Relaxed) {
            0 => {
                let fresh = NEXT_SLOT.fetch_add(1, Ordering::Relaxed) + 1;
                // Two threads may race to number the key: the first number wins.
                match self
                    .slot
                    .compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed)
                {
                    Ok(_) => fresh - 1,
                    Err(won) => won - 1,
                }
            }
            numbered => numbered - 1,
        }
    }
}

impl<T: 'static> fmt::Debug for LocalKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKey").finish_non_exhaustive()
    }
}

/// The greenlet whose values a key reaches now.
fn current_task() -> Result<Rc<Task>, LocalAccessError> {
    let hub = Hub::current_or_gone().map_err(|_| LocalAccessError::HubGone)?;
    hub.current_task().ok_or(LocalAccessError::InHubCallback)
}

/// Why a greenlet-local value cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LocalAccessError {
    /// Called from a hub callback (a `link` callback, a remote call), which runs in
    /// no greenlet and so has no greenlet-local values.
    InHubCallback,
    /// The thread's hub has been torn down (the thread is exiting).
    HubGone,
}

impl fmt::Display for LocalAccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LocalAccessError::InHubCallback => {
                "greenlet-local values cannot be reached from a hub callback: it runs in no greenlet"
            }
            LocalAccessError::HubGone => {
                "greenlet-local values are gone: the thread's hub has been torn down"
            }
        })
    }
}

impl std::error::Error for LocalAccessError {}

type Table = Vec<Option<Rc<dyn Any>>>;

/// One greenlet's values by key index; boxed so that a greenlet that has none pays
/// one pointer in its record.
#[derive(Default)]
pub(crate) struct Locals(Cell<Option<Box<Table>>>);

impl Locals {
    fn get(&self, slot: usize) -> Option<Rc<dyn Any>> {
        let table = self.0.take()?;
        let value = table.get(slot).cloned().flatten();
        self.0.set(Some(table));
        value
    }

    /// Stores `value` unless the slot was filled meanwhile (by an initialiser that
    /// reached its own key); returns what the slot holds.
    fn insert(&self, slot: usize, value: Rc<dyn Any>) -> Rc<dyn Any> {
        let mut table = self.0.take().unwrap_or_default();
        if table.len() <= slot {
            table.resize(slot + 1, None);
        }
        let stored = table[slot].get_or_insert(value).clone();
        self.0.set(Some(table));
        stored
    }

    fn replace(&self, slot: usize, value: Rc<dyn Any>) -> Option<Rc<dyn Any>> {
        let mut table = self.0.take().unwrap_or_default();
        if table.len() <= slot {
            table.resize(slot + 1, None);
        }
        let old = table[slot].replace(value);
        self.0.set(Some(table));
        old
    }

    /// Drops every value, with the table taken out: a destructor that reaches a
    /// local makes a fresh table, which the next round drops (as std does for
    /// thread-locals, a few rounds at most). A destructor's panic is logged: the
    /// greenlet is finishing and must still report its result.
    pub(crate) fn clear(&self) {
        for _ in 0..4 {
            let Some(table) = self.0.take() else {
                return;
            };
            let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(table)));
            if let Err(p) = dropped {
                tracing::error!(
                    "a greenlet-local value's destructor panicked: {}",
                    crate::panic_message(&p)
                );
            }
        }
    }
}
