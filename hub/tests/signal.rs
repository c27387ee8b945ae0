//! Signals delivered through the loop: waited for in a greenlet, handled by a greenlet
//! per delivery, and left alone when nothing asks for them.

use std::cell::Cell;
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

use hub::signal::{SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH, Signals, signal_handler};

/// Sends `signal` to this process from another thread after `delay`, while the hub's
/// thread is parked.
fn raise_later(signal: i32, delay: Duration) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        // SAFETY: kill(2) on our own pid with a valid signal number has no memory
        // effects; the signal is caught by signal-hook's handler.
        let rc = unsafe { libc::kill(libc::getpid(), signal) };
        assert_eq!(rc, 0);
    })
}

#[test]
fn a_signal_arriving_while_every_greenlet_is_parked_is_delivered() {
    let signals = Signals::new(&[SIGUSR1]).unwrap();
    // Another greenlet parked on something that never comes: only the signal can
    // wake the loop.
    let never = hub::Event::new();
    let waiting = never.clone();
    let other = hub::spawn(move || waiting.wait(None));
    let sender = raise_later(SIGUSR1, Duration::from_millis(50));
    assert_eq!(signals.wait().unwrap(), SIGUSR1);
    sender.join().unwrap();
    assert!(!other.is_ready(), "the other greenlet still waits");
    other.kill().unwrap();
    assert_eq!(signals.try_next(), None);
}

#[test]
fn signal_handler_runs_a_greenlet_per_delivery_until_cancelled() {
    let runs = Rc::new(Cell::new(0));
    let counter = runs.clone();
    let handler = signal_handler(SIGUSR2, move || {
        // A handler greenlet may block: it is a greenlet, not a signal context.
        hub::sleep(Duration::from_millis(1)).unwrap();
        counter.set(counter.get() + 1);
    })
    .unwrap();
    assert_eq!(handler.signal(), SIGUSR2);
    for expected in 1..=2 {
        raise_later(SIGUSR2, Duration::from_millis(10))
            .join()
            .unwrap();
        while runs.get() < expected {
            hub::sleep(Duration::from_millis(5)).unwrap();
        }
    }
    assert_eq!(runs.get(), 2);
    drop(handler);
    // Cancelled: another delivery reaches nobody (the handler stays installed in
    // signal-hook, so the process is not killed either).
    raise_later(SIGUSR2, Duration::ZERO).join().unwrap();
    hub::sleep(Duration::from_millis(50)).unwrap();
    assert_eq!(runs.get(), 2);
}

#[test]
fn a_wait_gives_up_at_its_timeout() {
    let signals = Signals::new(&[SIGWINCH]).unwrap();
    assert_eq!(
        signals.wait_timeout(Duration::from_millis(20)),
        Err(hub::Error::Timeout)
    );
}

#[test]
fn signals_that_cannot_be_caught_are_refused() {
    for bad in [libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV, 0, -3, 4096] {
        let err = Signals::new(&[bad]).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "signal {bad}");
    }
    assert!(signal_handler(libc::SIGKILL, || {}).is_err());
}

/// Run in a child process by the next test: a hub that registers nothing.
#[test]
fn child_without_handlers() {
    if std::env::var_os("HUB_SIGNAL_CHILD").is_none() {
        return;
    }
    // Start from the default disposition whatever was inherited (under `nohup`,
    // SIGHUP arrives ignored); the hub, started below, must leave it as it is.
    // SAFETY: setting a signal's disposition to SIG_DFL installs no handler and
    // touches no memory; no other thread of this child handles SIGHUP.
    let previous = unsafe { libc::signal(SIGHUP, libc::SIG_DFL) };
    assert_ne!(previous, libc::SIG_ERR);
    let sleeper = hub::spawn(|| hub::sleep(Duration::from_secs(30)));
    raise_later(SIGHUP, Duration::from_millis(20));
    let _ = sleeper.join();
    // Reached only if SIGHUP did not terminate the process.
    std::process::exit(0);
}

#[test]
fn a_program_that_registers_nothing_keeps_the_default_disposition() {
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_without_handlers", "--nocapture"])
        .env("HUB_SIGNAL_CHILD", "1")
        .status()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(SIGHUP), "{status:?}");
}
