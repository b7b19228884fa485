//! Restoring a store from its changelog (work in progress).
