//! Kafka's ConnectProtocol, version 0 (protocol `default`, eager), as it
//! travels inside JoinGroup and SyncGroup of a group with protocol type
//! `connect`, and the leader's round-robin assignment.
//!
//! Member metadata: `version: int16 (0)`, `url: string`,
//! `config_offset: int64`. Assignment: `version: int16 (0)`,
//! `error: int16`, `leader: string`, `leader_url: string`,
//! `config_offset: int64`, then `[connector: string, tasks: [int32]]`
//! where task `-1` stands for the connector itself. Strings are an int16
//! length then UTF-8, arrays an int32 count. Pure: bytes in, values out.

use std::collections::BTreeMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::super::herder::ConnectorTaskId;

/// The protocol name of the eager ConnectProtocol.
pub const PROTOCOL_NAME: &str = "default";
/// The group protocol type of Connect workers.
pub const PROTOCOL_TYPE: &str = "connect";
/// The task number that stands for a connector itself.
const CONNECTOR_TASK: i32 = -1;
/// Assignment error: none.
pub const NO_ERROR: i16 = 0;
/// Assignment error: the leader's config is behind a member's (Kafka's CONFIG_MISMATCH).
pub const CONFIG_MISMATCH: i16 = 1;

/// What a worker tells the group leader about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerMetadata {
    /// Its REST URL.
    pub url: String,
    /// How far it has read the config topic.
    pub config_offset: i64,
}

/// What the leader gives one worker.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Assignment {
    pub error: i16,
    pub leader: String,
    pub leader_url: String,
    pub config_offset: i64,
    pub connectors: Vec<String>,
    pub tasks: Vec<ConnectorTaskId>,
}

/// Bytes that do not read as the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed ConnectProtocol {what}: {reason}")]
pub struct ProtocolError {
    what: &'static str,
    reason: String,
}

fn put_string(b: &mut BytesMut, s: &str) {
    let len = i16::try_from(s.len()).unwrap_or(i16::MAX);
    b.put_i16(len);
    b.put_slice(&s.as_bytes()[..len as usize]);
}

struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl Reader<'_> {
    fn err(&self, reason: impl Into<String>) -> ProtocolError {
        ProtocolError { what: self.what, reason: reason.into() }
    }

    fn need(&self, n: usize) -> Result<(), ProtocolError> {
        if self.buf.remaining() < n {
            return Err(self.err("truncated"));
        }
        Ok(())
    }

    fn i16(&mut self) -> Result<i16, ProtocolError> {
        self.need(2)?;
        Ok(self.buf.get_i16())
    }

    fn i32(&mut self) -> Result<i32, ProtocolError> {
        self.need(4)?;
        Ok(self.buf.get_i32())
    }

    fn i64(&mut self) -> Result<i64, ProtocolError> {
        self.need(8)?;
        Ok(self.buf.get_i64())
    }

    fn string(&mut self) -> Result<String, ProtocolError> {
        let len = self.i16()?;
        let len = usize::try_from(len).map_err(|_| self.err("negative string length"))?;
        self.need(len)?;
        let s = std::str::from_utf8(&self.buf[..len]).map_err(|_| self.err("a string is not UTF-8"))?.to_string();
        self.buf.advance(len);
        Ok(s)
    }

    /// An array count, checked against the bytes left (each element takes at least `min` bytes).
    fn count(&mut self, min: usize) -> Result<usize, ProtocolError> {
        let n = self.i32()?;
        let n = usize::try_from(n).map_err(|_| self.err("negative array length"))?;
        if n.saturating_mul(min) > self.buf.remaining() {
            return Err(self.err("array longer than the bytes left"));
        }
        Ok(n)
    }
}

impl WorkerMetadata {
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i16(0);
        put_string(&mut b, &self.url);
        b.put_i64(self.config_offset);
        b.freeze()
    }

    /// Reads version 0 or any later version (which begin with the same fields).
    pub fn decode(bytes: &[u8]) -> Result<WorkerMetadata, ProtocolError> {
        let mut r = Reader { buf: bytes, what: "metadata" };
        let version = r.i16()?;
        if version < 0 {
            return Err(r.err(format!("version {version}")));
        }
        Ok(WorkerMetadata { url: r.string()?, config_offset: r.i64()? })
    }
}

impl Assignment {
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i16(0);
        b.put_i16(self.error);
        put_string(&mut b, &self.leader);
        put_string(&mut b, &self.leader_url);
        b.put_i64(self.config_offset);
        // Kafka groups by connector: the connector itself (-1) and its tasks.
        let mut by_connector: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for c in &self.connectors {
            by_connector.entry(c).or_default().push(CONNECTOR_TASK);
        }
        for t in &self.tasks {
            by_connector.entry(&t.connector).or_default().push(i32::try_from(t.task).unwrap_or(i32::MAX));
        }
        b.put_i32(by_connector.len() as i32);
        for (c, tasks) in by_connector {
            put_string(&mut b, c);
            b.put_i32(tasks.len() as i32);
            for t in tasks {
                b.put_i32(t);
            }
        }
        b.freeze()
    }

    pub fn decode(bytes: &[u8]) -> Result<Assignment, ProtocolError> {
        let mut r = Reader { buf: bytes, what: "assignment" };
        let version = r.i16()?;
        if version < 0 {
            return Err(r.err(format!("version {version}")));
        }
        let mut a = Assignment {
            error: r.i16()?,
            leader: r.string()?,
            leader_url: r.string()?,
            config_offset: r.i64()?,
            ..Assignment::default()
        };
        for _ in 0..r.count(6)? {
            let connector = r.string()?;
            for _ in 0..r.count(4)? {
                match r.i32()? {
                    CONNECTOR_TASK => a.connectors.push(connector.clone()),
                    t => {
                        let task = usize::try_from(t).map_err(|_| r.err(format!("task number {t}")))?;
                        a.tasks.push(ConnectorTaskId { connector: connector.clone(), task });
                    }
                }
            }
        }
        Ok(a)
    }
}

/// The leader's assignment, as Kafka's eager assignor makes it: members
/// sorted by id, connectors then tasks dealt to them in turn by one
/// circular iterator. `tasks` are (connector, task count). Every member
/// gets an entry, possibly empty.
pub fn assign(
    members: &[String],
    connectors: &[String],
    tasks: &[(String, usize)],
    leader: &str,
    leader_url: &str,
    config_offset: i64,
) -> BTreeMap<String, Assignment> {
    let mut sorted: Vec<&String> = members.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut out: BTreeMap<String, Assignment> = sorted
        .iter()
        .map(|m| {
            (
                m.to_string(),
                Assignment {
                    error: NO_ERROR,
                    leader: leader.to_string(),
                    leader_url: leader_url.to_string(),
                    config_offset,
                    ..Assignment::default()
                },
            )
        })
        .collect();
    if sorted.is_empty() {
        return out;
    }
    let mut next = (0..sorted.len()).cycle();
    let mut pick = || sorted[next.next().unwrap_or(0)].to_string();
    let mut names: Vec<&String> = connectors.iter().collect();
    names.sort();
    for c in names {
        if let Some(a) = out.get_mut(&pick()) {
            a.connectors.push(c.clone());
        }
    }
    let mut counts: Vec<&(String, usize)> = tasks.iter().collect();
    counts.sort();
    for (c, n) in counts {
        for task in 0..*n {
            if let Some(a) = out.get_mut(&pick()) {
                a.tasks.push(ConnectorTaskId { connector: c.clone(), task });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(c: &str, t: usize) -> ConnectorTaskId {
        ConnectorTaskId { connector: c.into(), task: t }
    }

    #[test]
    fn metadata_is_kafkas_v0_layout() {
        let m = WorkerMetadata { url: "http://h:1/".into(), config_offset: 5 };
        let bytes = m.encode();
        let mut want = vec![0, 0, 0, 11];
        want.extend_from_slice(b"http://h:1/");
        want.extend_from_slice(&5i64.to_be_bytes());
        assert_eq!(bytes.as_ref(), want.as_slice());
        assert_eq!(WorkerMetadata::decode(&bytes).expect("decodes"), m);
    }

    #[test]
    fn assignment_round_trips_with_connectors_as_task_minus_one() {
        let a = Assignment {
            error: 0,
            leader: "m1".into(),
            leader_url: "http://h:1/".into(),
            config_offset: 9,
            connectors: vec!["a".into()],
            tasks: vec![id("a", 0), id("b", 1)],
        };
        let bytes = a.encode();
        // version, error, "m1", url, offset, 2 connectors: a [-1, 0], b [1]
        let mut want = vec![0, 0, 0, 0, 0, 2, b'm', b'1', 0, 11];
        want.extend_from_slice(b"http://h:1/");
        want.extend_from_slice(&9i64.to_be_bytes());
        want.extend_from_slice(&2i32.to_be_bytes());
        want.extend_from_slice(&[0, 1, b'a']);
        want.extend_from_slice(&2i32.to_be_bytes());
        want.extend_from_slice(&(-1i32).to_be_bytes());
        want.extend_from_slice(&0i32.to_be_bytes());
        want.extend_from_slice(&[0, 1, b'b']);
        want.extend_from_slice(&1i32.to_be_bytes());
        want.extend_from_slice(&1i32.to_be_bytes());
        assert_eq!(bytes.as_ref(), want.as_slice());
        assert_eq!(Assignment::decode(&bytes).expect("decodes"), a);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in
            [&[][..], &[0], &[0, 0, 0, 5, b'a'], &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 127, 255, 255, 255]]
        {
            assert!(Assignment::decode(bytes).is_err());
        }
        for bytes in [&[][..], &[0], &[0, 0, 0, 5, b'a'], &[0, 0, 0, 0, 0, 0, 0]] {
            assert!(WorkerMetadata::decode(bytes).is_err());
        }
    }

    #[test]
    fn round_robin_deals_connectors_then_tasks() {
        let members = vec!["w2".to_string(), "w1".to_string()];
        let out = assign(
            &members,
            &["sink".into(), "source".into()],
            &[("source".into(), 1), ("sink".into(), 2)],
            "w1",
            "http://w1/",
            7,
        );
        assert_eq!(out["w1"].connectors, vec!["sink".to_string()]);
        assert_eq!(out["w2"].connectors, vec!["source".to_string()]);
        assert_eq!(out["w1"].tasks, vec![id("sink", 0), id("source", 0)]);
        assert_eq!(out["w2"].tasks, vec![id("sink", 1)]);
        assert!(out.values().all(|a| a.leader == "w1" && a.config_offset == 7));
    }

    #[test]
    fn every_task_is_assigned_exactly_once_and_balanced() {
        let members: Vec<String> = (0..3).map(|i| format!("m{i}")).collect();
        let tasks: Vec<(String, usize)> = vec![("a".into(), 4), ("b".into(), 3)];
        let out = assign(&members, &["a".into(), "b".into()], &tasks, "m0", "", 0);
        let mut all: Vec<ConnectorTaskId> = out.values().flat_map(|a| a.tasks.clone()).collect();
        all.sort();
        let mut want: Vec<ConnectorTaskId> = (0..4).map(|t| id("a", t)).chain((0..3).map(|t| id("b", t))).collect();
        want.sort();
        assert_eq!(all, want);
        let loads: Vec<usize> = out.values().map(|a| a.tasks.len() + a.connectors.len()).collect();
        assert!(loads.iter().max().expect("max") - loads.iter().min().expect("min") <= 1, "{loads:?}");
        // A member alone gets everything; no members, nothing.
        let alone = assign(&["x".into()], &["a".into()], &tasks, "x", "", 0);
        assert_eq!(alone["x"].tasks.len(), 7);
        assert!(assign(&[], &["a".into()], &tasks, "x", "", 0).is_empty());
    }
}
