//! One-time import of `gregor-metadata.json`, the file in the first log dir
//! where brokers kept cluster metadata before it moved into ZooKeeper. A
//! broker upgraded in place keeps its cluster id, topics (with their ids and
//! config overrides) and producer-id blocks instead of deleting its logs as
//! orphans; the file is then renamed to `gregor-metadata.json.imported`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{MetadataError, TopicMetadata};

pub const FILE_NAME: &str = "gregor-metadata.json";

/// What the old file held.
#[derive(Debug, Clone)]
pub struct LegacyMetadata {
    pub path: PathBuf,
    pub cluster_id: String,
    pub topics: Vec<TopicMetadata>,
    /// Start of the next unallocated producer-id block.
    pub next_producer_id_block: i64,
}

#[derive(Deserialize)]
struct Document {
    cluster_id: String,
    #[serde(default)]
    topics: BTreeMap<String, Topic>,
    #[serde(default)]
    next_producer_id_block: i64,
}

#[derive(Deserialize)]
struct Topic {
    name: String,
    topic_id: uuid::Uuid,
    partitions: Vec<Vec<i32>>,
    #[serde(default)]
    configs: BTreeMap<String, String>,
}

/// Reads the old file from `dir`, if there is one.
pub fn read(dir: &Path) -> Result<Option<LegacyMetadata>, MetadataError> {
    let path = dir.join(FILE_NAME);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(MetadataError::Invalid(format!("cannot read {}: {e}", path.display()))),
    };
    let doc: Document = serde_json::from_slice(&bytes)
        .map_err(|e| MetadataError::Corrupt { path: path.display().to_string(), reason: e.to_string() })?;
    let topics = doc
        .topics
        .into_values()
        .map(|t| TopicMetadata { name: t.name, topic_id: t.topic_id, partitions: t.partitions, configs: t.configs })
        .collect();
    Ok(Some(LegacyMetadata {
        path,
        cluster_id: doc.cluster_id,
        topics,
        next_producer_id_block: doc.next_producer_id_block,
    }))
}

/// Renames the imported file so that it is not imported again.
pub fn mark_imported(legacy: &LegacyMetadata) -> Result<(), MetadataError> {
    let to = legacy.path.with_extension("json.imported");
    std::fs::rename(&legacy.path, &to)
        .map_err(|e| MetadataError::Invalid(format!("cannot rename {}: {e}", legacy.path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_old_document() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(read(dir.path()).expect("none").is_none());
        let id = uuid::Uuid::new_v4();
        std::fs::write(
            dir.path().join(FILE_NAME),
            format!(
                r#"{{"cluster_id":"abc","topics":{{"t":{{"name":"t","topic_id":"{id}","partitions":[[0],[0]],
                "configs":{{"retention.ms":"5"}}}}}},"next_producer_id_block":2000}}"#
            ),
        )
        .expect("write");
        let legacy = read(dir.path()).expect("read").expect("some");
        assert_eq!(legacy.cluster_id, "abc");
        assert_eq!(legacy.next_producer_id_block, 2000);
        assert_eq!(legacy.topics[0].topic_id, id);
        assert_eq!(legacy.topics[0].partitions.len(), 2);
        mark_imported(&legacy).expect("rename");
        assert!(read(dir.path()).expect("gone").is_none());
        std::fs::write(dir.path().join(FILE_NAME), b"{oops").expect("write");
        assert!(read(dir.path()).is_err());
    }
}
