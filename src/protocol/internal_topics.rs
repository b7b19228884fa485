//! The names of Kafka's internal topics, in one place. Clients see them
//! (Metadata's `is_internal`, `exclude.internal.topics`), the produce path
//! refuses client writes to them, and the coordinators own their contents;
//! keeping the names here lets the broker and the coordinators agree on them
//! without importing each other.

/// Group metadata and committed offsets, written by the group coordinator.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Transactional ids' state, written by the transaction coordinator.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// Every internal topic.
pub const ALL: &[&str] = &[OFFSETS_TOPIC, TRANSACTION_STATE_TOPIC];

/// Whether `topic` is internal: only a coordinator appends to it.
pub fn is_internal(topic: &str) -> bool {
    ALL.contains(&topic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_coordinator_topics_are_internal_and_user_topics_are_not() {
        assert!(is_internal("__consumer_offsets"));
        assert!(is_internal("__transaction_state"));
        assert!(!is_internal("orders"));
        assert!(!is_internal("__consumer_offsets2"));
    }
}
