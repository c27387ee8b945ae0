//! The greenlet handle and the symmetric switch.
//!
//! How control moves: the switching greenlet parks its message (and itself, as `from`)
//! in the thread's in-flight slot, makes the target current and jumps to the target's
//! saved context. Whoever lands, either in a pending `switch` or at the entry of a new
//! greenlet, calls [`receive`]: it stores the context the jump handed over into `from`
//! (or, if `from` just died, returns its stack to the pool) and takes the message.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::rc::Rc;

use gen_core::switch::{self, Context, Transfer};
use gen_core::{DEFAULT_STACK_SIZE, Payload, Stack, StackPool};

use crate::{GreenletExit, SwitchError, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    NotStarted,
    /// Running, or suspended in a switch (then `context` is set).
    Active,
    Dead,
}

type Body = Box<dyn FnOnce(Value) -> Value>;

struct Inner {
    status: Cell<Status>,
    /// Where a suspended greenlet continues.
    context: Cell<Option<Context>>,
    /// Taken from the pool at the first switch; `None` for the root greenlet.
    stack: Cell<Option<Stack>>,
    body: Cell<Option<Body>>,
    /// `None` only for the root greenlet.
    parent: RefCell<Option<Greenlet>>,
    name: Option<Box<str>>,
    stack_size: usize,
}

/// What travels with a switch.
enum Message {
    Value(Value),
    /// Raised at the receiver's switch point.
    Throw(Payload),
}

struct InFlight {
    from: Rc<Inner>,
    message: Message,
}

thread_local! {
    /// The running greenlet; the root greenlet is made on first use.
    static CURRENT: Cell<Option<Rc<Inner>>> = const { Cell::new(None) };
    /// The message of the switch under way, between the jump and its landing.
    static IN_FLIGHT: Cell<Option<InFlight>> = const { Cell::new(None) };
    /// Greenlets to kill once the current unwind is over (see `Drop for Greenlet`).
    static DEFERRED_KILLS: RefCell<Vec<Greenlet>> = const { RefCell::new(Vec::new()) };
}

/// A symmetric coroutine with Python greenlet's semantics. Cloning a handle gives
/// another handle to the same greenlet; handles compare equal when they name the same
/// greenlet. Handles are bound to their thread (`!Send`):
///
/// ```compile_fail
/// let g = greenlet::getcurrent();
/// std::thread::spawn(move || g.switch(()));
/// ```
pub struct Greenlet(Rc<Inner>);

/// Options for a new greenlet: name, stack size, parent.
#[derive(Default)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
    parent: Option<Greenlet>,
}

impl Builder {
    /// Names the greenlet (shown in overflow reports and `Debug`).
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Usable stack size in bytes; the default is [`DEFAULT_STACK_SIZE`].
    pub fn stack_size(mut self, size: usize) -> Builder {
        self.stack_size = Some(size);
        self
    }

    /// The parent, which receives the greenlet's return value or panic; the default is
    /// the greenlet current when it is made.
    pub fn parent(mut self, parent: &Greenlet) -> Builder {
        self.parent = Some(parent.clone());
        self
    }

    /// Makes the greenlet. Its body runs at the first switch to it, receiving the value
    /// that switch passed. Its stack is taken then, too.
    pub fn spawn(self, body: impl FnOnce(Value) -> Value + 'static) -> Greenlet {
        Greenlet(Rc::new(Inner {
            status: Cell::new(Status::NotStarted),
            context: Cell::new(None),
            stack: Cell::new(None),
            body: Cell::new(Some(Box::new(body))),
            parent: RefCell::new(Some(self.parent.unwrap_or_else(getcurrent))),
            name: self.name.map(String::into_boxed_str),
            stack_size: self.stack_size.unwrap_or(DEFAULT_STACK_SIZE),
        }))
    }
}

/// The greenlet running now (Python's `greenlet.getcurrent()`). On a thread that has
/// not switched yet this is its root greenlet: the thread's own stack.
pub fn getcurrent() -> Greenlet {
    Greenlet(current())
}

#[inline(always)]
fn current() -> Rc<Inner> {
    CURRENT.with(|c| {
        let cur = c.take().unwrap_or_else(root);
        c.set(Some(cur.clone()));
        cur
    })
}

fn root() -> Rc<Inner> {
    // The thread's greenlet state is first used here: touch all of it now. Thread-local
    // destructors run in the reverse order of first use, so it then outlives whatever
    // is built on greenlets later and torn down at thread exit (a hub, say).
    IN_FLIGHT.set(None);
    let _ = DEFERRED_KILLS.try_with(|_| ());
    StackPool::with(|_| ());
    Rc::new(Inner {
        status: Cell::new(Status::Active),
        context: Cell::new(None),
        stack: Cell::new(None),
        body: Cell::new(None),
        parent: RefCell::new(None),
        name: Some("root".into()),
        stack_size: 0,
    })
}

impl Greenlet {
    /// Makes a greenlet whose parent is the current greenlet; see [`Builder::spawn`].
    pub fn new(body: impl FnOnce(Value) -> Value + 'static) -> Greenlet {
        Builder::default().spawn(body)
    }

    /// Options for a new greenlet.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Transfers control to this greenlet, handing it `value`: the first switch starts
    /// its body with `value`, later ones make its pending `switch` return `value`.
    /// Returns what the next switch back into the caller passes, including a parent
    /// return (a child's return value) or a child's panic, which is re-raised here.
    ///
    /// Switching to the running greenlet returns `value` at once. Switching to a dead
    /// greenlet is [`SwitchError::Dead`] (Python would silently go to its parent).
    #[inline]
    pub fn switch(&self, value: impl Any) -> Result<Value, SwitchError> {
        deliver(&self.0, Message::Value(Value::new(value)))
    }

    /// Raises `error` inside this greenlet at its switch point, as a panic with that
    /// payload (Python's `throw`). If the greenlet does not catch it, it dies and the
    /// panic travels to its parent, as any panic does. A greenlet that has not started
    /// dies without running; the error goes straight to its parent.
    /// A [`Payload`] (as `catch_unwind` returns) is raised as it is, not boxed again.
    pub fn throw<E: Any + Send>(&self, error: E) -> Result<Value, SwitchError> {
        let mut slot = Some(error);
        let payload = match (&mut slot as &mut dyn Any).downcast_mut::<Option<Payload>>() {
            Some(payload) => payload.take().expect("slot is full"),
            None => Box::new(slot.take().expect("slot is full")),
        };
        deliver(&self.0, Message::Throw(payload))
    }

    /// Kills the greenlet: throws [`GreenletExit`], which unwinds its stack (running
    /// destructors) and ends it normally: its parent receives the `GreenletExit` as a
    /// value, not as a panic. Killing a dead greenlet does nothing.
    pub fn kill(&self) -> Result<Value, SwitchError> {
        if self.is_dead() {
            return Ok(Value::new(GreenletExit));
        }
        self.throw(GreenletExit)
    }

    /// The parent; `None` only for a root greenlet.
    pub fn parent(&self) -> Option<Greenlet> {
        self.0.parent.borrow().clone()
    }

    /// Changes the parent. A parent chain that would loop is [`SwitchError::Cycle`];
    /// a root greenlet keeps having none ([`SwitchError::Root`]).
    pub fn set_parent(&self, parent: &Greenlet) -> Result<(), SwitchError> {
        if self.0.parent.borrow().is_none() {
            return Err(SwitchError::Root);
        }
        let mut up = Some(parent.clone());
        while let Some(g) = up {
            if g == *self {
                return Err(SwitchError::Cycle);
            }
            up = g.parent();
        }
        *self.0.parent.borrow_mut() = Some(parent.clone());
        Ok(())
    }

    /// True once the greenlet has been switched to (a root greenlet always is).
    pub fn is_started(&self) -> bool {
        self.0.status.get() != Status::NotStarted
    }

    /// True once its body has returned, panicked or been killed.
    pub fn is_dead(&self) -> bool {
        self.0.status.get() == Status::Dead
    }

    /// Started and not dead (Python's `bool(g)`).
    pub fn is_active(&self) -> bool {
        self.0.status.get() == Status::Active
    }

    /// True if this is the running greenlet.
    pub fn is_current(&self) -> bool {
        CURRENT.with(|c| {
            let cur = c.take();
            let same = cur.as_ref().is_some_and(|cur| Rc::ptr_eq(cur, &self.0));
            c.set(cur);
            same
        })
    }

    /// The name given with [`Builder::name`] (`"root"` for a root greenlet).
    pub fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }
}

/// Sends `message` to `target`, or to the nearest ancestor able to take it.
#[inline(always)]
fn deliver(target: &Rc<Inner>, message: Message) -> Result<Value, SwitchError> {
    // The thread's panic state cannot follow a half-finished unwind to another stack.
    if std::thread::panicking() {
        return Err(SwitchError::Unwinding);
    }
    let me = current();
    if Rc::ptr_eq(&me, target) {
        return Ok(settle(message));
    }
    if target.status.get() == Status::Dead {
        return Err(SwitchError::Dead);
    }
    let (target, message) = route(target.clone(), message);
    if Rc::ptr_eq(&me, &target) {
        return Ok(settle(message));
    }
    let context = match target.status.get() {
        Status::Active => target
            .context
            .take()
            .expect("a suspended greenlet has a context"),
        _ => start(&target)?,
    };
    drop(me);
    Ok(jump(target, context, message))
}

/// Walks from `target` up to the greenlet that will really receive `message`: dead
/// greenlets are skipped, and a greenlet that has not started dies without running
/// when a panic is sent to it, passing the panic on to its own parent.
#[inline(always)]
fn route(mut target: Rc<Inner>, mut message: Message) -> (Rc<Inner>, Message) {
    loop {
        match (target.status.get(), &message) {
            (Status::Dead, _) => {}
            (Status::NotStarted, Message::Throw(_)) => {
                target.status.set(Status::Dead);
                drop(target.body.take());
                message = exit_to_value(message);
            }
            _ => return (target, message),
        }
        let parent = target.parent.borrow().as_ref().map(|g| g.0.clone());
        target = parent.expect("only a root greenlet has no parent, and it never dies");
    }
}

/// A `GreenletExit` that ends a greenlet reaches its parent as a value.
fn exit_to_value(message: Message) -> Message {
    match message {
        Message::Throw(p) if p.is::<GreenletExit>() => Message::Value(Value::new(GreenletExit)),
        other => other,
    }
}

/// Takes a message delivered to the running greenlet itself.
#[inline(always)]
fn settle(message: Message) -> Value {
    match message {
        Message::Value(v) => v,
        Message::Throw(p) => panic::resume_unwind(p),
    }
}

/// Gives a greenlet that has never run a stack, primed to run [`entry`].
fn start(target: &Inner) -> Result<Context, SwitchError> {
    let stack = StackPool::with(|p| p.take(target.stack_size)).map_err(SwitchError::Stack)?;
    stack.set_name(target.name.as_deref());
    // SAFETY: the stack is fresh; the greenlet owns it until it dies, and its contexts
    // are only resumed while it is alive (dead greenlets are never switched to).
    let context = unsafe { switch::prepare(&stack, stack.top(), entry) };
    target.stack.set(Some(stack));
    target.status.set(Status::Active);
    Ok(context)
}

/// Makes `target` current and jumps to it; returns when something switches back.
#[inline(always)]
fn jump(target: Rc<Inner>, context: Context, message: Message) -> Value {
    let from = CURRENT
        .with(|c| c.replace(Some(target)))
        .expect("current is set");
    IN_FLIGHT.set(Some(InFlight { from, message }));
    // SAFETY: `context` belongs to a live greenlet whose stack is mapped (greenlets
    // own their stacks until they die), and it is consumed here, once.
    let t = unsafe { switch::resume(context, 0) };
    settle(receive(t))
}

/// Lands a switch: files the context we jumped from under the greenlet that made the
/// jump (or frees its stack if it just died) and takes the message it sent.
#[inline(always)]
fn receive(t: Transfer) -> Message {
    let InFlight { from, message } = IN_FLIGHT.take().expect("a switch is in flight");
    if from.status.get() == Status::Dead {
        // Its last frame jumped here and nothing runs on its stack any more.
        if let Some(stack) = from.stack.take() {
            StackPool::with(|p| p.give(stack));
        }
    } else {
        from.context.set(Some(t.context));
    }
    // If that was the last reference to a suspended greenlet, this kills it.
    drop(Greenlet(from));
    message
}

/// The first frame of every greenlet's stack.
extern "C" fn entry(t: Transfer) -> ! {
    let context = run(t);
    // SAFETY: `run` has dropped everything it owned and handed our message and our
    // (now dead) handle to the in-flight slot; the receiver frees this stack only
    // after the jump, and nothing ever resumes this context.
    unsafe { switch::resume(context, 0) };
    unreachable!("a dead greenlet was resumed");
}

/// Runs the body, then routes its outcome to the parent; returns where to jump.
fn run(t: Transfer) -> Context {
    // Hold no reference to ourselves while the body runs: dropping the last handle to
    // a suspended greenlet must be able to kill it.
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        let value = settle(receive(t));
        let body = current().body.take().expect("a new greenlet has a body");
        body(value)
    }));
    // The body's unwind (if any) is over: greenlets dropped during it can die now.
    kill_deferred();
    let me = current();
    drop(me.body.take());
    let message = match outcome {
        Ok(value) => Message::Value(value),
        Err(payload) => exit_to_value(Message::Throw(payload)),
    };
    me.status.set(Status::Dead);
    let parent = me
        .parent
        .borrow()
        .as_ref()
        .map(|g| g.0.clone())
        .expect("has a parent");
    let (mut target, mut message) = route(parent, message);
    let context = loop {
        match target.status.get() {
            Status::Active => {
                break target
                    .context
                    .take()
                    .expect("a suspended greenlet has a context");
            }
            _ => match start(&target) {
                Ok(context) => break context,
                // No stack for the parent: it dies, and its parent gets the error.
                Err(e) => {
                    target.status.set(Status::Dead);
                    drop(target.body.take());
                    let up = target.parent.borrow().as_ref().map(|g| g.0.clone());
                    (target, message) =
                        route(up.expect("has a parent"), Message::Throw(Box::new(e)));
                }
            },
        }
    };
    drop(me);
    let from = CURRENT
        .with(|c| c.replace(Some(target)))
        .expect("current is set");
    IN_FLIGHT.set(Some(InFlight { from, message }));
    context
}

impl Clone for Greenlet {
    fn clone(&self) -> Greenlet {
        Greenlet(self.0.clone())
    }
}

impl PartialEq for Greenlet {
    fn eq(&self, other: &Greenlet) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Greenlet {}

impl Drop for Greenlet {
    /// Dropping the last handle to a suspended greenlet kills it (as Python's garbage
    /// collector does), with the current greenlet as its parent so control comes back
    /// here. A greenlet that survives that keeps its stack forever (leaked, not freed).
    fn drop(&mut self) {
        if Rc::strong_count(&self.0) != 1 || self.0.status.get() != Status::Active {
            return;
        }
        let Ok(here) = CURRENT.try_with(|c| {
            let cur = c.take();
            c.set(cur.clone());
            cur
        }) else {
            return; // thread teardown: Inner's drop leaks the stack
        };
        let Some(here) = here else { return };
        if std::thread::panicking() {
            // We cannot switch mid-unwind: keep it alive and kill it at the next safe
            // point (see `kill_deferred`).
            let _ = DEFERRED_KILLS.try_with(|d| d.borrow_mut().push(self.clone()));
            return;
        }
        let parent = self.0.parent.replace(Some(Greenlet(here)));
        let _ = panic::catch_unwind(AssertUnwindSafe(|| self.kill()));
        if !self.is_dead() {
            // It survived (caught GreenletExit and switched away): as in Python, it
            // keeps its own parent.
            *self.0.parent.borrow_mut() = parent;
        }
        kill_deferred();
    }
}

/// Kills the greenlets whose last handle was dropped during an unwind, now that
/// switching is possible again. Their handles drop here, which kills them.
fn kill_deferred() {
    if std::thread::panicking() {
        return;
    }
    loop {
        let Ok(Some(victim)) = DEFERRED_KILLS.try_with(|d| d.borrow_mut().pop()) else {
            return;
        };
        drop(victim);
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if self.status.get() == Status::Active && self.stack.get_mut().is_some() {
            // Suspended frames live on this stack and may be pointed into: never reuse
            // or unmap it. The name it reports on overflow must stay too.
            std::mem::forget(self.stack.take());
            std::mem::forget(self.name.take());
        }
    }
}

impl fmt::Debug for Greenlet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Greenlet")
            .field("name", &self.0.name)
            .field("status", &self.0.status.get())
            .finish()
    }
}
