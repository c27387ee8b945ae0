//! `monkey::process` (gevent.subprocess): children run, fed, read and waited for
//! cooperatively from one thread, and nothing left behind: fds and zombies are
//! counted before and after every test.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::rc::Rc;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use monkey::process::{Command, Stdio};

/// The tests count the process's fds and zombie children: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Holds the lock and checks, when the test ends well, that the fds and zombie
/// children are back to what they were.
struct Leaks {
    fds: BTreeSet<(String, String)>,
    _serial: MutexGuard<'static, ()>,
}

impl Leaks {
    fn start() -> Leaks {
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        hub::Hub::current(); // its epoll and waker fds are not the test's
        // Children of earlier tests reaped in the background may still be zombies.
        eventually("no zombie children at the start", || zombie_children() == 0);
        Leaks {
            fds: open_fds(),
            _serial: serial,
        }
    }

    fn check(self) {
        eventually("every child reaped", || zombie_children() == 0);
        // Only new fds count: an earlier test's thread may close its hub's meanwhile.
        let leaked: Vec<_> = open_fds().difference(&self.fds).cloned().collect();
        assert!(leaked.is_empty(), "fds leaked: {leaked:?}");
        assert_eq!(
            hub::Hub::current().registrations(),
            0,
            "hub registrations leaked"
        );
    }
}

/// Open fds with what they point at.
fn open_fds() -> BTreeSet<(String, String)> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            // The directory being listed is open too.
            if target.starts_with("/proc") && target.ends_with("fd") {
                return None;
            }
            Some((
                e.file_name().to_string_lossy().into_owned(),
                target.display().to_string(),
            ))
        })
        .collect()
}

/// Children of this process that have exited and not been reaped.
fn zombie_children() -> usize {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
        .filter(|stat| {
            // "pid (comm) state ppid ...": comm may hold spaces, so split after ')'.
            let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
            let mut fields = rest.split_whitespace();
            let state = fields.next();
            let ppid = fields.next();
            state == Some("Z") && ppid == Some(me.as_str())
        })
        .count()
}

fn under_valgrind() -> bool {
    std::env::var("LD_PRELOAD").is_ok_and(|p| p.contains("vgpreload"))
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit_once(')')
            .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
    })
}

/// Waits (generously: CI is loaded and runs valgrind) for `cond` to hold.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        monkey::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn output_status_and_errors_are_std_shaped() {
    let leaks = Leaks::start();
    let out = Command::new("sh")
        .args(["-c", "echo out; echo err >&2; exit 3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    let status = Command::new("true").status().unwrap();
    assert!(status.success());
    match Command::new("/nonexistent/program").spawn() {
        Err(err) => assert_eq!(err.kind(), io::ErrorKind::NotFound),
        // Valgrind runs the exec itself and reports its failure as the child's exit.
        Ok(mut child) if under_valgrind() => assert!(!child.wait().unwrap().success()),
        Ok(child) => panic!("spawned a program that does not exist: {child:?}"),
    }
    // `output` pipes only for its own spawn: a later `status` inherits again (the
    // child's output would go to the test's stdout; `true` writes nothing).
    let mut cmd = Command::new("true");
    cmd.output().unwrap();
    assert!(cmd.status().unwrap().success());
    // Environment and working directory reach the child.
    let out = Command::new("sh")
        .args(["-c", "echo $GREETING; pwd"])
        .env("GREETING", "hi")
        .current_dir("/")
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"hi\n/\n");
    leaks.check();
}

#[test]
fn a_hundred_children_run_and_are_waited_for_on_one_thread() {
    let leaks = Leaks::start();
    const N: usize = 100;
    // Each child waits for a line from us, so all of them are alive at once.
    let mut children: Vec<_> = (0..N)
        .map(|_| {
            Command::new("sh")
                .args(["-c", "read x; echo got $x"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in &mut children {
        assert_eq!(child.try_wait().unwrap(), None, "alive until fed");
    }
    let ticks = Rc::new(Cell::new(0u32));
    let counter = ticks.clone();
    let ticker = hub::spawn(move || {
        loop {
            counter.set(counter.get() + 1);
            hub::yield_now().unwrap();
        }
    });
    let workers: Vec<_> = children
        .into_iter()
        .enumerate()
        .map(|(i, mut child)| {
            hub::spawn(move || -> io::Result<(String, bool)> {
                let mut stdin = child.stdin.take().unwrap();
                writeln!(stdin, "{i}")?;
                let out = child.wait_with_output()?;
                Ok((String::from_utf8(out.stdout).unwrap(), out.status.success()))
            })
        })
        .collect();
    for (i, w) in workers.iter().enumerate() {
        assert_eq!(w.join().unwrap().unwrap(), (format!("got {i}\n"), true));
    }
    assert!(
        ticks.get() > 0,
        "the other greenlet ran while the children were waited for"
    );
    ticker.kill().unwrap();
    leaks.check();
}

#[test]
fn a_child_killed_mid_output() {
    let leaks = Leaks::start();
    let mut child = Command::new("yes").stdout(Stdio::piped()).spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = vec![0; 64 * 1024];
    stdout.read_exact(&mut buf).unwrap();
    assert!(buf.starts_with(b"y\ny\n"));
    child.kill().unwrap();
    // What it wrote before dying is still there; then the end of the pipe.
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert_eq!(child.try_wait().unwrap(), Some(status));
    child.kill().unwrap(); // an exited child: not an error
    drop((child, stdout));
    leaks.check();
}

#[test]
fn a_child_that_closes_its_pipes_early() {
    let leaks = Leaks::start();
    // Closes stdout at once but keeps running: the reader sees the end of file
    // while the child is alive.
    let mut child = Command::new("sh")
        .args(["-c", "exec >&-; read x; exit 7"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    assert!(out.is_empty());
    assert_eq!(
        child.try_wait().unwrap(),
        None,
        "still running after closing stdout"
    );
    assert_eq!(
        child.wait().unwrap().code(),
        Some(7),
        "wait closed stdin: `read` ended"
    );

    // Reads five bytes and exits: our writes then fail with BrokenPipe, no hang.
    let mut child = Command::new("head")
        .args(["-c", "5"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    let err = loop {
        if let Err(e) = stdin.write_all(&chunk) {
            break e;
        }
    };
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.stdout, b"xxxxx");
    assert!(out.status.success());
    leaks.check();
}

#[test]
fn killing_the_waiting_greenlet_does_not_leak_the_child() {
    let leaks = Leaks::start();
    // With kill_on_drop the child dies with the greenlet's unwinding, and is reaped.
    let pid = Rc::new(Cell::new(0));
    let out = pid.clone();
    let waiter = hub::spawn(move || {
        let mut child = Command::new("sleep")
            .arg("1000")
            .kill_on_drop(true)
            .spawn()?;
        out.set(child.id());
        child.wait()
    });
    while pid.get() == 0 {
        hub::yield_now().unwrap();
    }
    assert!(alive(pid.get()));
    waiter.kill().unwrap();
    assert!(matches!(waiter.join(), Err(hub::Error::Killed)));
    eventually("the killed child reaped", || {
        !Path::new(&format!("/proc/{}", pid.get())).exists()
    });

    // Without it the child keeps running, as in std, and is reaped once it exits.
    let pid = Rc::new(Cell::new(0));
    let out = pid.clone();
    let waiter = hub::spawn(move || {
        let mut child = Command::new("sleep").arg("0.3").spawn()?;
        out.set(child.id());
        child.wait()
    });
    while pid.get() == 0 {
        hub::yield_now().unwrap();
    }
    waiter.kill().unwrap();
    assert!(alive(pid.get()), "still running after its waiter died");
    eventually("the orphan reaped after its exit", || {
        !Path::new(&format!("/proc/{}", pid.get())).exists()
    });
    leaks.check();
}

#[test]
fn waits_honour_timeouts_and_refuse_hub_callbacks() {
    let leaks = Leaks::start();
    let mut child = Command::new("sleep").arg("1000").spawn().unwrap();
    assert_eq!(child.wait_timeout(Duration::from_millis(10)).unwrap(), None);
    let interrupted = hub::with_timeout(Duration::from_millis(10), || child.wait());
    assert!(matches!(interrupted, Err(hub::Error::Timeout) | Ok(Err(_))));
    if let Ok(Err(e)) = interrupted {
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    }
    // A hub callback cannot wait: an error, not a stalled loop.
    let child = Rc::new(std::cell::RefCell::new(child));
    let from_callback = Rc::new(std::cell::RefCell::new(None));
    let (c, r) = (child.clone(), from_callback.clone());
    let h = hub::spawn(|| ());
    h.link(move || *r.borrow_mut() = Some(c.borrow_mut().wait().map(|_| ())));
    h.join().unwrap();
    while from_callback.borrow().is_none() {
        hub::yield_now().unwrap();
    }
    let err = from_callback.borrow_mut().take().unwrap().unwrap_err();
    assert!(err.to_string().contains("hub callback"), "{err}");
    let mut child = Rc::try_unwrap(child).unwrap().into_inner();
    child.kill().unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    leaks.check();
}

#[test]
fn output_reads_both_pipes_at_once() {
    let leaks = Leaks::start();
    // More than a pipe's buffer on each stream: reading one after the other would
    // deadlock with the child blocked on the other.
    let out = Command::new("sh")
        .args([
            "-c",
            "head -c 1000000 /dev/zero >&2; head -c 1000000 /dev/zero; head -c 1000 /dev/zero >&2",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!((out.stdout.len(), out.stderr.len()), (1_000_000, 1_001_000));
    leaks.check();
}

#[test]
fn one_childs_stdout_feeds_another() {
    let leaks = Leaks::start();
    let mut producer = Command::new("echo")
        .arg("piped along")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let upstream = Stdio::try_from(producer.stdout.take().unwrap()).unwrap();
    let out = Command::new("tr")
        .args(["a-z", "A-Z"])
        .stdin(upstream)
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"PIPED ALONG\n");
    assert!(producer.wait().unwrap().success());
    leaks.check();
}
