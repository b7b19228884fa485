//! The SASL mechanisms gregor implements, by Kafka's names, and the JAAS login module each
//! one's `sasl.jaas.config` must name. Shared by the broker and the client.

use crate::security::scram::ScramMechanism;

/// A SASL mechanism the broker and client implement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SaslMechanism {
    Plain,
    Scram(ScramMechanism),
}

impl SaslMechanism {
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::Scram(m) => m.name(),
        }
    }

    /// Parses Kafka's mechanism name (exact, upper case).
    pub fn from_name(name: &str) -> Option<SaslMechanism> {
        match name {
            "PLAIN" => Some(SaslMechanism::Plain),
            other => ScramMechanism::from_name(other).map(SaslMechanism::Scram),
        }
    }

    /// The login module class a `sasl.jaas.config` must name for this mechanism.
    pub fn login_module(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "org.apache.kafka.common.security.plain.PlainLoginModule",
            SaslMechanism::Scram(_) => "org.apache.kafka.common.security.scram.ScramLoginModule",
        }
    }
}
