//! Who a client is and what it may do: principals, and (added beside this)
//! the SASL mechanisms, JAAS-style login options and the ACL authorizer.
//!
//! Everything here is pure (no sockets, no ZooKeeper): the broker's
//! connection sessions (`broker::session`) and the client's connections use
//! it, and the network layer knows nothing of it.

pub mod principal;
