//! HTTP proxies from the environment, as curl and wget read them.
//!
//! `http_proxy` serves `http://` URLs (the request goes to the proxy with the target in
//! absolute form), `https_proxy` (or `HTTPS_PROXY`) serves `https://` URLs through a
//! `CONNECT` tunnel, inside which TLS runs end to end with the target, verified as usual.
//! `no_proxy` (or `NO_PROXY`) lists hosts reached directly: `*` for all, a name matching
//! itself and its subdomains (`example.com` and `.example.com` both match
//! `a.example.com`), an IP address itself; a `:port` on an entry is ignored. Credentials
//! in a proxy's URL go as `Proxy-Authorization: Basic`. Loopback targets (`localhost`,
//! `127.0.0.0/8`, `::1`) are always reached directly, as Go's HTTP client does. Upper-case `HTTP_PROXY` is not
//! read, as curl does not: a CGI program gets it from a request's `Proxy:` header.
//! Only `http://` proxies are supported.

use std::io::{self, BufReader, Read, Write};

use url::Url;

use super::auth;
use super::error::DownloadError;
use super::http;

/// The proxies to use, by the scheme of the target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proxies {
    pub http: Option<Url>,
    pub https: Option<Url>,
    /// `no_proxy`'s entries, lower-cased, ports and leading dots removed (`*` kept).
    pub no_proxy: Vec<String>,
    /// Reach loopback targets directly whatever `no_proxy` says (set by
    /// [`from_env`](Self::from_env)).
    pub direct_loopback: bool,
}

/// A proxy to go through: where it is, and its `Proxy-Authorization`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Hop {
    pub host: String,
    pub port: u16,
    pub authorization: Option<String>,
}

impl Proxies {
    /// From this process's environment.
    pub fn from_env() -> Result<Self, DownloadError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// From the variables `lookup` gives (the environment's, or a test's).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, DownloadError> {
        let first = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| lookup(n).filter(|v| !v.trim().is_empty()))
        };
        let parse = |value: Option<String>| value.map(|v| parse_proxy(&v)).transpose();
        Ok(Self {
            http: parse(first(&["http_proxy"]))?,
            https: parse(first(&["https_proxy", "HTTPS_PROXY"]))?,
            no_proxy: first(&["no_proxy", "NO_PROXY"])
                .map(|v| parse_no_proxy(&v))
                .unwrap_or_default(),
            direct_loopback: true,
        })
    }

    /// The proxy for `url`, if one applies.
    pub fn for_url(&self, url: &Url) -> Option<Hop> {
        let proxy = match url.scheme() {
            "http" => self.http.as_ref()?,
            "https" => self.https.as_ref()?,
            _ => return None,
        };
        let host = url
            .host_str()?
            .trim_matches(['[', ']'])
            .to_ascii_lowercase();
        if self.bypasses(&host) {
            return None;
        }
        Some(Hop {
            host: proxy.host_str()?.trim_matches(['[', ']']).to_owned(),
            port: proxy.port_or_known_default()?,
            authorization: auth::basic_auth(proxy),
        })
    }

    fn bypasses(&self, host: &str) -> bool {
        let loopback = self.direct_loopback
            && (host == "localhost"
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback()));
        loopback
            || self.no_proxy.iter().any(|entry| {
                entry == "*"
                    || host == entry
                    || host
                        .strip_suffix(entry.as_str())
                        .is_some_and(|rest| rest.ends_with('.'))
            })
    }
}

/// `host:port` or `http://[user:pw@]host[:port]/`; the port defaults to 80.
fn parse_proxy(value: &str) -> Result<Url, DownloadError> {
    let value = value.trim();
    let with_scheme = if value.contains("://") {
        value.to_owned()
    } else {
        format!("http://{value}")
    };
    let url = Url::parse(&with_scheme)
        .map_err(|e| DownloadError::bad_url(value, format!("as a proxy: {e}")))?;
    if url.scheme() != "http" {
        return Err(DownloadError::bad_url(
            value,
            "only http:// proxies are supported",
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(DownloadError::bad_url(value, "a proxy needs a host"));
    }
    Ok(url)
}

fn parse_no_proxy(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|entry| {
            let entry = entry.trim().to_ascii_lowercase();
            let entry = entry.trim_start_matches('.');
            // `host:port`, but not an IPv6 address (which has more than one colon).
            let entry = match entry.rsplit_once(':') {
                Some((host, port))
                    if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    host
                }
                _ => entry,
            };
            entry.trim_matches(['[', ']']).to_owned()
        })
        .filter(|entry| !entry.is_empty())
        .collect()
}

/// Asks the proxy on `stream` for a tunnel to `host:port` and waits for its 2xx. Reads the
/// answer a byte at a time: nothing after its head may be taken from the tunnel.
pub fn connect_tunnel<S: Read + Write>(
    stream: &mut S,
    host: &str,
    port: u16,
    hop: &Hop,
    max_head_bytes: usize,
) -> Result<(), DownloadError> {
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(auth) = &hop.authorization {
        request.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .and_then(|()| stream.flush())
        .map_err(DownloadError::from_stream)?;
    let mut reader = BufReader::with_capacity(1, ByteAtATime(stream));
    let head = http::read_response_head(&mut reader, max_head_bytes)?;
    if (200..300).contains(&head.status) {
        Ok(())
    } else {
        Err(DownloadError::Proxy {
            code: head.status,
            reason: head.reason,
        })
    }
}

/// Reads one byte per call, so a `BufReader` over it never holds bytes past what it was
/// asked for.
struct ByteAtATime<'a, S>(&'a mut S);

impl<S: Read> Read for ByteAtATime<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(1);
        self.0.read(&mut buf[..n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn environment_and_no_proxy() {
        let proxies = Proxies::from_lookup(vars(&[
            ("http_proxy", "proxy.test:3128"),
            ("HTTP_PROXY", "http://ignored.test/"),
            ("HTTPS_PROXY", "http://u:p%40w@tls-proxy.test"),
            ("no_proxy", "localhost, .internal.test,10.0.0.1:8080,[::1]"),
        ]))
        .unwrap();
        let hop = |u: &str| proxies.for_url(&Url::parse(u).unwrap());
        let plain = hop("http://example.com/").unwrap();
        assert_eq!((plain.host.as_str(), plain.port), ("proxy.test", 3128));
        let tls = hop("https://example.com/").unwrap();
        assert_eq!((tls.host.as_str(), tls.port), ("tls-proxy.test", 80));
        assert_eq!(
            tls.authorization.as_deref(),
            Some(format!("Basic {}", auth::base64(b"u:p@w")).as_str())
        );
        for direct in [
            "http://localhost/",
            "http://internal.test/",
            "http://a.b.internal.test/",
            "http://10.0.0.1/",
            "http://[::1]:8/",
        ] {
            assert_eq!(hop(direct), None, "{direct}");
        }
        assert!(hop("http://notinternal.test/").is_some());
        assert!(hop("http://10.0.0.10/").is_some());
        assert_eq!(hop("http://127.0.0.2/"), None, "loopback is always direct");

        let all = Proxies::from_lookup(vars(&[("http_proxy", "p:1"), ("no_proxy", "*")])).unwrap();
        assert_eq!(all.for_url(&Url::parse("http://x/").unwrap()), None);
        let none = Proxies::from_lookup(vars(&[])).unwrap();
        assert_eq!((none.http, none.https), (None, None));
        for bad in ["socks5://p:1080", "http://", "::"] {
            let pairs: &'static [(&str, &str)] =
                Box::leak(vec![("http_proxy", bad)].into_boxed_slice());
            assert!(Proxies::from_lookup(vars(pairs)).is_err(), "{bad}");
        }
    }
}
