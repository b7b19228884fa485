//! The durable metadata document and its atomic writes.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// Producer ids are handed out in blocks, as Kafka does, so that a restart
/// never reuses an id without writing the store on every InitProducerId.
pub const PRODUCER_ID_BLOCK: i64 = 1000;

const FILE_NAME: &str = "gregor-metadata.json";

/// Failures of the metadata store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    #[error("cannot {action} {path}: {source}")]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    #[error("metadata file {path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("Topic '{0}' already exists.")]
    TopicExists(String),
    #[error("Topic '{0}' does not exist.")]
    UnknownTopic(String),
    #[error("{0}")]
    Invalid(String),
}

/// One topic as the cluster knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMetadata {
    pub name: String,
    /// The topic id (Metadata v10+, Fetch v13+).
    pub topic_id: uuid::Uuid,
    /// Replica assignment per partition, partition index = position.
    pub partitions: Vec<Vec<i32>>,
    /// Topic-level config overrides (`retention.ms`, …).
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
}

impl TopicMetadata {
    /// The replication factor (replicas of partition 0).
    pub fn replication_factor(&self) -> usize {
        self.partitions.first().map_or(0, Vec::len)
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Document {
    cluster_id: String,
    #[serde(default)]
    topics: BTreeMap<String, TopicMetadata>,
    /// Start of the next unallocated producer-id block.
    #[serde(default)]
    next_producer_id_block: i64,
}

/// File-backed cluster metadata.
#[derive(Debug)]
pub struct MetadataStore {
    path: PathBuf,
    doc: Mutex<Document>,
}

impl MetadataStore {
    /// Loads the store from `dir`, creating a new cluster id when there is none.
    pub fn open(dir: &Path) -> Result<MetadataStore, MetadataError> {
        fs::create_dir_all(dir).map_err(|source| MetadataError::Io {
            action: "create directory",
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(FILE_NAME);
        let doc = match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<Document>(&bytes)
                .map_err(|e| MetadataError::Corrupt { path: path.clone(), reason: e.to_string() })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Document { cluster_id: new_cluster_id(), ..Document::default() }
            }
            Err(source) => return Err(MetadataError::Io { action: "read", path, source }),
        };
        let store = MetadataStore { path, doc: Mutex::new(doc) };
        store.persist(&store.lock())?;
        Ok(store)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Document> {
        // A poisoned lock means a panic mid-update of an in-memory copy whose
        // durable form was either written whole or not at all; carry on.
        self.doc.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cluster id (Kafka's 22-character base64 UUID form).
    pub fn cluster_id(&self) -> String {
        self.lock().cluster_id.clone()
    }

    /// Every topic, sorted by name.
    pub fn topics(&self) -> Vec<TopicMetadata> {
        self.lock().topics.values().cloned().collect()
    }

    /// One topic.
    pub fn topic(&self, name: &str) -> Option<TopicMetadata> {
        self.lock().topics.get(name).cloned()
    }

    /// Records a new topic durably.
    pub fn create_topic(&self, topic: TopicMetadata) -> Result<(), MetadataError> {
        let mut doc = self.lock();
        if doc.topics.contains_key(&topic.name) {
            return Err(MetadataError::TopicExists(topic.name));
        }
        let mut next = doc.clone();
        next.topics.insert(topic.name.clone(), topic);
        self.persist(&next)?;
        *doc = next;
        Ok(())
    }

    /// Removes a topic durably and returns what it was.
    pub fn delete_topic(&self, name: &str) -> Result<TopicMetadata, MetadataError> {
        let mut doc = self.lock();
        let mut next = doc.clone();
        let removed = next.topics.remove(name).ok_or_else(|| MetadataError::UnknownTopic(name.into()))?;
        self.persist(&next)?;
        *doc = next;
        Ok(removed)
    }

    /// Appends partitions (with their replica assignments) to a topic.
    pub fn add_partitions(&self, name: &str, added: Vec<Vec<i32>>) -> Result<TopicMetadata, MetadataError> {
        let mut doc = self.lock();
        let mut next = doc.clone();
        let topic = next.topics.get_mut(name).ok_or_else(|| MetadataError::UnknownTopic(name.into()))?;
        topic.partitions.extend(added);
        let updated = topic.clone();
        self.persist(&next)?;
        *doc = next;
        Ok(updated)
    }

    /// Reserves the next block of producer ids; returns `(first, end_exclusive)`.
    pub fn allocate_producer_ids(&self) -> Result<(i64, i64), MetadataError> {
        let mut doc = self.lock();
        let mut next = doc.clone();
        let start = next.next_producer_id_block;
        next.next_producer_id_block = start + PRODUCER_ID_BLOCK;
        self.persist(&next)?;
        *doc = next;
        Ok((start, start + PRODUCER_ID_BLOCK))
    }

    /// Writes the document atomically: temp file, fsync, rename, fsync dir.
    fn persist(&self, doc: &Document) -> Result<(), MetadataError> {
        let io = |action: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| MetadataError::Io { action, path, source }
        };
        let bytes = serde_json::to_vec_pretty(doc)
            .map_err(|e| MetadataError::Corrupt { path: self.path.clone(), reason: e.to_string() })?;
        let tmp = self.path.with_extension("json.tmp");
        let mut file = fs::File::create(&tmp).map_err(io("create", &tmp))?;
        file.write_all(&bytes).map_err(io("write", &tmp))?;
        file.sync_all().map_err(io("fsync", &tmp))?;
        fs::rename(&tmp, &self.path).map_err(io("rename", &self.path))?;
        if let Some(dir) = self.path.parent() {
            fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io("fsync", dir))?;
        }
        Ok(())
    }
}

/// A fresh cluster id: a random UUID in URL-safe base64 without padding, as Kafka prints it.
fn new_cluster_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut out = String::with_capacity(22);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(ALPHABET[((acc >> bits) & 63) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (6 - bits)) & 63) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str) -> TopicMetadata {
        TopicMetadata {
            name: name.into(),
            topic_id: uuid::Uuid::new_v4(),
            partitions: vec![vec![0], vec![0]],
            configs: BTreeMap::new(),
        }
    }

    #[test]
    fn survives_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = MetadataStore::open(dir.path()).expect("open");
        let id = store.cluster_id();
        assert_eq!(id.len(), 22);
        store.create_topic(topic("a")).expect("create");
        assert!(matches!(store.create_topic(topic("a")), Err(MetadataError::TopicExists(_))));
        store.create_topic(topic("b")).expect("create");
        store.add_partitions("b", vec![vec![0]]).expect("add");
        store.delete_topic("a").expect("delete");
        let (p0, _) = store.allocate_producer_ids().expect("pid");
        drop(store);
        let store = MetadataStore::open(dir.path()).expect("reopen");
        assert_eq!(store.cluster_id(), id);
        assert!(store.topic("a").is_none());
        assert_eq!(store.topic("b").map(|t| t.partitions.len()), Some(3));
        let (p1, _) = store.allocate_producer_ids().expect("pid");
        assert_eq!(p1, p0 + PRODUCER_ID_BLOCK);
    }

    #[test]
    fn corrupt_file_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join(FILE_NAME), b"{not json").expect("write");
        assert!(matches!(MetadataStore::open(dir.path()), Err(MetadataError::Corrupt { .. })));
    }
}
