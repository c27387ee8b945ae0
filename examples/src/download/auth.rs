//! Credentials in URLs (`http://user:pw@host/`): sent as HTTP Basic auth, never printed.
//!
//! The user name and password are percent-decoded before encoding, as curl and browsers
//! do (`p%40ss` is the password `p@ss`). A redirect keeps them only while it stays on the
//! same origin: a server must not be able to send them elsewhere. Every line the
//! downloader prints shows a URL through [`redact`].

use percent_encoding::percent_decode_str;
use url::Url;

/// What a password is shown as.
pub const HIDDEN: &str = "***";

/// The `Authorization` header value for `url`'s credentials, if it has any.
pub fn basic_auth(url: &Url) -> Option<String> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let decode = |s: &str| percent_decode_str(s).collect::<Vec<u8>>();
    let mut pair = decode(url.username());
    pair.push(b':');
    pair.extend(decode(url.password().unwrap_or("")));
    Some(format!("Basic {}", base64(&pair)))
}

/// `url` with its password (if any) replaced by [`HIDDEN`]; anything that does not parse
/// as a URL has everything between `://` and the last `@` of its authority hidden, so a
/// malformed URL with credentials is not printed either.
pub fn redact(url: &str) -> String {
    if let Ok(mut parsed) = Url::parse(url.trim()) {
        if parsed.password().is_some() {
            let _ = parsed.set_password(Some(HIDDEN));
            return parsed.into();
        }
        if !parsed.username().is_empty() || !url.contains('@') {
            return url.to_owned();
        }
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{HIDDEN}{}", &rest[at..]),
        None => url.to_owned(),
    }
}

/// Whether a redirect from `from` to `to` keeps the credentials: only on the same origin.
pub fn same_origin(from: &Url, to: &Url) -> bool {
    from.scheme() == to.scheme()
        && from.host() == to.host()
        && from.port_or_known_default() == to.port_or_known_default()
}

/// `to` carrying `from`'s credentials if it is the same origin and has none of its own;
/// stripped of any otherwise.
pub fn carry_credentials(from: &Url, mut to: Url) -> Url {
    if same_origin(from, &to) {
        if to.username().is_empty() && to.password().is_none() {
            let _ = to.set_username(from.username());
            let _ = to.set_password(from.password());
        }
    } else {
        let _ = to.set_username("");
        let _ = to.set_password(None);
    }
    to
}

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_vectors() {
        // RFC 4648 §10.
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn credentials_become_basic_auth_decoded() {
        let url = Url::parse("http://al%20ice:p%40ss:w@h/x").unwrap();
        assert_eq!(
            basic_auth(&url).unwrap(),
            format!("Basic {}", base64(b"al ice:p@ss:w"))
        );
        assert_eq!(basic_auth(&Url::parse("http://h/").unwrap()), None);
        let only_user = Url::parse("http://bob@h/").unwrap();
        assert_eq!(
            basic_auth(&only_user).unwrap(),
            format!("Basic {}", base64(b"bob:"))
        );
    }

    #[test]
    fn passwords_are_never_shown() {
        assert_eq!(redact("http://u:secret@h:8/p?q"), "http://u:***@h:8/p?q");
        assert_eq!(redact("http://h/p"), "http://h/p");
        assert_eq!(redact("http://u@h/p"), "http://u@h/p");
        assert_eq!(redact("http://u:secret@[bad/p"), "http://***@[bad/p");
        assert_eq!(redact("ftp://u:secret@h/"), "ftp://u:***@h/");
        assert_eq!(redact("http://h/p@x"), "http://h/p@x");
    }

    #[test]
    fn redirects_keep_credentials_only_on_the_same_origin() {
        let from = Url::parse("http://u:pw@h/a").unwrap();
        let same = carry_credentials(&from, Url::parse("http://h:80/b").unwrap());
        assert_eq!(same.as_str(), "http://u:pw@h/b");
        let other = carry_credentials(&from, Url::parse("http://evil/b").unwrap());
        assert_eq!(other.as_str(), "http://evil/b");
        let other = carry_credentials(&from, Url::parse("https://h/b").unwrap());
        assert_eq!(basic_auth(&other), None);
    }
}
