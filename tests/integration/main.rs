//! Integration tests: real broker processes, real clients.

mod common;
mod interop;
mod protocol;
mod durability;
mod kcat;
