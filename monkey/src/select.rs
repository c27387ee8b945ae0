//! A cooperative `select` over file descriptors (gevent's `gevent.select.select`).
//!
//! The fds are first polled without waiting (`poll(2)`, timeout 0). If none is
//! ready, they are added to a private epoll instance, level-triggered, and that
//! epoll fd (readable whenever one of them is ready) is registered with the hub: the
//! greenlet parks on it until something is ready or the timeout passes, then polls
//! again. Fds that already belong to monkey sockets can be passed: the private
//! epoll instance is separate from the hub's.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use hub::{Direction, Registration};

/// What the readable, writable and exceptional lists became.
pub type Selected = (Vec<RawFd>, Vec<RawFd>, Vec<RawFd>);

/// Waits until some of `read` are readable, `write` writable, or `except` have an
/// exceptional condition (TCP urgent data), or `timeout` passes, and returns those
/// ready, each list in the order given (Python's `select.select(rlist, wlist, xlist,
/// timeout)`). A timeout returns three empty lists; `None` waits for ever; with no
/// fds at all it is a cooperative sleep. The other greenlets run while it waits.
///
/// As with `select(2)`, an fd at end of file or in error counts as readable, one in
/// error as writable. A negative fd is `InvalidInput`; a closed one is the `EBADF`
/// error. A [`hub::Timeout`] interrupts it with `TimedOut`.
///
/// ```
/// use std::time::Duration;
/// use std::os::fd::AsRawFd;
/// use std::os::unix::net::UnixStream;
///
/// let (a, b) = UnixStream::pair().unwrap();
/// // Nothing to read yet: times out with empty lists; `b` is writable.
/// let (r, w, _) = monkey::select::select(&[a.as_raw_fd()], &[b.as_raw_fd()], &[],
///     Some(Duration::from_millis(10))).unwrap();
/// assert!(r.is_empty() && w == [b.as_raw_fd()]);
///
/// let writer = hub::spawn(move || {
///     monkey::thread::sleep(Duration::from_millis(10));
///     std::io::Write::write_all(&mut &b, b"!").unwrap();
/// });
/// let (r, _, _) = monkey::select::select(&[a.as_raw_fd()], &[], &[], None).unwrap();
/// assert_eq!(r, [a.as_raw_fd()]);
/// writer.join().unwrap();
/// ```
pub fn select(
    read: &[RawFd],
    write: &[RawFd],
    except: &[RawFd],
    timeout: Option<Duration>,
) -> io::Result<Selected> {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let mut set = PollSet::new(read, write, except)?;
    if set.is_empty() {
        match timeout {
            Some(t) => hub::sleep(crate::thread::clamp(t))?,
            // Nothing can ever be ready: park until killed, or until the hub says
            // nothing could ever wake us.
            None => hub::Waiter::new()?.park()?,
        }
        return Ok(Default::default());
    }
    let ready = set.poll_now(read, write, except)?;
    if ready.0.len() + ready.1.len() + ready.2.len() > 0 || timeout == Some(Duration::ZERO) {
        return Ok(ready);
    }
    let watch = Watch::new(&set)?;
    loop {
        let remaining = match deadline {
            Some(at) => match at.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => return Ok(Default::default()),
            },
            None => None,
        };
        match watch.registration.wait(Direction::Read, remaining) {
            Ok(()) => {}
            Err(hub::Error::Timeout) if deadline.is_some_and(|at| Instant::now() >= at) => {
                return Ok(Default::default());
            }
            Err(e) => return Err(e.into()),
        }
        let ready = set.poll_now(read, write, except)?;
        if ready.0.len() + ready.1.len() + ready.2.len() > 0 {
            return Ok(ready);
        }
    }
}

/// The `select(2)` readiness sets, in `poll(2)` bits.
const READABLE: i16 = libc::POLLIN | libc::POLLHUP | libc::POLLERR;
const WRITABLE: i16 = libc::POLLOUT | libc::POLLERR;
const EXCEPTIONAL: i16 = libc::POLLPRI;

/// One `pollfd` per distinct fd, with the union of what was asked for it.
struct PollSet {
    fds: Vec<libc::pollfd>,
    index: BTreeMap<RawFd, usize>,
}

impl PollSet {
    fn new(read: &[RawFd], write: &[RawFd], except: &[RawFd]) -> io::Result<PollSet> {
        let mut set = PollSet {
            fds: Vec::new(),
            index: BTreeMap::new(),
        };
        let lists = [
            (read, libc::POLLIN),
            (write, libc::POLLOUT),
            (except, libc::POLLPRI),
        ];
        for (list, events) in lists {
            for &fd in list {
                if fd < 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("file descriptor cannot be a negative integer ({fd})"),
                    ));
                }
                let i = *set.index.entry(fd).or_insert_with(|| {
                    set.fds.push(libc::pollfd {
                        fd,
                        events: 0,
                        revents: 0,
                    });
                    set.fds.len() - 1
                });
                set.fds[i].events |= events;
            }
        }
        Ok(set)
    }

    fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }

    /// `poll(2)` without waiting; the ready fds of each list, in the lists' order.
    fn poll_now(
        &mut self,
        read: &[RawFd],
        write: &[RawFd],
        except: &[RawFd],
    ) -> io::Result<Selected> {
        loop {
            // SAFETY: `fds` is a valid, exclusively borrowed array of `len` pollfds.
            let n = unsafe { libc::poll(self.fds.as_mut_ptr(), self.fds.len() as libc::nfds_t, 0) };
            if n >= 0 {
                break;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        if self.fds.iter().any(|p| p.revents & libc::POLLNVAL != 0) {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        let pick = |list: &[RawFd], bits: i16| -> Vec<RawFd> {
            list.iter()
                .copied()
                .filter(|fd| self.fds[self.index[fd]].revents & bits != 0)
                .collect()
        };
        Ok((
            pick(read, READABLE),
            pick(write, WRITABLE),
            pick(except, EXCEPTIONAL),
        ))
    }
}

/// A private epoll instance watching the set (level-triggered), registered with the
/// hub. Field order matters: the registration is dropped before the epoll fd closes.
struct Watch {
    registration: Registration,
    _epoll: OwnedFd,
}

impl Watch {
    fn new(set: &PollSet) -> io::Result<Watch> {
        // SAFETY: plain syscall; the result is checked before use.
        let raw = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a new fd that nothing else owns.
        let epoll = unsafe { OwnedFd::from_raw_fd(raw) };
        for p in &set.fds {
            let mut events = 0u32;
            if p.events & libc::POLLIN != 0 {
                events |= libc::EPOLLIN as u32;
            }
            if p.events & libc::POLLOUT != 0 {
                events |= libc::EPOLLOUT as u32;
            }
            if p.events & libc::POLLPRI != 0 {
                events |= libc::EPOLLPRI as u32;
            }
            let mut event = libc::epoll_event {
                events,
                u64: p.fd as u64,
            };
            // SAFETY: `epoll` is open and `event` outlives the call.
            let r = unsafe {
                libc::epoll_ctl(epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, p.fd, &mut event)
            };
            if r < 0 {
                let e = io::Error::last_os_error();
                // Regular files cannot be watched; `poll` always reports them ready
                // for reading and writing, so only their (never coming) exceptional
                // condition is lost.
                if e.raw_os_error() != Some(libc::EPERM) {
                    return Err(e);
                }
            }
        }
        let registration = Registration::new(epoll.as_raw_fd())?;
        Ok(Watch {
            registration,
            _epoll: epoll,
        })
    }
}
