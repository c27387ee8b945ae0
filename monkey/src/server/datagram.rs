//! `DatagramServer`: a greenlet per UDP datagram.

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use super::DEFAULT_STOP_TIMEOUT;
use super::service::{Job, Service};
use crate::net::{ToSocketAddrs, UdpSocket};

type Handler = dyn Fn(&UdpSocket, &[u8], SocketAddr) -> io::Result<()>;

/// The largest datagram received whole (a UDP payload's maximum).
const MAX_DATAGRAM: usize = 65_536;

/// Receives UDP datagrams and runs `handler(socket, data, peer)` in a new greenlet for
/// each (gevent's `gevent.server.DatagramServer`); the handler answers through
/// `socket.send_to`. The cap, error back-off and stop behave as for
/// [`StreamServer`](super::StreamServer); past the cap, receiving waits (datagrams
/// queue in the kernel, which drops them only when its buffer is full, as UDP does).
///
/// ```
/// use monkey::net::UdpSocket;
/// use monkey::server::DatagramServer;
///
/// let server = DatagramServer::bind("127.0.0.1:0", |socket, data, peer| {
///     socket.send_to(&data.to_ascii_uppercase(), peer).map(drop)
/// })
/// .unwrap();
/// server.start().unwrap();
/// let client = UdpSocket::bind("127.0.0.1:0").unwrap();
/// client.send_to(b"ping", server.local_addr()).unwrap();
/// let mut buf = [0; 16];
/// let (n, _) = client.recv_from(&mut buf).unwrap();
/// assert_eq!(&buf[..n], b"PING");
/// server.stop(None);
/// ```
#[derive(Clone)]
pub struct DatagramServer {
    service: Rc<Service>,
    socket: Rc<RefCell<Option<Rc<UdpSocket>>>>,
    addr: SocketAddr,
    handler: Rc<Handler>,
}

impl DatagramServer {
    /// Binds a UDP socket on `addr`.
    pub fn bind<A, H>(addr: A, handler: H) -> io::Result<DatagramServer>
    where
        A: ToSocketAddrs,
        H: Fn(&UdpSocket, &[u8], SocketAddr) -> io::Result<()> + 'static,
    {
        DatagramServer::new(UdpSocket::bind(addr)?, handler)
    }

    /// Serves on a socket already bound.
    pub fn new<H>(socket: UdpSocket, handler: H) -> io::Result<DatagramServer>
    where
        H: Fn(&UdpSocket, &[u8], SocketAddr) -> io::Result<()> + 'static,
    {
        let addr = socket.local_addr()?;
        Ok(DatagramServer {
            service: Service::new(format!("DatagramServer on {addr}")),
            socket: Rc::new(RefCell::new(Some(Rc::new(socket)))),
            addr,
            handler: Rc::new(handler),
        })
    }

    /// Runs at most `max` handlers at once; past that, receiving waits.
    ///
    /// # Panics
    /// If `max` is 0.
    pub fn max_handlers(self, max: usize) -> DatagramServer {
        self.service.set_cap(max);
        self
    }

    /// The address it receives on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Handlers running now.
    pub fn handlers(&self) -> usize {
        self.service.handlers()
    }

    /// True between [`start`](Self::start) and [`stop`](Self::stop).
    pub fn is_serving(&self) -> bool {
        self.service.is_serving()
    }

    /// Starts receiving in a greenlet of its own and returns.
    pub fn start(&self) -> io::Result<()> {
        let socket = self
            .socket
            .borrow()
            .clone()
            .ok_or_else(|| io::Error::other(format!("{} was stopped", self.service.label())))?;
        let handler = self.handler.clone();
        let mut buf = vec![0; MAX_DATAGRAM];
        self.service.start(move || {
            let (n, peer) = socket.recv_from(&mut buf)?;
            let data = buf[..n].to_vec();
            let (socket, handler) = (socket.clone(), handler.clone());
            Ok(Box::new(move || handler(&socket, &data, peer)) as Job)
        })
    }

    /// Starts if needed, then parks until stopped.
    pub fn serve_forever(&self) -> io::Result<()> {
        if !self.is_serving() {
            self.start()?;
        }
        self.service.wait_stopped()
    }

    /// Stops receiving and closes the socket once the handlers have finished or been
    /// killed after `timeout` ([`DEFAULT_STOP_TIMEOUT`] when `None`): unlike a stream
    /// server's, the handlers answer through this socket. Returns how many it killed.
    pub fn stop(&self, timeout: Option<Duration>) -> usize {
        let killed = self
            .service
            .stop(timeout.unwrap_or(DEFAULT_STOP_TIMEOUT), || {});
        drop(self.socket.take());
        killed
    }
}

impl fmt::Debug for DatagramServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatagramServer")
            .field("addr", &self.addr)
            .field("serving", &self.is_serving())
            .field("handlers", &self.handlers())
            .finish()
    }
}
