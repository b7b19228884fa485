//! `FileStreamSource` and `FileStreamSink`, the quickstart's connectors,
//! with Kafka's keys: the source tails `file` (standard input when unset)
//! and sends each line to `topic` as a string (schema `string`, no key),
//! remembering its byte position as the source offset
//! (`{"filename": …}` → `{"position": …}`), so a restarted worker goes on
//! after the last line it had flushed; the sink appends each record's value
//! and a newline to `file` (standard output when unset) and syncs it at
//! each flush.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, Read, Seek, SeekFrom, Write};
use std::sync::mpsc;

use serde_json::{json, Value};

use super::api::{int, required, OffsetReader, SinkConnector, SinkRecord, SinkTask, SourceConnector, SourceMap};
use super::api::{SourceRecord, SourceTask};
use super::data::{Data, Schema};
use super::{Config, ConnectError, Result};

/// Bytes read from the file per poll at most.
const READ_CHUNK: usize = 1 << 20;

#[derive(Default)]
pub struct FileStreamSourceConnector {
    config: Config,
}

impl SourceConnector for FileStreamSourceConnector {
    fn start(&mut self, config: &Config) -> Result<()> {
        let topic = required(config, "topic")?;
        if topic.contains(',') || topic.trim().is_empty() {
            return Err(ConnectError::Config(format!(
                "Invalid value {topic} for configuration topic: 'topic' in FileStreamSourceConnector configuration \
                 requires definition of a single topic"
            )));
        }
        if int(config, "batch.size", 2000)? < 1 {
            return Err(ConnectError::Config("Invalid value for configuration batch.size: must be at least 1".into()));
        }
        self.config = config.clone();
        Ok(())
    }
    fn task_configs(&self, _max_tasks: usize) -> Vec<Config> {
        // One file, one reader.
        vec![self.config.clone()]
    }
    fn task(&self) -> Box<dyn SourceTask> {
        Box::new(FileStreamSourceTask::default())
    }
}

#[derive(Default)]
pub struct FileStreamSourceTask {
    path: Option<String>,
    topic: String,
    batch: usize,
    file: Option<File>,
    position: u64,
    /// Bytes read past `position` that do not end a line yet.
    pending: Vec<u8>,
    stdin: Option<mpsc::Receiver<String>>,
    warned_missing: bool,
}

impl FileStreamSourceTask {
    fn partition(&self) -> SourceMap {
        let mut m = SourceMap::new();
        m.insert("filename".into(), self.path.clone().map_or(Value::Null, Value::String));
        m
    }
}

impl SourceTask for FileStreamSourceTask {
    fn start(&mut self, config: &Config, offsets: &dyn OffsetReader) -> Result<()> {
        self.topic = required(config, "topic")?.to_string();
        self.batch = int(config, "batch.size", 2000)?.max(1) as usize;
        self.path = config.get("file").filter(|f| !f.is_empty()).cloned();
        match &self.path {
            Some(_) => {
                if let Some(off) = offsets.offset(&self.partition()) {
                    self.position = off.get("position").and_then(Value::as_u64).unwrap_or(0);
                }
            }
            None => {
                let (tx, rx) = mpsc::channel();
                std::thread::spawn(move || {
                    for line in std::io::stdin().lock().lines() {
                        let Ok(line) = line else { break };
                        if tx.send(line).is_err() {
                            break;
                        }
                    }
                });
                self.stdin = Some(rx);
            }
        }
        Ok(())
    }

    fn poll(&mut self) -> Result<Vec<SourceRecord>> {
        if let Some(rx) = &self.stdin {
            let lines: Vec<String> = rx.try_iter().take(self.batch).collect();
            return Ok(lines.into_iter().map(|l| self.record(l, SourceMap::new(), SourceMap::new())).collect());
        }
        let Some(path) = self.path.clone() else { return Ok(Vec::new()) };
        if self.file.is_none() {
            match File::open(&path) {
                Ok(mut f) => {
                    f.seek(SeekFrom::Start(self.position)).map_err(|e| ConnectError::io(&path, e))?;
                    self.file = Some(f);
                    self.warned_missing = false;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if !self.warned_missing {
                        tracing::warn!(
                            "Couldn't find file {path} for FileStreamSourceTask, sleeping to wait for it to be created"
                        );
                        self.warned_missing = true;
                    }
                    return Ok(Vec::new());
                }
                Err(e) => return Err(ConnectError::io(&path, e)),
            }
        }
        let Some(file) = self.file.as_mut() else { return Ok(Vec::new()) };
        // Straight into the carry-over buffer (no zeroed chunk per poll), and
        // only while it holds less than a chunk: a poll takes at most
        // `batch.size` lines, so reading a chunk every time would grow the
        // buffer without bound and move all of it on every drain below. A
        // line longer than a chunk still gets more bytes until it ends.
        let want = if self.pending.len() < READ_CHUNK {
            READ_CHUNK - self.pending.len()
        } else if !self.pending.contains(&b'\n') {
            READ_CHUNK
        } else {
            0
        };
        if want > 0 {
            file.take(want as u64).read_to_end(&mut self.pending).map_err(|e| ConnectError::io(&path, e))?;
        }
        let mut records = Vec::new();
        let mut consumed = 0;
        while records.len() < self.batch {
            let Some(nl) = self.pending[consumed..].iter().position(|b| *b == b'\n') else { break };
            let mut line = &self.pending[consumed..consumed + nl];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            let text = String::from_utf8_lossy(line).into_owned();
            consumed += nl + 1;
            let mut offset = SourceMap::new();
            offset.insert("position".into(), json!(self.position + consumed as u64));
            records.push(self.record(text, self.partition(), offset));
        }
        self.pending.drain(..consumed);
        self.position += consumed as u64;
        Ok(records)
    }
}

impl FileStreamSourceTask {
    fn record(&self, line: String, partition: SourceMap, offset: SourceMap) -> SourceRecord {
        SourceRecord {
            source_partition: partition,
            source_offset: offset,
            topic: self.topic.clone(),
            partition: None,
            key_schema: None,
            key: Data::Null,
            value_schema: Some(Schema::string()),
            value: Data::String(line),
            timestamp: None,
        }
    }
}

#[derive(Default)]
pub struct FileStreamSinkConnector {
    config: Config,
}

impl SinkConnector for FileStreamSinkConnector {
    fn start(&mut self, config: &Config) -> Result<()> {
        self.config = config.clone();
        Ok(())
    }
    fn task_configs(&self, max_tasks: usize) -> Vec<Config> {
        // Every task appends to the same file, as in Kafka.
        vec![self.config.clone(); max_tasks.max(1)]
    }
    fn task(&self) -> Box<dyn SinkTask> {
        Box::new(FileStreamSinkTask::default())
    }
}

#[derive(Default)]
pub struct FileStreamSinkTask {
    path: Option<String>,
    out: Option<File>,
}

impl SinkTask for FileStreamSinkTask {
    fn start(&mut self, config: &Config) -> Result<()> {
        self.path = config.get("file").filter(|f| !f.is_empty()).cloned();
        if let Some(path) = &self.path {
            let f = OpenOptions::new().create(true).append(true).open(path).map_err(|e| ConnectError::io(path, e))?;
            self.out = Some(f);
        }
        Ok(())
    }
    fn put(&mut self, records: Vec<SinkRecord>) -> Result<()> {
        let mut text = String::new();
        for r in records {
            text.push_str(&r.value.to_string());
            text.push('\n');
        }
        match (&mut self.out, &self.path) {
            (Some(f), Some(path)) => f.write_all(text.as_bytes()).map_err(|e| ConnectError::io(path, e)),
            _ => std::io::stdout().write_all(text.as_bytes()).map_err(|e| ConnectError::io("stdout", e)),
        }
    }
    fn flush(&mut self) -> Result<()> {
        match (&mut self.out, &self.path) {
            (Some(f), Some(path)) => f.sync_data().map_err(|e| ConnectError::io(path, e)),
            _ => std::io::stdout().flush().map_err(|e| ConnectError::io("stdout", e)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    struct NoOffsets;
    impl OffsetReader for NoOffsets {
        fn offset(&self, _p: &SourceMap) -> Option<SourceMap> {
            None
        }
    }
    struct At(u64);
    impl OffsetReader for At {
        fn offset(&self, _p: &SourceMap) -> Option<SourceMap> {
            let mut m = SourceMap::new();
            m.insert("position".into(), json!(self.0));
            Some(m)
        }
    }

    #[test]
    fn the_source_tails_complete_lines_and_resumes_at_its_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.txt");
        let mut config = Config::new();
        config.insert("file".into(), path.display().to_string());
        config.insert("topic".into(), "t".into());
        let mut c = FileStreamSourceConnector::default();
        c.start(&config).unwrap();
        let mut t = c.task();
        t.start(&config, &NoOffsets).unwrap();
        assert!(t.poll().unwrap().is_empty(), "no file yet");
        std::fs::write(&path, "foo\r\nbar\nhal").unwrap();
        let r = t.poll().unwrap();
        let lines: Vec<String> = r.iter().map(|r| r.value.to_string()).collect();
        assert_eq!(lines, ["foo", "bar"]);
        assert_eq!(r[1].source_offset["position"], json!(9));
        assert_eq!(r[0].source_partition["filename"], json!(path.display().to_string()));
        assert!(t.poll().unwrap().is_empty(), "half a line waits");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"f\n").unwrap();
        assert_eq!(t.poll().unwrap()[0].value, Data::String("half".into()));
        // A new task at position 5 starts at "bar".
        let mut t2 = c.task();
        t2.start(&config, &At(5)).unwrap();
        assert_eq!(t2.poll().unwrap().iter().map(|r| r.value.to_string()).collect::<Vec<_>>(), ["bar", "half"]);
        let mut bad = config.clone();
        bad.insert("topic".into(), "a,b".into());
        assert!(FileStreamSourceConnector::default().start(&bad).unwrap_err().to_string().contains("single topic"));
        bad.remove("topic");
        assert!(FileStreamSourceConnector::default().start(&bad).unwrap_err().to_string().contains("\"topic\""));
    }

    #[test]
    fn a_big_file_comes_out_whole_in_batches_and_a_line_longer_than_a_chunk_still_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.txt");
        let long = "x".repeat(READ_CHUNK + 10);
        let mut text = String::new();
        for i in 0..100_000 {
            text.push_str(&format!("line {i:06} padding padding padding padding padding\n"));
        }
        text.push_str(&long);
        text.push_str("\nlast\n");
        std::fs::write(&path, &text).unwrap();
        let mut config = Config::new();
        config.insert("file".into(), path.display().to_string());
        config.insert("topic".into(), "t".into());
        config.insert("batch.size".into(), "1000".into());
        let mut c = FileStreamSourceConnector::default();
        c.start(&config).unwrap();
        let mut t = FileStreamSourceTask::default();
        t.start(&config, &NoOffsets).unwrap();
        let mut got = Vec::new();
        for _ in 0..200 {
            let batch = t.poll().unwrap();
            assert!(batch.len() <= 1000, "batch.size bounds a poll");
            assert!(t.pending.len() <= 2 * READ_CHUNK + long.len(), "the carry-over stays bounded");
            got.extend(batch.into_iter().map(|r| r.value.to_string()));
        }
        assert_eq!(got.len(), 100_002);
        assert_eq!(got[0], "line 000000 padding padding padding padding padding");
        assert_eq!(got[99_999], "line 099999 padding padding padding padding padding");
        assert_eq!(got[100_000].len(), long.len());
        assert_eq!(got[100_001], "last");
    }
}
