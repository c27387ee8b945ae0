//! std's blocking API — sockets, sleeps, `select` — routed through the hub: gevent's
//! monkey-patched modules, made explicit.
//!
//! Python's `monkey.patch_all()` swaps the standard library's blocking functions for
//! ones that switch to gevent's hub. This crate offers the same types and functions
//! at std's paths, made cooperative explicitly: porting is changing
//! `use std::net::…` to `use monkey::net::…`. For code that cannot be changed —
//! another crate's `std::net::TcpStream`, a C library, plain `std::thread::sleep` —
//! the `monkey-patch` crate is the real `patch_all()`: it interposes the C library's
//! blocking calls, and its docs say what then cooperates and what cannot. Code keeps its blocking style
//! (`read`, `accept`, `sleep`); each call that would block parks the current
//! greenlet and lets the [`hub`] run the others, so a thread serves thousands of
//! connections with one greenlet each.
//!
//! # The model
//! - Every socket is a std socket kept in non-blocking mode. A call tries the
//!   syscall; if it would block, the greenlet waits for the fd's readiness (epoll,
//!   through the hub) and the call is retried. Timeouts set with
//!   `set_read_timeout`/`set_write_timeout` run on the hub's timers and fail with the
//!   error kind std uses (`WouldBlock`); `set_nonblocking(true)` makes calls fail
//!   with `WouldBlock` instead of waiting, as in std.
//! - It works in any greenlet and in a thread's own code: there a blocking call runs
//!   the thread's hub (made on first use) until the call can return.
//! - Host names are resolved by `getaddrinfo` on the hub's thread pool
//!   ([`net::ToSocketAddrs`]): DNS never stalls the loop.
//! - Sockets are `!Send`: each belongs to the hub of the thread that made it (convert
//!   to the std type to hand one to another thread). For many cores, run one hub per
//!   thread and accept on [`net::TcpListener::bind_reuseport`] listeners.
//! - `hub`'s tools apply: [`hub::Timeout`] interrupts any call here with `TimedOut`;
//!   killing a greenlet unwinds it out of the call, closing what it owned.
//! - Because the types implement `Read` and `Write` (for `&T` too, so one greenlet
//!   reads while another writes), blocking-style crates run cooperatively on them
//!   unchanged: rustls' `StreamOwned`, tungstenite, httparse-based servers.
//!
//! ```
//! use std::io::{Read, Write};
//! use monkey::net::{TcpListener, TcpStream};
//!
//! # fn main() -> std::io::Result<()> {
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! // The server: one greenlet per connection, like gevent's StreamServer.
//! let server = hub::spawn(move || -> std::io::Result<()> {
//!     for _ in 0..2 {
//!         let (mut conn, _) = listener.accept()?;
//!         hub::spawn(move || {
//!             let mut buf = [0; 5];
//!             conn.read_exact(&mut buf)?;
//!             conn.write_all(&buf.to_ascii_uppercase())
//!         });
//!     }
//!     Ok(())
//! });
//! // Two clients, from the thread's own code and from a greenlet, served at once.
//! let other = hub::spawn(move || -> std::io::Result<String> {
//!     let mut c = TcpStream::connect(addr)?;
//!     c.write_all(b"world")?;
//!     let mut reply = String::new();
//!     c.read_to_string(&mut reply)?;
//!     Ok(reply)
//! });
//! let mut client = TcpStream::connect(addr)?;
//! client.write_all(b"hello")?;
//! let mut reply = String::new();
//! client.read_to_string(&mut reply)?;
//! assert_eq!(reply, "HELLO");
//! assert_eq!(other.join().unwrap()?, "WORLD");
//! server.join().unwrap()?;
//! # Ok(())
//! # }
//! ```
//!
//! # From std, from gevent
//!
//! | std                          | monkey                           | gevent                                       |
//! |------------------------------|----------------------------------|----------------------------------------------|
//! | `std::net::TcpStream`        | [`net::TcpStream`]               | `gevent.socket.socket()`, `create_connection` |
//! | `std::net::TcpListener`      | [`net::TcpListener`]             | `socket.bind`/`listen`/`accept`, `gevent.server.StreamServer` |
//! | —                            | [`net::TcpListener::bind_reuseport`] | `StreamServer(reuse_port=…)` / `SO_REUSEPORT` |
//! | `std::net::UdpSocket`        | [`net::UdpSocket`]               | `gevent.socket.socket(AF_INET, SOCK_DGRAM)`  |
//! | `std::net::ToSocketAddrs`    | [`net::ToSocketAddrs`]           | `gevent.socket.getaddrinfo` (threadpool resolver) |
//! | `std::thread::sleep`         | [`thread::sleep`]                | `gevent.sleep`, patched `time.sleep`         |
//! | —                            | [`time::sleep`]                  | patched `time.sleep`                         |
//! | `std::thread::yield_now`     | [`thread::yield_now`]            | `gevent.sleep(0)`                            |
//! | `libc::select`               | [`select::select`]               | `gevent.select.select`                       |
//! | `std::process::Command`      | [`process::Command`] (`spawn`, `output`, `status`, `kill_on_drop`) | `gevent.subprocess.Popen`, `check_output`, `call` |
//! | `std::process::Child`        | [`process::Child`] (`wait`, `try_wait`, `kill`, `wait_with_output`, pipes) | `Popen.wait`, `poll`, `kill`, `communicate` |
//! | —                            | [`process::Child::wait_timeout`] | `Popen.wait(timeout)`                        |
//! | — (feature `tls`)            | `tls::TlsConnector::connect` → `tls::TlsStream` | `ssl.create_default_context().wrap_socket(sock, server_hostname=…)` |
//! | — (feature `tls`)            | `tls::TlsAcceptor::accept`       | `wrap_socket(server_side=True)`, `StreamServer(ssl_context=…)` |
//! | — (feature `tls`)            | `ConnectorBuilder::add_root_certificates_pem`, `alpn_protocols`, `dangerous_disable_verification` | `load_verify_locations`, `set_alpn_protocols`, `CERT_NONE` |
//! | — (feature `tls`)            | `ConnectorBuilder::add_root_certificates` (DER), `build_with_verifier` (wrap the usual check) | `load_verify_locations(cadata=…)`; no Python equivalent (OpenSSL's verify callback) |
//! | — (feature `tls`)            | `TlsStream::shutdown`; a read without `close_notify` → `UnexpectedEof` | `SSLSocket.unwrap()`; `SSLEOFError` |
//!
//! Not here from `gevent.ssl`: client certificates, SNI callbacks and session
//! options have no builder methods (give `tls`'s `from_config` a rustls config);
//! `SSLContext.load_default_certs` (the OS store) is replaced by the compiled-in
//! webpki roots.
//! | a socket timeout             | `set_read_timeout` → `WouldBlock`| `socket.settimeout` → `socket.timeout`       |
//! | —                            | [`hub::Timeout`] → `TimedOut`    | `gevent.Timeout`                             |
//! | —                            | [`server::StreamServer`] (`start`, `serve_forever`, `stop(timeout)`, `max_connections`) | `gevent.server.StreamServer` (`spawn=Pool(n)` → `max_connections`) |
//! | —                            | [`server::DatagramServer`]       | `gevent.server.DatagramServer`               |
//! | —                            | [`server::serve_on_hubs`]        | (none: gevent runs one process per core)     |
//! | —                            | [`server::StreamServer::stop_on_signals`] | `gevent.signal_handler(SIGTERM, server.stop)` |
//! | (unchanged std code)         | the `monkey-patch` crate's `patch_all()` | `gevent.monkey.patch_all()`          |

pub mod net;
pub mod process;
pub mod select;
pub mod server;
pub mod thread;
pub mod time;
#[cfg(feature = "tls")]
pub mod tls;
