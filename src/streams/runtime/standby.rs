//! Standby tasks (work in progress).
