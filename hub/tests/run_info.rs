//! `run_info` names every live greenlet, its state, what it waits on and its spawner.

use std::os::unix::net::UnixStream;
use std::time::Duration;

#[test]
fn run_info_describes_every_live_greenlet() {
    let (a, _b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&a);
    let reader = hub::Builder::new().name("reader").spawn(move || {
        let registration = hub::Registration::new(fd).unwrap();
        registration.wait(hub::Direction::Read, Some(Duration::from_secs(60)))
    });
    let event = hub::Event::new();
    let e = event.clone();
    let parent = hub::Builder::new().name("parent").spawn(move || {
        // Spawned by a greenlet: its spawner is named.
        let child = hub::Builder::new()
            .name("child")
            .spawn(|| hub::sleep(Duration::from_secs(60)));
        e.wait(None).unwrap();
        child.kill().unwrap();
    });
    let later = hub::Builder::new().name("later").spawn(|| ());
    // Two turns of the loop, not a timer (which a slow machine may see expire first):
    // the first runs reader, parent and later; the second the child parent spawned.
    hub::yield_now().unwrap();
    hub::yield_now().unwrap();
    let fresh = hub::Builder::new().name("fresh").spawn(|| ());

    let info = hub::run_info();
    let line = |name: &str| {
        info.lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no line for {name} in:\n{info}"))
            .to_owned()
    };
    assert!(info.starts_with("hub: 5 greenlets alive\n"), "{info}");
    assert!(line("main").contains("main running"), "{info}");
    let reader_line = line("\"reader\"");
    assert!(reader_line.contains("parked, waits on fd"), "{info}");
    assert!(
        reader_line.contains("readable or a deadline due in"),
        "{info}"
    );
    assert!(reader_line.contains("spawned by main"), "{info}");
    assert!(
        line("\"child\"").contains("waits on a sleep due in"),
        "{info}"
    );
    assert!(
        line("\"child\"").contains("spawned by \"parent\""),
        "{info}"
    );
    assert!(
        line("\"parent\"").contains("waits on an event, queue, lock or join"),
        "{info}"
    );
    assert!(line("\"fresh\"").contains("not started"), "{info}");
    assert!(
        !info.contains("\"later\""),
        "finished greenlets are not listed:\n{info}"
    );

    event.set();
    parent.join().unwrap();
    reader.kill().unwrap();
    later.join().unwrap();
    fresh.join().unwrap();
    let info = hub::run_info();
    assert!(info.starts_with("hub: 1 greenlets alive\n"), "{info}");
}
