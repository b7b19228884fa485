//! Request and response framing: a big-endian `i32` length prefix followed by
//! the payload. Sizes are checked before anything is allocated, and a frame
//! that is merely incomplete is told apart from one that is malformed.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseKind};
use kafka_protocol::protocol::Decodable;

use super::probe;

/// Why a frame could not be turned into a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The length prefix announces more than `socket.request.max.bytes`.
    #[error("frame of {size} bytes exceeds the limit of {max} bytes (socket.request.max.bytes)")]
    TooLarge { size: i64, max: usize },
    /// The length prefix is negative or too small to hold a request header.
    #[error("invalid frame size {0}")]
    InvalidSize(i32),
    /// The API key is not one this broker knows.
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    /// The API is known but the version is not one we serve.
    #[error("unsupported version {version} of {api:?}")]
    UnsupportedVersion { api: ApiKey, version: i16 },
    /// The bytes do not decode as the announced request.
    #[error("malformed {api:?} v{version} request: {reason}")]
    Malformed { api: ApiKey, version: i16, reason: String },
    /// Encoding a response failed (a bug or an unencodable field for this version).
    #[error("cannot encode {api:?} v{version} response: {reason}")]
    Encode { api: ApiKey, version: i16, reason: String },
}

/// The smallest request frame: api key, version and correlation id.
pub const MIN_REQUEST_FRAME: usize = 8;

/// Checks a 4-byte length prefix against the frame size bounds: `min` is
/// [`MIN_REQUEST_FRAME`] for requests, smaller where the connection expects
/// raw bytes without a request header (SASL tokens after a v0 handshake).
pub fn frame_size(prefix: [u8; 4], min: usize, max: usize) -> Result<usize, FrameError> {
    let size = i32::from_be_bytes(prefix);
    let size_usize = usize::try_from(size).map_err(|_| FrameError::InvalidSize(size))?;
    if size_usize < min {
        return Err(FrameError::InvalidSize(size));
    }
    if size_usize > max {
        return Err(FrameError::TooLarge { size: i64::from(size), max });
    }
    Ok(size_usize)
}

/// The fixed start of every request header: enough to route and to answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderPeek {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
}

/// Reads api key, version and correlation id without decoding anything else.
pub fn peek_header(payload: &[u8]) -> Result<HeaderPeek, FrameError> {
    if payload.len() < 8 {
        return Err(FrameError::InvalidSize(payload.len() as i32));
    }
    Ok(HeaderPeek {
        api_key: i16::from_be_bytes([payload[0], payload[1]]),
        api_version: i16::from_be_bytes([payload[2], payload[3]]),
        correlation_id: i32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]),
    })
}

/// Where a request header v1's client id ends (its INT16 length follows the first
/// 8 bytes; a null id, -1, is empty): the offset of the request body in header v1.
/// `None` when the payload is too short to say.
pub fn header_v1_client_id_end(payload: &[u8]) -> Option<usize> {
    let len = payload.get(8..10).map(|b| i16::from_be_bytes([b[0], b[1]]))?;
    Some(10 + usize::try_from(len).unwrap_or(0))
}

/// A decoded request with its header.
#[derive(Debug)]
pub struct RequestFrame {
    pub api: ApiKey,
    pub version: i16,
    pub header: RequestHeader,
    pub body: RequestKind,
}

/// Decodes a whole request payload (without the length prefix).
pub fn decode_request(payload: Bytes) -> Result<RequestFrame, FrameError> {
    let peek = peek_header(&payload)?;
    let api = ApiKey::try_from(peek.api_key).map_err(|_| FrameError::UnknownApiKey(peek.api_key))?;
    let version = peek.api_version;
    let range = api.valid_versions();
    if version < range.min || version > range.max {
        return Err(FrameError::UnsupportedVersion { api, version });
    }
    let malformed = |reason: String| FrameError::Malformed { api, version, reason };
    let header_version = api.request_header_version(version);
    probe::check(api, &payload, header_version, version).map_err(malformed)?;
    let mut buf = payload;
    let header = RequestHeader::decode(&mut buf, header_version).map_err(|e| malformed(e.to_string()))?;
    let body = RequestKind::decode(api, &mut buf, version).map_err(|e| malformed(e.to_string()))?;
    Ok(RequestFrame { api, version, header, body })
}

/// Encodes a response with its header and length prefix.
pub fn encode_response(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> Result<Bytes, FrameError> {
    let mut out = BytesMut::with_capacity(256);
    out.put_i32(0); // size, patched below
    out.put_i32(correlation_id);
    // ApiVersions always answers with header v0 so that any client can read the error.
    let header_version = if api == ApiKey::ApiVersions { 0 } else { api.response_header_version(version) };
    if header_version >= 1 {
        out.put_u8(0); // empty tagged fields
    }
    body.encode(&mut out, version).map_err(|e| FrameError::Encode { api, version, reason: e.to_string() })?;
    let size = i32::try_from(out.len() - 4).map_err(|_| FrameError::Encode {
        api,
        version,
        reason: "response larger than 2 GiB".into(),
    })?;
    out[..4].copy_from_slice(&size.to_be_bytes());
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_limits() {
        assert!(matches!(frame_size(100i32.to_be_bytes(), 8, 1000), Ok(100)));
        assert!(matches!(frame_size(2000i32.to_be_bytes(), 8, 1000), Err(FrameError::TooLarge { .. })));
        assert!(matches!(frame_size((-1i32).to_be_bytes(), 8, 1000), Err(FrameError::InvalidSize(-1))));
        assert!(matches!(frame_size(3i32.to_be_bytes(), 8, 1000), Err(FrameError::InvalidSize(3))));
        assert!(matches!(frame_size(3i32.to_be_bytes(), 1, 1000), Ok(3)));
        assert!(matches!(frame_size(0i32.to_be_bytes(), 1, 1000), Err(FrameError::InvalidSize(0))));
    }

    #[test]
    fn truncated_and_garbage_requests_are_errors() {
        // Metadata v1 header then nothing: malformed, not a panic.
        let payload = Bytes::from_static(&[0, 3, 0, 1, 0, 0, 0, 7, 0, 1]);
        assert!(matches!(decode_request(payload), Err(FrameError::Malformed { .. })));
        let payload = Bytes::from_static(&[0x7f, 0x00, 0, 1, 0, 0, 0, 7]);
        assert!(matches!(decode_request(payload), Err(FrameError::UnknownApiKey(0x7f00))));
        let payload = Bytes::from_static(&[0, 0, 0, 1, 0, 0, 0, 7]);
        assert!(matches!(decode_request(payload), Err(FrameError::UnsupportedVersion { .. })));
    }
}
