//! Kafka's `KafkaPrincipal`: a type and a name, written `User:alice`.
//!
//! A connection's principal is decided when it is accepted (TLS client
//! certificate) or authenticated (SASL user name); a connection that proved
//! nothing is `User:ANONYMOUS`, as in Kafka. ACLs and `super.users` name
//! principals in the same `Type:name` form.

use std::fmt;
use std::str::FromStr;

/// The principal type Kafka's authenticators produce.
pub const USER_TYPE: &str = "User";

/// The name of a client that did not authenticate.
pub const ANONYMOUS: &str = "ANONYMOUS";

/// A principal: `User:alice`, `User:CN=client,OU=test`, `User:ANONYMOUS`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Principal {
    pub principal_type: String,
    pub name: String,
}

impl Principal {
    /// `User:ANONYMOUS`.
    pub fn anonymous() -> Principal {
        Principal::user(ANONYMOUS)
    }

    /// `User:<name>`.
    pub fn user(name: impl Into<String>) -> Principal {
        Principal { principal_type: USER_TYPE.to_string(), name: name.into() }
    }

    /// Whether this is the principal of a connection that proved nothing.
    pub fn is_anonymous(&self) -> bool {
        self.principal_type == USER_TYPE && self.name == ANONYMOUS
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.principal_type, self.name)
    }
}

/// Why a `Type:name` string is not a principal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a principal in the form Type:name (such as User:alice), got '{0}'")]
pub struct PrincipalError(pub String);

impl FromStr for Principal {
    type Err = PrincipalError;

    /// Splits at the first ':' (a name may hold more, as a DN's never does
    /// but a SASL user name may), as Kafka's `SecurityUtils.parseKafkaPrincipal`.
    fn from_str(s: &str) -> Result<Principal, PrincipalError> {
        match s.split_once(':') {
            Some((kind, name)) if !kind.is_empty() && !name.is_empty() => {
                Ok(Principal { principal_type: kind.to_string(), name: name.to_string() })
            }
            _ => Err(PrincipalError(s.to_string())),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn principals_print_and_parse_in_kafkas_form() {
        assert_eq!(Principal::anonymous().to_string(), "User:ANONYMOUS");
        assert!(Principal::anonymous().is_anonymous());
        let p: Principal = "User:CN=client,OU=test".parse().unwrap();
        assert_eq!(p, Principal::user("CN=client,OU=test"));
        let p: Principal = "User:a:b".parse().unwrap();
        assert_eq!(p.name, "a:b");
        assert!("alice".parse::<Principal>().is_err());
        assert!(":alice".parse::<Principal>().is_err());
        assert!("User:".parse::<Principal>().is_err());
    }
}
