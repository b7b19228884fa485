//! Unit tests of the transaction coordinator service.
