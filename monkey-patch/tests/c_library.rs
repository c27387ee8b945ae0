//! A C library, compiled by this test (the `cc` crate) into a shared object and
//! loaded with `dlopen`, whose blocking `connect`/`recv`/`poll`/`nanosleep` calls
//! reach the hooks and cooperate: the C code never heard of greenlets.

mod common;

use std::cell::RefCell;
use std::ffi::{CString, c_char, c_int, c_long, c_void};
use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

const SOURCE: &str = r#"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Connects to 127.0.0.1:port, waits up to timeout_ms for data with poll, reads it
   with recv. Returns the byte count, or -errno. */
long c_fetch(int port, char *buf, long n, int timeout_ms) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -errno;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        int e = errno; close(fd); return -e;
    }
    struct pollfd p = { fd, POLLIN, 0 };
    int r = poll(&p, 1, timeout_ms);
    if (r <= 0) { int e = r == 0 ? ETIMEDOUT : errno; close(fd); return -e; }
    long got = recv(fd, buf, n, 0);
    int e = errno;
    close(fd);
    return got < 0 ? -e : got;
}

/* Sleeps ms milliseconds with nanosleep. */
int c_nap(long ms) {
    struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
    return nanosleep(&t, 0);
}
"#;

type Fetch = unsafe extern "C" fn(c_int, *mut c_char, c_long, c_int) -> c_long;
type Nap = unsafe extern "C" fn(c_long) -> c_int;

/// Compiles the library into `dir` and loads it.
fn build_and_load(dir: &Path) -> (Fetch, Nap) {
    let src = dir.join("coop.c");
    std::fs::File::create(&src)
        .unwrap()
        .write_all(SOURCE.as_bytes())
        .unwrap();
    let so = dir.join("libcoop.so");
    let compiler = cc::Build::new()
        .target("x86_64-unknown-linux-gnu")
        .host("x86_64-unknown-linux-gnu")
        .opt_level(1)
        .cargo_metadata(false)
        .get_compiler();
    let status = compiler
        .to_command()
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&src)
        .status()
        .unwrap();
    assert!(status.success(), "cc failed");
    let path = CString::new(so.to_str().unwrap()).unwrap();
    // SAFETY: a valid path; the library has no constructors.
    let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW) };
    assert!(!handle.is_null(), "dlopen failed");
    let symbol = |name: &std::ffi::CStr| {
        // SAFETY: a valid handle and name.
        let f = unsafe { libc::dlsym(handle, name.as_ptr()) };
        assert!(!f.is_null(), "{name:?} missing");
        f
    };
    // SAFETY: the symbols are the functions defined above, with these prototypes.
    unsafe {
        (
            std::mem::transmute::<*mut c_void, Fetch>(symbol(c"c_fetch")),
            std::mem::transmute::<*mut c_void, Nap>(symbol(c"c_nap")),
        )
    }
}

#[test]
fn c_connect_poll_recv_and_nanosleep_cooperate() {
    monkey_patch::patch_all();
    let dir = tempfile::tempdir().unwrap();
    let (fetch, nap) = build_and_load(dir.path());

    // A std server in a greenlet of the same hub: if the C calls blocked the thread,
    // it could never accept and the clients would hang.
    const CLIENTS: usize = 5;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = hub::spawn(move || {
        for _ in 0..CLIENTS {
            let (mut conn, _) = listener.accept().unwrap();
            hub::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                conn.write_all(b"hello").unwrap();
            });
        }
    });
    let log = Rc::new(RefCell::new(Vec::new()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let log = log.clone();
            hub::spawn(move || {
                log.borrow_mut().push(("start", i));
                let mut buf = [0 as c_char; 16];
                // SAFETY: a valid buffer of 16 bytes.
                let n = unsafe { fetch(port as c_int, buf.as_mut_ptr(), 16, 5000) };
                log.borrow_mut().push(("end", i));
                (n, buf[..5].iter().map(|&b| b as u8).collect::<Vec<u8>>())
            })
        })
        .collect();
    for c in clients {
        assert_eq!(c.join().unwrap(), (5, b"hello".to_vec()));
    }
    server.join().unwrap();
    common::assert_all_started_before_any_ended(&log.borrow(), CLIENTS);

    // nanosleep from C lets another greenlet run meanwhile.
    let order = Rc::new(RefCell::new(Vec::new()));
    let o = order.clone();
    let napper = hub::spawn(move || {
        // SAFETY: no pointers.
        let r = unsafe { nap(30) };
        o.borrow_mut().push("nap over");
        r
    });
    let o = order.clone();
    let other = hub::spawn(move || o.borrow_mut().push("other"));
    assert_eq!(napper.join().unwrap(), 0);
    other.join().unwrap();
    assert_eq!(*order.borrow(), ["other", "nap over"]);

    // The C poll's own timeout: nothing is sent, so -ETIMEDOUT after 30 ms.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let keep = hub::spawn(move || silent.accept().map(|(c, _)| c));
    // SAFETY: a valid buffer.
    let timed_out =
        hub::spawn(move || unsafe { fetch(port as c_int, [0 as c_char; 4].as_mut_ptr(), 4, 30) });
    assert_eq!(timed_out.join().unwrap(), -(libc::ETIMEDOUT as c_long));
    drop(keep.join().unwrap());
}
