//! Symmetric coroutines with Python greenlet's semantics.
//!
//! A [`Greenlet`] is a function running on its own stack that can hand control to any
//! other greenlet with [`Greenlet::switch`], and be handed it back. There is no
//! scheduler: control goes exactly where the code says. Every thread has a *root*
//! greenlet (its own stack), current until the first switch.
//!
//! ```
//! use greenlet::{Greenlet, getcurrent};
//! use std::cell::RefCell;
//! use std::rc::Rc;
//!
//! // The tutorial's "12 56 34 78": two greenlets passing control back and forth.
//! let out = Rc::new(RefCell::new(Vec::new()));
//! let gr2_slot: Rc<RefCell<Option<Greenlet>>> = Rc::default();
//! let (o1, g2) = (out.clone(), gr2_slot.clone());
//! let gr1 = Greenlet::new(move |_| {
//!     let gr2 = g2.borrow().clone().unwrap();
//!     o1.borrow_mut().push(12);
//!     gr2.switch(()).unwrap();
//!     o1.borrow_mut().push(34);
//!     gr2.switch(()).unwrap();
//!     greenlet::Value::none()
//! });
//! let (o2, g1) = (out.clone(), gr1.clone());
//! let gr2 = Greenlet::new(move |_| {
//!     o2.borrow_mut().push(56);
//!     g1.switch(()).unwrap();
//!     o2.borrow_mut().push(78);
//!     greenlet::Value::none()
//! });
//! *gr2_slot.borrow_mut() = Some(gr2.clone());
//! gr1.switch(()).unwrap();
//! // gr2 finished after printing 78; its parent (the root) resumed here, while gr1
//! // stays suspended in its second switch.
//! assert_eq!(*out.borrow(), [12, 56, 34, 78]);
//! assert!(gr2.is_dead() && gr1.is_active());
//! assert!(getcurrent().parent().is_none());
//! ```
//!
//! # Rules
//! - `switch(v)` starts a greenlet (its body receives `v`) or resumes it (its pending
//!   `switch` returns `v`). Values are [`Value`]s: any type, taken out with
//!   [`Value::downcast`].
//! - When a body returns, its value goes to its **parent** (the greenlet current when
//!   it was made, unless changed with [`Greenlet::set_parent`]): the parent's pending
//!   switch returns it. A panic travels the same way and is re-raised in the parent.
//! - [`Greenlet::throw`] raises a panic inside a suspended greenlet at its switch
//!   point; [`Greenlet::kill`] throws [`GreenletExit`], which ends the greenlet
//!   normally (its parent receives the `GreenletExit` as a value).
//! - Dropping the last handle to a suspended greenlet kills it, so its destructors run.
//! - Switching to a dead greenlet is [`SwitchError::Dead`]. Greenlets are `!Send`:
//!   switching across threads cannot be written.
//!
//! # From Python
//!
//! | Python greenlet                 | this crate                                   |
//! |---------------------------------|----------------------------------------------|
//! | `greenlet(run, parent)`         | [`Greenlet::new`], [`Greenlet::builder`]     |
//! | `g.switch(*args)`               | [`Greenlet::switch`] (pass a tuple for several) |
//! | `g.throw(typ)`                  | [`Greenlet::throw`]                          |
//! | `g.throw()` / `GreenletExit`    | [`Greenlet::kill`] / [`GreenletExit`]        |
//! | `greenlet.getcurrent()`         | [`getcurrent`]                               |
//! | `g.parent`, `g.parent = p`      | [`Greenlet::parent`], [`Greenlet::set_parent`] |
//! | `g.dead`, `bool(g)`             | [`Greenlet::is_dead`], [`Greenlet::is_active`] |
//! | `g.gr_frame is not None` …      | [`Greenlet::is_started`]                     |
//! | per-greenlet MXCSR / x87 control word (saved by `slp_switch`) | none: one per thread, as in gen-core (its crate doc, "Floating-point state at switches") |

mod greenlet;
mod value;

pub use greenlet::{Builder, Greenlet, getcurrent};
pub use value::Value;

use std::fmt;

pub use gen_core::StackError;

/// The payload that [`Greenlet::kill`] raises: unwinding with it ends a greenlet
/// normally. Code that catches unwinds inside a greenlet should let it continue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GreenletExit;

/// Why a switch, throw or parent change was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum SwitchError {
    /// The target greenlet has finished.
    Dead,
    /// The new parent chain would loop back to the greenlet itself.
    Cycle,
    /// A root greenlet has no parent and cannot be given one.
    Root,
    /// The greenlet could not be started: no stack could be had.
    Stack(StackError),
    /// The current greenlet is unwinding (a destructor running during a panic or a
    /// kill): it cannot switch away until the unwind is over.
    Unwinding,
}

impl fmt::Display for SwitchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SwitchError::Dead => f.write_str("cannot switch to a dead greenlet"),
            SwitchError::Cycle => f.write_str("cyclic parent chain"),
            SwitchError::Root => f.write_str("a root greenlet cannot have a parent"),
            SwitchError::Stack(e) => write!(f, "cannot start greenlet: {e}"),
            SwitchError::Unwinding => f.write_str("cannot switch while unwinding"),
        }
    }
}

impl std::error::Error for SwitchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SwitchError::Stack(e) => Some(e),
            _ => None,
        }
    }
}
