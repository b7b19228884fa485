//! Who a client is and what it may do: principals, the SASL mechanisms,
//! JAAS-style login options and the ACL authorizer.
//!
//! Everything here is pure (no sockets, no ZooKeeper): the broker's
//! connection sessions (`broker::session`) and the client's connections use
//! it, and the network layer knows nothing of it.

pub mod acl;
pub mod authorizer;
pub mod jaas;
pub mod mechanism;
pub mod password;
pub mod plain;
pub mod principal;
pub mod scram;
