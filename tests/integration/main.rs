//! Integration tests: real broker processes, real clients.

mod cli;
mod client;
mod cluster;
mod common;
mod consumer_groups_tool;
mod durability;
mod interop;
mod kcat;
mod lifecycle;
mod protocol;
mod quickstart;
mod replication;
mod tools;
mod zookeeper;
