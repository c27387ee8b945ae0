//! Greenlets carry a tracing span: what they log is tagged with their id and name,
//! and spawn, kill and failures are reported as events.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;

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

#[test]
fn greenlets_log_inside_their_span() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(captured.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let worker = hub::Builder::new().name("worker").spawn(|| {
            tracing::info!("hello from inside");
            hub::sleep(std::time::Duration::from_millis(1)).unwrap();
            tracing::info!("after a switch");
        });
        worker.join().unwrap();
        let failing = hub::Builder::new().name("failing").spawn(|| panic!("boom"));
        assert!(failing.join().is_err());
        let sleeper = hub::Builder::new()
            .name("sleeper")
            .spawn(|| hub::sleep(std::time::Duration::from_secs(60)));
        hub::yield_now().unwrap();
        sleeper.kill().unwrap();
        tracing::info!("back in main");
    });
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = |needle: &str| {
        log.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{log}"))
            .to_owned()
    };
    assert!(line("hello from inside").contains(r#"greenlet{id="#));
    assert!(line("hello from inside").contains(r#"name="worker""#));
    assert!(line("after a switch").contains(r#"name="worker""#));
    assert!(line("<Greenlet failing> failed with boom").contains("ERROR"));
    assert!(line("kill").contains("sleeper"));
    assert!(line("spawn").contains("worker"));
    // Code outside any greenlet is not tagged with one.
    assert!(!line("back in main").contains("greenlet{"));
}

/// Runs `f` with a subscriber and returns what it logged.
fn logged(f: impl FnOnce()) -> String {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(captured.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
}

#[test]
fn a_greenlet_holding_the_loop_is_reported() {
    let hog = || {
        hub::Builder::new()
            .name("hog")
            .spawn(|| std::thread::sleep(std::time::Duration::from_millis(80)))
            .join()
            .unwrap()
    };
    let log = logged(|| {
        hub::Hub::current().set_max_blocking_time(Some(std::time::Duration::from_millis(20)));
        hog();
    });
    let warning = log
        .lines()
        .find(|l| l.contains("blocked the loop"))
        .unwrap_or_else(|| panic!("no warning in:\n{log}"));
    assert!(
        warning.contains("WARN") && warning.contains("hog"),
        "{warning}"
    );

    let log = logged(|| {
        hub::Hub::current().set_max_blocking_time(None);
        hog();
    });
    assert!(!log.contains("blocked the loop"), "{log}");
}
