//! Security building blocks shared by the broker and the client: principals, secrets,
//! JAAS login-module configs and the SASL mechanisms (PLAIN, SCRAM). Pure code, no I/O.

pub mod jaas;
pub mod mechanism;
pub mod password;
pub mod plain;
pub mod scram;
