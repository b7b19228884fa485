//! The records of `__consumer_offsets`, in Kafka's own layout so that a log
//! written here reads the same as one written by a JVM broker:
//!
//! - offset commit: key v1 `(group, topic, partition)`, value v3
//!   `(offset, leader epoch, metadata, commit timestamp)`; v0–v3 are read;
//! - group metadata: key v2 `(group)`, value v3 (protocol type, generation,
//!   protocol, leader, state timestamp, members with subscription and
//!   assignment); v0–v3 are read;
//! - a record with a null value (tombstone) deletes its key.
//!
//! Every field is big-endian; strings are i16-length-prefixed, bytes
//! i32-length-prefixed, nullable ones use length −1.

use bytes::{BufMut, Bytes, BytesMut};

use crate::protocol::reader::Reader;

/// A decoded record key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    Offset { group: String, topic: String, partition: i32 },
    Group { group: String },
}

/// A committed offset as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetValue {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
    /// Only in value v1 (a commit with an explicit retention time).
    pub expire_timestamp: Option<i64>,
}

/// One member as stored in the group metadata.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MemberValue {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout: i32,
    pub session_timeout: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// A group's metadata as stored after each completed rebalance.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct GroupValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub current_state_timestamp: i64,
    pub members: Vec<MemberValue>,
}

/// Why a stored record could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unreadable __consumer_offsets record: {0}")]
pub struct RecordError(pub String);

fn put_str(out: &mut BytesMut, s: &str) {
    let len = i16::try_from(s.len()).unwrap_or(i16::MAX);
    out.put_i16(len);
    out.put_slice(&s.as_bytes()[..len as usize]);
}

fn put_nullable_str(out: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_str(out, s),
        None => out.put_i16(-1),
    }
}

fn put_bytes(out: &mut BytesMut, b: &[u8]) {
    out.put_i32(i32::try_from(b.len()).unwrap_or(i32::MAX));
    out.put_slice(b);
}

/// The key of an offset commit.
pub fn offset_key(group: &str, topic: &str, partition: i32) -> Bytes {
    let mut out = BytesMut::with_capacity(10 + group.len() + topic.len());
    out.put_i16(1);
    put_str(&mut out, group);
    put_str(&mut out, topic);
    out.put_i32(partition);
    out.freeze()
}

/// The key of a group's metadata.
pub fn group_key(group: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(4 + group.len());
    out.put_i16(2);
    put_str(&mut out, group);
    out.freeze()
}

/// An offset commit value: v3, or v1 when it carries an expire timestamp.
pub fn offset_value(v: &OffsetValue) -> Bytes {
    let mut out = BytesMut::with_capacity(32 + v.metadata.len());
    match v.expire_timestamp {
        Some(expire) => {
            out.put_i16(1);
            out.put_i64(v.offset);
            put_str(&mut out, &v.metadata);
            out.put_i64(v.commit_timestamp);
            out.put_i64(expire);
        }
        None => {
            out.put_i16(3);
            out.put_i64(v.offset);
            out.put_i32(v.leader_epoch);
            put_str(&mut out, &v.metadata);
            out.put_i64(v.commit_timestamp);
        }
    }
    out.freeze()
}

/// A group metadata value, v3.
pub fn group_value(v: &GroupValue) -> Bytes {
    let mut out = BytesMut::with_capacity(64);
    out.put_i16(3);
    put_str(&mut out, &v.protocol_type);
    out.put_i32(v.generation);
    put_nullable_str(&mut out, v.protocol.as_deref());
    put_nullable_str(&mut out, v.leader.as_deref());
    out.put_i64(v.current_state_timestamp);
    out.put_i32(v.members.len() as i32);
    for m in &v.members {
        put_str(&mut out, &m.member_id);
        put_nullable_str(&mut out, m.group_instance_id.as_deref());
        put_str(&mut out, &m.client_id);
        put_str(&mut out, &m.client_host);
        out.put_i32(m.rebalance_timeout);
        out.put_i32(m.session_timeout);
        put_bytes(&mut out, &m.subscription);
        put_bytes(&mut out, &m.assignment);
    }
    out.freeze()
}

impl From<String> for RecordError {
    fn from(reason: String) -> Self {
        RecordError(reason)
    }
}

/// Decodes a record key; `Ok(None)` for key versions this broker does not
/// use (transaction markers of other systems), which loading skips.
pub fn decode_key(buf: &[u8]) -> Result<Option<Key>, RecordError> {
    let mut r = Reader::new(buf);
    match r.i16()? {
        0 | 1 => Ok(Some(Key::Offset { group: r.str()?, topic: r.str()?, partition: r.i32()? })),
        2 => Ok(Some(Key::Group { group: r.str()? })),
        _ => Ok(None),
    }
}

/// Decodes an offset commit value, versions 0–3.
pub fn decode_offset_value(buf: &[u8]) -> Result<OffsetValue, RecordError> {
    let mut r = Reader::new(buf);
    let version = r.i16()?;
    let offset = r.i64()?;
    let leader_epoch = if version >= 3 { r.i32()? } else { -1 };
    let metadata = r.str()?;
    let commit_timestamp = r.i64()?;
    let expire_timestamp = if version == 1 { Some(r.i64()?) } else { None };
    if !(0..=3).contains(&version) {
        return Err(RecordError(format!("unknown offset value version {version}")));
    }
    Ok(OffsetValue { offset, leader_epoch, metadata, commit_timestamp, expire_timestamp })
}

/// Decodes a group metadata value, versions 0–3.
pub fn decode_group_value(buf: &[u8]) -> Result<GroupValue, RecordError> {
    let mut r = Reader::new(buf);
    let version = r.i16()?;
    if !(0..=3).contains(&version) {
        return Err(RecordError(format!("unknown group value version {version}")));
    }
    let protocol_type = r.str()?;
    let generation = r.i32()?;
    let protocol = r.nullable_str()?;
    let leader = r.nullable_str()?;
    let current_state_timestamp = if version >= 2 { r.i64()? } else { -1 };
    let count = r.i32()?;
    // Each member takes at least 16 bytes: bound the count by what is left.
    if count < 0 || count as usize > buf.len() / 16 {
        return Err(RecordError(format!("implausible member count {count}")));
    }
    let mut members = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let member_id = r.str()?;
        let group_instance_id = if version >= 3 { r.nullable_str()? } else { None };
        let client_id = r.str()?;
        let client_host = r.str()?;
        let rebalance_timeout = if version >= 1 { r.i32()? } else { -1 };
        let session_timeout = r.i32()?;
        let rebalance_timeout = if version >= 1 { rebalance_timeout } else { session_timeout };
        let subscription = r.bytes()?;
        let assignment = r.bytes()?;
        members.push(MemberValue {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout,
            session_timeout,
            subscription,
            assignment,
        });
    }
    Ok(GroupValue { protocol_type, generation, protocol, leader, current_state_timestamp, members })
}

/// Kafka's partition of `__consumer_offsets` for a group: the absolute value
/// of Java's `String.hashCode` modulo the partition count.
pub fn partition_for(group: &str, partitions: i32) -> i32 {
    let mut h: i32 = 0;
    for unit in group.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(i32::from(unit));
    }
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_records_round_trip() {
        let key = offset_key("g", "topic", 7);
        assert_eq!(
            decode_key(&key).expect("test value"),
            Some(Key::Offset { group: "g".into(), topic: "topic".into(), partition: 7 })
        );
        let v = OffsetValue {
            offset: 42,
            leader_epoch: 3,
            metadata: "m".into(),
            commit_timestamp: 99,
            expire_timestamp: None,
        };
        assert_eq!(decode_offset_value(&offset_value(&v)).expect("test value"), v);
        let v1 = OffsetValue { expire_timestamp: Some(1000), leader_epoch: -1, ..v };
        assert_eq!(decode_offset_value(&offset_value(&v1)).expect("test value"), v1);
    }

    #[test]
    fn group_records_round_trip() {
        assert_eq!(decode_key(&group_key("grp")).expect("test value"), Some(Key::Group { group: "grp".into() }));
        let v = GroupValue {
            protocol_type: "consumer".into(),
            generation: 5,
            protocol: Some("range".into()),
            leader: Some("m1".into()),
            current_state_timestamp: 123,
            members: vec![MemberValue {
                member_id: "m1".into(),
                group_instance_id: Some("i1".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout: 300_000,
                session_timeout: 45_000,
                subscription: Bytes::from_static(b"sub"),
                assignment: Bytes::from_static(b"asg"),
            }],
        };
        assert_eq!(decode_group_value(&group_value(&v)).expect("test value"), v);
    }

    #[test]
    fn known_layout_of_an_offset_key() {
        // version 1, "g", "t", partition 2
        assert_eq!(&offset_key("g", "t", 2)[..], &[0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 2]);
    }

    #[test]
    fn truncated_and_hostile_input_is_an_error() {
        let v = group_value(&GroupValue { protocol_type: "consumer".into(), ..Default::default() });
        for cut in 0..v.len() {
            assert!(decode_group_value(&v[..cut]).is_err(), "cut at {cut}");
        }
        let mut hostile = BytesMut::new();
        hostile.put_i16(3);
        put_str(&mut hostile, "consumer");
        hostile.put_i32(1);
        hostile.put_i16(-1);
        hostile.put_i16(-1);
        hostile.put_i64(0);
        hostile.put_i32(i32::MAX);
        assert!(decode_group_value(&hostile).is_err());
        assert!(decode_offset_value(&[0, 3, 1]).is_err());
        assert!(decode_key(&[]).is_err());
        assert_eq!(decode_key(&[0, 9]).expect("test value"), None);
    }

    #[test]
    fn partition_matches_java_string_hash() {
        // Values of Java's String.hashCode, checked with jshell.
        assert_eq!(partition_for("test-group", 50), 627_841_412 % 50);
        assert_eq!(partition_for("my-group", 50), 1_906_497_762 % 50);
        assert_eq!(partition_for("", 50), 0);
        // "polygenelubricants".hashCode() == Integer.MIN_VALUE → 0
        assert_eq!(partition_for("polygenelubricants", 50), 0);
        for g in ["a", "my-group", "console-consumer-12345"] {
            assert!((0..50).contains(&partition_for(g, 50)));
        }
    }
}
