//! The parent's ends of a child's stdio pipes, read and written cooperatively.

use std::cell::OnceCell;
use std::fs::File;
use std::io::{self, Read, Write};
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::process::Stdio;
use std::rc::Rc;

use hub::{Direction, Registration};

/// One end of a pipe in non-blocking mode and its registration with this thread's
/// hub, made on the first wait: a call tries the syscall and parks the greenlet
/// while it would block.
struct Pipe {
    // Dropped first: the registration must leave epoll before the fd closes.
    registration: OnceCell<Registration>,
    file: File,
    _hub_bound: PhantomData<Rc<()>>,
}

impl Pipe {
    fn new(fd: OwnedFd) -> io::Result<Pipe> {
        set_nonblocking(fd.as_fd(), true)?;
        Ok(Pipe {
            registration: OnceCell::new(),
            file: File::from(fd),
            _hub_bound: PhantomData,
        })
    }

    /// Runs `op` until it does not say `WouldBlock`, parking in between until the fd
    /// is ready in `direction`. A kill unwinds from the wait; a `hub::Timeout` of
    /// the caller's ends it with `TimedOut`.
    fn io<R>(
        &self,
        direction: Direction,
        mut op: impl FnMut(&File) -> io::Result<R>,
    ) -> io::Result<R> {
        loop {
            match op(&self.file) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                result => return result,
            }
            let registration = match self.registration.get() {
                Some(r) => r,
                None => {
                    let r = Registration::new(self.file.as_raw_fd())?;
                    self.registration.get_or_init(|| r)
                }
            };
            registration.wait(direction, None)?;
        }
    }

    /// The fd back in blocking mode, for a child that will inherit it.
    fn into_blocking_fd(self) -> io::Result<OwnedFd> {
        let Pipe {
            registration, file, ..
        } = self;
        drop(registration);
        let fd = OwnedFd::from(file);
        set_nonblocking(fd.as_fd(), false)?;
        Ok(fd)
    }
}

fn set_nonblocking(fd: BorrowedFd<'_>, nonblocking: bool) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: `raw` is open for the call (it is borrowed); F_GETFL reads its flags.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    let wanted = if nonblocking {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    // SAFETY: as above; F_SETFL only changes the open file description's flags,
    // which belong to this end of the pipe alone (the child holds the other end).
    if wanted != flags && unsafe { libc::fcntl(raw, libc::F_SETFL, wanted) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The read or write side of a pipe type: std's traits and the fd.
macro_rules! pipe_end {
    ($name:ident, $std:ty, $what:literal) => {
        #[doc = concat!("The parent's end of a child's ", $what, " (std's [`", stringify!($std), "`]); ")]
        #[doc = "a call that would block parks the greenlet instead of the thread."]
        ///
        /// `!Send`: it belongs to the hub of the thread that spawned the child.
        pub struct $name {
            pipe: Pipe,
        }

        impl $name {
            pub(crate) fn adopt(end: $std) -> io::Result<$name> {
                Ok($name {
                    pipe: Pipe::new(OwnedFd::from(end))?,
                })
            }
        }

        impl AsFd for $name {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.pipe.file.as_fd()
            }
        }

        impl AsRawFd for $name {
            fn as_raw_fd(&self) -> RawFd {
                self.pipe.file.as_raw_fd()
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("fd", &self.pipe.file.as_raw_fd())
                    .finish()
            }
        }

        impl TryFrom<$name> for Stdio {
            type Error = io::Error;

            /// Hands the pipe to another child (`a | b`), back in blocking mode.
            fn try_from(end: $name) -> io::Result<Stdio> {
                Ok(Stdio::from(end.pipe.into_blocking_fd()?))
            }
        }
    };
}

pipe_end!(ChildStdin, std::process::ChildStdin, "standard input");
pipe_end!(ChildStdout, std::process::ChildStdout, "standard output");
pipe_end!(ChildStderr, std::process::ChildStderr, "standard error");

impl Write for ChildStdin {
    /// A child that closed its stdin (or exited) gives `BrokenPipe` (Rust ignores
    /// `SIGPIPE`).
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pipe.io(Direction::Write, |mut f| f.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

macro_rules! readable_end {
    ($name:ident) => {
        impl Read for $name {
            /// `Ok(0)` once the child has closed its end (or exited).
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.pipe.io(Direction::Read, |mut f| f.read(buf))
            }
        }
    };
}

readable_end!(ChildStdout);
readable_end!(ChildStderr);
