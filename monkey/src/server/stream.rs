//! `StreamServer`: a greenlet per TCP connection.

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use super::DEFAULT_STOP_TIMEOUT;
use super::service::{Job, Service};
use crate::net::{TcpListener, TcpStream, ToSocketAddrs};

type Handler = dyn Fn(TcpStream, SocketAddr) -> io::Result<()>;

/// Accepts TCP connections and runs `handler(stream, peer)` in a new greenlet for each
/// (gevent's `gevent.server.StreamServer`). See [the module](super) for the rules.
/// Clones are handles to the same server.
///
/// ```
/// use std::io::{Read, Write};
/// use monkey::net::TcpStream;
/// use monkey::server::StreamServer;
///
/// let server = StreamServer::bind("127.0.0.1:0", |mut conn: TcpStream, _peer| {
///     let mut buf = [0; 5];
///     conn.read_exact(&mut buf)?;
///     conn.write_all(&buf.to_ascii_uppercase())
/// })
/// .unwrap()
/// .max_connections(100);
/// server.start().unwrap();
///
/// let mut client = TcpStream::connect(server.local_addr()).unwrap();
/// client.write_all(b"hello").unwrap();
/// let mut reply = String::new();
/// client.read_to_string(&mut reply).unwrap();
/// assert_eq!(reply, "HELLO");
/// server.stop(None);
/// ```
#[derive(Clone)]
pub struct StreamServer {
    service: Rc<Service>,
    /// Taken (and so closed) by `stop`; the serving greenlet holds a clone while it
    /// runs.
    listener: Rc<RefCell<Option<Rc<TcpListener>>>>,
    addr: SocketAddr,
    handler: Rc<Handler>,
}

impl StreamServer {
    /// Listens on `addr` (std's `bind`; use [`new`](Self::new) with
    /// [`TcpListener::bind_reuseport`] to share a port between hubs).
    pub fn bind<A, H>(addr: A, handler: H) -> io::Result<StreamServer>
    where
        A: ToSocketAddrs,
        H: Fn(TcpStream, SocketAddr) -> io::Result<()> + 'static,
    {
        StreamServer::new(TcpListener::bind(addr)?, handler)
    }

    /// Serves on a listener already bound (gevent's `StreamServer(listener, handle)`).
    pub fn new<H>(listener: TcpListener, handler: H) -> io::Result<StreamServer>
    where
        H: Fn(TcpStream, SocketAddr) -> io::Result<()> + 'static,
    {
        let addr = listener.local_addr()?;
        Ok(StreamServer {
            service: Service::new(format!("StreamServer on {addr}")),
            listener: Rc::new(RefCell::new(Some(Rc::new(listener)))),
            addr,
            handler: Rc::new(handler),
        })
    }

    /// Runs at most `max` handlers at once (gevent's `spawn=Pool(max)`); past that,
    /// accepting waits until one finishes. Set it before starting.
    ///
    /// # Panics
    /// If `max` is 0.
    pub fn max_connections(self, max: usize) -> StreamServer {
        self.service.set_cap(max);
        self
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections being handled now.
    pub fn connections(&self) -> usize {
        self.service.handlers()
    }

    /// True between [`start`](Self::start) and [`stop`](Self::stop) (gevent's
    /// `started`).
    pub fn is_serving(&self) -> bool {
        self.service.is_serving()
    }

    /// Starts accepting in a greenlet of its own and returns (gevent's `start()`).
    /// Starting twice, or after a stop, is an error.
    pub fn start(&self) -> io::Result<()> {
        let listener = self
            .listener
            .borrow()
            .clone()
            .ok_or_else(|| io::Error::other(format!("{} was stopped", self.service.label())))?;
        let handler = self.handler.clone();
        self.service.start(move || {
            let (stream, peer) = listener.accept()?;
            let handler = handler.clone();
            Ok(Box::new(move || handler(stream, peer)) as Job)
        })
    }

    /// Starts if needed, then parks until the server is stopped (gevent's
    /// `serve_forever()`). Returns the error that ended serving, if one did.
    pub fn serve_forever(&self) -> io::Result<()> {
        if !self.is_serving() {
            self.start()?;
        }
        self.service.wait_stopped()
    }

    /// Stops accepting and closes the listening socket, lets the running handlers
    /// finish for up to `timeout` ([`DEFAULT_STOP_TIMEOUT`] when `None`), then kills
    /// those still running (gevent's `stop(timeout)`). Returns how many it killed.
    /// Call it from outside the handlers (one waiting for itself would wait the
    /// whole timeout).
    pub fn stop(&self, timeout: Option<Duration>) -> usize {
        // The serving greenlet is gone with its clone when the socket is taken: the
        // port closes before the handlers are waited for.
        let listener = &self.listener;
        self.service
            .stop(timeout.unwrap_or(DEFAULT_STOP_TIMEOUT), || {
                drop(listener.take());
            })
    }

    /// Stops the server, as [`stop`](Self::stop) with `timeout`, when one of
    /// `signals` arrives (for a service: `SIGTERM` and `SIGINT`), through
    /// [`hub::signal`].
    pub fn stop_on_signals(&self, signals: &[i32], timeout: Duration) -> io::Result<()> {
        let signals = hub::signal::Signals::new(signals)?;
        let server = self.clone();
        let watcher = hub::Builder::new()
            .name(format!("{} signal watcher", self.service.label()))
            .spawn(move || {
                if let Ok(signal) = signals.wait() {
                    hub::report_error(
                        server.service.label(),
                        &format!("stopping on signal {signal}"),
                    );
                    drop(server.service.take_signal_watcher());
                    server.stop(Some(timeout));
                }
            });
        self.service.set_signal_watcher(watcher);
        Ok(())
    }
}

impl fmt::Debug for StreamServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamServer")
            .field("addr", &self.addr)
            .field("serving", &self.is_serving())
            .field("connections", &self.connections())
            .finish()
    }
}

/// Runs a server on each of `threads` hubs, one per thread, all accepting on `addr`
/// through their own `SO_REUSEPORT` listener, so the kernel spreads connections over
/// the hubs (one hub per core: pass [`hub::cores`]). `serve(i, listener)` runs on hub
/// `i` (build a [`StreamServer`] on the listener and
/// [`serve_forever`](StreamServer::serve_forever)); its result is that hub's entry in
/// the returned list. A port of 0 is resolved once: every hub gets the same port.
///
/// With one hub, `serve(0, listener)` runs on the calling thread's hub and no thread is
/// started: a process that never starts one stays single-threaded, and glibc then
/// skips its cancellation bookkeeping around every `recv` and `send` (about a sixth of
/// the echo server's user-space time when a second thread exists). A panic in `serve`
/// is caught and returned as an error either way.
///
/// ```no_run
/// use std::time::Duration;
/// use monkey::server::{StreamServer, serve_on_hubs};
///
/// serve_on_hubs(hub::cores(), "0.0.0.0:8080", |hub, listener| {
///     if hub == 0 {
///         println!("listening on {}", listener.local_addr()?);
///     }
///     let server = StreamServer::new(listener, |_conn, _peer| Ok(()))?;
///     server.stop_on_signals(&[hub::signal::SIGTERM], Duration::from_secs(5))?;
///     server.serve_forever()
/// })
/// .unwrap();
/// ```
pub fn serve_on_hubs<A, F>(threads: usize, addr: A, serve: F) -> io::Result<Vec<io::Result<()>>>
where
    A: ToSocketAddrs,
    F: Fn(usize, TcpListener) -> io::Result<()> + Sync,
{
    let first = TcpListener::bind_reuseport(addr)?;
    if threads <= 1 {
        let served = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| serve(0, first)));
        return Ok(vec![served.unwrap_or_else(|panic| {
            Err(io::Error::other(hub::Error::Panicked(panic).to_string()))
        })]);
    }
    let addr = first.local_addr()?;
    // Sockets belong to the hub that made them: the first crosses threads as a std
    // listener, the others are bound on their own hub.
    let first = std::sync::Mutex::new(Some(std::net::TcpListener::from(first)));
    let results = hub::run_hubs(threads.max(1), |i| {
        let listener = match first.lock().map(|mut f| f.take()) {
            Ok(Some(std)) if i == 0 => TcpListener::from(std),
            _ => TcpListener::bind_reuseport(addr)?,
        };
        serve(i, listener)
    });
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| Err(io::Error::other(e.to_string()))))
        .collect())
}
