//! Seed 004, the motivating use of gevent: after `monkey.patch_all()`, three greenlets each
//! `urlopen` a site and read the whole page; the prints show all three requests go out
//! before any answer comes back, and the total time is about the slowest site's, not the
//! sum.
//!
//! As in the tutorial, the client knows nothing of greenlets: it is the unmodified
//! blocking `ureq` crate, made cooperative by `monkey_patch::patch_all()` (its sockets,
//! DNS lookups and TLS all go through the hooked C library calls).
//!
//! ```text
//! GET: URL          ×3, at once
//! N bytes received from URL.   ×3, as each arrives
//! 0.43…             seconds in all
//! ```
//!
//! `cargo run -p examples --example urlopen_sites [URL…]` (and `download`'s options, e.g.
//! `--timeout`). With no URL it asks an embedded server on the same hub for three pages,
//! each response delayed like a distant site. Bodies are read into memory, as `resp.read()`
//! does; nothing is saved.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use examples::download::args::{Args, Command, parse_args};
use examples::download::greenlet::HubServer;
use examples::download::received_line;
use examples::download::server::Site;

/// Three home pages of about the size of the seed's sites.
const PAGES: &[(&str, u64)] = &[
    ("/itk.org/", 31 * 1024),
    ("/www.github.com/", 226 * 1024),
    ("/zhihu.com/", 58 * 1024),
];

fn main() -> ExitCode {
    monkey_patch::patch_all();
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Run(args)) => args,
        Ok(_) | Err(_) => {
            eprintln!("usage: urlopen_sites [URL...] [--timeout S] [--ca FILE] [--insecure]");
            eprintln!("  (--ca FILE: trust only the PEM certificates in FILE)");
            return ExitCode::from(2);
        }
    };
    let (agent, mut urls) = match (agent(&args), args.all_urls()) {
        (Ok(agent), Ok(urls)) => (agent, urls),
        (Err(e), _) => return fail(&e),
        (_, Err(e)) => return fail(&e),
    };
    let mut _server = None;
    if urls.is_empty() {
        let site = Site::files(monkey::thread::sleep, PAGES).delay(Duration::from_millis(400));
        let server = match HubServer::start(Arc::new(site)) {
            Ok(server) => server,
            Err(e) => return fail(&e),
        };
        urls = PAGES.iter().map(|(path, _)| server.url(path)).collect();
        _server = Some(server);
    }

    let start = Instant::now();
    let greenlets: Vec<_> = urls
        .into_iter()
        .map(|url| {
            let agent = agent.clone();
            hub::spawn(move || {
                println!("GET: {url}");
                // `urlopen(url).read()`: plain blocking calls of an unmodified crate.
                let result = agent.get(&url).call().and_then(|mut response| {
                    response
                        .body_mut()
                        .with_config()
                        .limit(u64::MAX)
                        .read_to_vec()
                });
                match &result {
                    Ok(data) => println!("{}", received_line(data.len() as u64, &url)),
                    Err(e) => eprintln!("failed {url}: {e}"),
                }
                result.is_ok()
            })
        })
        .collect();
    // `joinall`: every greenlet ends on its own (the client's timeouts bound each request).
    let results: Vec<bool> = greenlets
        .iter()
        .map(|g| g.join().unwrap_or(false))
        .collect();
    let ok = results.iter().all(|&ok| ok);
    println!("{}", start.elapsed().as_secs_f64());
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// A `ureq` agent for the command line's `--timeout`, `--ca` and `--insecure`.
fn agent(args: &Args) -> Result<ureq::Agent, String> {
    use ureq::tls::{PemItem, RootCerts, TlsConfig};
    let mut tls = TlsConfig::builder().disable_verification(args.insecure);
    if !args.ca_files.is_empty() {
        // `--ca` replaces the web's roots here (ureq takes one root set).
        let mut certs = Vec::new();
        for path in &args.ca_files {
            let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            for item in ureq::tls::parse_pem(&pem) {
                if let PemItem::Certificate(cert) =
                    item.map_err(|e| format!("{}: {e}", path.display()))?
                {
                    certs.push(cert);
                }
            }
        }
        tls = tls.root_certs(RootCerts::new_with_certs(&certs));
    }
    let config = ureq::Agent::config_builder()
        .timeout_connect(Some(args.timeout))
        .timeout_recv_response(Some(args.timeout))
        .timeout_recv_body(Some(args.timeout))
        .tls_config(tls.build())
        .build();
    Ok(config.into())
}

fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("urlopen_sites: {e}");
    ExitCode::from(2)
}
