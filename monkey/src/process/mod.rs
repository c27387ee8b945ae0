//! Child processes with std's API whose waits switch to the hub
//! (`std::process` → `monkey::process`; gevent's `gevent.subprocess`).
//!
//! [`Command`] is std's builder; [`Child`]'s pipes are read and written in
//! non-blocking mode, parking the greenlet while they would block, and its exit is
//! noticed through the hub's loop: a pidfd (Linux 5.3+) registered with epoll
//! becomes readable when the child exits. So one thread can run a hundred children,
//! feed them and wait for them while its other greenlets keep running.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::process::Stdio;
//! use monkey::process::Command;
//!
//! # fn main() -> std::io::Result<()> {
//! let out = Command::new("echo").arg("hello").output()?;
//! assert!(out.status.success());
//! assert_eq!(out.stdout, b"hello\n");
//!
//! // Feed a child and read it back while another greenlet runs.
//! let mut child = Command::new("tr")
//!     .args(["a-z", "A-Z"])
//!     .stdin(Stdio::piped())
//!     .stdout(Stdio::piped())
//!     .spawn()?;
//! let mut stdin = child.stdin.take().unwrap();
//! let feeder = hub::spawn(move || stdin.write_all(b"shout")); // closes stdin when done
//! let mut shouted = String::new();
//! child.stdout.take().unwrap().read_to_string(&mut shouted)?;
//! feeder.join().unwrap()?;
//! assert_eq!(shouted, "SHOUT");
//! assert!(child.wait()?.success());
//! # Ok(())
//! # }
//! ```
//!
//! # Where it differs from std
//! - A [`Child`] dropped before it was waited for leaves no zombie: it is reaped in
//!   the background when it exits (gevent's child watcher does the same), and with
//!   [`Command::kill_on_drop`] it is killed first. So a greenlet killed while it
//!   waits for a child does not leak it.
//! - [`Child::wait_timeout`] is gevent's `Popen.wait(timeout)`.
//! - The pipe types are `!Send` (they belong to this thread's hub); to pipe one
//!   child into another use `Stdio::try_from(child.stdout.take().unwrap())`.
//! - The fork and exec themselves run on the hub's thread (std's `spawn`, a few
//!   hundred microseconds): only the waits are cooperative.
//! - Without pidfds (kernels before 5.3, sandboxes that forbid `pidfd_open`) a
//!   waiting greenlet polls the child with `waitpid(WNOHANG)`, sleeping on the hub
//!   between tries (1 ms doubling to 50 ms): still cooperative, a little late.
//!
//! # gevent.subprocess names not here
//! - `check_call` / `check_output` / `CalledProcessError`: std's shape has none; test
//!   [`ExitStatus::success`] on what `status`/`output` return.
//! - `communicate(input, timeout)`: write the input from a spawned greenlet while
//!   [`Child::wait_with_output`] reads; bound it with [`hub::Timeout`].
//! - `shell=True`: run `sh -c`, as with std.

mod child;
mod pipe;

pub use child::Child;
pub use pipe::{ChildStderr, ChildStdin, ChildStdout};
pub use std::process::{ExitStatus, Output, Stdio};

use std::ffi::OsStr;
use std::io;
use std::path::Path;

/// A process builder with std's API (std's [`std::process::Command`]), whose
/// children are waited for and talked to cooperatively.
#[derive(Debug)]
pub struct Command {
    inner: std::process::Command,
    kill_on_drop: bool,
    /// Which streams the caller configured: [`output`](Self::output) pipes the others
    /// for its own spawn only, as std's does.
    stdin_set: bool,
    stdout_set: bool,
    stderr_set: bool,
}

impl Command {
    /// A command running `program`, with std's defaults: the parent's environment
    /// and working directory; stdio inherited for `spawn` and `status`.
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command::from(std::process::Command::new(program))
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.inner.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inner.args(args);
        self
    }

    /// Sets an environment variable for the child.
    pub fn env(&mut self, key: impl AsRef<OsStr>, val: impl AsRef<OsStr>) -> &mut Command {
        self.inner.env(key, val);
        self
    }

    /// Sets environment variables for the child.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.inner.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.inner.env_remove(key);
        self
    }

    /// Starts the child with an empty environment.
    pub fn env_clear(&mut self) -> &mut Command {
        self.inner.env_clear();
        self
    }

    /// The child's working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.inner.current_dir(dir);
        self
    }

    /// The child's stdin: [`Stdio::piped`] gives [`Child::stdin`].
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner.stdin(cfg);
        self.stdin_set = true;
        self
    }

    /// The child's stdout: [`Stdio::piped`] gives [`Child::stdout`].
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner.stdout(cfg);
        self.stdout_set = true;
        self
    }

    /// The child's stderr: [`Stdio::piped`] gives [`Child::stderr`].
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner.stderr(cfg);
        self.stderr_set = true;
        self
    }

    /// Kill the child with `SIGKILL` if its [`Child`] is dropped before it exited
    /// (for instance because the greenlet waiting for it was killed). Off by
    /// default, as in std: a dropped child keeps running (and is reaped when it
    /// exits).
    pub fn kill_on_drop(&mut self, kill: bool) -> &mut Command {
        self.kill_on_drop = kill;
        self
    }

    /// The std builder, for what only it offers (`CommandExt`'s `pre_exec`, `uid`,
    /// `process_group`, …).
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.inner
    }

    /// Starts the child (std's `spawn`; the stdio inherited unless configured).
    pub fn spawn(&mut self) -> io::Result<Child> {
        Child::new(self.inner.spawn()?, self.kill_on_drop)
    }

    /// Runs the child to completion, collecting its stdout and stderr (piped unless
    /// configured; stdin is null unless configured), as std's `output`.
    pub fn output(&mut self) -> io::Result<Output> {
        let defaults = [!self.stdin_set, !self.stdout_set, !self.stderr_set];
        if defaults[0] {
            self.inner.stdin(Stdio::null());
        }
        if defaults[1] {
            self.inner.stdout(Stdio::piped());
        }
        if defaults[2] {
            self.inner.stderr(Stdio::piped());
        }
        let spawned = self.spawn();
        // Back to std's default for later spawns: inherit what the caller left unset.
        if defaults[0] {
            self.inner.stdin(Stdio::inherit());
        }
        if defaults[1] {
            self.inner.stdout(Stdio::inherit());
        }
        if defaults[2] {
            self.inner.stderr(Stdio::inherit());
        }
        spawned?.wait_with_output()
    }

    /// Runs the child to completion with inherited stdio and returns its status, as
    /// std's `status`.
    pub fn status(&mut self) -> io::Result<ExitStatus> {
        self.spawn()?.wait()
    }
}

impl From<std::process::Command> for Command {
    /// Adopts a std builder. Streams it already configured count as unset for
    /// [`output`](Command::output), which pipes stdout and stderr.
    fn from(inner: std::process::Command) -> Command {
        Command {
            inner,
            kill_on_drop: false,
            stdin_set: false,
            stdout_set: false,
            stderr_set: false,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::cell::Cell;
    use std::time::Duration;

    use super::*;

    thread_local! {
        /// Makes `pidfd_open` fail as on a kernel without it, to test the fallback.
        pub(crate) static FORCE_POLLING: Cell<bool> = const { Cell::new(false) };
    }

    #[test]
    fn without_pidfds_exits_are_polled_cooperatively() {
        FORCE_POLLING.with(|f| f.set(true));
        let ticks = std::rc::Rc::new(Cell::new(0u32));
        let counter = ticks.clone();
        let ticker = hub::spawn(move || {
            loop {
                counter.set(counter.get() + 1);
                hub::sleep(Duration::from_millis(5)).unwrap();
            }
        });
        // A child that cannot exit on its own: the timed wait ends without it, however
        // slow the machine; then a kill's exit is noticed by polling.
        let mut child = Command::new("sleep").arg("600").spawn().unwrap();
        assert_eq!(child.wait_timeout(Duration::from_millis(20)).unwrap(), None);
        child.kill().unwrap();
        assert!(!child.wait().unwrap().success());
        let out = Command::new("sh")
            .args(["-c", "echo out; echo err >&2; exit 4"])
            .output()
            .unwrap();
        FORCE_POLLING.with(|f| f.set(false));
        assert_eq!(out.status.code(), Some(4));
        assert_eq!(
            (&out.stdout[..], &out.stderr[..]),
            (&b"out\n"[..], &b"err\n"[..])
        );
        assert!(ticks.get() > 0, "the ticker ran while the root waited");
        ticker.kill().unwrap();
    }
}
