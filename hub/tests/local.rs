//! Greenlet-local storage (`hub::local!`, gevent.local): isolation, lazy creation,
//! drop when the greenlet ends (also by kill or panic), the errors where no greenlet
//! is current, and a request id carried into tracing spans.

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hub::{LocalAccessError, LocalKey};
use tracing_subscriber::fmt::MakeWriter;

hub::local! {
    static COUNTER: Cell<u32> = Cell::new(0);
    static NAME: RefCell<String> = RefCell::new(String::from("unset"));
}

/// Counts its drops in a greenlet-local, so a test sees when the value went away.
struct DropProbe(Rc<Cell<u32>>);

impl Drop for DropProbe {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

thread_local! {
    static DROPS: Rc<Cell<u32>> = Rc::new(Cell::new(0));
    static INITS: Cell<u32> = const { Cell::new(0) };
}

hub::local! {
    static PROBE: DropProbe = {
        INITS.with(|i| i.set(i.get() + 1));
        DropProbe(DROPS.with(Rc::clone))
    };
}

fn drops() -> u32 {
    DROPS.with(|d| d.get())
}

fn inits() -> u32 {
    INITS.with(|i| i.get())
}

#[test]
fn each_greenlet_sees_its_own_value() {
    let workers: Vec<_> = (1..=20u32)
        .map(|i| {
            hub::spawn(move || {
                COUNTER.with(|c| c.set(i));
                NAME.with(|n| *n.borrow_mut() = format!("worker {i}"));
                // Interleave: every other worker sets its values before we read ours.
                hub::sleep(Duration::from_millis(u64::from(i % 3))).unwrap();
                (COUNTER.with(|c| c.get()), NAME.with(|n| n.borrow().clone()))
            })
        })
        .collect();
    for (i, w) in (1..=20u32).zip(&workers) {
        assert_eq!(w.join().unwrap(), (i, format!("worker {i}")));
    }
    // A new greenlet starts from the initialiser, not from a finished one's value.
    assert_eq!(hub::spawn(|| COUNTER.with(|c| c.get())).join().unwrap(), 0);
    // The root greenlet's values are its own as well.
    COUNTER.with(|c| c.set(99));
    assert_eq!(hub::spawn(|| COUNTER.with(|c| c.get())).join().unwrap(), 0);
    assert_eq!(COUNTER.with(|c| c.get()), 99);
}

#[test]
fn a_value_is_made_on_first_access_only() {
    let before = inits();
    let h = hub::spawn(|| {
        assert!(!PROBE.is_set());
        hub::yield_now().unwrap();
        PROBE.with(|_| ());
        assert!(PROBE.is_set());
        PROBE.with(|_| ());
    });
    // A greenlet that never touches the key never runs the initialiser.
    let untouched = hub::spawn(|| hub::yield_now().unwrap());
    h.join().unwrap();
    untouched.join().unwrap();
    assert_eq!(inits() - before, 1);
}

#[test]
fn the_value_is_dropped_when_the_greenlet_returns_or_panics() {
    let before = drops();
    let h = hub::spawn(|| PROBE.with(|_| ()));
    h.join().unwrap();
    assert_eq!(drops() - before, 1);
    let p = hub::spawn(|| {
        PROBE.with(|_| ());
        panic!("handler failed");
    });
    assert!(matches!(p.join(), Err(hub::Error::Panicked(_))));
    assert_eq!(drops() - before, 2);
}

#[test]
fn the_value_is_dropped_when_the_greenlet_is_killed() {
    let before = drops();
    let started = Rc::new(Cell::new(false));
    let flag = started.clone();
    let h = hub::spawn(move || {
        PROBE.with(|_| ());
        flag.set(true);
        hub::sleep(Duration::from_secs(3600))
    });
    while !started.get() {
        hub::yield_now().unwrap();
    }
    assert_eq!(drops(), before, "alive: its value is still there");
    h.kill().unwrap();
    assert_eq!(drops() - before, 1, "killed: its value was dropped");
    assert!(matches!(h.join(), Err(hub::Error::Killed)));
}

#[test]
fn set_replaces_and_drops_the_old_value() {
    let before = drops();
    hub::spawn(move || {
        PROBE.with(|_| ());
        PROBE.set(DropProbe(DROPS.with(Rc::clone))).unwrap();
        assert_eq!(drops() - before, 1);
    })
    .join()
    .unwrap();
    assert_eq!(drops() - before, 2);
}

#[test]
fn a_hub_callback_gets_a_clear_error() {
    let seen: Rc<RefCell<Option<Result<u32, LocalAccessError>>>> = Rc::default();
    let out = seen.clone();
    let h = hub::spawn(|| ());
    h.link(move || *out.borrow_mut() = Some(COUNTER.try_with(|c| c.get())));
    h.join().unwrap();
    while seen.borrow().is_none() {
        hub::yield_now().unwrap();
    }
    let err = seen.borrow_mut().take().unwrap().unwrap_err();
    assert_eq!(err, LocalAccessError::InHubCallback);
    assert!(err.to_string().contains("hub callback"), "{err}");
    // `with` panics with that message; the hub logs the callback's panic and goes on.
    let panicked: Rc<Cell<bool>> = Rc::default();
    let flag = panicked.clone();
    let g = hub::spawn(|| ());
    g.link(move || {
        let r = std::panic::catch_unwind(|| COUNTER.with(|c| c.get()));
        let msg = hub::panic_message(&r.unwrap_err());
        assert!(msg.contains("hub callback"), "{msg}");
        flag.set(true);
    });
    g.join().unwrap();
    while !panicked.get() {
        hub::yield_now().unwrap();
    }
}

#[test]
fn after_the_hub_is_gone_access_is_an_error() {
    /// Runs in a thread-local destructor registered before the hub, so it runs
    /// after the hub's teardown.
    struct LateUser(Arc<Mutex<Option<Result<u32, LocalAccessError>>>>);
    impl Drop for LateUser {
        fn drop(&mut self) {
            *self.0.lock().unwrap() = Some(COUNTER.try_with(|c| c.get()));
        }
    }
    thread_local! {
        static LATE: RefCell<Option<LateUser>> = const { RefCell::new(None) };
    }
    let result = Arc::new(Mutex::new(None));
    let out = result.clone();
    let dropped = Arc::new(AtomicU32::new(0));
    let counter = dropped.clone();
    std::thread::spawn(move || {
        // Registered first, so its destructor runs last: after the hub's.
        LATE.with(|l| *l.borrow_mut() = Some(LateUser(out)));
        COUNTER.with(|c| c.set(5));
        // A greenlet still blocked at thread exit: the teardown kills it, and its
        // value is dropped then.
        let _h = hub::spawn(move || {
            SENDABLE_PROBE.set(CountsDrops(Some(counter))).unwrap();
            hub::sleep(Duration::from_secs(3600))
        });
        hub::yield_now().unwrap();
    })
    .join()
    .unwrap();
    assert_eq!(
        *result.lock().unwrap(),
        Some(Err(LocalAccessError::HubGone))
    );
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
}

/// Counts its drops in a counter another thread can read.
struct CountsDrops(Option<Arc<AtomicU32>>);

impl Drop for CountsDrops {
    fn drop(&mut self) {
        if let Some(c) = &self.0 {
            c.fetch_add(1, Ordering::SeqCst);
        }
    }
}

hub::local! {
    static SENDABLE_PROBE: CountsDrops = CountsDrops(None);
}

/// Collects everything the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

hub::local! {
    static REQUEST_ID: Cell<Option<u64>> = Cell::new(None);
}

fn request_span() -> tracing::Span {
    match REQUEST_ID.with(|r| r.get()) {
        Some(id) => tracing::info_span!("request", request_id = id),
        None => tracing::Span::none(),
    }
}

/// Code far from the handler's entry logs under the request's id, with no id passed.
fn log_deep(step: &str) {
    let _span = request_span().entered();
    tracing::info!(step, "handling");
}

#[test]
fn a_request_id_reaches_tracing_spans() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(captured.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let handlers: Vec<_> = (100..105u64)
            .map(|id| {
                hub::spawn(move || {
                    REQUEST_ID.with(|r| r.set(Some(id)));
                    log_deep("first");
                    hub::yield_now().unwrap(); // the others log in between
                    log_deep("second");
                })
            })
            .collect();
        for h in &handlers {
            h.join().unwrap();
        }
    });
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("handling")).collect();
    assert_eq!(lines.len(), 10, "{log}");
    for id in 100..105u64 {
        let tag = format!("request{{request_id={id}}}");
        let mine = lines.iter().filter(|l| l.contains(&tag)).count();
        assert_eq!(mine, 2, "two lines tagged {tag} in:\n{log}");
    }
    // Interleaved: all five "first" lines come before any "second".
    let last_first = lines.iter().rposition(|l| l.contains("first")).unwrap();
    let first_second = lines.iter().position(|l| l.contains("second")).unwrap();
    assert!(last_first < first_second, "{log}");
}

#[test]
fn keys_are_usable_through_a_static_reference() {
    fn read(key: &'static LocalKey<Cell<u32>>) -> u32 {
        key.with(|c| c.get())
    }
    assert_eq!(hub::spawn(|| read(&COUNTER)).join().unwrap(), 0);
}

#[test]
fn the_root_greenlets_values_are_dropped_at_thread_exit() {
    let dropped = Arc::new(AtomicU32::new(0));
    let counter = dropped.clone();
    std::thread::spawn(move || {
        SENDABLE_PROBE.set(CountsDrops(Some(counter))).unwrap();
        hub::yield_now().unwrap();
    })
    .join()
    .unwrap();
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
}
