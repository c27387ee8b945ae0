//! The fault matrix: every blocking operation of the stack × every interruption that
//! applies to it, as one table (see `MATRIX` below and docs/RELIABILITY.md).
//!
//! For each cell, a greenlet holding a drop guard blocks in the operation, the fault
//! strikes, and then:
//! - the operation returned the documented outcome (or, for a kill, never returned and
//!   `join` says `Killed`);
//! - the greenlet's destructors ran (the drop guard);
//! - the process's open fds, this thread's coroutine stacks in use, and the hub's fd
//!   registrations, timers, I/O waiters and live greenlets are back at their values
//!   from before the cell, and the primitive has no waiter left.
//!
//! Everything runs in one test on one thread: the fd count is process-wide, so nothing
//! else may run beside it. Nothing here waits on wall-clock races: an operation is
//! "blocked" once the hub has run its greenlet (it parks on its first turn), and the
//! only timer that decides an outcome is the `Timeout` of the timeout column.

mod common;

use std::cell::Cell;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{MS, listener, open_fds, pair, unresponsive_listener};
use hub::{Channel, Error, Event, JoinHandle, Lock, Queue, QueueError, Semaphore};
use monkey::net::TcpStream;

/// How an operation is interrupted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// `JoinHandle::kill` while it waits.
    Kill,
    /// A `hub::Timeout` armed by the waiting greenlet before the call.
    Timeout,
    /// The other side goes away cleanly: the peer socket closes, the queue or channel
    /// is closed.
    Close,
    /// The peer socket is closed with a RST (`SO_LINGER` 0).
    Reset,
    /// Another greenlet (or the pool thread running the job) panics: the one holding
    /// what the operation waits for, or one that does its part and then panics.
    Panic,
}

const FAULTS: [Fault; 5] = [
    Fault::Kill,
    Fault::Timeout,
    Fault::Close,
    Fault::Reset,
    Fault::Panic,
];

/// The cell does not apply to this operation.
const NA: &str = "-";

/// What each operation ends with under each fault. `killed`: the operation never
/// returned, the greenlet unwound and `join` gave `Error::Killed`. Alternatives are
/// separated by `|` where the kernel may report either.
#[rustfmt::skip]
const MATRIX: &[Row] = &[
    //  operation         setup            kill       Timeout                close                               reset                               panic elsewhere
    row("sleep",          sleep,          ["killed", "Err(Timeout)",        NA,                                 NA,                                 "Ok"]),
    row("join",           join,           ["killed", "Err(Timeout)",        NA,                                 NA,                                 "Err(Panicked)"]),
    row("tcp read",       read,           ["killed", "Err(TimedOut)",       "Ok(0)",                            "Err(ConnectionReset)",             "Ok(0)"]),
    row("tcp write",      write,          ["killed", "Err(TimedOut)",       "Err(ConnectionReset|BrokenPipe)",  "Err(ConnectionReset|BrokenPipe)",  "Err(ConnectionReset|BrokenPipe)"]),
    row("tcp accept",     accept,         ["killed", "Err(TimedOut)",       NA,                                 NA,                                 "Ok"]),
    row("tcp connect",    connect,        ["killed", "Err(TimedOut)",       NA,                                 NA,                                 NA]),
    row("queue get",      queue_get,      ["killed", "Err(Wait(Timeout))",  "Err(Closed)",                      NA,                                 "Ok"]),
    row("queue put",      queue_put,      ["killed", "Err(Wait(Timeout))",  "Err(Closed)",                      NA,                                 "Ok"]),
    row("channel get",    channel_get,    ["killed", "Err(Wait(Timeout))",  "Err(Closed)",                      NA,                                 "Ok"]),
    row("channel put",    channel_put,    ["killed", "Err(Wait(Timeout))",  "Err(Closed)",                      NA,                                 "Ok"]),
    row("lock",           lock,           ["killed", "Err(Timeout)",        NA,                                 NA,                                 "Ok"]),
    row("semaphore",      semaphore,      ["killed", "Err(Timeout)",        NA,                                 NA,                                 "Ok"]),
    row("event wait",     event_wait,     ["killed", "Err(Timeout)",        NA,                                 NA,                                 "Ok"]),
    row("thread pool",    thread_pool,    ["killed", "Err(Timeout)",        NA,                                 NA,                                 "Err(Panicked)"]),
    row("select",         select,         ["killed", "Err(TimedOut)",       "Ok(readable)",                     "Ok(readable)",                     "Ok(readable)"]),
];

/// The deadline of the timeout column.
const TIMEOUT: Duration = Duration::from_millis(5);

struct Row {
    op: &'static str,
    setup: fn() -> Scene,
    expect: [&'static str; 5],
}

const fn row(op: &'static str, setup: fn() -> Scene, expect: [&'static str; 5]) -> Row {
    Row { op, setup, expect }
}

/// What an operation returned, in words (`Ok`, `Err(TimedOut)`, …).
type Outcome = String;

/// One operation, set up and ready to block.
struct Scene {
    /// The blocking call, run in the greenlet under test.
    op: Box<dyn FnOnce() -> Outcome>,
    /// Strikes with a close, reset or panic (kill and timeout are the harness's).
    strike: Box<dyn FnOnce(Fault)>,
    /// Ends the helpers the scene started, drops what it holds, and checks that the
    /// primitive has no waiter left.
    cleanup: Box<dyn FnOnce() -> Result<(), String>>,
}

impl Scene {
    fn new(op: impl FnOnce() -> Outcome + 'static) -> Scene {
        Scene {
            op: Box::new(op),
            strike: Box::new(|fault| panic!("no {fault:?} for this operation")),
            cleanup: Box::new(|| Ok(())),
        }
    }

    fn strike(mut self, f: impl FnOnce(Fault) + 'static) -> Scene {
        self.strike = Box::new(f);
        self
    }

    fn cleanup(mut self, f: impl FnOnce() -> Result<(), String> + 'static) -> Scene {
        self.cleanup = Box::new(f);
        self
    }
}

// ---- the operations -------------------------------------------------------------

fn sleep() -> Scene {
    // Long enough to still be asleep when the kill comes (no time passes before it),
    // short enough to end the panic cell quickly.
    Scene::new(|| hub_outcome(hub::sleep(20 * MS))).strike(|_| panic_elsewhere())
}

fn join() -> Scene {
    let target = Holder::spawn(|hold| {
        hold.until_ordered();
    });
    let t = target.clone();
    Scene::new(move || hub_outcome(t.handle.join()))
        .strike(target.striker())
        .cleanup(target.finisher())
}

fn read() -> Scene {
    let (client, server) = pair();
    let peer = Holder::holding_socket(client);
    Scene::new(move || {
        let mut buf = [0; 16];
        io_outcome((&server).read(&mut buf))
    })
    .strike(peer.striker())
    .cleanup(peer.finisher())
}

fn write() -> Scene {
    let (client, server) = pair();
    let peer = Holder::holding_socket(client);
    Scene::new(move || {
        // The peer never reads: this parks once the socket buffers are full.
        let chunk = vec![7u8; 256 * 1024];
        loop {
            if let Err(e) = (&server).write(&chunk) {
                return io_outcome::<()>(Err(e));
            }
        }
    })
    .strike(peer.striker())
    .cleanup(peer.finisher())
}

fn accept() -> Scene {
    let (l, addr) = listener();
    Scene::new(move || io_outcome(l.accept().map(drop))).strike(move |_| {
        // A client connects, then its greenlet panics (dropping the connection).
        let client = hub::spawn(move || {
            let _conn = TcpStream::connect(addr).unwrap();
            panic!("fault matrix: a client panics after connecting");
        });
        assert!(matches!(client.join(), Err(Error::Panicked(_))));
    })
}

fn connect() -> Scene {
    // The handshake never completes: the listener's accept queue is full.
    let (l, addr, fill) = unresponsive_listener();
    Scene::new(move || io_outcome(TcpStream::connect(addr).map(drop))).cleanup(move || {
        drop((l, fill));
        Ok(())
    })
}

fn queue_get() -> Scene {
    let q: Queue<u8> = Queue::new();
    let (q1, q2) = (q.clone(), q.clone());
    Scene::new(move || queue_outcome(q1.get(None)))
        .strike(move |fault| match fault {
            Fault::Close => q2.close(),
            _ => then_panic(move || q2.put(1, None).unwrap()),
        })
        .cleanup(move || no_waiters("queue", q.getters()))
}

fn queue_put() -> Scene {
    let q: Queue<u8> = Queue::bounded(1);
    q.put(0, None).unwrap(); // full: the next put parks
    let (q1, q2) = (q.clone(), q.clone());
    Scene::new(move || queue_outcome(q1.put(1, None).map_err(|e| e.error)))
        .strike(move |fault| match fault {
            Fault::Close => q2.close(),
            _ => then_panic(move || assert_eq!(q2.get(None), Ok(0))),
        })
        .cleanup(move || no_waiters("queue", q.putters()))
}

fn channel_get() -> Scene {
    let ch: Channel<u8> = Channel::new();
    let (c1, c2) = (ch.clone(), ch.clone());
    Scene::new(move || queue_outcome(c1.get(None)))
        .strike(move |fault| match fault {
            Fault::Close => c2.close(),
            _ => then_panic(move || c2.put(1, None).unwrap()),
        })
        .cleanup(move || no_waiters("channel", ch.getters() + ch.putters()))
}

fn channel_put() -> Scene {
    let ch: Channel<u8> = Channel::new();
    let (c1, c2) = (ch.clone(), ch.clone());
    Scene::new(move || queue_outcome(c1.put(1, None).map_err(|e| e.error)))
        .strike(move |fault| match fault {
            Fault::Close => c2.close(),
            _ => then_panic(move || assert_eq!(c2.get(None), Ok(1))),
        })
        .cleanup(move || no_waiters("channel", ch.getters() + ch.putters()))
}

fn lock() -> Scene {
    let lock = Lock::new();
    let held = lock.clone();
    let holder = Holder::spawn(move |hold| {
        let _guard = held.lock(None).unwrap();
        hold.until_ordered();
    });
    let l = lock.clone();
    let finish = holder.finisher();
    Scene::new(move || hub_outcome(l.lock(None).map(drop)))
        .strike(holder.striker())
        .cleanup(move || {
            finish()?;
            if lock.is_locked() {
                return Err("the lock is still held".into());
            }
            no_waiters("lock", lock.waiters())
        })
}

fn semaphore() -> Scene {
    let sem = Semaphore::new(1);
    let held = sem.clone();
    let holder = Holder::spawn(move |hold| {
        let _permit = held.guard(None).unwrap();
        hold.until_ordered();
    });
    let s = sem.clone();
    let finish = holder.finisher();
    Scene::new(move || hub_outcome(s.guard(None).map(drop)))
        .strike(holder.striker())
        .cleanup(move || {
            finish()?;
            if sem.available() != 1 {
                return Err(format!("{} permits instead of 1", sem.available()));
            }
            no_waiters("semaphore", sem.waiters())
        })
}

fn event_wait() -> Scene {
    let ev = Event::new();
    let (e1, e2) = (ev.clone(), ev.clone());
    Scene::new(move || hub_outcome(e1.wait(None)))
        .strike(move |_| then_panic(move || e2.set()))
        .cleanup(move || no_waiters("event", ev.waiters()))
}

fn thread_pool() -> Scene {
    // The job blocks its pool thread until told whether to panic or return.
    let (tell, told) = mpsc::channel::<bool>();
    let finished = Arc::new(AtomicBool::new(false));
    let f = finished.clone();
    let job = move || {
        let _finished = SetOnDrop(f);
        if told.recv().unwrap_or(false) {
            panic!("fault matrix: the pool thread's job panics");
        }
    };
    let strike_tell = tell.clone();
    Scene::new(move || hub_outcome(hub::spawn_blocking(job)))
        .strike(move |_| strike_tell.send(true).unwrap())
        .cleanup(move || {
            let _ = tell.send(false);
            // The job outlives an interrupted wait; let it end and ring the hub.
            let deadline = Instant::now() + Duration::from_secs(10);
            while !finished.load(Ordering::SeqCst) {
                if Instant::now() > deadline {
                    return Err("the pool thread's job never finished".into());
                }
                hub::sleep(MS).unwrap();
            }
            hub::sleep(MS).unwrap();
            Ok(())
        })
}

fn select() -> Scene {
    let (client, server) = pair();
    let peer = Holder::holding_socket(client);
    Scene::new(move || {
        let fd = server.as_raw_fd();
        match monkey::select::select(&[fd], &[], &[], None) {
            Ok((r, _, _)) if r == [fd] => "Ok(readable)".into(),
            Ok(lists) => format!("Ok({lists:?})"),
            Err(e) => io_outcome::<()>(Err(e)),
        }
    })
    .strike(peer.striker())
    .cleanup(peer.finisher())
}

// ---- helpers for the scenes --------------------------------------------------------

/// What a [`Holder`] is told to do with what it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    Release,
    Reset,
    Panic,
}

/// A greenlet that takes something (a lock, a peer socket) and holds it until told to
/// release it, reset it, or panic with it (the unwind then releases it).
struct Holder {
    order: Rc<Cell<Option<Order>>>,
    go: Event,
    handle: JoinHandle<()>,
}

/// The holder's side: waits for the order.
struct Hold {
    order: Rc<Cell<Option<Order>>>,
    go: Event,
}

impl Hold {
    fn until_ordered(&self) -> Order {
        self.go.wait(None).unwrap();
        let order = self.order.get().expect("ordered");
        if order == Order::Panic {
            panic!("fault matrix: the holder panics");
        }
        order
    }
}

impl Holder {
    /// Spawns `body` and lets it run until it holds what it takes and waits for orders.
    fn spawn(body: impl FnOnce(&Hold) + 'static) -> Rc<Holder> {
        let order = Rc::new(Cell::new(None));
        let go = Event::new();
        let hold = Hold {
            order: order.clone(),
            go: go.clone(),
        };
        let handle = hub::spawn(move || body(&hold));
        hub::yield_now().unwrap();
        Rc::new(Holder { order, go, handle })
    }

    /// A peer holding one end of a connection: closes it, resets it, or panics.
    fn holding_socket(peer: TcpStream) -> Rc<Holder> {
        Holder::spawn(move |hold| {
            if hold.until_ordered() == Order::Reset {
                socket2::SockRef::from(&peer)
                    .set_linger(Some(Duration::ZERO))
                    .unwrap();
            }
            drop(peer);
        })
    }

    fn order(&self, order: Order) {
        if self.order.get().is_none() {
            self.order.set(Some(order));
            self.go.set();
        }
    }

    fn striker(self: &Rc<Self>) -> impl FnOnce(Fault) + 'static {
        let holder = self.clone();
        move |fault| {
            holder.order(match fault {
                Fault::Close => Order::Release,
                Fault::Reset => Order::Reset,
                _ => Order::Panic,
            })
        }
    }

    /// The scene's cleanup: the holder releases what it holds (unless ordered to do
    /// something else already) and finishes.
    fn finisher(self: &Rc<Self>) -> impl FnOnce() -> Result<(), String> + 'static {
        let holder = self.clone();
        move || {
            holder.order(Order::Release);
            holder.handle.wait(None).unwrap();
            Ok(())
        }
    }
}

/// Runs `f` in a new greenlet that panics right after it, and checks the hub reports
/// that panic through `join` and nowhere else.
fn then_panic(f: impl FnOnce() + 'static) {
    let other = hub::spawn(move || {
        f();
        panic!("fault matrix: a greenlet panics after doing its part");
    });
    assert!(matches!(other.join(), Err(Error::Panicked(_))));
}

/// A greenlet with nothing to do with the operation panics.
fn panic_elsewhere() {
    then_panic(|| ());
}

fn no_waiters(what: &str, waiters: usize) -> Result<(), String> {
    match waiters {
        0 => Ok(()),
        n => Err(format!("{n} waiters left on the {what}")),
    }
}

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn hub_outcome<T>(r: Result<T, Error>) -> Outcome {
    match r {
        Ok(_) => "Ok".into(),
        Err(e) => format!("Err({})", hub_error_name(&e)),
    }
}

fn hub_error_name(e: &Error) -> &'static str {
    match e {
        Error::Timeout => "Timeout",
        Error::WouldBlockForever => "WouldBlockForever",
        Error::Killed => "Killed",
        Error::Panicked(_) => "Panicked",
        Error::BlockingInHub => "BlockingInHub",
        Error::Busy => "Busy",
        Error::Taken => "Taken",
        Error::HubGone => "HubGone",
        _ => "other",
    }
}

fn queue_outcome<T>(r: Result<T, QueueError>) -> Outcome {
    match r {
        Ok(_) => "Ok".into(),
        Err(QueueError::Wait(e)) => format!("Err(Wait({}))", hub_error_name(&e)),
        Err(e) => format!("Err({e:?})"),
    }
}

fn io_outcome<T: Into<IoOk>>(r: io::Result<T>) -> Outcome {
    match r.map(Into::into) {
        Ok(IoOk::Unit) => "Ok".into(),
        Ok(IoOk::Bytes(n)) => format!("Ok({n})"),
        Err(e) => format!("Err({:?})", e.kind()),
    }
}

/// The success values `io_outcome` reports: `()` or a byte count.
enum IoOk {
    Unit,
    Bytes(usize),
}

impl From<()> for IoOk {
    fn from(_: ()) -> IoOk {
        IoOk::Unit
    }
}

impl From<usize> for IoOk {
    fn from(n: usize) -> IoOk {
        IoOk::Bytes(n)
    }
}

// ---- the harness -------------------------------------------------------------------

/// Everything that must be back where it was after each cell.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    open_fds: usize,
    stacks_in_use: usize,
    registrations: usize,
    timers: usize,
    io_waiters: usize,
    live_greenlets: usize,
}

impl Snapshot {
    fn take() -> Snapshot {
        let hub = hub::Hub::current();
        Snapshot {
            open_fds: open_fds(),
            stacks_in_use: gen_core::stacks_in_use(),
            registrations: hub.registrations(),
            timers: hub.pending_timers(),
            io_waiters: hub.io_waiters(),
            live_greenlets: hub.live_tasks(),
        }
    }
}

struct DropGuard(Rc<Cell<bool>>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// Runs one cell; `Err` says what went wrong.
fn run_cell(row: &Row, fault: Fault, expected: &str) -> Result<(), String> {
    let before = Snapshot::take();
    let Scene {
        op,
        strike,
        cleanup,
    } = (row.setup)();
    let dropped = Rc::new(Cell::new(false));
    let guard = DropGuard(dropped.clone());
    let waiting = hub::spawn(move || {
        let _guard = guard;
        let _timeout = (fault == Fault::Timeout).then(|| hub::Timeout::start(TIMEOUT));
        op()
    });
    // The greenlet starts at the hub's next turn and parks in the operation there.
    hub::yield_now().unwrap();
    if waiting.is_ready() {
        let got = waiting.join().map_err(|e| e.to_string());
        return Err(format!("the operation did not block: {got:?}"));
    }
    match fault {
        Fault::Kill => {
            drop(strike);
            waiting.kill().map_err(|e| format!("kill failed: {e}"))?
        }
        Fault::Timeout => drop(strike),
        _ => strike(fault),
    }
    let got = match waiting.join() {
        Ok(outcome) => outcome,
        Err(Error::Killed) => "killed".into(),
        Err(e) => format!("the greenlet failed: {e}"),
    };
    let mut problems = Vec::new();
    if !alternatives(expected).contains(&got) {
        problems.push(format!("got {got}, expected {expected}"));
    }
    if !dropped.get() {
        problems.push("its destructors did not run".into());
    }
    if let Err(e) = cleanup() {
        problems.push(e);
    }
    let after = Snapshot::take();
    if after != before {
        problems.push(format!("left behind: {before:?} -> {after:?}"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// The outcomes `expected` allows: `Err(A|B)` is `Err(A)` or `Err(B)`.
fn alternatives(expected: &str) -> Vec<String> {
    match expected
        .strip_prefix("Err(")
        .and_then(|e| e.strip_suffix(')'))
    {
        Some(inner) if inner.contains('|') => {
            inner.split('|').map(|alt| format!("Err({alt})")).collect()
        }
        _ => vec![expected.to_string()],
    }
}

/// Keeps the panics the matrix provokes out of the test output.
fn silence_provoked_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let provoked = info
            .payload()
            .downcast_ref::<&str>()
            .is_some_and(|m| m.starts_with("fault matrix:"));
        if !provoked {
            default(info);
        }
    }));
}

#[test]
fn fault_matrix() {
    silence_provoked_panics();
    // Bring up what lives for the whole thread first: the hub (epoll, waker) and the
    // thread pool.
    hub::spawn_blocking(|| ()).unwrap();
    let start = Instant::now();
    let mut report = String::new();
    let mut failures = Vec::new();
    let mut cells = 0;
    for row in MATRIX {
        let mut line = format!("{:<12}", row.op);
        for (fault, expected) in FAULTS.iter().zip(row.expect) {
            let mark = if expected == NA {
                "-"
            } else {
                cells += 1;
                match run_cell(row, *fault, expected) {
                    Ok(()) => "ok",
                    Err(e) => {
                        failures.push(format!("{} × {fault:?}: {e}", row.op));
                        "FAIL"
                    }
                }
            };
            let _ = write!(line, " {:>8}", mark);
        }
        report.push_str(&line);
        report.push('\n');
    }
    println!(
        "{:<12} {:>8} {:>8} {:>8} {:>8} {:>8}\n{report}{cells} cells in {:.2} s",
        "",
        "kill",
        "timeout",
        "close",
        "reset",
        "panic",
        start.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
