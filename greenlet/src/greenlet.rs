//! The greenlet handle and the symmetric switch.
//!
//! How control moves: the switching greenlet puts a [`Handoff`] (its message, and its
//! own reference as `from`) on its stack, makes the target current and jumps to the
//! target's saved context with a pointer to the handoff as the jump's data word.
//! Whoever lands, either in a pending `switch` or at the entry of a new greenlet, calls
//! [`receive`]: it moves the handoff out, files the context the jump handed over under
//! `from` (or, if `from` just died, returns its stack to the pool) and takes the
//! message.
//!
//! `CURRENT` owns one reference to the running greenlet; a switch moves it along with
//! control (the target's count goes up, the sender's down on landing). A switch to a
//! suspended greenlet, the hot path, is a few plain loads and stores around the jump:
//! no handle is cloned, nothing else goes through a thread-local, and everything rare
//! (starting, dying, throwing, routing to a parent, errors) is out of line.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
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
    /// Where a suspended greenlet continues: set exactly while it is suspended in a
    /// switch (never while it runs, before it starts or once it is dead).
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

/// What a switch hands over. It lives on the sender's stack; the jump's data word
/// points at it, and the receiver moves it out before anything else runs. It is a few
/// plain words, not a [`Message`]: an enum is copied as a block, and the narrower loads
/// that follow such a copy stall. Whether a panic was thrown, and whether the sender
/// has just died, ride in the low bits of `from`, so a plain switch reads one word to
/// learn that neither happened.
struct Handoff {
    /// The sender (the reference `CURRENT` held while it ran, now the receiver's),
    /// tagged with [`THROWN`] and [`DIED`].
    from: *const Inner,
    /// The value sent; `()` for a throw.
    value: Value,
    /// Set only when `from` is tagged [`THROWN`]: a panic to raise at the receiver's
    /// switch point.
    thrown: MaybeUninit<Payload>,
}

/// Tag of [`Handoff::from`]: `thrown` holds a panic.
const THROWN: usize = 0b01;
/// Tag of [`Handoff::from`]: the sender has finished; this was its last jump.
const DIED: usize = 0b10;
const _: () = assert!(align_of::<Inner>() > (THROWN | DIED));

impl Handoff {
    #[inline(always)]
    fn new(from: *const Inner, message: Message, died: bool) -> Handoff {
        let died = if died { DIED } else { 0 };
        match message {
            Message::Value(value) => Handoff {
                from: from.map_addr(|a| a | died),
                value,
                thrown: MaybeUninit::uninit(),
            },
            Message::Throw(payload) => Handoff {
                from: from.map_addr(|a| a | died | THROWN),
                value: Value::none(),
                thrown: MaybeUninit::new(payload),
            },
        }
    }
}

thread_local! {
    /// The running greenlet, as a reference (`Rc::into_raw`) this slot owns; null until
    /// the root greenlet is made on first use. Plain data, so reaching it costs no
    /// lazy-initialisation check.
    static CURRENT: Cell<*const Inner> = const { Cell::new(ptr::null()) };
    /// Drops `CURRENT`'s reference when the thread exits (see `make_root`).
    static RELEASE_CURRENT: ReleaseCurrent = const { ReleaseCurrent };
    /// Greenlets to kill once the current unwind is over (see `Drop for Greenlet`).
    static DEFERRED_KILLS: RefCell<Vec<Greenlet>> = const { RefCell::new(Vec::new()) };
}

struct ReleaseCurrent;

impl Drop for ReleaseCurrent {
    fn drop(&mut self) {
        let current = CURRENT.replace(ptr::null());
        if !current.is_null() {
            // SAFETY: `CURRENT` owned this reference; the slot is null now, so it is
            // released once.
            drop(unsafe { Rc::from_raw(current) });
        }
    }
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

/// A new reference to the running greenlet.
fn current() -> Rc<Inner> {
    let current = current_ptr();
    // SAFETY: `CURRENT` holds a reference, so the greenlet is alive; this adds another.
    unsafe {
        Rc::increment_strong_count(current);
        Rc::from_raw(current)
    }
}

/// The running greenlet, borrowed from `CURRENT` (valid until the next switch).
#[inline(always)]
fn current_ptr() -> *const Inner {
    let current = CURRENT.get();
    if current.is_null() {
        make_root()
    } else {
        current
    }
}

/// Makes this thread's root greenlet the current one.
#[cold]
#[inline(never)]
fn make_root() -> *const Inner {
    // The thread's greenlet state is first used here: touch all of it now. Thread-local
    // destructors run in the reverse order of first use, so it then outlives whatever
    // is built on greenlets later and torn down at thread exit (a hub, say).
    // Once the release has run (a destructor of another thread-local using greenlets
    // late in the thread's teardown), the new root is leaked instead: that is a small
    // allocation, at thread exit only.
    let _ = RELEASE_CURRENT.try_with(|_| ());
    let _ = DEFERRED_KILLS.try_with(|_| ());
    let _ = StackPool::try_with(|_| ());
    let root = Rc::into_raw(root());
    CURRENT.set(root);
    root
}

fn root() -> Rc<Inner> {
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
        deliver(&self.0, || Message::Value(Value::new(value)))
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
        deliver(&self.0, || Message::Throw(payload))
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
        ptr::eq(CURRENT.get(), Rc::as_ptr(&self.0))
    }

    /// Cache hint for a scheduler that knows this greenlet runs soon: starts loading
    /// its record, without reading it. See [`prefetch_stack`](Self::prefetch_stack).
    #[inline]
    pub fn prefetch_record(&self) {
        // Two lines: the reference counts and first fields, and the saved context,
        // which the layout puts 64 bytes or more further on.
        switch::prefetch_line(Rc::as_ptr(&self.0));
        switch::prefetch_line(self.0.context.as_ptr());
    }

    /// Cache hint for a scheduler that knows this greenlet runs next: starts loading
    /// the top of its suspended stack, which the switch into it reads first. With
    /// thousands of greenlets taking turns that memory has left the cache, and the
    /// switch would wait for it. Reads the record: call
    /// [`prefetch_record`](Self::prefetch_record) a step earlier.
    #[inline]
    pub fn prefetch_stack(&self) {
        let context = self.0.context.take();
        if let Some(context) = &context {
            switch::prefetch(context);
        }
        self.0.context.set(context);
    }

    /// The name given with [`Builder::name`] (`"root"` for a root greenlet).
    pub fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }
}

/// Sends `message` to `target`, or to the nearest ancestor able to take it.
///
/// The common case, a switch to a suspended greenlet, is handled here; everything else
/// (starting, dead targets, routing to a parent, errors) by [`deliver_slow`].
/// The message is made by `message` in the branch that sends it, so the fast path
/// writes it straight into the handoff instead of copying it there.
#[inline(always)]
fn deliver(target: &Rc<Inner>, message: impl FnOnce() -> Message) -> Result<Value, SwitchError> {
    // A greenlet has a saved context exactly when it is suspended in a switch: one
    // load tells that the target is alive, started, and not the running greenlet.
    let ready = !CURRENT.get().is_null() && !std::thread::panicking();
    if let Some(context) = ready.then(|| target.context.take()).flatten() {
        let target = Rc::as_ptr(target);
        // SAFETY: `target` is alive (the caller's handle); `CURRENT` gets its own
        // reference, which `jump` hands on.
        unsafe { Rc::increment_strong_count(target) };
        return Ok(jump(target, context, message()));
    }
    deliver_slow(target, message())
}

#[inline(never)]
fn deliver_slow(target: &Rc<Inner>, message: Message) -> Result<Value, SwitchError> {
    // The thread's panic state cannot follow a half-finished unwind to another stack.
    if std::thread::panicking() {
        return Err(SwitchError::Unwinding);
    }
    let me = current_ptr();
    if ptr::eq(me, Rc::as_ptr(target)) {
        return Ok(settle(message));
    }
    if target.status.get() == Status::Dead {
        return Err(SwitchError::Dead);
    }
    let (target, message) = route(target.clone(), message);
    if ptr::eq(me, Rc::as_ptr(&target)) {
        return Ok(settle(message));
    }
    let context = match target.status.get() {
        Status::Active => target
            .context
            .take()
            .expect("a suspended greenlet has a context"),
        _ => start(&target)?,
    };
    Ok(jump(Rc::into_raw(target), context, message))
}

/// Walks from `target` up to the greenlet that will really receive `message`: dead
/// greenlets are skipped, and a greenlet that has not started dies without running
/// when a panic is sent to it, passing the panic on to its own parent.
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
        Message::Throw(p) => raise(p),
    }
}

#[cold]
#[inline(never)]
fn raise(payload: Payload) -> ! {
    panic::resume_unwind(payload)
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

/// Makes `target` (a reference the caller gives up) current and jumps to `context`,
/// its saved point; returns when something switches back.
#[inline(always)]
fn jump(target: *const Inner, context: Context, message: Message) -> Value {
    let from = CURRENT.replace(target);
    let mut handoff = ManuallyDrop::new(Handoff::new(from, message, false));
    // SAFETY: `context` belongs to a live greenlet whose stack is mapped (greenlets
    // own their stacks until they die), and it is consumed here, once. The receiver
    // moves `handoff` out while this frame is suspended, and we never touch it again.
    let t = unsafe { switch::resume(context, (&raw mut handoff) as usize) };
    receive(t)
}

/// Lands a switch: files the context we jumped from under the greenlet that made the
/// jump and takes the value it sent. A throw or a sender's death is left to
/// [`receive_rare`].
#[inline(always)]
fn receive(t: Transfer) -> Value {
    let handoff = t.data as *const Handoff;
    // SAFETY: every jump between greenlets passes a pointer to the sender's `Handoff`
    // (see `jump` and `entry`), which stays in place, untouched, until the receiver
    // moves it out, once: here, or (`thrown`) in `receive_rare`.
    let (from, value) = unsafe { ((*handoff).from, ptr::read(&raw const (*handoff).value)) };
    if from.addr() & (THROWN | DIED) != 0 {
        return receive_rare(t.context, handoff, from, value);
    }
    // SAFETY: untagged, `from` is the reference `CURRENT` held for the sender, now ours.
    let from = unsafe { Rc::from_raw(from) };
    from.context.set(Some(t.context));
    release(from);
    value
}

/// The rest of [`receive`]: frees the stack of a sender that has just died, and raises
/// a thrown panic.
#[cold]
#[inline(never)]
fn receive_rare(
    context: Context,
    handoff: *const Handoff,
    tagged: *const Inner,
    value: Value,
) -> Value {
    let thrown = (tagged.addr() & THROWN != 0).then(|| {
        // SAFETY: the sender wrote `thrown` when it tagged `from` THROWN, and nothing
        // has moved it out yet; its stack is still in place (freed only below).
        unsafe { (*handoff).thrown.assume_init_read() }
    });
    // SAFETY: untagged, `from` is the reference `CURRENT` held for the sender, now ours.
    let from = unsafe { Rc::from_raw(tagged.map_addr(|a| a & !(THROWN | DIED))) };
    if tagged.addr() & DIED != 0 {
        // Its last frame jumped here and nothing runs on its stack any more.
        if let Some(stack) = from.stack.take() {
            // Late in the thread's exit the pool is gone: the stack is unmapped instead.
            let _ = StackPool::try_with(move |p| p.give(stack));
        }
    } else {
        from.context.set(Some(context));
    }
    release(from);
    match thrown {
        Some(payload) => raise(payload),
        None => value,
    }
}

/// Drops the reference to the greenlet that switched here.
#[inline(always)]
fn release(from: Rc<Inner>) {
    if Rc::strong_count(&from) == 1 {
        drop_last(from);
    }
    // Otherwise dropping `from` only decrements its count.
}

/// Drops the last reference to a greenlet that switched away: a suspended one is
/// killed (see `Drop for Greenlet`), a dead one freed.
#[cold]
#[inline(never)]
fn drop_last(last: Rc<Inner>) {
    drop(Greenlet(last));
}

/// The first frame of every greenlet's stack.
extern "C" fn entry(t: Transfer) -> ! {
    let (context, handoff) = run(t);
    let mut handoff = ManuallyDrop::new(handoff);
    // SAFETY: `run` has dropped everything it owned; `handoff` holds our message and
    // our (now dead) reference, and the receiver frees this stack only after moving it
    // out. Nothing ever resumes this context.
    unsafe { switch::resume(context, (&raw mut handoff) as usize) };
    unreachable!("a dead greenlet was resumed");
}

/// Runs the body, then routes its outcome to the parent; returns where to jump and
/// what to hand over.
fn run(t: Transfer) -> (Context, Handoff) {
    // Hold no reference to ourselves while the body runs: dropping the last handle to
    // a suspended greenlet must be able to kill it.
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        let value = receive(t);
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
    let from = CURRENT.replace(Rc::into_raw(target));
    (context, Handoff::new(from, message, true))
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
        if CURRENT.get().is_null() {
            return; // thread teardown: Inner's drop leaks the stack
        }
        let here = current();
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
