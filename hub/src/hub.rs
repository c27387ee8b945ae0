//! The loop: one per thread, running in its own greenlet.
//!
//! Every blocking call parks the calling task and switches to the hub greenlet; the
//! loop runs what is ready, polls mio for I/O until the next timer is due, fires
//! timers, and switches back into whichever task a wake-up made ready.

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use greenlet::{Greenlet, GreenletExit, Value};
use mio::{Events, Poll, Token};

use crate::io::IoTable;
use crate::remote::RemoteQueue;
use crate::task::{LinkCall, Task};
use crate::timer::{TimerAction, Timers};
use crate::wait::Wake;

pub(crate) const WAKER_TOKEN: Token = Token(usize::MAX);

/// Work the loop will do on its next turn, in FIFO order.
pub(crate) enum Ready {
    /// First switch into a spawned task.
    Start(Rc<Task>),
    /// A parked task was woken: switch back into it if that wait is still current.
    Resume(Rc<Task>, u64),
    /// Raise a payload inside a task (kill).
    Throw(Rc<Task>, gen_core::Payload),
    /// Run a function on the hub.
    Call(Box<dyn FnOnce()>),
    /// Run a finished task's link callback on the hub.
    Link(Box<dyn LinkCall>),
}

/// The per-thread event loop. Reach it with [`Hub::current`]; it starts running the
/// first time some greenlet on the thread blocks.
pub struct Hub {
    pub(crate) greenlet: Greenlet,
    pub(crate) poll: RefCell<Poll>,
    pub(crate) ready: RefCell<VecDeque<Ready>>,
    pub(crate) timers: RefCell<Timers>,
    pub(crate) io: IoTable,
    pub(crate) remote: RemoteQueue,
    /// The task running now; `None` while the hub itself runs.
    pub(crate) current: RefCell<Option<Rc<Task>>>,
    pub(crate) root: Rc<Task>,
    max_blocking: Cell<Option<Duration>>,
    /// Tasks spawned and not finished: for the "would block forever" test and stats.
    pub(crate) live_tasks: Cell<usize>,
    /// Every task record alive, finished or not (each knows its index): what the
    /// teardown at thread exit kills.
    pub(crate) tasks: RefCell<Vec<Weak<Task>>>,
    /// Numbers tasks for their tracing spans.
    next_task_id: Cell<u64>,
    /// Turns run without polling I/O because tasks were ready (see `poll_once`).
    turns_without_poll: Cell<u32>,
}

/// While tasks are ready, the loop polls I/O only every this many turns: a hand-off
/// between two greenlets then costs no system call, and I/O still waits at most this
/// many turns of the ready queue.
const TURNS_PER_POLL: u32 = 64;

/// Ready-queue capacity kept after a burst (a mass spawn) has drained; the rest is
/// given back, so 100k greenlets spawned at once do not pin 3 MiB for good.
const READY_CAPACITY_KEPT: usize = 1024;

thread_local! {
    static HUB: HubSlot = HubSlot::new();
}

/// The thread's hub, torn down when the thread exits (see [`Hub::tear_down`]).
struct HubSlot(OnceCell<Rc<Hub>>);

impl HubSlot {
    fn new() -> HubSlot {
        // Thread-local destructors run in the reverse order of first use: touching the
        // greenlet runtime's thread state before ours keeps it alive for our teardown.
        greenlet::getcurrent();
        HubSlot(OnceCell::new())
    }
}

impl Drop for HubSlot {
    fn drop(&mut self) {
        if let Some(hub) = self.0.take() {
            hub.tear_down();
        }
    }
}

impl Hub {
    /// This thread's hub, made on first use.
    pub fn current() -> Rc<Hub> {
        HUB.with(|h| h.0.get_or_init(Hub::new).clone())
    }

    /// This thread's hub, made on first use; [`Error::HubGone`] once the thread is
    /// exiting (what a destructor run by the teardown gets if it tries to block).
    pub(crate) fn current_or_gone() -> Result<Rc<Hub>, crate::Error> {
        HUB.try_with(|h| h.0.get_or_init(Hub::new).clone())
            .map_err(|_| crate::Error::HubGone)
    }

    /// Runs `f` with this thread's hub if it has been made and the thread is not
    /// exiting (no reference count traffic: for the hot paths).
    #[inline]
    pub(crate) fn with_current<R>(f: impl FnOnce(&Hub) -> R) -> Option<R> {
        HUB.try_with(|h| h.0.get().map(|hub| f(hub))).ok().flatten()
    }

    /// This thread's hub if it has been made and the thread is not exiting.
    pub(crate) fn try_current() -> Option<Rc<Hub>> {
        HUB.try_with(|h| h.0.get().cloned()).ok().flatten()
    }

    fn new() -> Rc<Hub> {
        let poll = Poll::new().expect("cannot create the event loop (epoll)");
        let remote =
            RemoteQueue::new(poll.registry(), WAKER_TOKEN).expect("cannot create the loop's waker");
        let mut root = greenlet::getcurrent();
        while let Some(parent) = root.parent() {
            root = parent;
        }
        let greenlet = Greenlet::builder()
            .name("hub")
            .parent(&root)
            .spawn(|_| run_loop());
        let root = Task::new(root, tracing::Span::none());
        let hub = Rc::new(Hub {
            greenlet,
            poll: RefCell::new(poll),
            ready: RefCell::new(VecDeque::new()),
            timers: RefCell::new(Timers::default()),
            io: IoTable::default(),
            remote,
            current: RefCell::new(Some(root.clone())),
            root,
            max_blocking: Cell::new(Some(Duration::from_millis(100))),
            live_tasks: Cell::new(0),
            tasks: RefCell::new(Vec::new()),
            next_task_id: Cell::new(0),
            turns_without_poll: Cell::new(0),
        });
        crate::hooks::set_hub_made(true);
        tracing::debug!("hub started");
        hub
    }

    /// How long one greenlet may run without giving the loop back before a warning is
    /// logged (gevent's `max_blocking_time`); `None` switches the check off. The
    /// default is 100 ms.
    pub fn set_max_blocking_time(&self, limit: Option<Duration>) {
        self.max_blocking.set(limit);
    }

    /// Tasks spawned on this hub that have not finished.
    pub fn live_tasks(&self) -> usize {
        self.live_tasks.get()
    }

    /// Timers armed on this hub (sleeps, timeouts, spawn_later).
    pub fn pending_timers(&self) -> usize {
        self.timers.borrow().len()
    }

    /// Greenlets waiting for I/O on this hub.
    pub fn io_waiters(&self) -> usize {
        self.io.waiters()
    }

    /// File descriptors registered with this hub's poller: one per live
    /// [`crate::Registration`] (each evented socket, each `select` in progress), waited
    /// on or not. The loop's own waker is not counted. With [`pending_timers`],
    /// [`io_waiters`] and [`live_tasks`] it lets a leak test check that a workload left
    /// nothing behind on the hub.
    ///
    /// [`pending_timers`]: Hub::pending_timers
    /// [`io_waiters`]: Hub::io_waiters
    /// [`live_tasks`]: Hub::live_tasks
    pub fn registrations(&self) -> usize {
        self.io.registered()
    }

    /// Handle for other threads to run code on this hub; see [`crate::Remote`].
    pub fn remote(&self) -> crate::Remote {
        self.remote.handle()
    }

    /// A fresh id for a task's tracing span.
    pub(crate) fn new_task_id(&self) -> u64 {
        let id = self.next_task_id.get() + 1;
        self.next_task_id.set(id);
        id
    }

    /// Records a new task, for the teardown.
    pub(crate) fn register(&self, task: &Rc<Task>) {
        let mut tasks = self.tasks.borrow_mut();
        task.index.set(tasks.len() as u32);
        tasks.push(Rc::downgrade(task));
    }

    /// Forgets a task record that is being dropped.
    pub(crate) fn unregister(&self, task: &Task) {
        let mut tasks = self.tasks.borrow_mut();
        let index = task.index.get() as usize;
        let ours = |w: &Weak<Task>| std::ptr::eq(w.as_ptr(), task);
        let Some(index) = (tasks.get(index).is_some_and(ours))
            .then_some(index)
            .or_else(|| tasks.iter().position(ours))
        else {
            return;
        };
        tasks.swap_remove(index);
        if let Some(moved) = tasks.get(index).and_then(Weak::upgrade) {
            moved.index.set(index as u32);
        }
    }

    /// Frees the hub when its thread exits. Every task still alive is killed, so its
    /// destructors run and its sockets close; then the loop's own greenlet is
    /// unwound, which drops the last references to the hub, closing epoll and the
    /// waker. A destructor that tries to block then fails instead: the thread's hub is
    /// gone.
    fn tear_down(self: Rc<Self>) {
        crate::hooks::set_hub_made(false);
        let here = greenlet::getcurrent();
        let tasks: Vec<Rc<Task>> = std::mem::take(&mut *self.tasks.borrow_mut())
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for task in &tasks {
            drop(task.parked_in.take());
            if !task.greenlet.is_dead() && task.greenlet.set_parent(&here).is_ok() {
                let _ = task.greenlet.kill();
            }
        }
        drop(tasks);
        self.ready.borrow_mut().clear();
        let timers = std::mem::take(&mut *self.timers.borrow_mut());
        drop(timers);
        if self.greenlet.set_parent(&here).is_ok() {
            let _ = self.greenlet.kill();
        }
        tracing::debug!("hub torn down");
    }

    pub(crate) fn schedule(&self, item: Ready) {
        self.ready.borrow_mut().push_back(item);
    }

    pub(crate) fn current_task(&self) -> Option<Rc<Task>> {
        self.current.borrow().clone()
    }

    /// Runs the queued items present now (not those they queue: a greenlet that keeps
    /// yielding cannot starve I/O and timers).
    fn run_ready(&self) {
        let n = self.ready.borrow().len();
        for _ in 0..n {
            let Some(item) = self.ready.borrow_mut().pop_front() else {
                break;
            };
            self.prefetch_ahead();
            match item {
                Ready::Start(task) if task.greenlet.is_dead() => {}
                // Killed before it ran: it dies here, in the hub, without running.
                Ready::Start(task) if task.kill_requested() => self.enter(task, |g| g.kill()),
                Ready::Start(task) => self.enter(task, |g| g.switch(())),
                Ready::Resume(task, generation) => {
                    if task.is_resumable(generation) {
                        match task.parked_in.take() {
                            Some(waiting) => self.enter(task, move |_| waiting.switch(())),
                            None => self.enter(task, |g| g.switch(())),
                        }
                    }
                }
                Ready::Throw(task, payload) => {
                    // A raw greenlet of the task that waits is not killed; it is
                    // dropped (and so killed) with the task's stack that owns it.
                    drop(task.parked_in.take());
                    if !task.greenlet.is_dead() {
                        self.enter(task, |g| g.throw(payload));
                    }
                }
                Ready::Link(link) => {
                    if let Err(p) = panic::catch_unwind(AssertUnwindSafe(|| link.call())) {
                        tracing::error!("link on the hub failed with {}", crate::panic_message(&p));
                    }
                }
                Ready::Call(f) => {
                    if let Err(p) = panic::catch_unwind(AssertUnwindSafe(f)) {
                        tracing::error!(
                            "callback on the hub failed with {}",
                            crate::panic_message(&p)
                        );
                    }
                }
            }
        }
        let mut ready = self.ready.borrow_mut();
        if ready.capacity() > READY_CAPACITY_KEPT && ready.len() < READY_CAPACITY_KEPT / 4 {
            ready.shrink_to(READY_CAPACITY_KEPT);
        }
    }

    /// Starts loading what the next queued resumes will touch, one link of the chain
    /// per item, so that each lookup reads a line asked for one run earlier: the
    /// third task's record, the second's greenlet record, the next one's stack. With
    /// a thousand connections taking turns these have left the cache by the time
    /// their turn comes, and each switch would otherwise wait on them in sequence.
    fn prefetch_ahead(&self) {
        let ready = self.ready.borrow();
        let task = |i| match ready.get(i) {
            Some(Ready::Resume(task, _)) => Some(task),
            _ => None,
        };
        if let Some(task) = task(2) {
            gen_core::switch::prefetch_line(Rc::as_ptr(task));
        }
        if let Some(task) = task(1) {
            task.greenlet.prefetch_record();
        }
        if let Some(task) = task(0) {
            task.greenlet.prefetch_stack();
        }
    }

    /// Switches into `task` until control comes back to the hub.
    fn enter(
        &self,
        task: Rc<Task>,
        switch: impl FnOnce(&Greenlet) -> Result<Value, greenlet::SwitchError>,
    ) {
        *self.current.borrow_mut() = Some(task.clone());
        let started = self.max_blocking.get().map(|_| coarse_now());
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            let _running = task.span.as_ref().map(|span| span.enter());
            switch(&task.greenlet)
        }));
        let result = match result {
            // Only the hub greenlet itself is killed while in here (by `tear_down`):
            // tasks catch their own exits.
            Err(p) if p.is::<GreenletExit>() => panic::resume_unwind(p),
            other => other,
        };
        *self.current.borrow_mut() = None;
        if let (Some(started), Some(limit)) = (started, self.max_blocking.get()) {
            let held = coarse_now().saturating_sub(started);
            if held > limit {
                crate::monitor::report_blocked(task.name(), held, limit);
            }
        }
        if let Err(p) = result {
            tracing::error!(
                "a greenlet's panic reached the hub: {}",
                crate::panic_message(&p)
            );
        }
    }

    /// True if nothing could ever make a task runnable again.
    fn stuck(&self) -> bool {
        self.ready.borrow().is_empty()
            && self.timers.borrow().is_empty()
            && self.io.waiters() == 0
            && !self.remote.may_receive()
    }

    /// One turn of the loop after the ready queue has run.
    fn poll_once(&self, events: &mut Events) {
        let busy = !self.ready.borrow().is_empty();
        if busy && self.turns_without_poll.get() < TURNS_PER_POLL {
            self.turns_without_poll
                .set(self.turns_without_poll.get() + 1);
            self.fire_timers();
            return;
        }
        self.turns_without_poll.set(0);
        let timeout = if busy {
            Some(Duration::ZERO)
        } else if let Some(deadline) = self.timers.borrow().next_deadline() {
            Some(deadline.saturating_duration_since(Instant::now()))
        } else if self.stuck() {
            // gevent's LoopExit: the root greenlet's wait can never end.
            if !self.root.wake(Wake::LoopExit) {
                tracing::error!("every greenlet is blocked and nothing can wake them");
            }
            return;
        } else {
            None
        };
        if let Err(e) = self.poll.borrow_mut().poll(events, timeout)
            && e.kind() != std::io::ErrorKind::Interrupted
        {
            panic!("the event loop failed: {e}");
        }
        for event in events.iter() {
            if event.token() == WAKER_TOKEN {
                continue; // the remote queue is drained below
            }
            self.io.dispatch(event);
        }
        self.remote.drain(self);
        self.fire_timers();
    }

    fn fire_timers(&self) {
        if self.timers.borrow().is_empty() {
            return; // spares reading the clock on every turn
        }
        let now = Instant::now();
        loop {
            let due = self.timers.borrow_mut().pop_due(now);
            match due {
                Some(TimerAction::Wake(waiter, reason)) => {
                    waiter.wake_with(reason);
                }
                Some(TimerAction::Timeout(timeout)) => timeout.fire(),
                Some(TimerAction::Call(f)) => self.schedule(Ready::Call(f)),
                None => break,
            }
        }
    }
}

/// Monotonic time at the kernel tick's resolution (a few ms), for the
/// `max_blocking_time` monitor: it is read twice per switch into a greenlet, and this
/// clock costs a fifth of `Instant::now` there, while a threshold of 100 ms needs no
/// finer grain.
fn coarse_now() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec to write to; the clock id is a constant Linux
    // supports since 2.6.32. On failure `now` stays zero and the check sees no time.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut now) };
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// The body of the hub greenlet.
fn run_loop() -> ! {
    let hub = Hub::current();
    let mut events = Events::with_capacity(1024);
    // Deadlines that passed before the loop first ran are delivered before the first
    // greenlet's yield returns, as they are on every later turn.
    hub.fire_timers();
    loop {
        hub.run_ready();
        hub.poll_once(&mut events);
    }
}

/// Parks the current task: switches to the hub until the task is resumed.
pub(crate) fn switch_to_hub(hub: &Hub) {
    // The hub never finishes and never switches to us with an error; a panic thrown
    // into us (kill) unwinds from here.
    let _ = hub.greenlet.switch(());
}
