//! A minimal raw Kafka client for protocol-level tests: encodes one request
//! with the `kafka-protocol` crate, sends it with its length prefix and reads
//! one response frame.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

pub struct Wire {
    pub stream: TcpStream,
    correlation: i32,
}

impl Wire {
    pub fn connect(addr: SocketAddr) -> Wire {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        Wire { stream, correlation: 1 }
    }

    /// Connects once `topic` (auto-created by the asking) has a leader for its
    /// first partition, asking Metadata v9 every 100 ms for at most 60 s.
    pub fn connect_when_led(addr: SocketAddr, topic: &str) -> Wire {
        use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
        use kafka_protocol::messages::{MetadataRequest, MetadataResponse, TopicName};
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let mut w = Wire::connect(addr);
            let req = MetadataRequest::default()
                .with_topics(Some(vec![MetadataRequestTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_string(topic.to_string()))))]));
            let md: MetadataResponse = w.call(ApiKey::Metadata, 9, &req);
            let led = md
                .topics
                .first()
                .is_some_and(|t| t.error_code == 0 && t.partitions.first().is_some_and(|p| p.leader_id.0 >= 0));
            if led {
                return w;
            }
            assert!(std::time::Instant::now() < deadline, "topic {topic} has no leader: {md:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends raw bytes (already framed or not — the caller decides).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Reads one length-prefixed frame; None on EOF/reset.
    pub fn read_frame(&mut self) -> Option<Bytes> {
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).ok()?;
        let n = i32::from_be_bytes(size) as usize;
        let mut buf = vec![0u8; n];
        self.stream.read_exact(&mut buf).ok()?;
        Some(Bytes::from(buf))
    }

    /// Whether the server closed the connection: end of file or a reset
    /// within the read timeout. A timeout with the connection still open is
    /// not a close (and a byte that arrives is not one either).
    pub fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        match self.stream.read(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
        }
    }

    /// Sends `req` as `api` v`version` without reading an answer (acks=0).
    pub fn send<Req: Encodable>(&mut self, api: ApiKey, version: i16, req: &Req) {
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("gregor-tests")));
        let mut body = BytesMut::new();
        header.encode(&mut body, api.request_header_version(version)).expect("encode header");
        req.encode(&mut body, version).expect("encode body");
        let mut framed = BytesMut::new();
        framed.extend_from_slice(&(body.len() as i32).to_be_bytes());
        framed.extend_from_slice(&body);
        self.send_raw(&framed);
    }

    /// Sends `req` as `api` v`version` and decodes the response body.
    pub fn call<Req: Encodable, Resp: Decodable>(&mut self, api: ApiKey, version: i16, req: &Req) -> Resp {
        self.send(api, version, req);
        let mut resp = self.read_frame().expect("response frame");
        let hv = if api == ApiKey::ApiVersions { 0 } else { api.response_header_version(version) };
        let rh = ResponseHeader::decode(&mut resp, hv).expect("response header");
        assert_eq!(rh.correlation_id, self.correlation, "correlation id");
        let out = Resp::decode(&mut resp, version).expect("decode response");
        assert_eq!(resp.remaining(), 0, "response fully consumed");
        out
    }
}

/// A record batch v2 of `values` (no keys, timestamps now) from producer
/// `producer_id` at `epoch`, first sequence `seq`; `transactional` sets
/// attributes bit 4. Built by the crate's test encoder, then patched.
pub fn producer_batch(producer_id: i64, epoch: i16, seq: i32, values: &[&[u8]], transactional: bool) -> Bytes {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    let records: Vec<gregor::protocol::batch::TestRecord<'_>> = values.iter().map(|v| (None, Some(*v), now)).collect();
    let mut b = gregor::protocol::batch::build_batch(0, &records);
    if transactional {
        b[21..23].copy_from_slice(&0x10i16.to_be_bytes());
    }
    b[43..51].copy_from_slice(&producer_id.to_be_bytes());
    b[51..53].copy_from_slice(&epoch.to_be_bytes());
    b[53..57].copy_from_slice(&seq.to_be_bytes());
    let crc = crc32c::crc32c(&b[gregor::protocol::batch::CRC_START..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(b)
}
