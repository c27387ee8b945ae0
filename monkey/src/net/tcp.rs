//! `TcpStream` and `TcpListener`: std's types, cooperative.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{self, Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use hub::Direction;
use socket2::{Domain, Protocol, SockRef, Socket, Type};

use super::{Evented, ToSocketAddrs, WaitError, each_addr, no_addresses};

/// The listen backlog of [`TcpListener::bind_reuseport`] (the kernel caps it at
/// `net.core.somaxconn`).
const BACKLOG: i32 = 1024;

/// A TCP connection: [`std::net::TcpStream`] whose blocking calls park the greenlet
/// instead of the thread (gevent's `socket` of type `SOCK_STREAM`).
///
/// `Read` and `Write` are implemented for `&TcpStream` too, so one greenlet can read
/// while another writes the same stream. Two greenlets reading (or two writing) at
/// once is refused: the second gets [`io::ErrorKind::ResourceBusy`] (gevent's
/// `ConcurrentObjectUseError`). Read and write timeouts run on the hub's timers and
/// expire with [`io::ErrorKind::WouldBlock`], like std's on Unix; a
/// [`hub::Timeout`] interrupts any call with [`io::ErrorKind::TimedOut`]; killing the
/// greenlet unwinds it out of the call.
///
/// It is `!Send`: it belongs to the hub of the thread that made it. To move a
/// connection to another thread, convert it into a [`std::net::TcpStream`] and back
/// there. The kernel socket is always in non-blocking mode; the raw fd from
/// [`AsRawFd`](std::os::fd::AsRawFd) is too, and [`IntoRawFd`](std::os::fd::IntoRawFd) / `From` restore the mode std would have.
pub struct TcpStream {
    inner: Evented<net::TcpStream>,
}

impl TcpStream {
    fn from_evented(inner: Evented<net::TcpStream>) -> TcpStream {
        TcpStream { inner }
    }

    /// Opens a connection to `addr`, trying each address it resolves to in turn
    /// (host names are resolved on the hub's thread pool). The greenlet waits for the
    /// handshake; the loop keeps running.
    ///
    /// A [`hub::Timeout`] interrupting the wait ends the whole call (`TimedOut`)
    /// rather than moving on to the next address.
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        let mut last_err = None;
        for addr in addr.to_socket_addrs()? {
            match connect_addr(&addr, None) {
                Ok(stream) => return Ok(stream),
                Err(Connect::Interrupted(e)) => return Err(e),
                Err(Connect::Failed(e)) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(no_addresses))
    }

    /// Like [`connect`](Self::connect) to one address, giving up with
    /// [`io::ErrorKind::TimedOut`] after `timeout` (a zero timeout is `InvalidInput`).
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(zero_timeout());
        }
        connect_addr(addr, Instant::now().checked_add(timeout)).map_err(Connect::into_error)
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.socket().peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.socket().local_addr()
    }

    /// Shuts down the read half, the write half, or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.socket().shutdown(how)
    }

    /// A new handle to the same connection (a `dup` of the fd). As in std, the
    /// handles share the blocking mode and the timeouts.
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        self.inner
            .try_clone_with(net::TcpStream::try_clone)
            .map(TcpStream::from_evented)
    }

    /// Waits until a read may not block: data, end of file or an error has arrived,
    /// or may have (gevent's `wait_read`, tokio's `readable`). Not in std. Returns at
    /// once if the hub has seen the socket readable since a read last drained it;
    /// the read timeout applies (an expired one is `WouldBlock`, as for `read`). A server that takes its read
    /// buffer only after this holds none while a connection is idle:
    ///
    /// ```no_run
    /// use std::io::{Read, Write};
    /// # fn serve(mut stream: monkey::net::TcpStream) -> std::io::Result<()> {
    /// loop {
    ///     stream.readable()?; // parked here, an idle connection owns no buffer
    ///     let mut buf = vec![0u8; 4096]; // or one taken from a pool
    ///     let n = stream.read(&mut buf)?;
    ///     if n == 0 {
    ///         return Ok(());
    ///     }
    ///     stream.write_all(&buf[..n])?;
    /// }
    /// # }
    /// ```
    pub fn readable(&self) -> io::Result<()> {
        self.inner.ready(Direction::Read)
    }

    /// Waits until a write may not block (gevent's `wait_write`, tokio's `writable`);
    /// see [`readable`](Self::readable). The write timeout applies.
    pub fn writable(&self) -> io::Result<()> {
        self.inner.ready(Direction::Write)
    }

    /// Reads without removing the data from the queue.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.io(Direction::Read, |s| s.peek(buf))
    }

    /// `TCP_NODELAY`.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.socket().set_nodelay(nodelay)
    }

    /// `TCP_NODELAY`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.socket().nodelay()
    }
}

/// How one connection attempt failed.
enum Connect {
    /// This address did not work: try the next one.
    Failed(io::Error),
    /// The wait was interrupted (a `hub::Timeout`…): stop trying.
    Interrupted(io::Error),
}

impl Connect {
    fn into_error(self) -> io::Error {
        match self {
            Connect::Failed(e) | Connect::Interrupted(e) => e,
        }
    }
}

/// A non-blocking connect, then a cooperative wait for the handshake.
fn connect_addr(addr: &SocketAddr, deadline: Option<Instant>) -> Result<TcpStream, Connect> {
    let socket = Socket::new(
        Domain::for_address(*addr),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )
    .map_err(Connect::Failed)?;
    let stream = TcpStream::from_evented(Evented::new(net::TcpStream::from(socket)));
    match SockRef::from(stream.inner.socket()).connect(&(*addr).into()) {
        Ok(()) => return Ok(stream),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(Connect::Failed(e)),
    }
    loop {
        match stream.inner.wait(Direction::Write, deadline) {
            Ok(true) => {}
            Ok(false) => {
                return Err(Connect::Failed(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection timed out",
                )));
            }
            Err(WaitError::Hub(e)) => return Err(Connect::Interrupted(e.into())),
            Err(e) => return Err(Connect::Failed(e.into())),
        }
        // Writable: connected, or failed with the reason in SO_ERROR.
        if let Some(e) = stream.take_error().map_err(Connect::Failed)? {
            return Err(Connect::Failed(e));
        }
        match stream.peer_addr() {
            Ok(_) => return Ok(stream),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => continue, // spurious wake
            Err(e) => return Err(Connect::Failed(e)),
        }
    }
}

fn zero_timeout() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "cannot set a 0 duration timeout",
    )
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }
}

/// A stream read or write that moved fewer bytes than asked (and more than none)
/// found the kernel's buffer drained: no more data to read, or no more room to
/// write. Recording it saves the next call a syscall that would say `WouldBlock`.
fn note_short(inner: &Evented<net::TcpStream>, direction: Direction, done: usize, asked: usize) {
    if 0 < done && done < asked {
        inner.drained(direction);
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.io(Direction::Read, |mut s| s.read(buf))?;
        note_short(&self.inner, Direction::Read, n, buf.len());
        Ok(n)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        let n = self
            .inner
            .io(Direction::Read, |mut s| s.read_vectored(bufs))?;
        note_short(
            &self.inner,
            Direction::Read,
            n,
            bufs.iter().map(|b| b.len()).sum(),
        );
        Ok(n)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.io(Direction::Write, |mut s| s.write(buf))?;
        note_short(&self.inner, Direction::Write, n, buf.len());
        Ok(n)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let n = self
            .inner
            .io(Direction::Write, |mut s| s.write_vectored(bufs))?;
        note_short(
            &self.inner,
            Direction::Write,
            n,
            bufs.iter().map(|b| b.len()).sum(),
        );
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A TCP listening socket: [`std::net::TcpListener`] whose `accept` parks the
/// greenlet (gevent's listening `socket`; a server spawns one greenlet per accepted
/// connection, like gevent's `StreamServer`).
///
/// `!Send`, like [`TcpStream`]. Several threads, each with its own hub, can accept
/// on one port with [`bind_reuseport`](Self::bind_reuseport).
pub struct TcpListener {
    inner: Evented<net::TcpListener>,
}

impl TcpListener {
    /// Binds to `addr` (trying each address it resolves to), as std does.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        each_addr(&addr, |a| {
            let listener = net::TcpListener::bind(a)?;
            listener.set_nonblocking(true)?;
            Ok(TcpListener {
                inner: Evented::new(listener),
            })
        })
    }

    /// Binds with `SO_REUSEPORT` (and `SO_REUSEADDR`, as std sets): every thread that
    /// binds the same address this way gets its own listener, and the kernel spreads
    /// incoming connections over them. One hub per core, each accepting on its own
    /// listener, is how a server uses every core.
    pub fn bind_reuseport<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        each_addr(&addr, |a| {
            let socket = Socket::new(
                Domain::for_address(*a),
                Type::STREAM.nonblocking(),
                Some(Protocol::TCP),
            )?;
            socket.set_reuse_address(true)?;
            socket.set_reuse_port(true)?;
            socket.bind(&(*a).into())?;
            socket.listen(BACKLOG)?;
            Ok(TcpListener {
                inner: Evented::new(socket.into()),
            })
        })
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.socket().local_addr()
    }

    /// A new handle to the same listener (a `dup` of the fd).
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        let inner = self.inner.try_clone_with(net::TcpListener::try_clone)?;
        Ok(TcpListener { inner })
    }

    /// Waits for a connection; the greenlet parks, the loop runs.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        self.inner.io(Direction::Read, |listener| {
            // The new socket is non-blocking from birth: no extra fcntl.
            let (socket, addr) =
                SockRef::from(listener).accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)?;
            let stream = TcpStream::from_evented(Evented::new(net::TcpStream::from(socket)));
            let addr = addr.as_socket().ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, "peer address is not IP")
            })?;
            Ok((stream, addr))
        })
    }

    /// An endless iterator of [`accept`](Self::accept)ed connections (without the
    /// peer addresses).
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }
}

/// The iterator of [`TcpListener::incoming`]: accepts forever, never `None`.
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}

std_socket_conversions!(TcpStream, net::TcpStream);
std_socket_options!(TcpStream);
std_socket_timeouts!(TcpStream);

std_socket_conversions!(TcpListener, net::TcpListener);
std_socket_options!(TcpListener);
