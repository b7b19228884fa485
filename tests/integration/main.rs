//! Integration tests: real broker processes, real clients.

mod common;
mod durability;
mod interop;
mod kcat;
mod protocol;
