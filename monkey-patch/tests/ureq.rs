//! The unmodified `ureq` crate, plain HTTP and HTTPS (rustls, with a certificate
//! made at test time): 20 GETs of an endpoint that answers after 0.5 s overlap after
//! patch_all(), and run one after another with the hooks passing through.
//!
//! The server is plain std code too (`TcpListener`, `thread::sleep`, rustls'
//! `StreamOwned`), made cooperative by the same hooks on a thread with its own hub.

mod common;

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

const GREENLETS: usize = 20;
const DELAY: Duration = Duration::from_millis(500);

/// Reads a request head, waits [`DELAY`], answers `ok` and closes.
fn serve(stream: &mut (impl Read + Write)) {
    let mut reader = BufReader::new(&mut *stream);
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
        line.clear();
    }
    std::thread::sleep(DELAY);
    let _ =
        stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    let _ = stream.flush();
}

/// Starts the delayed server on a thread of its own (one greenlet per connection);
/// with `tls`, behind rustls. Returns its port.
fn start_server(tls: Option<Arc<rustls::ServerConfig>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        // The thread's hub, made first, so that its accept cooperates.
        hub::Hub::current();
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let tls = tls.clone();
            hub::spawn(move || match tls {
                None => serve(&mut conn),
                Some(config) => {
                    let session = rustls::ServerConnection::new(config).unwrap();
                    serve(&mut rustls::StreamOwned::new(session, conn));
                }
            });
        }
    });
    port
}

/// `n` greenlets each GET `url`; the event log and the time all took.
fn gets(agent: &ureq::Agent, url: &str, n: usize) -> (Vec<(&'static str, usize)>, Duration) {
    let log = Rc::new(RefCell::new(Vec::new()));
    let start = Instant::now();
    let greenlets: Vec<_> = (0..n)
        .map(|i| {
            let (log, agent, url) = (log.clone(), agent.clone(), url.to_string());
            hub::spawn(move || {
                log.borrow_mut().push(("start", i));
                let body = agent
                    .get(&url)
                    .call()
                    .and_then(|mut r| r.body_mut().read_to_string());
                log.borrow_mut().push(("end", i));
                body
            })
        })
        .collect();
    for g in greenlets {
        assert_eq!(g.join().unwrap().unwrap(), "ok");
    }
    let elapsed = start.elapsed();
    let log = log.borrow().clone();
    (log, elapsed)
}

fn overlap_then_serial(agent: ureq::Agent, url: &str) {
    monkey_patch::patch_all();
    let (log, patched) = gets(&agent, url, GREENLETS);
    common::assert_all_started_before_any_ended(&log, GREENLETS);
    // Three requests with the hooks passing through in the requesting greenlets:
    // each blocks the thread for the whole delay.
    let serial_n = 3;
    let (_, unpatched) = monkey_patch::unpatched(|| {
        let start = Instant::now();
        for _ in 0..serial_n {
            let body = agent.get(url).call().unwrap().body_mut().read_to_string();
            assert_eq!(body.unwrap(), "ok");
        }
        ((), start.elapsed())
    });
    eprintln!(
        "ureq {url}: {GREENLETS} GETs patched in {patched:?}, {serial_n} unpatched in {unpatched:?}"
    );
    assert!(unpatched >= DELAY * serial_n as u32);
    // The patched run takes less than half of what as many blocking GETs would take
    // one after another (extrapolated from the serial sample): a ratio, with room
    // for a loaded machine, never a wall-clock bound.
    assert!(
        patched * 2 * (serial_n as u32) < unpatched * GREENLETS as u32,
        "{GREENLETS} patched GETs took {patched:?}, {serial_n} unpatched {unpatched:?}"
    );
}

#[test]
fn plain_http_gets_overlap() {
    let port = start_server(None);
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    overlap_then_serial(agent, &format!("http://127.0.0.1:{port}/"));
}

#[test]
fn https_gets_overlap() {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_der = key.cert.der().clone();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert_der.clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.key_pair.serialize_der().into()),
        )
        .unwrap();
    let port = start_server(Some(Arc::new(server_config)));
    let roots = ureq::tls::RootCerts::new_with_certs(&[ureq::tls::Certificate::from_der(
        cert_der.as_ref(),
    )
    .to_owned()]);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build())
        .build()
        .into();
    // By name: the lookup goes through the hooked getaddrinfo, on the thread pool.
    overlap_then_serial(agent, &format!("https://localhost:{port}/"));
}

#[test]
fn a_refused_connection_is_an_error_not_a_hang() {
    monkey_patch::patch_all();
    let (_reserved, refused) = common::refused_addr();
    let port = refused.port();
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    let get = hub::spawn(move || {
        agent
            .get(&format!("http://127.0.0.1:{port}/"))
            .call()
            .map(|_| ())
    });
    assert!(get.join().unwrap().is_err());
    // And a server that closes at once gives an error too.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let closer = hub::spawn(move || drop(listener.accept().unwrap()));
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    let get = hub::spawn(move || {
        agent
            .get(&format!("http://127.0.0.1:{port}/"))
            .call()
            .map(|_| ())
    });
    closer.join().unwrap();
    assert!(get.join().unwrap().is_err());
}
