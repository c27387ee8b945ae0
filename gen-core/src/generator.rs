//! The stackful generator: a closure on its own stack, suspended by a [`Yielder`].

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};

use iter_core::{Resume, ResumeError, State};

use crate::stack::{self, DEFAULT_STACK_SIZE, Stack, StackError};
use crate::switch::{self, Context, Transfer};

/// A panic payload, as carried by `std::panic`.
pub type Payload = Box<dyn Any + Send + 'static>;

/// The unwind payload that [`Generator::close`] raises at the suspension point
/// (Python's `GeneratorExit`). Code that catches unwinds inside a generator should let
/// this one continue (`std::panic::resume_unwind`), or the generator refuses to close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneratorExit;

/// Closures larger than this are boxed instead of stored at the top of the stack.
const MAX_INLINE_CLOSURE: usize = 1024;

/// What the resumer hands in.
enum Input<S> {
    Send(Option<S>),
    Throw(Payload),
    Exit,
}

/// The slots shared by a generator and its yielder during one resume. `repr(C)` with
/// the yielder's part first, so a pointer to the whole is a pointer to that part.
#[repr(C)]
struct Exchange<Y, R, S> {
    mailbox: Mailbox<Y, S>,
    /// Where the closure waits for the first resume, until the entry moves it out.
    closure: *mut (),
    result: Option<Outcome<R>>,
}

#[repr(C)]
struct Mailbox<Y, S> {
    input: Option<Input<S>>,
    yielded: Option<Y>,
}

/// How a generator's run ended.
enum Outcome<R> {
    Returned(R),
    Panicked(Payload),
    Exited,
}

/// Suspends the generator it was handed to; see [`Yielder::suspend`].
pub struct Yielder<Y, S = ()> {
    caller: Cell<Option<Context>>,
    mailbox: Cell<*mut Mailbox<Y, S>>,
}

impl<Y, S> Yielder<Y, S> {
    /// Suspends the generator, handing `value` to whoever resumed it. Returns what the
    /// next resume sends in: `Some(v)` for `send(v)`, `None` for `next()` (Python's
    /// `x = yield value`).
    ///
    /// If the next resume is a [`Generator::throw`] or [`Generator::close`], this
    /// unwinds instead, with the thrown payload or [`GeneratorExit`].
    ///
    /// # Aborts
    /// If called while the generator is being unwound (from a destructor running during
    /// `close`, drop or a panic): the thread's panic state cannot follow a suspended
    /// unwind to the resumer, so this prints why and aborts the process.
    pub fn suspend(&self, value: Y) -> Option<S> {
        if std::thread::panicking() {
            eprintln!(
                "fatal: a generator tried to suspend while it was being unwound (closed, dropped or panicking)"
            );
            std::process::abort();
        }
        let caller = self
            .caller
            .take()
            .expect("Yielder::suspend called outside its generator");
        // SAFETY: the mailbox pointer was refreshed when we were last resumed, and the
        // generator that owns it is blocked in `resume` until we jump back.
        unsafe { (*self.mailbox.get()).yielded = Some(value) };
        // SAFETY: `caller` was handed to us by the resumer, whose stack is live (it
        // is waiting for us), and we resume it exactly once.
        let t = unsafe { switch::resume(caller, 0) };
        self.caller.set(Some(t.context));
        let mailbox = t.data as *mut Mailbox<Y, S>;
        self.mailbox.set(mailbox);
        // SAFETY: the resumer passed a pointer to its live exchange with an input set.
        match unsafe { (*mailbox).input.take() } {
            Some(Input::Send(v)) => v,
            Some(Input::Throw(payload)) => panic::resume_unwind(payload),
            Some(Input::Exit) | None => panic::resume_unwind(Box::new(GeneratorExit)),
        }
    }
}

impl<Y, S> fmt::Debug for Yielder<Y, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Yielder { .. }")
    }
}

/// A stackful generator: runs a closure on its own stack, which suspends itself with
/// [`Yielder::suspend`] and finishes by returning a value.
///
/// - `Y`: what it yields; `R`: what it returns; `S`: what [`Generator::send`] passes in.
/// - It is an [`Iterator`] over its yields (each `next` is Python's `next(gen)`); after
///   the last item, [`Generator::return_value`] holds what it returned.
/// - It is bound to its thread (`!Send`), like everything on its stack.
///
/// Dropping a suspended generator closes it (see [`Generator::close`]) so destructors
/// on its stack run. A generator that catches [`GeneratorExit`] and yields again cannot
/// be finished: dropping it leaves it suspended forever, with its stack leaked (never
/// reused or unmapped) and a warning on stderr. That costs memory but keeps every
/// borrow it holds sound, as `std::mem::forget` does.
pub struct Generator<'a, Y, R = (), S = ()> {
    /// Where the coroutine continues: `Some` while not started or suspended.
    context: Option<Context>,
    stack: Option<Stack>,
    started: bool,
    exchange: Exchange<Y, R, S>,
    returned: Option<R>,
    name: Option<Box<str>>,
    _marker: PhantomData<Markers<'a, Y, R, S>>,
}

/// Borrows for `'a`, is `!Send` (raw pointer), and is covariant in `Y`/`R` and
/// contravariant in `S`, as a function taking `S` and giving `Y` and `R`.
type Markers<'a, Y, R, S> = (&'a mut (), *mut (), fn(S) -> (Y, R));

/// Options for making a generator: its name and stack size.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// Options with the defaults: no name, a [`DEFAULT_STACK_SIZE`] stack.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the generator; a stack overflow report says this name.
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Usable stack size in bytes (rounded up to whole pages).
    pub fn stack_size(mut self, size: usize) -> Builder {
        self.stack_size = Some(size);
        self
    }

    /// Makes the generator. Fails only if no stack can be had.
    pub fn build<'a, Y, R, S, F>(self, f: F) -> Result<Generator<'a, Y, R, S>, StackError>
    where
        F: FnOnce(&Yielder<Y, S>) -> R + 'a,
    {
        if size_of::<F>() > MAX_INLINE_CLOSURE {
            let boxed = Box::new(f);
            self.build_inline(move |y: &Yielder<Y, S>| boxed(y))
        } else {
            self.build_inline(f)
        }
    }

    fn build_inline<'a, Y, R, S, F>(self, f: F) -> Result<Generator<'a, Y, R, S>, StackError>
    where
        F: FnOnce(&Yielder<Y, S>) -> R + 'a,
    {
        let stack = stack::take(self.stack_size.unwrap_or(DEFAULT_STACK_SIZE))?;
        let name = self.name.map(String::into_boxed_str);
        stack.set_name(name.as_deref());
        // SAFETY: the stack is fresh from the pool, so nothing runs on it; the entry
        // moves the closure out exactly once, on the first resume.
        let (closure, top) = unsafe { switch::place(&stack, f) };
        // SAFETY: `top` is inside `stack`, which the generator owns until the coroutine
        // has finished, so the context never outlives its stack.
        let context = unsafe { switch::prepare(&stack, top, entry::<F, Y, R, S>) };
        Ok(Generator {
            context: Some(context),
            stack: Some(stack),
            started: false,
            exchange: Exchange {
                mailbox: Mailbox {
                    input: None,
                    yielded: None,
                },
                closure: closure.cast(),
                result: None,
            },
            returned: None,
            name,
            _marker: PhantomData,
        })
    }
}

/// First code to run on a generator's stack.
extern "C" fn entry<F, Y, R, S>(t: Transfer) -> !
where
    F: FnOnce(&Yielder<Y, S>) -> R,
{
    let (caller, exchange) = run::<F, Y, R, S>(t);
    // Everything `run` owned has been dropped; only plain values are left on this
    // stack, so the resumer may reuse or unmap it as soon as we jump away.
    // SAFETY: `caller` is the live context of the resumer waiting for us; it never
    // resumes this finished context again.
    unsafe { switch::resume(caller, exchange as usize) };
    unreachable!("a finished generator was resumed");
}

fn run<F, Y, R, S>(t: Transfer) -> (Context, *mut Exchange<Y, R, S>)
where
    F: FnOnce(&Yielder<Y, S>) -> R,
{
    let exchange = t.data as *mut Exchange<Y, R, S>;
    // SAFETY: the first resume passes the generator's exchange, whose `closure` points
    // at the `F` placed on this stack, not yet moved out.
    let (closure, input) = unsafe {
        (
            (*exchange).closure.cast::<F>().read(),
            (*exchange).mailbox.input.take(),
        )
    };
    let yielder = Yielder {
        caller: Cell::new(Some(t.context)),
        mailbox: Cell::new(exchange.cast()),
    };
    let outcome = match input {
        Some(Input::Send(_)) => match panic::catch_unwind(AssertUnwindSafe(|| closure(&yielder))) {
            Ok(r) => Outcome::Returned(r),
            Err(p) if p.is::<GeneratorExit>() => Outcome::Exited,
            Err(p) => Outcome::Panicked(p),
        },
        // Closed or thrown into before it started: the body never runs.
        Some(Input::Throw(p)) => {
            drop(closure);
            Outcome::Panicked(p)
        }
        Some(Input::Exit) | None => {
            drop(closure);
            Outcome::Exited
        }
    };
    // The generator may have moved between resumes: use the latest exchange.
    let exchange = yielder.mailbox.get().cast::<Exchange<Y, R, S>>();
    // SAFETY: the resumer is blocked in `resume` with this exchange borrowed for us.
    unsafe { (*exchange).result = Some(outcome) };
    let caller = yielder
        .caller
        .take()
        .expect("a generator's caller is known while it runs");
    (caller, exchange)
}

/// Why [`Generator::close`] failed: the generator caught [`GeneratorExit`] and yielded
/// this value instead of finishing (Python: "generator ignored GeneratorExit").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredExit<Y>(pub Y);

impl<Y> fmt::Display for IgnoredExit<Y> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("generator ignored GeneratorExit")
    }
}

impl<Y: fmt::Debug> std::error::Error for IgnoredExit<Y> {}

impl<'a, Y, R> Generator<'a, Y, R, ()> {
    /// Makes a generator running `f` on a pooled stack of the default size. It is driven
    /// by iteration only (`next`); use [`Generator::with_send`] to also send values in.
    ///
    /// # Panics
    /// If no stack can be had (see [`StackError`]); use [`Builder::build`] to get the
    /// error instead.
    pub fn new(f: impl FnOnce(&Yielder<Y>) -> R + 'a) -> Self {
        Generator::with_send(f)
    }
}

impl<'a, Y, R, S> Generator<'a, Y, R, S> {
    /// Makes a generator that also receives values of type `S` through
    /// [`Generator::send`] (Python's PEP 342 coroutine).
    ///
    /// # Panics
    /// If no stack can be had (see [`StackError`]); use [`Builder::build`] to get the
    /// error instead.
    pub fn with_send(f: impl FnOnce(&Yielder<Y, S>) -> R + 'a) -> Self {
        match Builder::new().build(f) {
            Ok(g) => g,
            Err(e) => panic!("{e}"),
        }
    }

    /// Sends `value` in: the pending `suspend` returns `Some(value)` (Python's
    /// `gen.send(value)`). A generator that has not started has no pending `suspend`
    /// to receive it: that is [`ResumeError::NotStarted`], with the value handed back.
    ///
    /// A panic inside the generator is re-raised here with its original payload.
    pub fn send(&mut self, value: S) -> Result<State<Y, R>, ResumeError<S>> {
        if !self.started && self.context.is_some() {
            return Err(ResumeError::NotStarted(value));
        }
        self.resume(Some(value))
            .map_err(|e| ResumeError::Finished(e.into_inner().expect("sent Some")))
    }

    /// Raises `error` inside the generator at its suspension point, as a panic with that
    /// payload (Python's `gen.throw`). The generator may catch it and yield again or
    /// return; otherwise it finishes and the payload is re-raised here.
    ///
    /// As in Python, throwing into a generator that has not started finishes it without
    /// running its body, and the payload is re-raised here.
    pub fn throw<E: Any + Send>(&mut self, error: E) -> Result<State<Y, R>, ResumeError<E>> {
        if self.context.is_none() {
            return Err(ResumeError::Finished(error));
        }
        Ok(self.switch_in(Input::Throw(Box::new(error))).into_state())
    }

    /// Closes the generator (Python's `gen.close()`): unwinds it from its suspension
    /// point with [`GeneratorExit`], so destructors on its stack run. Closing a
    /// generator that has not started, or has finished, just marks it finished.
    ///
    /// A panic other than `GeneratorExit` escaping the generator is re-raised here.
    pub fn close(&mut self) -> Result<(), IgnoredExit<Y>> {
        if self.context.is_none() {
            return Ok(());
        }
        match self.switch_in(Input::Exit) {
            Resumed::Yielded(y) => Err(IgnoredExit(y)),
            Resumed::Returned(r) => {
                self.returned = Some(r);
                Ok(())
            }
            Resumed::Exited => Ok(()),
        }
    }

    /// True once the generator has run up to its first suspension (or further).
    pub fn is_started(&self) -> bool {
        self.started
    }

    /// True once the generator has returned, panicked or been closed.
    pub fn is_finished(&self) -> bool {
        self.context.is_none()
    }

    /// The value the generator returned, once [`Iterator::next`] (or `for`) has
    /// reached its end, or [`close`](Self::close) saw it return. When
    /// [`send`](Self::send), [`throw`](Self::throw) or [`Resume::resume`] finish it,
    /// they hand the value out in [`State::Complete`] instead (Python's
    /// `StopIteration.value`) and it is not kept here: match on their result.
    ///
    /// ```
    /// use gen_core::{Generator, Resume, State, Yielder};
    /// let mut adder = Generator::with_send(|y: &Yielder<u32, u32>| {
    ///     let mut total = 0;
    ///     while let Some(n) = y.suspend(total) {
    ///         total += n;
    ///     }
    ///     format!("total {total}")
    /// });
    /// // One loop drives it with `next` (None) and `send` (Some): `Resume<Option<S>>`.
    /// let mut returned = None;
    /// for arg in [None, Some(2), Some(3), None] {
    ///     match adder.resume(arg).unwrap() {
    ///         State::Yielded(total) => println!("running total {total}"),
    ///         State::Complete(r) => returned = Some(r), // the return value is here
    ///     }
    /// }
    /// assert_eq!(returned.as_deref(), Some("total 5"));
    /// assert_eq!(adder.return_value(), None, "handed out, not kept");
    /// ```
    pub fn return_value(&self) -> Option<&R> {
        self.returned.as_ref()
    }

    /// Takes the value the generator returned, once iteration has reached its end.
    pub fn take_return_value(&mut self) -> Option<R> {
        self.returned.take()
    }

    /// The name given with [`Builder::name`].
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Jumps into the coroutine with `input` and collects how it came back.
    ///
    /// Always inlined, so `input` is written straight into the mailbox (no 24-byte
    /// copy through a temporary, which stalled store-to-load forwarding), and so the
    /// caller's loop has no `ret` between the switch and its next iteration (the
    /// `context` jumps leave the return-stack predictor unbalanced).
    #[inline(always)]
    fn switch_in(&mut self, input: Input<S>) -> Resumed<Y, R> {
        let context = self
            .context
            .take()
            .expect("switch_in on a finished generator");
        self.started = true;
        self.exchange.mailbox.input = Some(input);
        let exchange = &mut self.exchange as *mut Exchange<Y, R, S>;
        // SAFETY: `context` belongs to our stack, which is still mapped (we own it);
        // `exchange` stays valid and unaliased while we are blocked here.
        let t = unsafe { switch::resume(context, exchange as usize) };
        if let Some(y) = self.exchange.mailbox.yielded.take() {
            self.context = Some(t.context);
            return Resumed::Yielded(y);
        }
        self.finished()
    }

    /// The coroutine finished: recycles its stack and collects its outcome. Kept out
    /// of line so the inlined `switch_in` stays small.
    #[cold]
    #[inline(never)]
    fn finished(&mut self) -> Resumed<Y, R> {
        // The coroutine finished and nothing runs on its stack any more.
        if let Some(stack) = self.stack.take() {
            stack::give(stack);
        }
        match self
            .exchange
            .result
            .take()
            .expect("a finished generator leaves an outcome")
        {
            Outcome::Returned(r) => Resumed::Returned(r),
            Outcome::Exited => Resumed::Exited,
            Outcome::Panicked(p) => panic::resume_unwind(p),
        }
    }
}

/// How one switch into the coroutine came back, panics already re-raised.
enum Resumed<Y, R> {
    Yielded(Y),
    Returned(R),
    Exited,
}

impl<Y, R> Resumed<Y, R> {
    fn into_state(self) -> State<Y, R> {
        match self {
            Resumed::Yielded(y) => State::Yielded(y),
            Resumed::Returned(r) => State::Complete(r),
            // A GeneratorExit that ended the generator outside `close` (thrown in, or
            // raised by its body) propagates to the resumer, as in Python.
            Resumed::Exited => panic::resume_unwind(Box::new(GeneratorExit)),
        }
    }
}

impl<Y, R, S> Resume<Option<S>> for Generator<'_, Y, R, S> {
    type Yield = Y;
    type Return = R;

    /// `None` is Python's `next(gen)`, `Some(v)` its `gen.send(v)`.
    #[inline(always)]
    fn resume(&mut self, arg: Option<S>) -> Result<State<Y, R>, ResumeError<Option<S>>> {
        if self.context.is_none() {
            return Err(ResumeError::Finished(arg));
        }
        if !self.started && arg.is_some() {
            return Err(ResumeError::NotStarted(arg));
        }
        Ok(self.switch_in(Input::Send(arg)).into_state())
    }
}

impl<Y, R, S> Iterator for Generator<'_, Y, R, S> {
    type Item = Y;

    #[inline(always)]
    fn next(&mut self) -> Option<Y> {
        match self.resume(None) {
            Ok(State::Yielded(y)) => Some(y),
            Ok(State::Complete(r)) => {
                self.returned = Some(r);
                None
            }
            Err(_) => None,
        }
    }
}

impl<Y, R, S> std::iter::FusedIterator for Generator<'_, Y, R, S> {}

impl<Y, R, S> Drop for Generator<'_, Y, R, S> {
    fn drop(&mut self) {
        if self.context.is_none() {
            return;
        }
        let closed = if std::thread::panicking() {
            // Already unwinding: a second panic would abort, so contain it.
            panic::catch_unwind(AssertUnwindSafe(|| self.close().is_ok())).unwrap_or(true)
        } else {
            self.close().is_ok()
        };
        if !closed {
            eprintln!(
                "warning: generator {} ignored GeneratorExit when dropped; \
                 it stays suspended and its stack is leaked",
                self.name.as_deref().unwrap_or("<unnamed>")
            );
            // Its frames may still point into this stack or its name: keep both forever.
            std::mem::forget(self.stack.take());
            std::mem::forget(self.name.take());
            self.context = None;
        }
    }
}

impl<Y, R, S> fmt::Debug for Generator<'_, Y, R, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Generator")
            .field("name", &self.name)
            .field("started", &self.started)
            .field("finished", &self.is_finished())
            .finish()
    }
}
