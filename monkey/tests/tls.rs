//! rustls over monkey streams, unchanged: `StreamOwned` takes any `Read + Write`, and
//! because monkey's `TcpStream` parks the greenlet instead of the thread, many TLS
//! sessions (client and server ends alike) interleave on one thread.

mod common;

use std::cell::Cell;
use std::io::{ErrorKind, Read, Write};
use std::rc::Rc;
use std::sync::Arc;

use common::{MS, assert_clean, listener};
use monkey::net::TcpStream;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{
    ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection, StreamOwned,
};

/// A self-signed certificate for "localhost", made now, and the two configs: the
/// client trusts exactly that certificate (verification stays on).
fn configs() -> (Arc<ServerConfig>, Arc<ClientConfig>) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(cert).unwrap();
    let client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

/// The server end of one session: echoes until the client's close_notify.
fn serve(config: Arc<ServerConfig>, stream: TcpStream) -> std::io::Result<usize> {
    let mut tls = StreamOwned::new(ServerConnection::new(config).unwrap(), stream);
    let mut buf = [0u8; 1024];
    let mut echoed = 0;
    loop {
        let n = tls.read(&mut buf)?;
        if n == 0 {
            return Ok(echoed);
        }
        tls.write_all(&buf[..n])?;
        tls.flush()?;
        echoed += n;
    }
}

#[test]
fn many_tls_sessions_interleave_on_one_thread() {
    const SESSIONS: usize = 24;
    const ROUNDS: usize = 5;
    let (server_config, client_config) = configs();
    let (l, addr) = listener();
    let server = hub::spawn(move || {
        let mut sessions = Vec::new();
        for _ in 0..SESSIONS {
            let (stream, _) = l.accept().unwrap();
            let config = server_config.clone();
            sessions.push(hub::spawn(move || serve(config, stream)));
        }
        sessions
            .iter()
            .map(|s| s.join().unwrap().unwrap())
            .sum::<usize>()
    });
    let active = Rc::new(Cell::new(0usize));
    let most_active = Rc::new(Cell::new(0usize));
    let clients: Vec<_> = (0..SESSIONS)
        .map(|i| {
            let config = client_config.clone();
            let (active, most_active) = (active.clone(), most_active.clone());
            hub::spawn(move || {
                let stream = TcpStream::connect(addr).unwrap();
                let name = ServerName::try_from("localhost").unwrap();
                let mut tls =
                    StreamOwned::new(ClientConnection::new(config, name).unwrap(), stream);
                active.set(active.get() + 1);
                most_active.set(most_active.get().max(active.get()));
                for r in 0..ROUNDS {
                    let msg = format!("session {i} round {r}");
                    tls.write_all(msg.as_bytes()).unwrap();
                    let mut back = vec![0u8; msg.len()];
                    tls.read_exact(&mut back).unwrap();
                    assert_eq!(back, msg.as_bytes());
                    monkey::thread::sleep(MS); // let the others take turns
                }
                assert!(!tls.conn.is_handshaking());
                tls.conn.send_close_notify();
                tls.flush().unwrap();
                active.set(active.get() - 1);
                ROUNDS
            })
        })
        .collect();
    let rounds: usize = clients.iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(rounds, SESSIONS * ROUNDS);
    assert!(server.join().unwrap() > 0);
    assert_eq!(
        most_active.get(),
        SESSIONS,
        "every session was open at once, on this one thread"
    );
    assert_clean();
}

#[test]
fn certificate_verification_stays_on() {
    let (server_config, client_config) = configs();
    let (l, addr) = listener();
    let server = hub::spawn(move || {
        let (stream, _) = l.accept().unwrap();
        serve(server_config, stream)
    });
    let stream = TcpStream::connect(addr).unwrap();
    // The certificate names "localhost", not this.
    let name = ServerName::try_from("example.com").unwrap();
    let mut tls = StreamOwned::new(ClientConnection::new(client_config, name).unwrap(), stream);
    let e = tls
        .write_all(b"hello")
        .and_then(|_| tls.flush())
        .and_then(|_| {
            let mut b = [0u8; 1];
            tls.read(&mut b).map(|_| ())
        });
    let e = e.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidData, "{e}");
    drop(tls);
    assert!(server.join().unwrap().is_err());
    assert_clean();
}
