//! `--ca` with a self-signed server certificate: trusted exactly, nothing else weakened.
//!
//! The usual `openssl req -x509` one-liner makes a certificate that is its own issuer and
//! says `CA:TRUE`. webpki never accepts a CA certificate as a server's own
//! (`CaUsedAsEndEntity`), so adding it to the roots is not enough; curl's `--cacert`
//! (OpenSSL) accepts it. [`PinnedOrWebPki`] first verifies as usual against the roots
//! (webpki's and `--ca`'s); only when that fails over the chain (unknown issuer, a CA used
//! as end entity) and the server presented, as its only certificate, one that is
//! byte-for-byte a `--ca` certificate, it checks what the chain check skipped for it:
//! the validity dates and the name (the subjectAltName, or the subject's CN when there is
//! no subjectAltName, as OpenSSL does). Every other certificate, for every other name, is
//! verified exactly as before; the handshake signatures always are.

use std::net::IpAddr;
use std::sync::Arc;

use monkey::tls::rustls::client::WebPkiServerVerifier;
use monkey::tls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use monkey::tls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use monkey::tls::rustls::server::ParsedCertificate;
use monkey::tls::rustls::{CertificateError, DigitallySignedStruct, Error, SignatureScheme};

/// Verifies against roots, and trusts the pinned certificates exactly (see the module docs).
#[derive(Debug)]
pub struct PinnedOrWebPki {
    roots: Arc<WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
}

impl PinnedOrWebPki {
    pub fn new(roots: Arc<WebPkiServerVerifier>, pinned: Vec<CertificateDer<'static>>) -> Self {
        Self { roots, pinned }
    }
}

/// Whether `e` is about the chain (who issued the certificate), which is what pinning
/// replaces; dates, names, revocation and encodings are not.
fn is_chain_error(e: &Error) -> bool {
    match e {
        Error::InvalidCertificate(CertificateError::UnknownIssuer) => true,
        Error::InvalidCertificate(CertificateError::Other(other)) => {
            // webpki's `CaUsedAsEndEntity` reaches us only as its text.
            other.to_string().contains("CaUsedAsEndEntity")
        }
        _ => false,
    }
}

impl ServerCertVerifier for PinnedOrWebPki {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let verified = self.roots.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        match verified {
            Err(e)
                if is_chain_error(&e)
                    && intermediates.is_empty()
                    && self
                        .pinned
                        .iter()
                        .any(|p| p.as_ref() == end_entity.as_ref()) =>
            {
                verify_pinned(end_entity, server_name, now)?;
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.roots.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.roots.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.roots.supported_verify_schemes()
    }
}

/// The dates and the name of a pinned certificate.
fn verify_pinned(
    cert: &CertificateDer<'_>,
    name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), Error> {
    let fields = der::fields(cert.as_ref()).ok_or(CertificateError::BadEncoding)?;
    let now = now.as_secs();
    if now < fields.not_before {
        return Err(CertificateError::NotValidYet.into());
    }
    if now > fields.not_after {
        return Err(CertificateError::Expired.into());
    }
    if fields.has_san {
        let parsed = ParsedCertificate::try_from(cert)?;
        return monkey::tls::rustls::client::verify_server_name(&parsed, name);
    }
    let wanted = match name {
        ServerName::DnsName(dns) => dns.as_ref().to_owned(),
        ServerName::IpAddress(ip) => IpAddr::from(*ip).to_string(),
        _ => return Err(CertificateError::NotValidForName.into()),
    };
    match fields.common_name {
        Some(cn) if cn.eq_ignore_ascii_case(&wanted) => Ok(()),
        _ => Err(CertificateError::NotValidForName.into()),
    }
}

/// Just enough DER to read a certificate's validity, subject CN and whether it has a
/// subjectAltName (RFC 5280 §4.1).
mod der {
    const SEQUENCE: u8 = 0x30;
    const SET: u8 = 0x31;
    const OID: u8 = 0x06;
    const UTC_TIME: u8 = 0x17;
    const GENERALIZED_TIME: u8 = 0x18;
    /// `[0]`, `[3]` explicit, constructed.
    const VERSION: u8 = 0xA0;
    const EXTENSIONS: u8 = 0xA3;
    /// 2.5.4.3 and 2.5.29.17.
    const CN_OID: &[u8] = &[0x55, 0x04, 0x03];
    const SAN_OID: &[u8] = &[0x55, 0x1D, 0x11];

    pub struct Fields {
        pub not_before: u64,
        pub not_after: u64,
        pub common_name: Option<String>,
        pub has_san: bool,
    }

    /// One TLV: its tag, its contents, and what follows it.
    fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = input.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7F);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |l, &b| (l << 8) | usize::from(b));
            (len, &rest[n..])
        };
        (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
    }

    fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        let (t, body, rest) = tlv(input)?;
        (t == tag).then_some((body, rest))
    }

    pub fn fields(cert: &[u8]) -> Option<Fields> {
        let (cert, _) = expect(cert, SEQUENCE)?;
        let (tbs, _) = expect(cert, SEQUENCE)?;
        let mut rest = tbs;
        if rest.first() == Some(&VERSION) {
            rest = tlv(rest)?.2;
        }
        let rest = tlv(rest)?.2; // serial number
        let rest = expect(rest, SEQUENCE)?.1; // signature algorithm
        let rest = expect(rest, SEQUENCE)?.1; // issuer
        let (validity, rest) = expect(rest, SEQUENCE)?;
        let (subject, mut rest) = expect(rest, SEQUENCE)?;
        let (t1, before, after) = tlv(validity)?;
        let (t2, after, _) = tlv(after)?;
        let not_before = time(t1, before)?;
        let not_after = time(t2, after)?;
        rest = expect(rest, SEQUENCE)?.1; // subject public key info
        let mut has_san = false;
        while let Some((tag, body, next)) = tlv(rest) {
            if tag == EXTENSIONS {
                let (mut exts, _) = expect(body, SEQUENCE)?;
                while let Some((ext, next_ext)) = expect(exts, SEQUENCE) {
                    let (oid, _) = expect(ext, OID)?;
                    has_san |= oid == SAN_OID;
                    exts = next_ext;
                }
            }
            rest = next;
        }
        Some(Fields {
            not_before,
            not_after,
            common_name: common_name(subject),
            has_san,
        })
    }

    /// The first CN of a Name.
    fn common_name(mut name: &[u8]) -> Option<String> {
        while let Some((rdn, next)) = expect(name, SET) {
            let (attribute, _) = expect(rdn, SEQUENCE)?;
            let (oid, value) = expect(attribute, OID)?;
            if oid == CN_OID {
                let (_, text, _) = tlv(value)?;
                return String::from_utf8(text.to_vec()).ok();
            }
            name = next;
        }
        None
    }

    /// Seconds since the epoch of a UTCTime (`YYMMDDHHMMSSZ`, years 1950–2049) or a
    /// GeneralizedTime (`YYYYMMDDHHMMSSZ`).
    fn time(tag: u8, text: &[u8]) -> Option<u64> {
        let text = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let (year, rest) = match (tag, text.len()) {
            (UTC_TIME, 12) => {
                let yy: u64 = text[..2].parse().ok()?;
                (if yy < 50 { 2000 + yy } else { 1900 + yy }, &text[2..])
            }
            (GENERALIZED_TIME, 14) => (text[..4].parse().ok()?, &text[4..]),
            _ => return None,
        };
        let num = |i: usize| rest[i..i + 2].parse::<u64>().ok();
        let (month, day, h, m, s) = (num(0)?, num(2)?, num(4)?, num(6)?, num(8)?);
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
            return None;
        }
        let days = super::super::retry::days_from_civil(year.max(1970), month, day);
        Some(days * 86_400 + h * 3600 + m * 60 + s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(names: &[&str], cn: &str) -> CertificateDer<'static> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.not_before = rcgen::date_time_ymd(2001, 2, 3);
        params.not_after = rcgen::date_time_ymd(2061, 4, 5);
        params.self_signed(&key).unwrap().der().clone()
    }

    #[test]
    fn reads_dates_names_and_san() {
        let with_san = der::fields(cert(&["a.test"], "cn.test").as_ref()).unwrap();
        assert_eq!(with_san.not_before, 981_158_400); // 2001-02-03
        assert_eq!(with_san.not_after, 2_879_884_800); // 2061-04-05
        assert_eq!(with_san.common_name.as_deref(), Some("cn.test"));
        assert!(with_san.has_san);
        let without = der::fields(cert(&[], "cn.test").as_ref()).unwrap();
        assert!(!without.has_san);
        assert!(der::fields(b"\x30\x03\x02\x01").is_none(), "truncated");
    }

    #[test]
    fn a_pinned_certificate_out_of_its_dates_or_for_another_name_fails() {
        let c = cert(&[], "cn.test");
        let name = |n: &str| ServerName::try_from(n.to_owned()).unwrap();
        let at = |secs| UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs));
        assert!(verify_pinned(&c, &name("cn.test"), at(1_700_000_000)).is_ok());
        assert!(verify_pinned(&c, &name("CN.test"), at(1_700_000_000)).is_ok());
        let err = |r: Result<(), Error>| match r {
            Err(Error::InvalidCertificate(e)) => e,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            err(verify_pinned(&c, &name("other.test"), at(1_700_000_000))),
            CertificateError::NotValidForName
        );
        assert_eq!(
            err(verify_pinned(&c, &name("cn.test"), at(900_000_000))),
            CertificateError::NotValidYet
        );
        assert_eq!(
            err(verify_pinned(&c, &name("cn.test"), at(2_900_000_000))),
            CertificateError::Expired
        );
    }
}
