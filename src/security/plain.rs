//! SASL/PLAIN (RFC 4616) tokens: `[authzid] NUL authcid NUL passwd`, UTF-8.
//!
//! Pure parse/build, shared by the broker (which checks the password against its JAAS user
//! table) and the client. As Kafka's `PlainSaslServer`: the authorization id must be empty
//! or equal to the user name, and neither user nor password may be empty. Error messages are
//! Kafka's and never contain the password.

use super::password::Password;

/// A parsed PLAIN client token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainToken {
    pub username: String,
    pub password: Password,
}

/// Why a PLAIN token was refused (the text is what the client is told).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlainError {
    #[error("Invalid SASL/PLAIN response: expected 3 tokens, got {0}")]
    TokenCount(usize),
    #[error("Invalid SASL/PLAIN response: not valid UTF-8")]
    NotUtf8,
    #[error("Authentication failed: username not specified")]
    NoUsername,
    #[error("Authentication failed: password not specified")]
    NoPassword,
    #[error("Authentication failed: Client requested an authorization id that is different from username")]
    AuthzidMismatch,
}

/// Parses a client's PLAIN token.
pub fn parse(token: &[u8]) -> Result<PlainToken, PlainError> {
    let parts: Vec<&[u8]> = token.split(|&b| b == 0).collect();
    let [authzid, username, password] = parts[..] else {
        return Err(PlainError::TokenCount(parts.len()));
    };
    let authzid = std::str::from_utf8(authzid).map_err(|_| PlainError::NotUtf8)?;
    let username = std::str::from_utf8(username).map_err(|_| PlainError::NotUtf8)?;
    let password = std::str::from_utf8(password).map_err(|_| PlainError::NotUtf8)?;
    if username.is_empty() {
        return Err(PlainError::NoUsername);
    }
    if password.is_empty() {
        return Err(PlainError::NoPassword);
    }
    if !authzid.is_empty() && authzid != username {
        return Err(PlainError::AuthzidMismatch);
    }
    Ok(PlainToken { username: username.to_string(), password: Password::new(password) })
}

/// Builds a client's PLAIN token (empty authorization id, as Kafka's client sends it).
pub fn build(username: &str, password: &Password) -> Vec<u8> {
    let mut token = Vec::with_capacity(username.len() + password.expose().len() + 2);
    token.push(0);
    token.extend_from_slice(username.as_bytes());
    token.push(0);
    token.extend_from_slice(password.expose().as_bytes());
    token
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_authzid() {
        let token = build("alice", &Password::new("pw"));
        assert_eq!(token, b"\0alice\0pw");
        let parsed = parse(&token).unwrap();
        assert_eq!(parsed.username, "alice");
        assert_eq!(parsed.password.expose(), "pw");
        assert!(parse(b"alice\0alice\0pw").is_ok());
        assert_eq!(parse(b"bob\0alice\0pw"), Err(PlainError::AuthzidMismatch));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        assert_eq!(parse(b"\0alice"), Err(PlainError::TokenCount(2)));
        assert_eq!(parse(b""), Err(PlainError::TokenCount(1)));
        assert_eq!(parse(b"\0a\0b\0c"), Err(PlainError::TokenCount(4)));
        assert_eq!(parse(b"\0\0pw"), Err(PlainError::NoUsername));
        assert_eq!(parse(b"\0alice\0"), Err(PlainError::NoPassword));
        assert_eq!(parse(b"\0al\xffice\0pw"), Err(PlainError::NotUtf8));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = parse(&bytes);
        }
    }
}
