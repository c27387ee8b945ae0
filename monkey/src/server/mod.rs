//! Servers that run a greenlet per connection or datagram (gevent's `gevent.server`).
//!
//! [`StreamServer`] accepts on a [`TcpListener`](crate::net::TcpListener) and runs the
//! handler in a new greenlet for every connection; [`DatagramServer`] does the same
//! for every datagram of a [`UdpSocket`](crate::net::UdpSocket). Both:
//!
//! - cap the handlers running at once when asked ([`StreamServer::max_connections`]):
//!   past the cap the server stops accepting, so new connections wait in the
//!   kernel's backlog; nothing is dropped silently;
//! - survive accept errors: running out of fds (`EMFILE`, `ENFILE`), memory
//!   (`ENOBUFS`, `ENOMEM`) or a connection aborted before it was accepted are
//!   reported (see [`hub::report_error`]) and retried after a pause that doubles from
//!   10 ms to 1 s while the error lasts (gevent's `min_delay`/`max_delay`). Only an
//!   error that says the socket itself is unusable (`EBADF`, `EINVAL`, `ENOTSOCK`)
//!   ends serving, and [`serve_forever`](StreamServer::serve_forever) returns it;
//! - [`start`](StreamServer::start) in the background, or
//!   [`serve_forever`](StreamServer::serve_forever) until stopped;
//!   [`stop`](StreamServer::stop) closes the socket, lets the handlers finish for up to
//!   a timeout, then kills the rest; [`stop_on_signals`](StreamServer::stop_on_signals)
//!   does that on `SIGTERM`/`SIGINT`.
//!
//! Handlers return `io::Result<()>`. Errors that are the peer's doing (reset, broken
//! pipe, early end of file, a read timeout) end the connection quietly; any other error
//! is reported, as gevent prints a handler's traceback.
//!
//! For many cores, [`serve_on_hubs`] runs one hub per thread, each with its own
//! `SO_REUSEPORT` listener on the same address.
//!
//! # From gevent.server
//!
//! | gevent                                   | monkey::server                              |
//! |------------------------------------------|---------------------------------------------|
//! | `StreamServer(addr, handle)`             | [`StreamServer::bind`]                      |
//! | `StreamServer(listener, handle)`         | [`StreamServer::new`]                       |
//! | `spawn=Pool(n)`                          | [`StreamServer::max_connections`]           |
//! | `start()`, `serve_forever()`, `started`  | [`StreamServer::start`], [`StreamServer::serve_forever`], [`StreamServer::is_serving`] |
//! | `stop(timeout)`, `stop_timeout`          | [`StreamServer::stop`], [`DEFAULT_STOP_TIMEOUT`] |
//! | `min_delay`, `max_delay` (accept back-off) | fixed: 10 ms doubling to 1 s              |
//! | `DatagramServer(addr, handle)`           | [`DatagramServer::bind`]; the handler gets the socket to answer with |
//! | `reuse_port`, one process per core       | [`serve_on_hubs`] (one hub per thread)      |
//!
//! Not here: the `ssl` keyword arguments (wrap the stream in the handler instead),
//! `backlog` (bind the listener yourself and pass it to [`StreamServer::new`]), and
//! `gevent.pywsgi` (there is no WSGI).

mod datagram;
mod service;
mod stream;

pub use datagram::DatagramServer;
pub use stream::{StreamServer, serve_on_hubs};

/// How long [`StreamServer::stop`] lets handlers finish when given no timeout (gevent's
/// `stop_timeout`).
pub const DEFAULT_STOP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);
