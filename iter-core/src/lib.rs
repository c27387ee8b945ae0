//! The resume protocol every gevent-rs layer speaks.
//!
//! Python has one protocol for "a thing you resume until it stops": `next()`/`send()`
//! return the next yielded value, and the end is signalled by `StopIteration`, whose
//! `.value` carries the function's return value. This crate is that protocol in Rust:
//!
//! | Python                          | iter-core                                   |
//! |---------------------------------|---------------------------------------------|
//! | `yield v` reaches the caller    | [`State::Yielded`]`(v)`                     |
//! | `StopIteration(value)`          | [`State::Complete`]`(value)`                |
//! | `gen.send(x)` / `next(gen)`     | [`Resume::resume`]`(x)`                     |
//! | send after `StopIteration`      | [`ResumeError::Finished`] (value handed back) |
//! | `for x in gen` + `.value`       | [`Iter`]: an `Iterator` keeping the return  |
//!
//! Hand-written state machines and the stackful generators of `gen-core` implement the
//! same [`Resume`] trait, whose shape follows the unstable `std::ops::Coroutine`.
//!
//! ```
//! use iter_core::{Resume, ResumeError, State};
//!
//! /// Counts down, then returns how many values it produced.
//! struct Countdown(u32, u32);
//!
//! impl Resume for Countdown {
//!     type Yield = u32;
//!     type Return = u32;
//!     fn resume(&mut self, arg: ()) -> Result<State<u32, u32>, ResumeError<()>> {
//!         match self.0 {
//!             0 if self.1 == u32::MAX => Err(ResumeError::Finished(arg)),
//!             0 => Ok(State::Complete(std::mem::replace(&mut self.1, u32::MAX))),
//!             n => {
//!                 self.0 -= 1;
//!                 self.1 += 1;
//!                 Ok(State::Yielded(n))
//!             }
//!         }
//!     }
//! }
//!
//! let mut it = iter_core::iter(Countdown(3, 0));
//! assert_eq!(it.by_ref().collect::<Vec<_>>(), [3, 2, 1]);
//! assert_eq!(it.return_value(), Some(&3));
//! ```

mod iter;

pub use iter::{FromIter, Iter, from_iter, iter};

use std::fmt;

/// How one resume of a coroutine ended.
///
/// The shape of `std::ops::CoroutineState`: the coroutine either suspended with a value
/// (Python's `yield`), or ran to the end and returned (Python's `StopIteration.value`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State<Y, R> {
    /// The coroutine suspended itself and handed out this value.
    Yielded(Y),
    /// The coroutine finished with this return value; resuming it again is an error.
    Complete(R),
}

impl<Y, R> State<Y, R> {
    /// The yielded value, or `None` if the coroutine completed.
    pub fn yielded(self) -> Option<Y> {
        match self {
            State::Yielded(y) => Some(y),
            State::Complete(_) => None,
        }
    }

    /// The return value, or `None` if the coroutine only suspended.
    pub fn complete(self) -> Option<R> {
        match self {
            State::Yielded(_) => None,
            State::Complete(r) => Some(r),
        }
    }

    /// True if this is [`State::Complete`].
    pub fn is_complete(&self) -> bool {
        matches!(self, State::Complete(_))
    }
}

/// Something that can be resumed with a value until it completes.
///
/// `Arg` is what each resume passes in (Python's `send` argument; `()` for plain
/// iteration). A resume that cannot be carried out returns the argument inside the
/// error, so nothing is lost.
pub trait Resume<Arg = ()> {
    /// The type of value this coroutine yields.
    type Yield;
    /// The type of value this coroutine returns when it completes.
    type Return;

    /// Runs the coroutine until it yields or completes.
    fn resume(&mut self, arg: Arg) -> Result<State<Self::Yield, Self::Return>, ResumeError<Arg>>;
}

impl<C: Resume<A> + ?Sized, A> Resume<A> for &mut C {
    type Yield = C::Yield;
    type Return = C::Return;

    fn resume(&mut self, arg: A) -> Result<State<C::Yield, C::Return>, ResumeError<A>> {
        (**self).resume(arg)
    }
}

impl<C: Resume<A> + ?Sized, A> Resume<A> for Box<C> {
    type Yield = C::Yield;
    type Return = C::Return;

    fn resume(&mut self, arg: A) -> Result<State<C::Yield, C::Return>, ResumeError<A>> {
        (**self).resume(arg)
    }
}

/// Why a resume was refused. Each variant hands back the argument that was not delivered.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResumeError<A> {
    /// A value was sent to a coroutine that has not reached its first `yield`, so
    /// nothing is waiting to receive it (Python: "can't send non-None value to a
    /// just-started generator").
    NotStarted(A),
    /// The coroutine already completed (Python raises `StopIteration` again).
    Finished(A),
}

impl<A> ResumeError<A> {
    /// The argument that was not delivered.
    pub fn into_inner(self) -> A {
        match self {
            ResumeError::NotStarted(a) | ResumeError::Finished(a) => a,
        }
    }
}

impl<A> fmt::Debug for ResumeError<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResumeError::NotStarted(_) => f.write_str("NotStarted(..)"),
            ResumeError::Finished(_) => f.write_str("Finished(..)"),
        }
    }
}

impl<A> fmt::Display for ResumeError<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResumeError::NotStarted(_) => {
                f.write_str("can't send a value to a coroutine that has not started")
            }
            ResumeError::Finished(_) => f.write_str("can't resume a coroutine that has finished"),
        }
    }
}

impl<A> std::error::Error for ResumeError<A> {}
