//! The hooks' semantics, each shown with plain std or libc calls made by greenlets
//! after `patch_all()`: cooperation is proven by the order in which things happen,
//! never by an upper bound on time.

mod common;

use std::cell::RefCell;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, IntoRawFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// An event log shared by the greenlets of one test.
#[derive(Clone, Default)]
struct Log(Rc<RefCell<Vec<&'static str>>>);

impl Log {
    fn push(&self, event: &'static str) {
        self.0.borrow_mut().push(event);
    }
    fn events(&self) -> Vec<&'static str> {
        self.0.borrow().clone()
    }
}

fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (b, _) = listener.accept().unwrap();
    (a, b)
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap()
}

fn set_errno(value: i32) {
    // SAFETY: the calling thread's errno.
    unsafe { *libc::__errno_location() = value };
}

#[test]
fn std_sleep_lets_other_greenlets_run() {
    monkey_patch::patch_all();
    let log = Log::default();
    let (l1, l2) = (log.clone(), log.clone());
    let sleeper = hub::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        l1.push("slept");
    });
    let other = hub::spawn(move || l2.push("other ran"));
    sleeper.join().unwrap();
    other.join().unwrap();
    assert_eq!(log.events(), ["other ran", "slept"]);
}

#[test]
fn unpatched_blocks_the_thread_and_does_not_leak_into_other_greenlets() {
    monkey_patch::patch_all();
    let log = Log::default();
    let (l1, l2, l3) = (log.clone(), log.clone(), log.clone());
    let blocking = hub::spawn(move || {
        monkey_patch::unpatched(|| {
            std::thread::sleep(Duration::from_millis(30));
            l1.push("unpatched sleep done");
            // Parks on the hub while inside `unpatched`: the others must still
            // cooperate meanwhile (the bypass is this greenlet's, not the thread's).
            hub::sleep(Duration::from_millis(60)).unwrap();
        });
        l1.push("blocking done");
    });
    let patched = hub::spawn(move || {
        l2.push("patched starts");
        std::thread::sleep(Duration::from_millis(20));
        l2.push("patched slept");
    });
    let ticker = hub::spawn(move || l3.push("ticker"));
    blocking.join().unwrap();
    patched.join().unwrap();
    ticker.join().unwrap();
    assert_eq!(
        log.events(),
        [
            "unpatched sleep done",
            "patched starts",
            "ticker",
            "patched slept",
            "blocking done"
        ]
    );
}

#[test]
fn recv_parks_until_data_arrives() {
    monkey_patch::patch_all();
    let (mut a, mut b) = tcp_pair();
    let log = Log::default();
    let (l1, l2) = (log.clone(), log.clone());
    let reader = hub::spawn(move || {
        let mut buf = [0u8; 5];
        a.read_exact(&mut buf).unwrap();
        l1.push("read");
        buf
    });
    let writer = hub::spawn(move || {
        l2.push("writer runs");
        std::thread::sleep(Duration::from_millis(20));
        b.write_all(b"hello").unwrap();
        l2.push("wrote");
        b
    });
    assert_eq!(&reader.join().unwrap(), b"hello");
    let _b = writer.join().unwrap();
    assert_eq!(log.events(), ["writer runs", "wrote", "read"]);
}

#[test]
fn accept_and_connect_cooperate_and_refusal_keeps_its_kind() {
    monkey_patch::patch_all();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let log = Log::default();
    let (l1, l2) = (log.clone(), log.clone());
    let server = hub::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        l1.push("accepted");
        conn.write_all(b"x").unwrap();
    });
    let client = hub::spawn(move || {
        l2.push("client runs");
        let mut c = TcpStream::connect(addr).unwrap();
        let mut b = [0u8];
        c.read_exact(&mut b).unwrap();
        l2.push("client read");
    });
    server.join().unwrap();
    client.join().unwrap();
    assert_eq!(log.events(), ["client runs", "accepted", "client read"]);

    // A port nobody listens on: the non-blocking connect's SO_ERROR comes back.
    let (_reserved, closed) = common::refused_addr();
    let refused = hub::spawn(move || TcpStream::connect(closed).map(|_| ()));
    assert_eq!(
        refused.join().unwrap().unwrap_err().kind(),
        ErrorKind::ConnectionRefused
    );
}

#[test]
fn user_nonblocking_socket_still_answers_would_block_at_once() {
    monkey_patch::patch_all();
    let (mut a, _b) = tcp_pair();
    a.set_nonblocking(true).unwrap();
    let log = Log::default();
    let l2 = log.clone();
    let other = hub::spawn(move || l2.push("other ran"));
    let reader = hub::spawn(move || {
        let mut buf = [0u8; 4];
        let e = a.read(&mut buf).unwrap_err();
        (e.kind(), errno())
    });
    // The reader started after `other` was queued; had it parked, the order would
    // be the same, so also check it never waited: its error is immediate.
    let (kind, raw) = reader.join().unwrap();
    other.join().unwrap();
    assert_eq!(kind, ErrorKind::WouldBlock);
    assert_eq!(raw, libc::EAGAIN);
    // And from the thread's own code, where parking is possible too.
    let (mut c, _d) = tcp_pair();
    c.set_nonblocking(true).unwrap();
    assert_eq!(
        c.read(&mut [0u8; 4]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
}

/// A greenlet that ticks `n` times, letting the loop turn before each tick: done a
/// few turns after the test starts waiting, if the wait lets the loop run.
fn ticker(n: u32) -> (Rc<RefCell<u32>>, hub::JoinHandle<()>) {
    let ticks = Rc::new(RefCell::new(0u32));
    let t = ticks.clone();
    let h = hub::spawn(move || {
        for _ in 0..n {
            hub::yield_now().unwrap();
            *t.borrow_mut() += 1;
        }
    });
    (ticks, h)
}

#[test]
fn read_timeout_expires_with_std_kind_while_others_run() {
    monkey_patch::patch_all();
    let (mut a, _b) = tcp_pair();
    a.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let (ticks, ticker) = ticker(3);
    let start = Instant::now();
    let reader = hub::spawn(move || {
        let kind = a.read(&mut [0u8; 4]).unwrap_err().kind();
        (kind, *ticks.borrow())
    });
    // WouldBlock, as std says for an expired SO_RCVTIMEO, and the ticker ran meanwhile.
    assert_eq!(reader.join().unwrap(), (ErrorKind::WouldBlock, 3));
    assert!(start.elapsed() >= Duration::from_millis(50));
    ticker.join().unwrap();
}

#[test]
fn write_timeout_expires_with_std_kind() {
    monkey_patch::patch_all();
    let (mut a, _b) = tcp_pair();
    a.set_write_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let (ticks, ticker) = ticker(2);
    let writer = hub::spawn(move || {
        let chunk = vec![0u8; 1 << 16];
        loop {
            if let Err(e) = a.write(&chunk) {
                return (e.kind(), *ticks.borrow());
            }
        }
    });
    assert_eq!(writer.join().unwrap(), (ErrorKind::WouldBlock, 2));
    ticker.join().unwrap();
}

#[test]
fn hub_timeout_interrupts_hooked_io_and_sleep() {
    monkey_patch::patch_all();
    let (mut a, _b) = tcp_pair();
    let read =
        hub::spawn(move || hub::with_timeout(Duration::from_millis(20), || a.read(&mut [0u8; 4])));
    let (result, inner) = match read.join().unwrap() {
        Err(e) => (Err(e), None),
        Ok(inner) => (Ok(()), Some(inner)),
    };
    // The timeout made the read fail with TimedOut, and with_timeout knows it.
    assert_eq!(result, Err(hub::Error::Timeout));
    assert!(inner.is_none());

    let (mut c, _d) = tcp_pair();
    let kind = hub::spawn(move || {
        let t = hub::Timeout::start(Duration::from_millis(20));
        let kind = c.read(&mut [0u8; 4]).unwrap_err().kind();
        (kind, t.interrupted())
    });
    assert_eq!(kind.join().unwrap(), (ErrorKind::TimedOut, true));

    // A sleep cannot fail in std: it ends early, and the timeout says it fired.
    let slept = hub::spawn(|| {
        hub::with_timeout(Duration::from_millis(20), || {
            std::thread::sleep(Duration::from_secs(30))
        })
    });
    assert_eq!(slept.join().unwrap(), Err(hub::Error::Timeout));
}

#[test]
fn kill_inside_a_hook_never_aborts_and_join_says_killed() {
    monkey_patch::patch_all();
    let log = Log::default();
    // Killed in a read: the read fails with ECANCELED, and the next wait in Rust
    // code unwinds.
    let (mut a, _b) = tcp_pair();
    let l1 = log.clone();
    let reader = hub::spawn(move || {
        let e = a.read(&mut [0u8; 4]).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ECANCELED));
        l1.push("read failed");
        let _ = hub::sleep(Duration::from_millis(1));
        l1.push("after the next wait (must not happen)");
    });
    // Killed in a sleep, and the function returns before waiting again.
    let l2 = log.clone();
    let sleeper = hub::spawn(move || {
        std::thread::sleep(Duration::from_secs(30));
        l2.push("sleep ended");
        7
    });
    hub::sleep(Duration::from_millis(10)).unwrap();
    reader.kill().unwrap();
    sleeper.kill().unwrap();
    assert_eq!(reader.join(), Err(hub::Error::Killed));
    assert_eq!(sleeper.join(), Err(hub::Error::Killed));
    assert_eq!(log.events(), ["read failed", "sleep ended"]);
}

#[test]
fn close_wakes_a_waiter_with_ebadf() {
    monkey_patch::patch_all();
    let (a, _b) = UnixStream::pair().unwrap();
    let fd = a.into_raw_fd();
    let waiter = hub::spawn(move || {
        let mut buf = [0u8; 4];
        // SAFETY: a valid buffer; the fd is closed meanwhile (that is the test).
        let r = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), 4, 0) };
        (r, errno())
    });
    let closer = hub::spawn(move || {
        // SAFETY: the fd is ours; the waiter only uses its number.
        assert_eq!(unsafe { libc::close(fd) }, 0);
    });
    closer.join().unwrap();
    assert_eq!(waiter.join().unwrap(), (-1, libc::EBADF));
}

#[test]
fn dup2_over_a_waited_fd_wakes_the_waiter_and_the_number_then_names_the_new_file() {
    monkey_patch::patch_all();
    let (a, _b) = UnixStream::pair().unwrap();
    let (c, mut d) = UnixStream::pair().unwrap();
    let fd = a.as_raw_fd();
    let waiter = hub::spawn(move || {
        // SAFETY: a valid buffer.
        let r = unsafe { libc::recv(fd, [0u8; 1].as_mut_ptr().cast(), 1, 0) };
        (r, errno())
    });
    hub::sleep(Duration::from_millis(5)).unwrap();
    // SAFETY: both valid fds; `a` keeps owning the number, now naming `c`'s socket.
    assert_eq!(unsafe { libc::dup2(c.as_raw_fd(), fd) }, fd);
    drop(c);
    assert_eq!(waiter.join().unwrap(), (-1, libc::EBADF));

    // Waiting on the number now waits for the new socket's data, not on the old
    // file's registration.
    let reader = hub::spawn(move || {
        let mut buf = [0u8; 3];
        let n = (&a).read(&mut buf).unwrap();
        (n, buf)
    });
    let writer = hub::spawn(move || {
        std::thread::sleep(Duration::from_millis(10));
        d.write_all(b"new").unwrap();
    });
    writer.join().unwrap();
    assert_eq!(reader.join().unwrap(), (3, *b"new"));
}

#[test]
fn errno_is_the_callers_after_success_and_the_calls_after_failure() {
    monkey_patch::patch_all();
    let (mut a, mut b) = tcp_pair();
    let reader = hub::spawn(move || {
        set_errno(1234);
        let n = a.read(&mut [0u8; 4]).unwrap();
        (n, errno())
    });
    let writer = hub::spawn(move || {
        std::thread::sleep(Duration::from_millis(5));
        b.write_all(b"ok").unwrap();
        b
    });
    let _b = writer.join().unwrap();
    assert_eq!(reader.join().unwrap(), (2, 1234));

    set_errno(99);
    std::thread::sleep(Duration::from_millis(1));
    assert_eq!(errno(), 99);
    // SAFETY: fd -1 is invalid on purpose.
    let r = unsafe { libc::recv(-1, std::ptr::null_mut(), 0, 0) };
    assert_eq!((r, errno()), (-1, libc::EBADF));
}

#[test]
fn poll_and_select_wait_on_many_fds_and_time_out() {
    monkey_patch::patch_all();
    let (a1, _b1) = UnixStream::pair().unwrap();
    let (a2, mut b2) = UnixStream::pair().unwrap();
    let fds = [a1.as_raw_fd(), a2.as_raw_fd()];
    let log = Log::default();
    let (l1, l2) = (log.clone(), log.clone());
    let poller = hub::spawn(move || {
        let mut set = fds.map(|fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        });
        // SAFETY: a valid array of two pollfds.
        let n = unsafe { libc::poll(set.as_mut_ptr(), 2, -1) };
        l1.push("poll returned");
        (n, set.map(|p| p.revents))
    });
    let writer = hub::spawn(move || {
        l2.push("writer runs");
        std::thread::sleep(Duration::from_millis(10));
        b2.write_all(b"!").unwrap();
        b2
    });
    let mut b2 = writer.join().unwrap();
    assert_eq!(poller.join().unwrap(), (1, [0, libc::POLLIN]));
    assert_eq!(log.events(), ["writer runs", "poll returned"]);

    // select: a timeout with nothing ready returns 0, others running meanwhile.
    let ticks = Rc::new(RefCell::new(0));
    let t = ticks.clone();
    let ticker = hub::spawn(move || {
        std::thread::sleep(Duration::from_millis(5));
        *t.borrow_mut() += 1;
    });
    let fd = a1.as_raw_fd();
    let selector = hub::spawn(move || {
        // SAFETY: fd_set is plain data, zeroed then filled with FD_SET.
        let mut read: libc::fd_set = unsafe { std::mem::zeroed() };
        // SAFETY: fd is below FD_SETSIZE.
        unsafe { libc::FD_SET(fd, &mut read) };
        let mut tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 30_000,
        };
        // SAFETY: valid set and timeval.
        let n = unsafe {
            libc::select(
                fd + 1,
                &mut read,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                &mut tv,
            )
        };
        // SAFETY: as above.
        (n, unsafe { libc::FD_ISSET(fd, &read) })
    });
    assert_eq!(selector.join().unwrap(), (0, false));
    ticker.join().unwrap();
    assert_eq!(*ticks.borrow(), 1);

    // select reports the ready fd once data comes.
    let fd2 = a2.as_raw_fd();
    let mut buf = [0u8; 1];
    (&a2).read_exact(&mut buf).unwrap();
    let selector = hub::spawn(move || {
        // SAFETY: as above.
        let mut read: libc::fd_set = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        unsafe { libc::FD_SET(fd2, &mut read) };
        // SAFETY: a valid set; no timeout.
        let n = unsafe {
            libc::select(
                fd2 + 1,
                &mut read,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        // SAFETY: as above.
        (n, unsafe { libc::FD_ISSET(fd2, &read) })
    });
    let writer = hub::spawn(move || b2.write_all(b"?").unwrap());
    writer.join().unwrap();
    assert_eq!(selector.join().unwrap(), (1, true));
}

#[test]
fn host_names_resolve_on_the_thread_pool() {
    monkey_patch::patch_all();
    use std::net::ToSocketAddrs;
    let resolved = hub::spawn(|| {
        ("localhost", 80)
            .to_socket_addrs()
            .map(|addrs| addrs.count())
    });
    assert!(resolved.join().unwrap().unwrap() >= 1);
    assert!(hub::Hub::current().threadpool().threads() >= 1);
    let missing = hub::spawn(|| ("no-such-host.invalid", 80).to_socket_addrs().map(|_| ()));
    assert!(missing.join().unwrap().is_err());
}

#[test]
fn threads_without_a_hub_and_hub_callbacks_get_the_plain_call() {
    monkey_patch::patch_all();
    // A plain thread: the sleep blocks it, and no hub is made for it.
    let plain = std::thread::spawn(|| {
        let start = Instant::now();
        std::thread::sleep(Duration::from_millis(20));
        (start.elapsed(), hub::hooks::can_park())
    });
    let (slept, could_park) = plain.join().unwrap();
    assert!(slept >= Duration::from_millis(20));
    assert!(!could_park);

    // A hub callback cannot park: its sleep is the plain, blocking one.
    let seen = Rc::new(RefCell::new(None));
    let s = seen.clone();
    let done = hub::spawn(|| ());
    done.link(move || {
        let start = Instant::now();
        let could_park = hub::hooks::can_park();
        std::thread::sleep(Duration::from_millis(20));
        *s.borrow_mut() = Some((could_park, start.elapsed()));
    });
    done.join().unwrap();
    hub::sleep(Duration::from_millis(30)).unwrap();
    let (could_park, slept) = seen.borrow_mut().take().expect("the callback ran");
    assert!(!could_park);
    assert!(slept >= Duration::from_millis(20));
}

#[test]
fn files_pipes_and_std_streams_pass_through() {
    monkey_patch::patch_all();
    let mut fds = [0; 2];
    // SAFETY: a valid array for two fds.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let (r, w) = (fds[0], fds[1]);
    let reader = hub::spawn(move || {
        let mut buf = [0u8; 2];
        // SAFETY: valid buffer and fd. A pipe is not a socket: this read blocks the
        // thread, so the data must be there first.
        let n = unsafe { libc::read(r, buf.as_mut_ptr().cast(), 2) };
        (n, buf)
    });
    // SAFETY: valid buffer and fd.
    assert_eq!(unsafe { libc::write(w, b"ab".as_ptr().cast(), 2) }, 2);
    assert_eq!(reader.join().unwrap(), (2, *b"ab"));
    // SAFETY: our fds.
    unsafe {
        libc::close(r);
        libc::close(w);
    }
    let dir = std::env::temp_dir().join(format!("monkey-patch-{}", std::process::id()));
    std::fs::write(&dir, b"file").unwrap();
    let read = hub::spawn({
        let dir = dir.clone();
        move || std::fs::read(dir).unwrap()
    });
    assert_eq!(read.join().unwrap(), b"file");
    std::fs::remove_file(dir).unwrap();
}

#[test]
fn a_fork_child_does_not_cooperate() {
    monkey_patch::patch_all();
    assert!(monkey_patch::is_patched());
    // The parent has a hub on this thread; the child's copy must not be used.
    hub::sleep(Duration::from_millis(1)).unwrap();
    // SAFETY: the child only reads atomics, sleeps and exits with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        // The copied hub still queues a spawn; a cooperative sleep would run it.
        let ran = Rc::new(RefCell::new(false));
        let r = ran.clone();
        let _queued = hub::spawn(move || *r.borrow_mut() = true);
        let start = Instant::now();
        std::thread::sleep(Duration::from_millis(20));
        let ok = !monkey_patch::is_patched()
            && !*ran.borrow()
            && start.elapsed() >= Duration::from_millis(20);
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status));
    assert_eq!(libc::WEXITSTATUS(status), 0);
    assert!(monkey_patch::is_patched());
}

#[test]
fn hubs_made_by_run_hubs_cooperate() {
    monkey_patch::patch_all();
    // On each hub thread, a std sleep lets the hub's other greenlet run first.
    let orders = hub::run_hubs(2, |_| {
        let log = Log::default();
        let (l1, l2) = (log.clone(), log.clone());
        let sleeper = hub::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            l1.push("slept");
        });
        let other = hub::spawn(move || l2.push("other ran"));
        sleeper.join().unwrap();
        other.join().unwrap();
        log.events()
    });
    for order in orders {
        assert_eq!(order.unwrap(), ["other ran", "slept"]);
    }
}

#[test]
fn close_wakes_a_poll_and_a_select_on_the_fd() {
    monkey_patch::patch_all();
    // poll: the closed fd comes back as POLLNVAL.
    let (a, _b) = UnixStream::pair().unwrap();
    let fd = a.into_raw_fd();
    let poller = hub::spawn(move || {
        let mut set = [libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        }];
        // SAFETY: a valid pollfd; no timeout.
        let n = unsafe { libc::poll(set.as_mut_ptr(), 1, -1) };
        (n, set[0].revents)
    });
    let closer = hub::spawn(move || {
        // SAFETY: our fd; the poller only uses its number.
        unsafe { libc::close(fd) };
    });
    closer.join().unwrap();
    assert_eq!(poller.join().unwrap(), (1, libc::POLLNVAL));

    // select: EBADF, as gevent's select raises.
    let (c, _d) = UnixStream::pair().unwrap();
    let fd = c.into_raw_fd();
    let selector = hub::spawn(move || {
        // SAFETY: fd_set is plain data.
        let mut read: libc::fd_set = unsafe { std::mem::zeroed() };
        // SAFETY: fd is below FD_SETSIZE.
        unsafe { libc::FD_SET(fd, &mut read) };
        // SAFETY: a valid set; no timeout.
        let n = unsafe {
            libc::select(
                fd + 1,
                &mut read,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        (n, errno())
    });
    let closer = hub::spawn(move || {
        // SAFETY: as above.
        unsafe { libc::close(fd) };
    });
    closer.join().unwrap();
    assert_eq!(selector.join().unwrap(), (-1, libc::EBADF));
}

#[test]
fn a_socket_replaced_behind_the_hooks_back_by_a_pipe_still_reads() {
    monkey_patch::patch_all();
    let (a, mut b) = UnixStream::pair().unwrap();
    let fd = a.as_raw_fd();
    // A read through `read(2)` learns that the number is a socket.
    b.write_all(b"s").unwrap();
    let first = hub::spawn(move || {
        let mut buf = [0u8; 1];
        // SAFETY: valid buffer and fd.
        unsafe { libc::read(fd, buf.as_mut_ptr().cast(), 1) }
    });
    assert_eq!(first.join().unwrap(), 1);
    // The number now names a pipe, replaced by a raw system call the hooks never
    // see: their cached answer is stale, and the read must still work.
    let mut pipe = [0; 2];
    // SAFETY: a valid array for two fds.
    assert_eq!(unsafe { libc::pipe(pipe.as_mut_ptr()) }, 0);
    // SAFETY: valid fds; `a` keeps owning the number.
    assert_eq!(
        unsafe { libc::syscall(libc::SYS_dup2, pipe[0], fd) },
        fd as i64
    );
    // SAFETY: valid buffer and fd.
    assert_eq!(unsafe { libc::write(pipe[1], b"p".as_ptr().cast(), 1) }, 1);
    let second = hub::spawn(move || {
        let mut buf = [0u8; 1];
        // SAFETY: valid buffer and fd.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), 1) };
        (n, buf)
    });
    assert_eq!(second.join().unwrap(), (1, *b"p"));
    // SAFETY: our pipe's fds.
    unsafe {
        libc::close(pipe[0]);
        libc::close(pipe[1]);
    }
}

#[test]
fn send_returns_once_all_is_sent_and_waitall_once_all_has_come() {
    monkey_patch::patch_all();
    let (a, b) = UnixStream::pair().unwrap();
    const BIG: usize = 4 << 20; // far more than a socket buffer holds
    let (afd, bfd) = (a.as_raw_fd(), b.as_raw_fd());
    let sender = hub::spawn(move || {
        let data = vec![7u8; BIG];
        // SAFETY: a valid buffer of BIG bytes.
        let n = unsafe { libc::send(afd, data.as_ptr().cast(), BIG, 0) };
        drop(a);
        n
    });
    let receiver = hub::spawn(move || {
        let mut buf = vec![0u8; BIG];
        // SAFETY: a valid buffer of BIG bytes.
        let n = unsafe { libc::recv(bfd, buf.as_mut_ptr().cast(), BIG, libc::MSG_WAITALL) };
        drop(b);
        (n, buf.iter().all(|&x| x == 7))
    });
    assert_eq!(sender.join().unwrap(), BIG as isize);
    assert_eq!(receiver.join().unwrap(), (BIG as isize, true));

    // MSG_WAITALL ends early only at the peer's end: what came, then.
    let (c, mut d) = UnixStream::pair().unwrap();
    let cfd = c.as_raw_fd();
    let receiver = hub::spawn(move || {
        let mut buf = [0u8; 8];
        // SAFETY: a valid buffer of 8 bytes.
        let n = unsafe { libc::recv(cfd, buf.as_mut_ptr().cast(), 8, libc::MSG_WAITALL) };
        (n, buf)
    });
    let writer = hub::spawn(move || {
        d.write_all(b"ab").unwrap();
        std::thread::sleep(Duration::from_millis(5));
        d.write_all(b"cd").unwrap();
    });
    writer.join().unwrap();
    assert_eq!(receiver.join().unwrap(), (4, *b"abcd\0\0\0\0"));
    drop(c);
}
