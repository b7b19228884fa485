//! Serdes: how keys and values become bytes on a topic and back.
//!
//! Nullability lives in the type, not in the serde: a topic whose records
//! may have no key is read as `Option<K>` with [`Serdes::nullable`]; a plain
//! [`Serdes::string`] refuses a null (a deserialization error, handled by the
//! application's `default.deserialization.exception.handler`). Kafka's own
//! encodings are kept so other clients read what we write: strings as UTF-8,
//! longs and ints as big-endian two's complement.

use std::marker::PhantomData;
use std::sync::Arc;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why bytes could not become a value, or a value bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SerdeError(pub String);

/// A serializer and deserializer for one type.
pub trait Serde<T>: Send + Sync + 'static {
    /// `None` writes a null (only nullable serdes produce one).
    fn serialize(&self, topic: &str, value: &T) -> Result<Option<Bytes>, SerdeError>;
    /// `data` is `None` for a null key or value.
    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<T, SerdeError>;
}

/// A shareable serde.
pub type SerdeRef<T> = Arc<dyn Serde<T>>;

/// Constructors for the built-in serdes.
pub struct Serdes;

impl Serdes {
    /// UTF-8 strings (Kafka's StringSerde).
    pub fn string() -> SerdeRef<String> {
        Arc::new(StringSerde)
    }
    /// Raw bytes (Kafka's ByteArraySerde / BytesSerde).
    pub fn bytes() -> SerdeRef<Bytes> {
        Arc::new(BytesSerde)
    }
    /// 8-byte big-endian i64 (Kafka's LongSerde).
    pub fn long() -> SerdeRef<i64> {
        Arc::new(LongSerde)
    }
    /// 4-byte big-endian i32 (Kafka's IntegerSerde).
    pub fn int() -> SerdeRef<i32> {
        Arc::new(IntSerde)
    }
    /// 8-byte big-endian IEEE double (Kafka's DoubleSerde).
    pub fn double() -> SerdeRef<f64> {
        Arc::new(DoubleSerde)
    }
    /// JSON through serde (UTF-8 JSON text).
    pub fn json<T: Serialize + DeserializeOwned + Send + Sync + 'static>() -> SerdeRef<T> {
        Arc::new(JsonSerde(PhantomData))
    }
    /// Null maps to `None`, anything else to `Some` through `inner`.
    pub fn nullable<T: Send + Sync + 'static>(inner: SerdeRef<T>) -> SerdeRef<Option<T>> {
        Arc::new(Nullable(inner))
    }
    /// Always null; for keys a topic never has (Kafka's VoidSerde).
    pub fn void() -> SerdeRef<()> {
        Arc::new(VoidSerde)
    }
}

fn present<'a>(data: Option<&'a [u8]>, what: &str) -> Result<&'a [u8], SerdeError> {
    data.ok_or_else(|| SerdeError(format!("{what}: null data (use a nullable serde for optional keys or values)")))
}

fn fixed<const N: usize>(data: Option<&[u8]>, what: &str) -> Result<[u8; N], SerdeError> {
    let d = present(data, what)?;
    d.try_into().map_err(|_| SerdeError(format!("Size of data received by {what} is not {N} (got {} bytes)", d.len())))
}

struct StringSerde;
impl Serde<String> for StringSerde {
    fn serialize(&self, _topic: &str, value: &String) -> Result<Option<Bytes>, SerdeError> {
        Ok(Some(Bytes::copy_from_slice(value.as_bytes())))
    }
    fn deserialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<String, SerdeError> {
        let d = present(data, "StringDeserializer")?;
        String::from_utf8(d.to_vec()).map_err(|e| SerdeError(format!("StringDeserializer: invalid UTF-8: {e}")))
    }
}

struct BytesSerde;
impl Serde<Bytes> for BytesSerde {
    fn serialize(&self, _topic: &str, value: &Bytes) -> Result<Option<Bytes>, SerdeError> {
        Ok(Some(value.clone()))
    }
    fn deserialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<Bytes, SerdeError> {
        Ok(Bytes::copy_from_slice(present(data, "BytesDeserializer")?))
    }
}

struct LongSerde;
impl Serde<i64> for LongSerde {
    fn serialize(&self, _topic: &str, value: &i64) -> Result<Option<Bytes>, SerdeError> {
        Ok(Some(Bytes::copy_from_slice(&value.to_be_bytes())))
    }
    fn deserialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<i64, SerdeError> {
        Ok(i64::from_be_bytes(fixed::<8>(data, "LongDeserializer")?))
    }
}

struct IntSerde;
impl Serde<i32> for IntSerde {
    fn serialize(&self, _topic: &str, value: &i32) -> Result<Option<Bytes>, SerdeError> {
        Ok(Some(Bytes::copy_from_slice(&value.to_be_bytes())))
    }
    fn deserialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<i32, SerdeError> {
        Ok(i32::from_be_bytes(fixed::<4>(data, "IntegerDeserializer")?))
    }
}

struct DoubleSerde;
impl Serde<f64> for DoubleSerde {
    fn serialize(&self, _topic: &str, value: &f64) -> Result<Option<Bytes>, SerdeError> {
        Ok(Some(Bytes::copy_from_slice(&value.to_be_bytes())))
    }
    fn deserialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<f64, SerdeError> {
        Ok(f64::from_be_bytes(fixed::<8>(data, "DoubleDeserializer")?))
    }
}

struct VoidSerde;
impl Serde<()> for VoidSerde {
    fn serialize(&self, _topic: &str, _value: &()) -> Result<Option<Bytes>, SerdeError> {
        Ok(None)
    }
    fn deserialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<(), SerdeError> {
        match data {
            None => Ok(()),
            Some(_) => Err(SerdeError("VoidDeserializer: data should be null".into())),
        }
    }
}

struct JsonSerde<T>(PhantomData<fn() -> T>);
impl<T: Serialize + DeserializeOwned + Send + Sync + 'static> Serde<T> for JsonSerde<T> {
    fn serialize(&self, _topic: &str, value: &T) -> Result<Option<Bytes>, SerdeError> {
        serde_json::to_vec(value).map(|v| Some(Bytes::from(v))).map_err(|e| SerdeError(format!("JSON: {e}")))
    }
    fn deserialize(&self, _topic: &str, data: Option<&[u8]>) -> Result<T, SerdeError> {
        serde_json::from_slice(present(data, "JSON deserializer")?).map_err(|e| SerdeError(format!("JSON: {e}")))
    }
}

struct Nullable<T>(SerdeRef<T>);
impl<T: Send + Sync + 'static> Serde<Option<T>> for Nullable<T> {
    fn serialize(&self, topic: &str, value: &Option<T>) -> Result<Option<Bytes>, SerdeError> {
        match value {
            None => Ok(None),
            Some(v) => self.0.serialize(topic, v),
        }
    }
    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<Option<T>, SerdeError> {
        match data {
            None => Ok(None),
            Some(d) => self.0.deserialize(topic, Some(d)).map(Some),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn kafka_encodings_round_trip() {
        let long = Serdes::long();
        let b = long.serialize("t", &3).unwrap().unwrap();
        assert_eq!(&b[..], &[0, 0, 0, 0, 0, 0, 0, 3]);
        assert_eq!(long.deserialize("t", Some(&b)).unwrap(), 3);
        assert_eq!(
            long.deserialize("t", Some(&[1, 2])).unwrap_err().0,
            "Size of data received by LongDeserializer is not 8 (got 2 bytes)"
        );
        let int = Serdes::int();
        assert_eq!(&int.serialize("t", &-2).unwrap().unwrap()[..], &[0xff, 0xff, 0xff, 0xfe]);
        let s = Serdes::string();
        assert!(s.deserialize("t", None).is_err());
        let ns = Serdes::nullable(Serdes::string());
        assert_eq!(ns.deserialize("t", None).unwrap(), None);
        assert_eq!(ns.deserialize("t", Some(b"kafka")).unwrap(), Some("kafka".to_string()));
        assert_eq!(ns.serialize("t", &None).unwrap(), None);
        let j = Serdes::json::<Vec<u32>>();
        assert_eq!(j.deserialize("t", Some(b"[1,2]")).unwrap(), vec![1, 2]);
        assert!(j.deserialize("t", Some(b"{")).is_err());
    }
}
