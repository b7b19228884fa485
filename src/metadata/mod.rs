//! Cluster metadata: the cluster id, topics with their partition assignments,
//! topic ids and config overrides, and producer-id blocks.
//!
//! Every broker reads and changes cluster metadata only through
//! [`MetadataStore`], so that moving it into ZooKeeper (Kafka's znode layout)
//! changes this module and not the handlers. Until then the store is a JSON
//! document in the first log dir, written atomically (temp file, fsync,
//! rename, fsync of the directory) before any change is acknowledged.

mod store;

pub use store::{MetadataError, MetadataStore, TopicMetadata};

/// Topic-name rules shared by every path that creates topics (Kafka's):
/// 1–249 characters of `[a-zA-Z0-9._-]`, and not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return Err("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > 249 {
        return Err(format!("Topic name is illegal, it can't be longer than 249 characters, topic name: {name}"));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-') {
        return Err(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate_topic_name;

    #[test]
    fn topic_names() {
        assert!(validate_topic_name("test").is_ok());
        assert!(validate_topic_name("my-replicated_topic.v1").is_ok());
        assert!(validate_topic_name("").is_err());
        assert!(validate_topic_name("..").is_err());
        assert!(validate_topic_name("a b").is_err());
        assert!(validate_topic_name(&"x".repeat(250)).is_err());
        assert!(validate_topic_name(&"x".repeat(249)).is_ok());
    }
}
