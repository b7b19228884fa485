//! PostgreSQL change capture (in progress).
