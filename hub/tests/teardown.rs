//! A thread's hub is torn down when the thread exits: greenlets still alive are
//! killed (their destructors run), and the loop's fds and stacks are freed.
//!
//! One test in its own binary: it counts the process's fds and stacks, which tests
//! running in parallel would disturb.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hub::{Event, Queue};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Counts its drops in a counter other threads can read.
struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Leaves greenlets parked in every way on a thread's hub and returns: the
/// greenlets must all be killed when the thread exits.
fn abandon_greenlets(dropped: Arc<AtomicUsize>) -> hub::Remote {
    let guard = |d: &Arc<AtomicUsize>| DropCounter(d.clone());

    let g = guard(&dropped);
    let sleeper = hub::spawn(move || {
        let _g = g;
        let _ = hub::sleep(Duration::from_secs(3600));
    });
    let g = guard(&dropped);
    let event = Event::new();
    let waiting_on = event.clone();
    // No handle kept: only its own wait keeps it alive.
    drop(hub::spawn(move || {
        let _g = g;
        let _ = waiting_on.wait(None);
    }));
    let g = guard(&dropped);
    let queue: Queue<u32> = Queue::new();
    let consumer = queue.clone();
    let getter = hub::spawn(move || {
        let _g = g;
        let _ = consumer.get(None);
    });
    let g = guard(&dropped);
    let never_started = hub::spawn_later(Duration::from_secs(3600), move || drop(g));
    let g = guard(&dropped);
    let (reader, _writer) = std::os::unix::net::UnixStream::pair().unwrap();
    reader.set_nonblocking(true).unwrap();
    let io_waiter = hub::spawn(move || {
        let _g = g;
        let registration = hub::Registration::new(std::os::fd::AsRawFd::as_raw_fd(&reader));
        let _ = registration.unwrap().wait(hub::Direction::Read, None);
        drop(reader);
    });
    // A guard whose greenlet tries to block while it is being torn down.
    let g = guard(&dropped);
    let blocking_in_drop = hub::spawn(move || {
        struct SleepOnDrop(#[allow(dead_code)] DropCounter);
        impl Drop for SleepOnDrop {
            fn drop(&mut self) {
                let _ = hub::sleep(Duration::from_millis(1));
            }
        }
        let _g = SleepOnDrop(g);
        let _ = hub::sleep(Duration::from_secs(3600));
    });

    hub::sleep(Duration::from_millis(20)).unwrap(); // let them all park
    assert_eq!(hub::Hub::current().live_tasks(), 6);
    // Handles are dropped too, except these: the teardown must not rely on them.
    std::mem::forget((sleeper, getter, never_started, io_waiter, blocking_in_drop));
    drop(event);
    hub::Hub::current().remote()
}

#[test]
fn exiting_thread_tears_its_hub_down() {
    // Warm up once so lazily made process-wide state (tracing, the overflow handler)
    // is not counted as a leak.
    let dropped = Arc::new(AtomicUsize::new(0));
    std::thread::spawn({
        let d = dropped.clone();
        move || drop(abandon_greenlets(d))
    })
    .join()
    .unwrap();
    assert_eq!(dropped.load(Ordering::SeqCst), 6);

    let fds = open_fds();
    let stacks = gen_core::live_stacks();
    for round in 1..=20 {
        let dropped = Arc::new(AtomicUsize::new(0));
        let d = dropped.clone();
        let remote = std::thread::spawn(move || abandon_greenlets(d))
            .join()
            .unwrap();
        assert_eq!(dropped.load(Ordering::SeqCst), 6, "round {round}");
        assert!(matches!(remote.call(|| {}), Err(hub::Error::HubGone)));
    }
    assert_eq!(open_fds(), fds, "fds leaked by exited threads");
    assert_eq!(
        gen_core::live_stacks(),
        stacks,
        "stacks leaked by exited threads"
    );
}
