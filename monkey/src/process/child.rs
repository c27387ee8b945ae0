//! A running child: its exit noticed through the hub's loop (a pidfd), its pipes,
//! and the reaping of children dropped before they were waited for.

use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{ExitStatus, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hub::{Direction, Registration};

use super::pipe::{ChildStderr, ChildStdin, ChildStdout};

/// A child process spawned by [`Command`](super::Command) (std's
/// [`std::process::Child`]): waiting for it parks the greenlet, not the thread.
///
/// Unlike std's, dropping a child that has not been waited for leaves no zombie: it
/// is reaped in the background once it exits (as gevent's child watcher does), and
/// killed first if [`Command::kill_on_drop`](super::Command::kill_on_drop) asked for
/// it.
pub struct Child {
    /// The child's stdin, if it was [`Stdio::piped`](std::process::Stdio::piped).
    pub stdin: Option<ChildStdin>,
    /// The child's stdout, if piped.
    pub stdout: Option<ChildStdout>,
    /// The child's stderr, if piped.
    pub stderr: Option<ChildStderr>,
    // Dropped before `inner` (see `Drop`): the registration leaves epoll before the
    // pidfd closes.
    exit: ExitWatch,
    inner: Option<std::process::Child>,
    status: Option<ExitStatus>,
    kill_on_drop: bool,
}

/// How the child's exit is noticed.
enum ExitWatch {
    /// A pidfd (Linux 5.3+), readable once the child has exited, registered with the
    /// hub on the first wait.
    Pidfd {
        registration: Option<Registration>,
        fd: OwnedFd,
    },
    /// No pidfd (an older kernel, or a sandbox that forbids `pidfd_open`): the child
    /// is polled with `waitpid(WNOHANG)`, sleeping 1 ms doubling to 50 ms in between.
    Polling,
    /// The child has been reaped.
    Closed,
}

impl ExitWatch {
    fn close(&mut self) {
        if let ExitWatch::Pidfd { registration, .. } = self {
            // The registration leaves epoll before the fd closes.
            drop(registration.take());
        }
        *self = ExitWatch::Closed;
    }
}

impl Child {
    pub(crate) fn new(mut inner: std::process::Child, kill_on_drop: bool) -> io::Result<Child> {
        let exit = match pidfd_open(inner.id()) {
            Ok(fd) => ExitWatch::Pidfd {
                registration: None,
                fd,
            },
            Err(e) => {
                static WARNED: AtomicBool = AtomicBool::new(false);
                if !WARNED.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "pidfd_open is unavailable ({e}): monkey::process polls child exits \
                         every 1 to 50 ms instead of being told by the loop"
                    );
                }
                ExitWatch::Polling
            }
        };
        let stdin = inner.stdin.take().map(ChildStdin::adopt).transpose();
        let stdout = inner.stdout.take().map(ChildStdout::adopt).transpose();
        let stderr = inner.stderr.take().map(ChildStderr::adopt).transpose();
        let mut child = Child {
            stdin: None,
            stdout: None,
            stderr: None,
            exit,
            inner: Some(inner),
            status: None,
            kill_on_drop,
        };
        // On an error here the child is dropped: killed if asked, and reaped.
        child.stdin = stdin?;
        child.stdout = stdout?;
        child.stderr = stderr?;
        Ok(child)
    }

    /// The OS process id.
    pub fn id(&self) -> u32 {
        self.std().id()
    }

    /// Sends `SIGKILL` (std's `kill`); a child that has already exited is not an
    /// error. It does not wait: call [`wait`](Self::wait) to reap it.
    pub fn kill(&mut self) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        self.std_mut().kill()
    }

    /// Its exit status if it has exited, without waiting.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.std_mut().try_wait()?;
            if self.status.is_some() {
                // Reaped: the pidfd has nothing more to say; close it now (a waited
                // child holds no fd, as std's holds none).
                self.exit.close();
            }
        }
        Ok(self.status)
    }

    /// Waits for it to exit, parking the greenlet; closes its stdin first (as std
    /// does, so a child reading its input sees the end). A kill of the waiting
    /// greenlet unwinds from here; a [`hub::Timeout`] ends it with `TimedOut`.
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        match self.wait_until(None)? {
            Some(status) => Ok(status),
            None => unreachable!("a wait without a deadline ends with the exit"),
        }
    }

    /// Waits at most `timeout` for it to exit: `None` if it is still running then
    /// (gevent's `Popen.wait(timeout)`). Its stdin is left open.
    pub fn wait_timeout(&mut self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        let deadline = Instant::now().checked_add(timeout);
        self.wait_until(deadline)
    }

    /// Waits for it to exit while collecting its stdout and stderr (std's
    /// `wait_with_output`); stdin is closed first. Both pipes are read at once (the
    /// stderr by a helper greenlet), so a child filling one while we read the other
    /// cannot deadlock.
    pub fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let stderr = self.stderr.take().map(|mut err| {
            KillOnDrop(Some(hub::spawn(move || -> io::Result<Vec<u8>> {
                let mut buf = Vec::new();
                err.read_to_end(&mut buf)?;
                Ok(buf)
            })))
        });
        let mut stdout = Vec::new();
        if let Some(out) = self.stdout.as_mut() {
            out.read_to_end(&mut stdout)?;
        }
        let stderr = match stderr {
            Some(mut reader) => {
                let handle = reader.0.take().expect("set above");
                handle.join().map_err(io::Error::from)??
            }
            None => Vec::new(),
        };
        let status = self.wait()?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }

    /// The std child, for what only it offers (its stdio fields are always `None`:
    /// they moved into this type's).
    pub fn as_std(&self) -> &std::process::Child {
        self.std()
    }

    fn std(&self) -> &std::process::Child {
        self.inner.as_ref().expect("present until dropped")
    }

    fn std_mut(&mut self) -> &mut std::process::Child {
        self.inner.as_mut().expect("present until dropped")
    }

    /// Waits for the exit until `deadline`: `Ok(None)` once it has passed.
    fn wait_until(&mut self, deadline: Option<Instant>) -> io::Result<Option<ExitStatus>> {
        let mut backoff = Duration::from_millis(1);
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            let remaining = match deadline {
                Some(at) => match at.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return Ok(None),
                },
                None => None,
            };
            match &mut self.exit {
                ExitWatch::Pidfd { registration, fd } => {
                    let registration = match registration {
                        Some(r) => r,
                        None => registration.insert(Registration::new(fd.as_raw_fd())?),
                    };
                    match registration.wait(Direction::Read, remaining) {
                        Ok(()) => {}
                        // Our own deadline: the loop's next turn returns `None`.
                        Err(hub::Error::Timeout)
                            if deadline.is_some_and(|at| Instant::now() >= at) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                ExitWatch::Closed => unreachable!("closed once reaped, and reaped ends the wait"),
                ExitWatch::Polling => {
                    let nap = remaining.map_or(backoff, |left| left.min(backoff));
                    hub::sleep(nap)?;
                    backoff = (backoff * 2).min(Duration::from_millis(50));
                }
            }
        }
    }
}

impl std::fmt::Debug for Child {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.inner.as_ref().map(|c| c.id()))
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .field("status", &self.status)
            .field("pidfd", &matches!(self.exit, ExitWatch::Pidfd { .. }))
            .finish()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.exit.close();
        let Some(mut inner) = self.inner.take() else {
            return;
        };
        if self.status.is_some() {
            return;
        }
        if self.kill_on_drop {
            let _ = inner.kill();
        }
        if let Ok(Some(_)) = inner.try_wait() {
            return;
        }
        reap_in_background(inner);
    }
}

/// Waits for a child nobody will wait for, so it leaves no zombie. A short-lived
/// thread does it: a drop may happen where no greenlet can be spawned (a hub
/// callback, the hub's teardown at thread exit), and `waitpid` on one pid cannot
/// take another child's status from the code that waits for that one.
fn reap_in_background(mut child: std::process::Child) {
    let pid = child.id();
    let spawned = std::thread::Builder::new()
        .name(format!("reap {pid}"))
        .stack_size(64 * 1024)
        .spawn(move || {
            let _ = child.wait();
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start a thread to reap child {pid}: {e}; it will stay a zombie");
    }
}

/// Kills a helper greenlet if the one that spawned it unwinds first.
struct KillOnDrop<T>(Option<hub::JoinHandle<T>>);

impl<T> Drop for KillOnDrop<T> {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            h.kill_nowait();
        }
    }
}

/// `pidfd_open(2)`: an fd that becomes readable when the process exits.
fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    #[cfg(test)]
    if super::tests::FORCE_POLLING.with(|f| f.get()) {
        return Err(io::Error::from_raw_os_error(libc::ENOSYS));
    }
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
    // SAFETY: pidfd_open takes a pid and flags (0) and returns a new fd or -1; it
    // touches no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).expect("an fd fits in an int");
    // SAFETY: the syscall just returned this fd, open and owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
