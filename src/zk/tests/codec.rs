//! Codec conformance against the recorded sessions: every client frame decodes and
//! re-encodes byte for byte, every server frame too (decoded with the op of the
//! request carrying the same xid), and arbitrary bytes never make a decoder panic.

use std::collections::HashMap;
use std::sync::OnceLock;

use proptest::prelude::*;

use super::super::jute::{frame_length, Reader, Writer};
use super::super::proto::{
    decode_request, encode_request, xid, ConnectRequest, ConnectResponse, OpCode, ReplyHeader, Response,
};
use super::super::txn::TxnRecord;
use super::{load_session, Direction, Frame};

static FRAMES: OnceLock<Vec<Frame>> = OnceLock::new();

fn check_session(client: &str) -> usize {
    let frames = load_session(client);
    let mut ops_by_xid: HashMap<i32, i32> = HashMap::new();
    let mut checked = 0;
    for frame in &frames {
        let bytes = &frame.bytes;
        match (frame.direction, frame.op.as_str()) {
            (Direction::ClientToServer, "connect") => {
                let mut r = Reader::new(bytes);
                let req = ConnectRequest::decode(&mut r).unwrap_or_else(|e| panic!("{}: {e}", frame.name));
                assert!(r.is_empty(), "{}: trailing bytes", frame.name);
                let mut w = Writer::new();
                req.encode(&mut w);
                assert_eq!(w.as_slice(), &bytes[..], "{}: re-encoding differs", frame.name);
            }
            (Direction::ServerToClient, "connect") => {
                let mut r = Reader::new(bytes);
                let resp = ConnectResponse::decode(&mut r).unwrap_or_else(|e| panic!("{}: {e}", frame.name));
                assert!(r.is_empty(), "{}: trailing bytes", frame.name);
                assert_eq!(resp.passwd.len(), 16);
                let mut w = Writer::new();
                resp.encode(&mut w);
                assert_eq!(w.as_slice(), &bytes[..], "{}: re-encoding differs", frame.name);
            }
            (Direction::ClientToServer, op_name) => {
                let (header, request, used) = decode_request(bytes).unwrap_or_else(|e| panic!("{}: {e}", frame.name));
                assert_eq!(used, bytes.len(), "{}: not all bytes consumed", frame.name);
                let op = OpCode::from_code(header.op).unwrap_or_else(|| panic!("{}: unknown op", frame.name));
                assert_eq!(op.name(), op_name, "{}: op differs from the file name", frame.name);
                assert_eq!(request.op_code(), header.op, "{}", frame.name);
                assert_eq!(encode_request(header.xid, &request), *bytes, "{}: re-encoding differs", frame.name);
                ops_by_xid.insert(header.xid, header.op);
            }
            (Direction::ServerToClient, op_name) => {
                let mut r = Reader::new(bytes);
                let header = ReplyHeader::decode(&mut r).unwrap_or_else(|e| panic!("{}: {e}", frame.name));
                let op = if header.xid == xid::NOTIFICATION {
                    assert_eq!(op_name, "notification", "{}", frame.name);
                    OpCode::Notification.code()
                } else {
                    *ops_by_xid.get(&header.xid).unwrap_or_else(|| panic!("{}: reply to an unknown xid", frame.name))
                };
                let body = if header.err == 0 {
                    Response::decode(op, &mut r).unwrap_or_else(|e| panic!("{}: {e}", frame.name))
                } else {
                    Response::Empty
                };
                assert!(r.is_empty(), "{}: {} trailing bytes", frame.name, r.remaining());
                let mut w = Writer::frame();
                header.encode(&mut w);
                body.encode(&mut w);
                assert_eq!(&w.finish_frame()[4..], &bytes[..], "{}: re-encoding differs", frame.name);
            }
        }
        checked += 1;
    }
    checked
}

#[test]
fn kazoo_frames_round_trip() {
    assert_eq!(check_session("kazoo"), 100);
}

#[test]
fn zookeeper_client_frames_round_trip() {
    assert_eq!(check_session("zookeeper-client"), 113);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn request_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_request(&bytes);
        let _ = ConnectRequest::decode(&mut Reader::new(&bytes));
        let _ = frame_length(&bytes, 1 << 20);
        let _ = TxnRecord::decode(&bytes);
    }

    #[test]
    fn request_decoder_never_panics_on_typed_garbage(
        op in prop_oneof![Just(1i32), Just(2), Just(3), Just(4), Just(5), Just(7), Just(13), Just(14), Just(15),
                          Just(17), Just(18), Just(21), Just(22), Just(100), Just(101), Just(105), Just(106), any::<i32>()],
        body in proptest::collection::vec(any::<u8>(), 0..128),
    ) {
        let mut payload = 7i32.to_be_bytes().to_vec();
        payload.extend_from_slice(&op.to_be_bytes());
        payload.extend_from_slice(&body);
        let _ = decode_request(&payload);
        let _ = Response::decode(op, &mut Reader::new(&body));
    }

    #[test]
    fn mutated_fixture_frames_never_panic(index in 0usize..1000, pos in 0usize..1000, byte in any::<u8>()) {
        let frames = FRAMES.get_or_init(|| load_session("zookeeper-client"));
        let frame = &frames[index % frames.len()];
        let mut bytes = frame.bytes.clone();
        if !bytes.is_empty() {
            let p = pos % bytes.len();
            bytes[p] = byte;
        }
        let _ = decode_request(&bytes);
        let _ = ConnectRequest::decode(&mut Reader::new(&bytes));
    }
}
