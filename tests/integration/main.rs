//! Integration tests: real broker processes, real clients.

mod client;
mod common;
mod durability;
mod interop;
mod kcat;
mod protocol;
