//! Workloads for comparing gevent-rs with its peers.
//!
//! Each module holds one benchmark group: the gevent-rs side and every peer, written
//! so that they do the same work and hand the same values to
//! [`black_box`](std::hint::black_box). The criterion benches (`benches/generator.rs`
//! for generators and greenlets, `benches/hub.rs` for the hub) time them in detail;
//! [`ratios`] times them again with plain `Instant` loops and prints the summary table
//! (ours / peer against the target), which `src/bin/ratios.rs` and the end of each
//! criterion run print. Memory per sleeping greenlet is measured in child processes by
//! [`memory`] (`src/bin/memory.rs`).
//!
//! Benchmarks of whole programs are scripts under `bench/scripts/`: `net.sh` runs the
//! example servers against their tokio and std twins ([`net`], `src/bin/net.rs`) under
//! one load client and wrk; `download.sh` runs the `download` example against curl and
//! tokio + reqwest (`bench/peers/reqwest-download`, a standalone crate CI never builds)
//! over a local nginx. `bench/README.md` documents them.
//!
//! Figures are recorded in `docs/BENCHMARKS.md`; timings are never asserted.

pub mod float_state;
pub mod hub_sync;
pub mod hub_tasks;
pub mod memory;
pub mod net;
pub mod ratios;

/// Group 1: one yield + resume round trip of a suspended coroutine.
///
/// Every side keeps one infinite coroutine that hands out a counter; one round trip is
/// "resume it, get the next value back".
pub mod resume {
    use std::hint::black_box;

    use corosensei::{Coroutine, CoroutineResult};
    use gen_core::Generator;

    /// Stack size for the hand-made contexts (the same as gen-core's default).
    const STACK_SIZE: usize = gen_core::DEFAULT_STACK_SIZE;

    /// gevent-rs: an infinite gen-core generator yielding a counter; resume with `next()`.
    pub fn gen_core_counter() -> Generator<'static, u64> {
        Generator::new(|y| {
            let mut i = 0u64;
            loop {
                y.suspend(i);
                i = i.wrapping_add(1);
            }
        })
    }

    /// One round trip of [`gen_core_counter`].
    #[inline]
    pub fn gen_core_step(g: &mut Generator<'static, u64>) -> u64 {
        g.next().expect("the counter never ends")
    }

    /// Peer (reference): a corosensei coroutine yielding a counter, on its own stack
    /// that every round trip reuses.
    pub fn corosensei_counter() -> Coroutine<(), u64, ()> {
        let stack = corosensei::stack::DefaultStack::new(STACK_SIZE).expect("corosensei stack");
        Coroutine::with_stack(stack, |y, ()| {
            let mut i = 0u64;
            loop {
                y.suspend(i);
                i = i.wrapping_add(1);
            }
        })
    }

    /// One round trip of [`corosensei_counter`].
    #[inline]
    pub fn corosensei_step(co: &mut Coroutine<(), u64, ()>) -> u64 {
        match co.resume(()) {
            CoroutineResult::Yield(v) => v,
            CoroutineResult::Return(()) => unreachable!("the counter never ends"),
        }
    }

    /// The floor: two bare `context` contexts ping-ponging on a
    /// `ProtectedFixedSizeStack`. The counter travels in the transfer's `data` word, so
    /// nothing but the two jumps is done.
    pub struct RawContext {
        // Declared first: a `Context` is only a pointer into `stack`, and it is never
        // resumed again once the stack is gone.
        context: Option<context::Context>,
        _stack: context::stack::ProtectedFixedSizeStack,
    }

    extern "C" fn raw_counter(mut t: context::Transfer) -> ! {
        let mut i = 0usize;
        loop {
            // SAFETY: `t.context` is the resumer, suspended in `RawContext::step` on a
            // live stack, and is resumed exactly once.
            t = unsafe { t.context.resume(i) };
            i = i.wrapping_add(1);
        }
    }

    /// [`raw_counter`] serving [`crate::float_state::on_resume`] before each jump back.
    extern "C" fn raw_counter_float(mut t: context::Transfer) -> ! {
        let mut i = 0usize;
        loop {
            crate::float_state::on_resume();
            // SAFETY: as in `raw_counter`.
            t = unsafe { t.context.resume(i) };
            i = i.wrapping_add(1);
        }
    }

    impl RawContext {
        /// A suspended counter context, not started yet.
        pub fn new() -> RawContext {
            RawContext::with_entry(raw_counter)
        }

        /// The same, serving [`crate::float_state::on_resume`].
        pub fn serving_float_requests() -> RawContext {
            RawContext::with_entry(raw_counter_float)
        }

        fn with_entry(entry: context::ContextFn) -> RawContext {
            // The context saves the creator's MXCSR and every jump reloads it: from
            // cleared flags, as every timed run starts, so that the floor measures the
            // jump and not the float-state trap (see `crate::float_state`).
            crate::float_state::clear_status_flags();
            let stack =
                context::stack::ProtectedFixedSizeStack::new(STACK_SIZE).expect("context stack");
            // SAFETY: `stack` is owned by the returned value and outlives the context
            // (see the field order); nothing else runs on it.
            let context = unsafe { context::Context::new(&stack, entry) };
            RawContext {
                context: Some(context),
                _stack: stack,
            }
        }

        /// One round trip: jump in, get the next counter value back.
        #[inline]
        pub fn step(&mut self) -> usize {
            let to = self.context.take().expect("always suspended between steps");
            // SAFETY: `to` is the counter's context on our live stack, suspended in
            // `raw_counter` (or not started), resumed once.
            let t = unsafe { to.resume(0) };
            self.context = Some(t.context);
            t.data
        }
    }

    impl Default for RawContext {
        fn default() -> RawContext {
            RawContext::new()
        }
    }

    // The counter context is abandoned while suspended: its frame holds only integers,
    // so unmapping its stack (when `_stack` drops) skips no destructor.

    /// The floor through gevent-rs's own switch layer (`gen_core::switch` on a
    /// `gen_core::Stack`): the same ping-pong as [`RawContext`]. It shows whether the
    /// wrapper costs anything, separately from the generator's bookkeeping.
    pub struct GenCoreSwitch {
        context: Option<gen_core::switch::Context>,
        _stack: gen_core::Stack,
    }

    extern "C" fn switch_counter(mut t: gen_core::switch::Transfer) -> ! {
        let mut i = 0usize;
        loop {
            // SAFETY: as in `raw_counter`.
            t = unsafe { gen_core::switch::resume(t.context, i) };
            i = i.wrapping_add(1);
        }
    }

    impl GenCoreSwitch {
        /// A suspended counter context, not started yet.
        pub fn new() -> GenCoreSwitch {
            let stack = gen_core::Stack::new(STACK_SIZE).expect("gen-core stack");
            // SAFETY: `stack.top()` is within the stack, which the returned value owns
            // and which outlives the context (field order); nothing else uses it.
            let context = unsafe { gen_core::switch::prepare(&stack, stack.top(), switch_counter) };
            GenCoreSwitch {
                context: Some(context),
                _stack: stack,
            }
        }

        /// One round trip: jump in, get the next counter value back.
        #[inline]
        pub fn step(&mut self) -> usize {
            let to = self.context.take().expect("always suspended between steps");
            // SAFETY: `to` was made by `prepare` or returned by a `resume` on this
            // thread, and its stack is ours and mapped.
            let t = unsafe { gen_core::switch::resume(to, 0) };
            self.context = Some(t.context);
            t.data
        }
    }

    impl Default for GenCoreSwitch {
        fn default() -> GenCoreSwitch {
            GenCoreSwitch::new()
        }
    }

    /// Peer (reference): two OS threads ping-ponging a counter over crossbeam channels.
    pub struct ThreadPingPong {
        to_worker: Option<crossbeam_channel::Sender<u64>>,
        from_worker: crossbeam_channel::Receiver<u64>,
        worker: Option<std::thread::JoinHandle<()>>,
    }

    impl ThreadPingPong {
        /// Starts the worker thread.
        pub fn new() -> ThreadPingPong {
            let (to_worker, rx) = crossbeam_channel::bounded::<u64>(1);
            let (tx, from_worker) = crossbeam_channel::bounded::<u64>(1);
            let worker = std::thread::spawn(move || {
                while let Ok(v) = rx.recv() {
                    if tx.send(v.wrapping_add(1)).is_err() {
                        break;
                    }
                }
            });
            ThreadPingPong {
                to_worker: Some(to_worker),
                from_worker,
                worker: Some(worker),
            }
        }

        /// One round trip: send a value to the worker, wait for its answer.
        #[inline]
        pub fn step(&mut self, v: u64) -> u64 {
            self.to_worker
                .as_ref()
                .expect("worker alive")
                .send(v)
                .expect("worker alive");
            self.from_worker.recv().expect("worker alive")
        }
    }

    impl Default for ThreadPingPong {
        fn default() -> ThreadPingPong {
            ThreadPingPong::new()
        }
    }

    impl Drop for ThreadPingPong {
        fn drop(&mut self) {
            drop(self.to_worker.take());
            if let Some(w) = self.worker.take() {
                let _ = w.join();
            }
        }
    }

    /// Runs `n` round trips of a gen-core generator (for timed loops).
    pub fn gen_core_loop(g: &mut Generator<'static, u64>, n: u64) {
        for _ in 0..n {
            black_box(gen_core_step(g));
        }
    }

    /// Runs `n` round trips of a bare `context` ping-pong (for timed loops).
    pub fn raw_context_loop(c: &mut RawContext, n: u64) {
        for _ in 0..n {
            black_box(c.step());
        }
    }

    /// Runs `n` round trips through `gen_core::switch` (for timed loops).
    pub fn gen_core_switch_loop(c: &mut GenCoreSwitch, n: u64) {
        for _ in 0..n {
            black_box(c.step());
        }
    }

    /// Runs `n` round trips of a corosensei coroutine (for timed loops).
    pub fn corosensei_loop(co: &mut Coroutine<(), u64, ()>, n: u64) {
        for _ in 0..n {
            black_box(corosensei_step(co));
        }
    }

    /// Runs `n` thread ping-pong round trips (for timed loops).
    pub fn thread_loop(t: &mut ThreadPingPong, n: u64) {
        for i in 0..n {
            black_box(t.step(black_box(i)));
        }
    }
}

/// Group 2: iterating many items out of a generator.
///
/// Every side produces `item(i)` for `i` in `0..n` and hands each one to `black_box`,
/// so the native loop can neither be folded into a closed form nor vectorised away.
pub mod iterate {
    use std::hint::black_box;

    use corosensei::{Coroutine, CoroutineResult};
    use gen_core::Generator;

    /// Items per iteration of the group.
    pub const ITEMS: u64 = 10_000_000;

    /// The value produced for index `i` (cheap, but not the identity).
    #[inline(always)]
    pub fn item(i: u64) -> u64 {
        i ^ 0x5555
    }

    /// gevent-rs: a gen-core generator over `0..n`, consumed by a `for` loop.
    pub fn gen_core(n: u64) {
        let g = Generator::new(move |y| {
            for i in 0..n {
                y.suspend(item(i));
            }
        });
        for v in g {
            black_box(v);
        }
    }

    /// The floor: a native `Iterator`, `(0..n).map(item)`.
    pub fn native(n: u64) {
        for v in (0..black_box(n)).map(item) {
            black_box(v);
        }
    }

    /// Peer (reference): a corosensei coroutine over `0..n`.
    pub fn corosensei(n: u64) {
        let mut co = Coroutine::new(move |y, ()| {
            for i in 0..n {
                y.suspend(item(i));
            }
        });
        while let CoroutineResult::Yield(v) = co.resume(()) {
            black_box(v);
        }
    }
}

/// Group 3: the whole life of a short generator: create it, run it (one yield), let it
/// finish, drop it; stacks are reused, not mapped each time.
///
/// The body is `y.suspend(seed); seed + 1`; the driver sums the yield and the return
/// value. gen-core takes its stack from the per-thread pool; corosensei gets a
/// `DefaultStack` kept by the caller and taken back with `into_stack`.
pub mod lifecycle {
    use std::hint::black_box;

    use corosensei::stack::DefaultStack;
    use corosensei::{Coroutine, CoroutineResult};
    use gen_core::Generator;

    /// gevent-rs: a generator with a pooled stack, from creation to drop.
    #[inline]
    pub fn gen_core(seed: u64) -> u64 {
        let mut g = Generator::new(move |y| {
            y.suspend(seed);
            seed + 1
        });
        let mut sum = 0u64;
        for v in g.by_ref() {
            sum = sum.wrapping_add(v);
        }
        sum.wrapping_add(g.take_return_value().expect("finished"))
    }

    /// Peer: corosensei with one `DefaultStack` reused for every coroutine.
    pub struct Corosensei {
        stack: Option<DefaultStack>,
    }

    impl Corosensei {
        /// Maps the stack that every run reuses (the size of gen-core's default).
        pub fn new() -> Corosensei {
            let stack = DefaultStack::new(gen_core::DEFAULT_STACK_SIZE).expect("corosensei stack");
            Corosensei { stack: Some(stack) }
        }

        /// A coroutine on the kept stack, from creation to drop.
        #[inline]
        pub fn run(&mut self, seed: u64) -> u64 {
            let stack = self.stack.take().expect("stack returned after each run");
            let mut co = Coroutine::with_stack(stack, move |y, ()| {
                y.suspend(seed);
                seed + 1
            });
            let mut sum = 0u64;
            loop {
                match co.resume(()) {
                    CoroutineResult::Yield(v) => sum = sum.wrapping_add(v),
                    CoroutineResult::Return(r) => {
                        sum = sum.wrapping_add(r);
                        break;
                    }
                }
            }
            self.stack = Some(co.into_stack());
            sum
        }
    }

    impl Default for Corosensei {
        fn default() -> Corosensei {
            Corosensei::new()
        }
    }

    /// Reference: corosensei mapping a fresh stack every time (`Coroutine::new`),
    /// which is what the pool saves.
    #[inline]
    pub fn corosensei_fresh_stack(seed: u64) -> u64 {
        let mut co = Coroutine::new(move |y, ()| {
            y.suspend(seed);
            seed + 1
        });
        let mut sum = 0u64;
        loop {
            match co.resume(()) {
                CoroutineResult::Yield(v) => sum = sum.wrapping_add(v),
                CoroutineResult::Return(r) => return sum.wrapping_add(r),
            }
        }
    }

    /// Runs `n` gen-core lifecycles (for timed loops).
    pub fn gen_core_loop(n: u64) {
        for i in 0..n {
            black_box(gen_core(black_box(i)));
        }
    }

    /// Runs `n` corosensei lifecycles on the kept stack (for timed loops).
    pub fn corosensei_loop(c: &mut Corosensei, n: u64) {
        for i in 0..n {
            black_box(c.run(black_box(i)));
        }
    }
}

/// Group: greenlet switch round trip A -> B -> A (two symmetric switches), against the
/// same peers as the generator round trip in [`resume`].
pub mod switch {
    use std::hint::black_box;

    use greenlet::{Greenlet, getcurrent};

    /// A greenlet that switches straight back to the root each time it is switched to.
    pub struct PingPong {
        partner: Greenlet,
    }

    impl PingPong {
        /// Makes the partner on the current (root) greenlet and starts it once.
        pub fn new() -> PingPong {
            let root = getcurrent();
            let partner = Greenlet::new(move |_| {
                loop {
                    black_box(root.switch(()).expect("the root greenlet never dies"));
                }
            });
            let pp = PingPong { partner };
            pp.step();
            pp
        }

        /// One round trip: root -> partner -> root.
        #[inline]
        pub fn step(&self) {
            black_box(self.partner.switch(()).expect("the partner never finishes"));
        }
    }

    impl Default for PingPong {
        fn default() -> PingPong {
            PingPong::new()
        }
    }

    /// `n` round trips.
    pub fn greenlet_loop(p: &PingPong, n: u64) {
        for _ in 0..n {
            p.step();
        }
    }
}
