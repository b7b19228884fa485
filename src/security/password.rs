//! A secret string that never reaches a log line, an error message or a `Debug` output.
//!
//! Kafka's `Password` type prints `[hidden]`; so does this one, in both `Debug` and
//! `Display`. Reading the secret takes an explicit [`Password::expose`], so every use of the
//! plain text is visible in the code.

use std::fmt;

/// A password (or other secret) held as a string, printed as `[hidden]`.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Password(String);

impl Password {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Password {
        Password(secret.into())
    }

    /// The secret itself: only for the code that must use it (a SASL exchange, a key file).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[hidden]")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[hidden]")
    }
}

impl From<&str> for Password {
    fn from(s: &str) -> Password {
        Password(s.to_string())
    }
}

impl From<String> for Password {
    fn from(s: String) -> Password {
        Password(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_secret() {
        let p = Password::new("alice-secret");
        assert_eq!(format!("{p:?}"), "[hidden]");
        assert_eq!(format!("{p}"), "[hidden]");
        assert_eq!(p.expose(), "alice-secret");
    }
}
