//! The Subject distinguished name of an X.509 certificate, rendered the way Java's
//! `X500Principal.getName()` (RFC 2253) prints it — the string Kafka's `DEFAULT`
//! principal mapping turns into `User:CN=client,OU=test,O=gregor`.
//!
//! A small DER walker instead of a certificate-parsing crate: only the path
//! `Certificate → tbsCertificate → subject` is read, every length is checked against
//! what is left, and malformed input yields `None`, never a panic (the bytes come from
//! the peer; rustls has verified the chain before we look, but this code does not rely
//! on that).

use std::fmt::Write as _;

/// One DER element: its tag byte and its contents.
struct Element<'a> {
    tag: u8,
    content: &'a [u8],
}

/// Reads one element from the front of `input`, returning it and what follows.
fn element(input: &[u8]) -> Option<(Element<'_>, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    // High tag numbers (0x1f) never occur on the path we walk.
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        // Indefinite lengths are not DER; more than 4 length bytes is not a certificate.
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        let len = bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (content, rest) = rest.split_at(len);
    Some((Element { tag, content }, rest))
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;

/// The Subject DN of a DER certificate in RFC 2253 form (`CN=client,OU=test,O=gregor`),
/// or `None` when the bytes are not a certificate this reader understands.
pub fn subject_dn(certificate: &[u8]) -> Option<String> {
    let (cert, _) = element(certificate)?;
    if cert.tag != SEQUENCE {
        return None;
    }
    let (tbs, _) = element(cert.content)?;
    if tbs.tag != SEQUENCE {
        return None;
    }
    let mut rest = tbs.content;
    let (first, after) = element(rest)?;
    // [0] EXPLICIT version is optional (absent for v1 certificates).
    if first.tag == 0xa0 {
        rest = after;
    }
    // serialNumber, signature, issuer, validity, then subject.
    for _ in 0..4 {
        rest = element(rest)?.1;
    }
    let (subject, _) = element(rest)?;
    if subject.tag != SEQUENCE {
        return None;
    }
    render_name(subject.content)
}

/// RDNs of a Name (SEQUENCE OF SET OF AttributeTypeAndValue), last first, as RFC 2253 wants.
fn render_name(mut rdns: &[u8]) -> Option<String> {
    let mut parts = Vec::new();
    while !rdns.is_empty() {
        let (rdn, rest) = element(rdns)?;
        rdns = rest;
        if rdn.tag != SET {
            return None;
        }
        let mut avas = Vec::new();
        let mut items = rdn.content;
        while !items.is_empty() {
            let (ava, rest) = element(items)?;
            items = rest;
            if ava.tag != SEQUENCE {
                return None;
            }
            let (oid, value_bytes) = element(ava.content)?;
            if oid.tag != OID {
                return None;
            }
            let (value, _) = element(value_bytes)?;
            avas.push(render_ava(oid.content, &value, value_bytes)?);
        }
        parts.push(avas.join("+"));
    }
    parts.reverse();
    Some(parts.join(","))
}

/// `KEYWORD=value`, or `1.2.3=#hex` for attributes without an RFC 2253 keyword or values
/// that are not strings.
fn render_ava(oid: &[u8], value: &Element<'_>, value_der: &[u8]) -> Option<String> {
    let keyword = match oid {
        [0x55, 0x04, 0x03] => Some("CN"),
        [0x55, 0x04, 0x06] => Some("C"),
        [0x55, 0x04, 0x07] => Some("L"),
        [0x55, 0x04, 0x08] => Some("ST"),
        [0x55, 0x04, 0x09] => Some("STREET"),
        [0x55, 0x04, 0x0a] => Some("O"),
        [0x55, 0x04, 0x0b] => Some("OU"),
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => Some("DC"),
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01] => Some("UID"),
        _ => None,
    };
    let text = match keyword {
        Some(_) => string_value(value),
        None => None,
    };
    match (keyword, text) {
        (Some(k), Some(text)) => Some(format!("{k}={}", escape(&text))),
        _ => {
            // The whole DER value (tag, length, contents) in hex.
            let (_, after) = element(value_der)?;
            let der = &value_der[..value_der.len() - after.len()];
            let mut out = format!("{}=#", dotted_oid(oid)?);
            for b in der {
                let _ = write!(out, "{b:02x}");
            }
            Some(out)
        }
    }
}

/// The text of a directory string value.
fn string_value(value: &Element<'_>) -> Option<String> {
    match value.tag {
        // UTF8String, PrintableString, IA5String, VisibleString.
        0x0c | 0x13 | 0x16 | 0x1a => std::str::from_utf8(value.content).ok().map(str::to_string),
        // TeletexString: treated as Latin-1, as Java does in practice.
        0x14 => Some(value.content.iter().map(|b| char::from(*b)).collect()),
        // BMPString: UTF-16 big endian.
        0x1e => {
            if !value.content.len().is_multiple_of(2) {
                return None;
            }
            let units: Vec<u16> = value.content.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
            String::from_utf16(&units).ok()
        }
        // UniversalString: UTF-32 big endian.
        0x1c => {
            if !value.content.len().is_multiple_of(4) {
                return None;
            }
            value
                .content
                .chunks_exact(4)
                .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect()
        }
        _ => None,
    }
}

/// Backslash-escapes the characters Java escapes in RFC 2253 output, and a leading or
/// trailing space.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let last = text.chars().count().saturating_sub(1);
    for (i, c) in text.chars().enumerate() {
        if ",=+<>#;\"\\".contains(c) || (c == ' ' && (i == 0 || i == last)) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `2.5.4.3` from the DER contents of an OBJECT IDENTIFIER.
fn dotted_oid(bytes: &[u8]) -> Option<String> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    let mut pending = false;
    for &b in bytes {
        if acc > (u64::MAX >> 7) {
            return None;
        }
        acc = (acc << 7) | u64::from(b & 0x7f);
        pending = true;
        if b & 0x80 == 0 {
            arcs.push(acc);
            acc = 0;
            pending = false;
        }
    }
    if pending || arcs.is_empty() {
        return None;
    }
    let first = arcs[0];
    let (a, b) = if first < 40 {
        (0, first)
    } else if first < 80 {
        (1, first - 40)
    } else {
        (2, first - 80)
    };
    let mut out = format!("{a}.{b}");
    for arc in &arcs[1..] {
        let _ = write!(out, ".{arc}");
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cert_with(dn: rcgen::DistinguishedName) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.distinguished_name = dn;
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn subject_is_printed_last_rdn_first() {
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::OrganizationName, "gregor");
        dn.push(rcgen::DnType::OrganizationalUnitName, "test");
        dn.push(rcgen::DnType::CommonName, "client");
        assert_eq!(subject_dn(&cert_with(dn)).as_deref(), Some("CN=client,OU=test,O=gregor"));
    }

    #[test]
    fn special_characters_are_escaped_and_unknown_attributes_are_hex() {
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CountryName, "NL");
        dn.push(rcgen::DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]), "a@b");
        dn.push(rcgen::DnType::CommonName, "Doe, John+1 ");
        let text = subject_dn(&cert_with(dn)).unwrap();
        assert!(text.starts_with("CN=Doe\\, John\\+1\\ ,1.2.840.113549.1.9.1=#"), "{text}");
        assert!(text.ends_with(",C=NL"), "{text}");
    }

    #[test]
    fn empty_subject_is_an_empty_name() {
        let dn = rcgen::DistinguishedName::new();
        assert_eq!(subject_dn(&cert_with(dn)).as_deref(), Some(""));
    }

    #[test]
    fn oid_rendering() {
        assert_eq!(dotted_oid(&[0x55, 0x04, 0x03]).as_deref(), Some("2.5.4.3"));
        assert_eq!(dotted_oid(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d]).as_deref(), Some("1.2.840.113549"));
        assert_eq!(dotted_oid(&[0x86]), None);
        assert_eq!(dotted_oid(&[]), None);
    }

    #[test]
    fn truncated_certificates_are_rejected() {
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, "client");
        let der = cert_with(dn);
        for len in 0..der.len() {
            assert_eq!(subject_dn(&der[..len]), None, "prefix of {len} bytes");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = subject_dn(&bytes);
        }

        #[test]
        fn mutated_certificates_never_panic(index in 0usize..400, byte in any::<u8>()) {
            let mut dn = rcgen::DistinguishedName::new();
            dn.push(rcgen::DnType::CommonName, "client");
            let mut der = cert_with(dn);
            let i = index % der.len();
            der[i] = byte;
            let _ = subject_dn(&der);
        }
    }
}
