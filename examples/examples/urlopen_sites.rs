//! Seed 004, the motivating use of gevent: after `monkey.patch_all()`, three greenlets each
//! `urlopen` a site and read the whole page; the prints show all three requests go out
//! before any answer comes back, and the total time is about the slowest site's, not the
//! sum.
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

use examples::download::args::{Command, parse_args};
use examples::download::greenlet::{HubServer, hub_client};
use examples::download::server::Site;
use examples::download::{failed_line, parse_url, received_line};

/// Three home pages of about the size of the seed's sites.
const PAGES: &[(&str, u64)] = &[
    ("/itk.org/", 31 * 1024),
    ("/www.github.com/", 226 * 1024),
    ("/zhihu.com/", 58 * 1024),
];

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Run(args)) => args,
        Ok(_) | Err(_) => {
            eprintln!("usage: urlopen_sites [URL...] [--timeout S] [--ca FILE] [--insecure]");
            return ExitCode::from(2);
        }
    };
    let (opts, mut urls) = match (args.client_options(), args.all_urls()) {
        (Ok(opts), Ok(urls)) => (opts, urls),
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
    let client = hub_client(opts);

    let start = Instant::now();
    let greenlets: Vec<_> = urls
        .into_iter()
        .map(|url| {
            let client = client.clone();
            hub::spawn(move || {
                println!("GET: {url}");
                let mut data = Vec::new();
                let result = parse_url(&url).and_then(|u| client.get(&u, &mut data, &mut |_| {}));
                match &result {
                    Ok(_) => println!("{}", received_line(data.len() as u64, &url)),
                    Err(e) => eprintln!("{}", failed_line(&url, e)),
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

fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("urlopen_sites: {e}");
    ExitCode::from(2)
}
