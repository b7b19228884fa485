//! The store against the in-process ZooKeeper-compatible server.
