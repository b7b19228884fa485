//! Integration tests: real broker processes, real clients.

mod cli;
mod client;
mod cluster;
mod common;
mod consumer_groups_tool;
mod controlled_shutdown;
mod coordinator;
mod durability;
mod faults;
mod groups;
mod idempotence;
mod interop;
mod kcat;
mod leader_election;
mod legacy_apis;
mod lifecycle;
mod protocol;
mod quickstart;
mod replication;
mod resources;
mod tools;
mod zk_faults;
mod zookeeper;
