//! `monkey::tls` against peers nobody here wrote: `openssl s_server` and
//! `openssl s_client`, with certificates made now by a test CA. Verification
//! failures (wrong name, expired, unknown issuer), ALPN, truncation, and many
//! sessions interleaved on one thread.

use std::cell::{Cell, RefCell};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use monkey::net::{TcpListener, TcpStream};
use monkey::process::{Child, Command, Stdio};
use monkey::tls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use monkey::tls::rustls::pki_types::pem::PemObject;
use monkey::tls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use monkey::tls::rustls::{self, CertificateError, DigitallySignedStruct};
use monkey::tls::{TlsAcceptor, TlsConnector};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};

/// A CA made for the test, and leaf certificates it signs.
struct Pki {
    ca: rcgen::Certificate,
    ca_key: KeyPair,
}

/// A leaf certificate and its key, in PEM.
struct Leaf {
    cert: String,
    key: String,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().unwrap();
        let ca = params.self_signed(&ca_key).unwrap();
        Pki { ca, ca_key }
    }

    fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    fn leaf(&self, names: &[&str], expired: bool) -> Leaf {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// A directory for the PEM files the openssl tools read; removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("monkey-tls-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `openssl s_server` serving one connection, its output collected by a greenlet.
struct OpensslServer {
    child: Child,
    port: u16,
    output: Rc<RefCell<String>>,
    _reader: hub::JoinHandle<()>,
}

impl OpensslServer {
    fn start(cert: &Path, key: &Path, extra: &[&str]) -> OpensslServer {
        let mut child = Command::new("openssl")
            .args(["s_server", "-accept", "127.0.0.1:0", "-naccept", "1"])
            .arg("-cert")
            .arg(cert)
            .arg("-key")
            .arg(key)
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("openssl must be installed (apt-get install openssl)");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let port = loop {
            line.clear();
            assert!(stdout.read_line(&mut line).unwrap() > 0, "s_server quit");
            if let Some(addr) = line.trim().strip_prefix("ACCEPT ") {
                break addr.rsplit_once(':').unwrap().1.parse().unwrap();
            }
        };
        let output = Rc::new(RefCell::new(String::new()));
        let sink = output.clone();
        let reader = hub::spawn(move || {
            let mut line = String::new();
            while matches!(stdout.read_line(&mut line), Ok(n) if n > 0) {
                sink.borrow_mut().push_str(&line);
                line.clear();
            }
        });
        OpensslServer {
            child,
            port,
            output,
            _reader: reader,
        }
    }

    fn connect(&self) -> TcpStream {
        TcpStream::connect(("127.0.0.1", self.port)).unwrap()
    }
}

/// Waits (generously: CI is loaded) for `cond`.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        monkey::thread::sleep(Duration::from_millis(5));
    }
}

/// The rustls error inside an `io::Error`.
fn tls_error(e: &io::Error) -> &rustls::Error {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .unwrap_or_else(|| panic!("not a TLS error: {e:?}"))
}

fn connector_trusting(pki: &Pki) -> TlsConnector {
    TlsConnector::builder()
        .add_root_certificates_pem(pki.ca_pem().as_bytes())
        .unwrap()
        .build()
        .unwrap()
}

#[test]
fn a_client_talks_to_openssl_s_server_with_alpn() {
    let pki = Pki::new("monkey test CA");
    let leaf = pki.leaf(&["localhost"], false);
    let dir = Scratch::new("alpn");
    let server = OpensslServer::start(
        &dir.file("cert.pem", &leaf.cert),
        &dir.file("key.pem", &leaf.key),
        &["-alpn", "h2,http/1.1"],
    );
    let connector = TlsConnector::builder()
        .add_root_certificates_pem(pki.ca_pem().as_bytes())
        .unwrap()
        .alpn_protocols(["http/1.1"])
        .build()
        .unwrap();
    let mut tls = connector.connect("localhost", server.connect()).unwrap();
    assert_eq!(tls.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(tls.peer_certificates().map(<[_]>::len), Some(1));
    // Ours reaches s_server's stdout; its stdin reaches us.
    tls.write_all(b"ping from monkey\n").unwrap();
    eventually("s_server printed our line", || {
        server.output.borrow().contains("ping from monkey")
    });
    let mut server = server;
    server
        .child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"pong from openssl\n")
        .unwrap();
    let mut line = String::new();
    BufReader::new(&mut tls).read_line(&mut line).unwrap();
    assert_eq!(line, "pong from openssl\n");
}

#[test]
fn verification_failures_are_reported_precisely() {
    let pki = Pki::new("monkey test CA");
    let dir = Scratch::new("verify");
    let good = pki.leaf(&["localhost"], false);
    let expired = pki.leaf(&["localhost"], true);
    let (good_cert, good_key) = (
        dir.file("good.pem", &good.cert),
        dir.file("good.key", &good.key),
    );
    let connector = connector_trusting(&pki);

    // Wrong host name: the certificate names "localhost" only.
    let server = OpensslServer::start(&good_cert, &good_key, &[]);
    let e = connector
        .connect("wrong.example", server.connect())
        .unwrap_err();
    assert!(
        matches!(
            tls_error(&e),
            rustls::Error::InvalidCertificate(CertificateError::NotValidForName)
                | rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForNameContext { .. }
                )
        ),
        "{e}"
    );
    drop(server);

    // Expired.
    let server = OpensslServer::start(
        &dir.file("expired.pem", &expired.cert),
        &dir.file("expired.key", &expired.key),
        &[],
    );
    let e = connector
        .connect("localhost", server.connect())
        .unwrap_err();
    assert!(
        matches!(
            tls_error(&e),
            rustls::Error::InvalidCertificate(CertificateError::Expired)
                | rustls::Error::InvalidCertificate(CertificateError::ExpiredContext { .. })
        ),
        "{e}"
    );
    drop(server);

    // Unknown issuer: the default connector trusts the webpki roots, not our CA.
    let server = OpensslServer::start(&good_cert, &good_key, &[]);
    let e = TlsConnector::new()
        .connect("localhost", server.connect())
        .unwrap_err();
    assert_eq!(
        tls_error(&e),
        &rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        "{e}"
    );
    drop(server);

    // The loud way out accepts the same server; the default one never did.
    let server = OpensslServer::start(&good_cert, &good_key, &[]);
    let mut tls = TlsConnector::builder()
        .dangerous_disable_verification()
        .build()
        .unwrap()
        .connect("wrong.example", server.connect())
        .unwrap();
    tls.write_all(b"unverified\n").unwrap();
    eventually("s_server got it", || {
        server.output.borrow().contains("unverified")
    });
}

#[test]
fn a_peer_closing_without_close_notify_is_a_truncation() {
    let pki = Pki::new("monkey test CA");
    let leaf = pki.leaf(&["localhost"], false);
    let dir = Scratch::new("truncate");
    let mut server = OpensslServer::start(
        &dir.file("cert.pem", &leaf.cert),
        &dir.file("key.pem", &leaf.key),
        &[],
    );
    let mut tls = connector_trusting(&pki)
        .connect("localhost", server.connect())
        .unwrap();
    server
        .child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"partial\n")
        .unwrap();
    let mut line = String::new();
    let mut reader = BufReader::new(&mut tls);
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "partial\n");
    // Killed: the kernel closes its socket with a FIN and no close_notify.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let mut rest = Vec::new();
    let e = reader.read_to_end(&mut rest).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
}

/// Starts `openssl s_client` against `port`, verifying with `ca` and offering
/// ALPN `h2`; its stdout collected by a greenlet.
fn s_client(port: u16, ca: &Path) -> (Child, Rc<RefCell<String>>) {
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-servername", "localhost", "-verify_hostname", "localhost"])
        .args(["-verify_return_error", "-alpn", "h2", "-no_ign_eof"])
        .arg("-CAfile")
        .arg(ca)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let output = Rc::new(RefCell::new(String::new()));
    let sink = output.clone();
    hub::spawn(move || {
        let mut buf = [0; 4096];
        while let Ok(n @ 1..) = stdout.read(&mut buf) {
            sink.borrow_mut()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    (child, output)
}

#[test]
fn a_server_serves_openssl_s_client_and_sees_clean_and_truncated_ends() {
    let pki = Pki::new("monkey test CA");
    let leaf = pki.leaf(&["localhost"], false);
    let dir = Scratch::new("server");
    let ca = dir.file("ca.pem", &pki.ca_pem());
    let acceptor = TlsAcceptor::from_pem(leaf.cert.as_bytes(), leaf.key.as_bytes())
        .unwrap()
        .with_alpn_protocols(["h2"]);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();

    // A clean end: s_client's stdin closes, it sends close_notify, we read Ok(0).
    let (mut client, output) = s_client(port, &ca);
    let mut tls = acceptor.accept(listener.accept().unwrap().0).unwrap();
    assert_eq!(tls.alpn_protocol(), Some(&b"h2"[..]));
    client
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"hello from s_client\n")
        .unwrap();
    let mut line = String::new();
    let mut reader = BufReader::new(&mut tls);
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "hello from s_client\n");
    reader.get_mut().write_all(b"hello from monkey\n").unwrap();
    eventually("s_client printed our reply", || {
        output.borrow().contains("hello from monkey")
    });
    drop(client.stdin.take());
    let mut rest = Vec::new();
    assert_eq!(
        reader.read_to_end(&mut rest).unwrap(),
        0,
        "clean close_notify"
    );
    assert!(client.wait().unwrap().success());
    let out = output.borrow().clone();
    assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
    assert!(out.contains("ALPN protocol: h2"), "{out}");

    // A truncation: s_client killed mid-session.
    let (mut client, output) = s_client(port, &ca);
    let mut tls = acceptor.accept(listener.accept().unwrap().0).unwrap();
    // Once it printed this, it has read everything we sent (session tickets too):
    // its kernel then closes with a FIN, not a reset for unread data.
    tls.write_all(b"caught up\n").unwrap();
    eventually("s_client read all we sent", || {
        output.borrow().contains("caught up")
    });
    client.kill().unwrap();
    client.wait().unwrap();
    let mut rest = Vec::new();
    let e = tls.read_to_end(&mut rest).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");

    // s_client refuses our server when it does not trust the issuer.
    let stranger = Pki::new("a CA nobody trusts");
    let stranger_ca = dir.file("stranger.pem", &stranger.ca_pem());
    let (mut client, _output) = s_client(port, &stranger_ca);
    let e = acceptor
        .accept(listener.accept().unwrap().0)
        .and_then(|mut tls| tls.read(&mut [0; 16]))
        .unwrap_err();
    assert!(
        matches!(tls_error(&e), rustls::Error::AlertReceived(_)),
        "{e}"
    );
    assert!(!client.wait().unwrap().success());
}

#[test]
fn many_sessions_interleave_on_one_thread() {
    const OWN_CLIENTS: usize = 16;
    const OPENSSL_CLIENTS: usize = 4;
    const ROUNDS: usize = 4;
    let pki = Pki::new("monkey test CA");
    let leaf = pki.leaf(&["localhost"], false);
    let dir = Scratch::new("many");
    let ca = dir.file("ca.pem", &pki.ca_pem());
    let acceptor = TlsAcceptor::from_pem(leaf.cert.as_bytes(), leaf.key.as_bytes()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let open = Rc::new(Cell::new(0usize));
    let most_open = Rc::new(Cell::new(0usize));

    // The server: a greenlet per session, echoing lines until a clean close.
    let (o, m) = (open.clone(), most_open.clone());
    let server = hub::spawn(move || {
        let sessions: Vec<_> = (0..OWN_CLIENTS + OPENSSL_CLIENTS)
            .map(|_| {
                let stream = listener.accept().unwrap().0;
                let acceptor = acceptor.clone();
                let (open, most_open) = (o.clone(), m.clone());
                hub::spawn(move || -> io::Result<usize> {
                    let tls = acceptor.accept(stream)?;
                    open.set(open.get() + 1);
                    most_open.set(most_open.get().max(open.get()));
                    let mut reader = BufReader::new(tls);
                    let mut lines = 0;
                    let mut line = String::new();
                    while reader.read_line(&mut line)? > 0 {
                        reader.get_mut().write_all(line.to_uppercase().as_bytes())?;
                        line.clear();
                        lines += 1;
                    }
                    reader.get_mut().shutdown()?;
                    open.set(open.get() - 1);
                    Ok(lines)
                })
            })
            .collect();
        sessions
            .iter()
            .map(|s| s.join().unwrap().unwrap())
            .sum::<usize>()
    });

    // s_client peers, all connected at once.
    let peers: Vec<_> = (0..OPENSSL_CLIENTS)
        .map(|_| s_client(addr.port(), &ca))
        .collect();
    // Our clients, taking turns line by line.
    let connector = connector_trusting(&pki);
    let clients: Vec<_> = (0..OWN_CLIENTS)
        .map(|i| {
            let connector = connector.clone();
            hub::spawn(move || -> io::Result<usize> {
                let tls = connector.connect("localhost", TcpStream::connect(addr)?)?;
                let mut reader = BufReader::new(tls);
                for r in 0..ROUNDS {
                    writeln!(reader.get_mut(), "client {i} round {r}")?;
                    let mut back = String::new();
                    reader.read_line(&mut back)?;
                    assert_eq!(back, format!("CLIENT {i} ROUND {r}\n"));
                    monkey::thread::sleep(Duration::from_millis(1));
                }
                reader.get_mut().shutdown()?;
                let mut rest = Vec::new();
                reader.read_to_end(&mut rest)?; // the server's close_notify
                Ok(ROUNDS)
            })
        })
        .collect();
    let mut peers: Vec<_> = peers
        .into_iter()
        .enumerate()
        .map(|(i, (mut child, output))| {
            let line = format!("openssl peer {i}\n");
            child
                .stdin
                .as_mut()
                .unwrap()
                .write_all(line.as_bytes())
                .unwrap();
            (child, output, line.to_uppercase())
        })
        .collect();
    for (_, output, expected) in &peers {
        eventually("an s_client peer got its echo", || {
            output.borrow().contains(expected.as_str())
        });
    }
    let rounds: usize = clients.iter().map(|c| c.join().unwrap().unwrap()).sum();
    assert_eq!(rounds, OWN_CLIENTS * ROUNDS);
    for (child, _, _) in &mut peers {
        drop(child.stdin.take()); // s_client sends close_notify and exits
        assert!(child.wait().unwrap().success());
    }
    assert_eq!(
        server.join().unwrap(),
        OWN_CLIENTS * ROUNDS + OPENSSL_CLIENTS
    );
    assert!(
        most_open.get() > OPENSSL_CLIENTS,
        "sessions overlapped on this one thread: at most {} open at once",
        most_open.get()
    );
}

#[test]
fn bad_pem_input_gets_clear_errors() {
    let e = TlsConnector::builder()
        .add_root_certificates_pem(b"not a certificate")
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    assert!(e.to_string().contains("no PEM certificate"), "{e}");
    let pki = Pki::new("monkey test CA");
    let a = pki.leaf(&["localhost"], false);
    let b = pki.leaf(&["localhost"], false);
    let e = TlsAcceptor::from_pem(a.cert.as_bytes(), b.key.as_bytes()).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    let e = TlsAcceptor::from_pem(b"", a.key.as_bytes()).unwrap_err();
    assert!(e.to_string().contains("no PEM certificate"), "{e}");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let e = TlsConnector::new()
        .connect("not a host name!", stream)
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
}

#[test]
fn a_silent_peer_cannot_stall_the_handshake() {
    // Accepts and never answers: the read timeout ends the client's handshake...
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stream = TcpStream::connect(addr).unwrap();
    let _silent = listener.accept().unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let started = Instant::now();
    let e = TlsConnector::new()
        .connect("localhost", stream)
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "{e}");
    assert!(started.elapsed() >= Duration::from_millis(50));
    // ... and a hub::Timeout ends the server's, while other greenlets run.
    let pki = Pki::new("monkey test CA");
    let leaf = pki.leaf(&["localhost"], false);
    let acceptor = TlsAcceptor::from_pem(leaf.cert.as_bytes(), leaf.key.as_bytes()).unwrap();
    let _client = TcpStream::connect(addr).unwrap();
    let (server_side, _) = listener.accept().unwrap();
    let ticks = Rc::new(Cell::new(0u32));
    let counter = ticks.clone();
    let ticker = hub::spawn(move || {
        loop {
            counter.set(counter.get() + 1);
            monkey::thread::sleep(Duration::from_millis(1));
        }
    });
    let r = hub::with_timeout(Duration::from_millis(50), || acceptor.accept(server_side));
    assert!(matches!(r, Err(hub::Error::Timeout)), "{r:?}");
    assert!(ticks.get() > 0);
    ticker.kill().unwrap();
}

/// Wraps the usual verifier: records the names asked about, and refuses one
/// certificate (by its bytes) even though its chain is good.
#[derive(Debug)]
struct Recording {
    usual: Arc<rustls::client::WebPkiServerVerifier>,
    asked: Arc<Mutex<Vec<String>>>,
    refused: CertificateDer<'static>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.asked
            .lock()
            .unwrap()
            .push(server_name.to_str().into_owned());
        if end_entity.as_ref() == self.refused.as_ref() {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ));
        }
        self.usual
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.usual.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.usual.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.usual.supported_verify_schemes()
    }
}

/// One TLS session served by `leaf` on a greenlet; returns the client's result.
fn handshake_with(connector: &TlsConnector, leaf: &Leaf, name: &str) -> io::Result<()> {
    let acceptor = TlsAcceptor::from_pem(leaf.cert.as_bytes(), leaf.key.as_bytes()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = hub::spawn(move || {
        let mut tls = acceptor.accept(listener.accept()?.0)?;
        tls.write_all(b"ok")?;
        tls.shutdown()
    });
    let result = connector
        .connect(name, TcpStream::connect(addr).unwrap())
        .and_then(|mut tls| {
            let mut reply = String::new();
            tls.read_to_string(&mut reply)?;
            assert_eq!(reply, "ok");
            Ok(())
        });
    let _ = server.join();
    result
}

#[test]
fn a_custom_verifier_wraps_the_usual_one_over_der_roots() {
    let pki = Pki::new("monkey test CA");
    let good = pki.leaf(&["localhost"], false);
    let refused = pki.leaf(&["localhost"], false);
    let refused_der = CertificateDer::from_pem_slice(refused.cert.as_bytes()).unwrap();
    let ca_der = CertificateDer::from_pem_slice(pki.ca_pem().as_bytes()).unwrap();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let connector = TlsConnector::builder()
        .without_webpki_roots()
        .add_root_certificates([ca_der])
        .build_with_verifier(|usual| {
            Arc::new(Recording {
                usual,
                asked: asked.clone(),
                refused: refused_der,
            })
        })
        .unwrap();

    handshake_with(&connector, &good, "localhost").unwrap();
    // The wrapper's own refusal, for a certificate the usual verifier accepts.
    let e = handshake_with(&connector, &refused, "localhost").unwrap_err();
    assert_eq!(
        tls_error(&e),
        &rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure)
    );
    // The usual checks still run inside it: a wrong name fails as before.
    let e = handshake_with(&connector, &good, "wrong.example").unwrap_err();
    assert!(
        matches!(
            tls_error(&e),
            rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            )
        ),
        "{e}"
    );
    assert_eq!(
        *asked.lock().unwrap(),
        ["localhost", "localhost", "wrong.example"]
    );
}

#[test]
fn a_custom_verifier_needs_roots_and_verification_on() {
    let wrap =
        |usual: Arc<rustls::client::WebPkiServerVerifier>| -> Arc<dyn ServerCertVerifier> { usual };
    let e = TlsConnector::builder()
        .without_webpki_roots()
        .build_with_verifier(wrap)
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    let e = TlsConnector::builder()
        .dangerous_disable_verification()
        .build_with_verifier(wrap)
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    // A DER root that is not a certificate fails the build, as a PEM one does.
    let e = TlsConnector::builder()
        .add_root_certificates([CertificateDer::from(b"junk".to_vec())])
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
}
