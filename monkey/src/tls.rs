//! TLS over monkey's sockets with rustls (gevent's `gevent.ssl`), behind the `tls`
//! feature.
//!
//! [`TlsConnector`] and [`TlsAcceptor`] turn a connected [`TcpStream`] into a
//! [`TlsStream`], which implements `Read` and `Write`: its handshake, reads and
//! writes park the greenlet while the socket would block, so many sessions run on
//! one thread. The socket's read and write timeouts apply to the handshake too.
//!
//! Certificates are verified by default: against the webpki roots (Mozilla's set,
//! compiled in) plus any PEM roots added, and for the name given to
//! [`TlsConnector::connect`]. The one way to turn verification off is
//! [`ConnectorBuilder::dangerous_disable_verification`]. A peer that closes the
//! connection without TLS's `close_notify` makes the read fail with
//! `UnexpectedEof`: a truncated stream is never taken for a complete one.
//!
//! Errors are `io::Error`s; a TLS failure carries the [`rustls::Error`] inside
//! (`err.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>())`), which says
//! exactly what was wrong: `InvalidCertificate(NotValidForName)`, `Expired`,
//! `UnknownIssuer`, …
//!
//! ```
//! use std::io::{Read, Write};
//! use monkey::net::{TcpListener, TcpStream};
//! use monkey::tls::{TlsAcceptor, TlsConnector};
//!
//! # fn main() -> std::io::Result<()> {
//! // A certificate for "localhost", made for the example.
//! let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
//! let acceptor = TlsAcceptor::from_pem(cert.cert.pem().as_bytes(),
//!                                      cert.key_pair.serialize_pem().as_bytes())?;
//! let connector = TlsConnector::builder()
//!     .add_root_certificates_pem(cert.cert.pem().as_bytes())?
//!     .build()?;
//!
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! let server = hub::spawn(move || -> std::io::Result<()> {
//!     let mut tls = acceptor.accept(listener.accept()?.0)?;
//!     let mut name = [0; 5];
//!     tls.read_exact(&mut name)?;
//!     tls.write_all(b"hello, ")?;
//!     tls.write_all(&name)?;
//!     tls.shutdown() // close_notify: the client's read_to_end ends cleanly
//! });
//! let mut tls = connector.connect("localhost", TcpStream::connect(addr)?)?;
//! tls.write_all(b"world")?;
//! let mut reply = String::new();
//! tls.read_to_string(&mut reply)?;
//! assert_eq!(reply, "hello, world");
//! server.join().unwrap()?;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::io::{self, Read, Write};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

pub use rustls;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, ConnectionCommon, DigitallySignedStruct, RootCertStore,
    ServerConfig, ServerConnection, SideData, SignatureScheme, StreamOwned,
};

use crate::net::TcpStream;

/// The crypto provider: ring, named explicitly so that another crate enabling
/// aws-lc-rs in the same build cannot make rustls's process default ambiguous.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.into())
}

/// Makes client TLS sessions (gevent's `ssl.create_default_context()` +
/// `wrap_socket(server_hostname=…)`).
#[derive(Clone)]
pub struct TlsConnector {
    config: Arc<ClientConfig>,
}

impl TlsConnector {
    /// Verifies servers against the webpki roots, with no ALPN.
    pub fn new() -> TlsConnector {
        ConnectorBuilder::default()
            .build()
            .expect("the ring provider supports rustls's default protocol versions")
    }

    /// Options: extra roots, ALPN, (dangerously) no verification.
    pub fn builder() -> ConnectorBuilder {
        ConnectorBuilder::default()
    }

    /// A connector with a rustls configuration made elsewhere (client certificates,
    /// other protocol versions, …).
    pub fn from_config(config: Arc<ClientConfig>) -> TlsConnector {
        TlsConnector { config }
    }

    /// The rustls configuration, for code that drives rustls itself.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// Runs the handshake over `stream` (a monkey [`TcpStream`], or any `Read +
    /// Write`) with the server named `server_name`: a DNS name or an IP address,
    /// what the certificate must name and what is sent as SNI. Fails with the
    /// rustls error inside an `io::Error` when the server's certificate does not
    /// verify.
    pub fn connect<S: Read + Write>(
        &self,
        server_name: &str,
        stream: S,
    ) -> io::Result<TlsStream<ClientConnection, S>> {
        let name = ServerName::try_from(server_name)
            .map_err(|e| invalid(format!("invalid TLS server name {server_name:?}: {e}")))?
            .to_owned();
        let conn = ClientConnection::new(self.config.clone(), name).map_err(io::Error::other)?;
        TlsStream::handshake(conn, stream)
    }
}

impl Default for TlsConnector {
    fn default() -> TlsConnector {
        TlsConnector::new()
    }
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector")
            .field("alpn_protocols", &self.config.alpn_protocols)
            .finish_non_exhaustive()
    }
}

/// Options for a [`TlsConnector`].
#[derive(Debug, Clone)]
pub struct ConnectorBuilder {
    webpki_roots: bool,
    extra_roots: Vec<CertificateDer<'static>>,
    alpn: Vec<Vec<u8>>,
    verify: bool,
}

impl Default for ConnectorBuilder {
    fn default() -> ConnectorBuilder {
        ConnectorBuilder {
            webpki_roots: true,
            extra_roots: Vec::new(),
            alpn: Vec::new(),
            verify: true,
        }
    }
}

impl ConnectorBuilder {
    /// Also trusts every certificate in `pem` (gevent's `load_verify_locations`).
    /// Fails if it holds no certificate or one that does not parse.
    pub fn add_root_certificates_pem(mut self, pem: &[u8]) -> io::Result<ConnectorBuilder> {
        let before = self.extra_roots.len();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidData, format!("bad PEM root: {e}"))
            })?;
            self.extra_roots.push(cert);
        }
        if self.extra_roots.len() == before {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "no PEM certificate among the roots given",
            ));
        }
        Ok(self)
    }

    /// Also trusts these DER certificates (gevent's `load_verify_locations(cadata=…)`
    /// with DER bytes), for roots parsed elsewhere. One that is not a usable
    /// certificate makes [`build`](Self::build) fail.
    pub fn add_root_certificates(
        mut self,
        certs: impl IntoIterator<Item = CertificateDer<'static>>,
    ) -> ConnectorBuilder {
        self.extra_roots.extend(certs);
        self
    }

    /// Trusts only the roots added with
    /// [`add_root_certificates_pem`](Self::add_root_certificates_pem), not the
    /// webpki set.
    pub fn without_webpki_roots(mut self) -> ConnectorBuilder {
        self.webpki_roots = false;
        self
    }

    /// Protocols offered by ALPN, most preferred first (`["h2", "http/1.1"]`);
    /// [`TlsStream::alpn_protocol`] says which the server chose.
    pub fn alpn_protocols<P: AsRef<[u8]>>(
        mut self,
        protocols: impl IntoIterator<Item = P>,
    ) -> ConnectorBuilder {
        self.alpn = protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
        self
    }

    /// Accepts ANY certificate for ANY name: whoever sits between this client and
    /// the server can read and change everything. For tests and for talking to a
    /// device whose certificate cannot be fixed, never by default (gevent's
    /// `check_hostname = False; verify_mode = CERT_NONE`). The handshake signatures
    /// are still checked, so the session belongs to whoever holds the presented
    /// certificate's key.
    pub fn dangerous_disable_verification(mut self) -> ConnectorBuilder {
        self.verify = false;
        self
    }

    /// The connector. Fails if a root added does not parse as a certificate.
    pub fn build(self) -> io::Result<TlsConnector> {
        let provider = provider();
        let builder = config_builder(&provider)?;
        let config = if self.verify {
            builder
                .with_root_certificates(self.root_store()?)
                .with_no_client_auth()
        } else {
            tracing::warn!("TLS certificate verification is DISABLED for this connector");
            let verifier = AcceptAnyServer(provider.signature_verification_algorithms);
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth()
        };
        Ok(self.finish(config))
    }

    /// The connector, with servers' certificates checked by what `verifier` makes of
    /// the usual verifier (this builder's roots; the name, the dates, the chain): to
    /// add a check, or to accept in one narrow case what the usual verifier refuses,
    /// such as a pinned self-signed certificate. Fails like [`build`](Self::build),
    /// and with `InvalidInput` when there is no root at all or verification was
    /// disabled (there would be nothing to wrap).
    pub fn build_with_verifier(
        self,
        verifier: impl FnOnce(Arc<WebPkiServerVerifier>) -> Arc<dyn ServerCertVerifier>,
    ) -> io::Result<TlsConnector> {
        if !self.verify {
            return Err(invalid(
                "a custom verifier wraps verification, which is disabled",
            ));
        }
        let provider = provider();
        let usual = WebPkiServerVerifier::builder_with_provider(
            Arc::new(self.root_store()?),
            provider.clone(),
        )
        .build()
        .map_err(|e| invalid(format!("cannot verify certificates: {e}")))?;
        let config = config_builder(&provider)?
            .dangerous()
            .with_custom_certificate_verifier(verifier(usual))
            .with_no_client_auth();
        Ok(self.finish(config))
    }

    /// The webpki roots (unless left out) and the roots added.
    fn root_store(&self) -> io::Result<RootCertStore> {
        let mut roots = RootCertStore::empty();
        if self.webpki_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for cert in &self.extra_roots {
            roots.add(cert.clone()).map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidData, format!("bad root: {e}"))
            })?;
        }
        Ok(roots)
    }

    fn finish(self, mut config: ClientConfig) -> TlsConnector {
        config.alpn_protocols = self.alpn;
        TlsConnector {
            config: Arc::new(config),
        }
    }
}

fn config_builder(
    provider: &Arc<CryptoProvider>,
) -> io::Result<rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>> {
    ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)
}

/// [`ConnectorBuilder::dangerous_disable_verification`]: any certificate, any name;
/// signatures over the handshake still checked.
#[derive(Debug)]
struct AcceptAnyServer(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// Makes server TLS sessions (gevent's `SSLContext.wrap_socket(server_side=True)`,
/// `StreamServer(ssl_context=…)`).
#[derive(Clone)]
pub struct TlsAcceptor {
    config: Arc<ServerConfig>,
}

impl TlsAcceptor {
    /// Serves the certificate chain in `cert_chain_pem` (leaf first) with the private
    /// key in `key_pem` (PKCS#8, PKCS#1 or SEC1). Fails if either does not parse or
    /// the key does not match the certificate.
    pub fn from_pem(cert_chain_pem: &[u8], key_pem: &[u8]) -> io::Result<TlsAcceptor> {
        let bad = |what: &str, e: &dyn fmt::Display| {
            io::Error::new(io::ErrorKind::InvalidData, format!("{what}: {e}"))
        };
        let chain = CertificateDer::pem_slice_iter(cert_chain_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad("bad PEM certificate", &e))?;
        if chain.is_empty() {
            return Err(bad("no PEM certificate", &"the chain is empty"));
        }
        let key =
            PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| bad("bad PEM private key", &e))?;
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| bad("unusable certificate or key", &e))?;
        Ok(TlsAcceptor::from_config(Arc::new(config)))
    }

    /// An acceptor with a rustls configuration made elsewhere (client
    /// authentication, several certificates by SNI, …).
    pub fn from_config(config: Arc<ServerConfig>) -> TlsAcceptor {
        TlsAcceptor { config }
    }

    /// Protocols this server accepts by ALPN, most preferred first. A client that
    /// offers ALPN but none of these is refused (`no_application_protocol`).
    pub fn with_alpn_protocols<P: AsRef<[u8]>>(
        mut self,
        protocols: impl IntoIterator<Item = P>,
    ) -> TlsAcceptor {
        let mut config = (*self.config).clone();
        config.alpn_protocols = protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
        self.config = Arc::new(config);
        self
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// Runs the server side of the handshake over an accepted `stream`.
    pub fn accept<S: Read + Write>(&self, stream: S) -> io::Result<TlsStream<ServerConnection, S>> {
        let conn = ServerConnection::new(self.config.clone()).map_err(io::Error::other)?;
        TlsStream::handshake(conn, stream)
    }
}

impl fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("alpn_protocols", &self.config.alpn_protocols)
            .finish_non_exhaustive()
    }
}

/// A TLS session over a [`TcpStream`], handshake done (gevent's `SSLSocket`): a
/// client's ([`ClientConnection`]) or a server's ([`ServerConnection`]). Any other
/// `Read + Write` transport works too (`S`): a std `TcpStream` for code that runs
/// without a hub, a Unix socket, a test double.
///
/// Reading gives `Ok(0)` only after the peer's `close_notify`; a peer that just
/// closes the connection gives `UnexpectedEof` (a truncation). Call
/// [`shutdown`](Self::shutdown) before dropping it to end the session the same
/// clean way for the peer.
pub struct TlsStream<C, S: Read + Write = TcpStream> {
    inner: StreamOwned<C, S>,
}

impl<C, S, D> TlsStream<C, S>
where
    C: DerefMut + Deref<Target = ConnectionCommon<D>>,
    S: Read + Write,
    D: SideData + 'static,
{
    fn handshake(mut conn: C, mut stream: S) -> io::Result<TlsStream<C, S>> {
        while conn.is_handshaking() {
            conn.complete_io(&mut stream)?;
        }
        // A TLS 1.3 client's Finished may still be queued: send it now, so that an
        // idle client does not leave the server's accept waiting.
        while conn.wants_write() {
            conn.write_tls(&mut stream)?;
        }
        Ok(TlsStream {
            inner: StreamOwned::new(conn, stream),
        })
    }

    /// The protocol the peers agreed on by ALPN, if any.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.inner.conn.alpn_protocol()
    }

    /// The peer's certificate chain, leaf first (a server's; a client's only where
    /// client authentication was configured).
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.inner.conn.peer_certificates()
    }

    /// Sends `close_notify` (gevent's `unwrap()`): the peer's next read gives
    /// `Ok(0)`. Writing afterwards fails; reading still gives what the peer sends
    /// until its own `close_notify`.
    pub fn shutdown(&mut self) -> io::Result<()> {
        self.inner.conn.send_close_notify();
        self.inner.flush()
    }

    /// The rustls connection (session details: protocol version, cipher suite, SNI).
    pub fn connection(&self) -> &C {
        &self.inner.conn
    }

    /// The socket underneath, for its options (`set_read_timeout`, `peer_addr`, …).
    /// Reading or writing it directly would corrupt the session.
    pub fn get_ref(&self) -> &S {
        &self.inner.sock
    }

    /// The socket underneath, mutably (see [`get_ref`](Self::get_ref)).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner.sock
    }
}

impl<C, S, D> Read for TlsStream<C, S>
where
    C: DerefMut + Deref<Target = ConnectionCommon<D>>,
    S: Read + Write,
    D: SideData + 'static,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl<C, S, D> Write for TlsStream<C, S>
where
    C: DerefMut + Deref<Target = ConnectionCommon<D>>,
    S: Read + Write,
    D: SideData + 'static,
{
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<C, S: Read + Write + fmt::Debug> fmt::Debug for TlsStream<C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream")
            .field("socket", &self.inner.sock)
            .finish_non_exhaustive()
    }
}
