//! `patch` with a subset of the families: only those cooperate. (A binary of its
//! own: what is patched is process-wide and cannot be undone.)

use std::cell::RefCell;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

use monkey_patch::{Patch, patch, patched};

#[test]
fn only_the_patched_family_cooperates_and_original_never_does() {
    assert!(!monkey_patch::is_patched());
    patch(Patch {
        sleep: true,
        ..Patch::none()
    });
    assert!(monkey_patch::is_patched());
    assert_eq!(
        patched(),
        Patch {
            sleep: true,
            ..Patch::none()
        }
    );

    let log = Rc::new(RefCell::new(Vec::new()));
    // Sleeps cooperate...
    let l = log.clone();
    let sleeper = hub::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        l.borrow_mut().push("slept");
    });
    let l = log.clone();
    let other = hub::spawn(move || l.borrow_mut().push("other"));
    sleeper.join().unwrap();
    other.join().unwrap();
    // ...sockets do not: the read blocks the thread until another thread writes.
    let (mut a, mut b) = UnixStream::pair().unwrap();
    let l = log.clone();
    let reader = hub::spawn(move || {
        let mut buf = [0u8; 1];
        a.read_exact(&mut buf).unwrap();
        l.borrow_mut().push("read");
    });
    let l = log.clone();
    let other = hub::spawn(move || l.borrow_mut().push("other"));
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        b.write_all(b"!").unwrap();
    });
    reader.join().unwrap();
    other.join().unwrap();
    writer.join().unwrap();
    // The original function never cooperates, patched or not.
    let l = log.clone();
    let original = hub::spawn(move || {
        let t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 20_000_000,
        };
        // SAFETY: a valid timespec; no remainder wanted.
        let r = unsafe { monkey_patch::original::nanosleep(&t, std::ptr::null_mut()) };
        l.borrow_mut().push("original slept");
        r
    });
    let l = log.clone();
    let other = hub::spawn(move || l.borrow_mut().push("other"));
    assert_eq!(original.join().unwrap(), 0);
    other.join().unwrap();
    assert_eq!(
        *log.borrow(),
        ["other", "slept", "read", "other", "original slept", "other"]
    );
    // Patching more adds to it.
    monkey_patch::patch_all();
    assert_eq!(patched(), Patch::all());
}
