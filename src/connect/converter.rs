//! Converters: Connect data ⇄ the bytes of a record key or value, chosen by
//! Kafka's class names (`key.converter`, `value.converter`, with
//! `key.converter.`/`value.converter.` prefixed settings).
//!
//! `JsonConverter` writes what Kafka's writes, byte for byte: with
//! `schemas.enable=true` (the default) the envelope
//! `{"schema":{"type":"string","optional":false},"payload":"foo"}` with the
//! schema's keys in Kafka's order (type, fields/items/keys/values, optional,
//! name, version; a struct field's own keys then `field`), bytes as base64;
//! with `schemas.enable=false` the payload alone. JSON is written by hand
//! rather than through a map so that order is Kafka's.

use bytes::Bytes;
use serde_json::Value;

use super::data::{Data, Schema, SchemaType};
use super::{Config, ConnectError, Result};

/// Turns Connect data into record bytes and back.
pub trait Converter: Send + Sync {
    fn to_bytes(&self, topic: &str, schema: Option<&Schema>, value: &Data) -> Result<Option<Bytes>>;
    fn to_connect(&self, topic: &str, bytes: Option<&[u8]>) -> Result<(Option<Schema>, Data)>;
}

/// The converter for `which` ("key" or "value"): the connector's
/// `<which>.converter` if set, else the worker's; its settings are the
/// `<which>.converter.` prefixed keys of the same config.
pub fn from_configs(worker: &Config, connector: &Config, which: &str) -> Result<Box<dyn Converter>> {
    let key = format!("{which}.converter");
    let source = if connector.contains_key(&key) { connector } else { worker };
    let class = source.get(&key).ok_or_else(|| {
        ConnectError::Config(format!("Missing required configuration \"{key}\" which has no default value."))
    })?;
    let prefix = format!("{key}.");
    let settings: Config =
        source.iter().filter_map(|(k, v)| k.strip_prefix(&prefix).map(|k| (k.to_string(), v.clone()))).collect();
    by_class(class, &settings).map_err(|e| match e {
        ConnectError::Config(m) => ConnectError::Config(format!("Invalid value {class} for configuration {key}: {m}")),
        other => other,
    })
}

/// A converter by Kafka's class name (the simple name also works).
pub fn by_class(class: &str, settings: &Config) -> Result<Box<dyn Converter>> {
    let simple = class.trim().rsplit('.').next().unwrap_or(class);
    match simple {
        "StringConverter" => Ok(Box::new(StringConverter)),
        "ByteArrayConverter" => Ok(Box::new(ByteArrayConverter)),
        "JsonConverter" => {
            let schemas = match settings.get("schemas.enable").map(|s| s.trim().to_ascii_lowercase()) {
                None => true,
                Some(v) if v == "true" => true,
                Some(v) if v == "false" => false,
                Some(v) => {
                    return Err(ConnectError::Config(format!(
                        "Invalid value {v} for configuration schemas.enable: Expected value to be either true or false"
                    )))
                }
            };
            Ok(Box::new(JsonConverter { schemas_enable: schemas }))
        }
        _ => Err(ConnectError::Config(format!("Class {class} could not be found."))),
    }
}

/// `org.apache.kafka.connect.storage.StringConverter`: UTF-8 text.
pub struct StringConverter;

impl Converter for StringConverter {
    fn to_bytes(&self, _topic: &str, _schema: Option<&Schema>, value: &Data) -> Result<Option<Bytes>> {
        Ok(match value {
            Data::Null => None,
            v => Some(Bytes::from(v.to_string())),
        })
    }
    fn to_connect(&self, _topic: &str, bytes: Option<&[u8]>) -> Result<(Option<Schema>, Data)> {
        let value = match bytes {
            None => Data::Null,
            Some(b) => Data::String(String::from_utf8_lossy(b).into_owned()),
        };
        Ok((Some(Schema::optional_string()), value))
    }
}

/// `org.apache.kafka.connect.converters.ByteArrayConverter`: bytes as they are.
pub struct ByteArrayConverter;

impl Converter for ByteArrayConverter {
    fn to_bytes(&self, _topic: &str, _schema: Option<&Schema>, value: &Data) -> Result<Option<Bytes>> {
        match value {
            Data::Null => Ok(None),
            Data::Bytes(b) => Ok(Some(b.clone())),
            other => Err(ConnectError::Converter(format!(
                "ByteArrayConverter is not compatible with objects of type {}",
                type_name(other)
            ))),
        }
    }
    fn to_connect(&self, _topic: &str, bytes: Option<&[u8]>) -> Result<(Option<Schema>, Data)> {
        let value = bytes.map_or(Data::Null, |b| Data::Bytes(Bytes::copy_from_slice(b)));
        Ok((Some(Schema::of(SchemaType::Bytes, true)), value))
    }
}

fn type_name(d: &Data) -> &'static str {
    match d {
        Data::Null => "null",
        Data::Boolean(_) => "class java.lang.Boolean",
        Data::Int(_) => "class java.lang.Long",
        Data::Float(_) => "class java.lang.Double",
        Data::String(_) => "class java.lang.String",
        Data::Bytes(_) => "class [B",
        Data::Array(_) => "class java.util.ArrayList",
        Data::Map(_) => "class java.util.HashMap",
        Data::Struct(_) => "class org.apache.kafka.connect.data.Struct",
    }
}

/// `org.apache.kafka.connect.json.JsonConverter`.
pub struct JsonConverter {
    pub schemas_enable: bool,
}

const ENVELOPE_ERROR: &str = "JsonConverter with schemas.enable requires \"schema\" and \"payload\" fields and may \
not contain additional fields. If you are trying to deserialize plain JSON data, set schemas.enable=false in your \
converter configuration.";

impl Converter for JsonConverter {
    fn to_bytes(&self, _topic: &str, schema: Option<&Schema>, value: &Data) -> Result<Option<Bytes>> {
        if schema.is_none() && value.is_null() {
            return Ok(None);
        }
        let mut out = String::new();
        if self.schemas_enable {
            out.push_str("{\"schema\":");
            match schema {
                Some(s) => write_schema(&mut out, s, None),
                None => out.push_str("null"),
            }
            out.push_str(",\"payload\":");
            write_value(&mut out, value);
            out.push('}');
        } else {
            write_value(&mut out, value);
        }
        Ok(Some(Bytes::from(out)))
    }

    fn to_connect(&self, _topic: &str, bytes: Option<&[u8]>) -> Result<(Option<Schema>, Data)> {
        let Some(bytes) = bytes else { return Ok((None, Data::Null)) };
        let json: Value = serde_json::from_slice(bytes).map_err(|e| {
            ConnectError::Converter(format!(
                "Converting byte[] to Kafka Connect data failed due to serialization error: {e}"
            ))
        })?;
        if !self.schemas_enable {
            return Ok((None, infer(&json)));
        }
        let Value::Object(obj) = &json else { return Err(ConnectError::Converter(ENVELOPE_ERROR.into())) };
        if obj.len() != 2 || !obj.contains_key("schema") || !obj.contains_key("payload") {
            return Err(ConnectError::Converter(ENVELOPE_ERROR.into()));
        }
        let schema = match &obj["schema"] {
            Value::Null => None,
            s => Some(parse_schema(s)?),
        };
        let value = match &schema {
            Some(s) => typed(s, &obj["payload"])?,
            None => infer(&obj["payload"]),
        };
        Ok((schema, value))
    }
}

fn push_json_string(out: &mut String, s: &str) {
    // serde_json escapes exactly as JSON requires; a String never fails.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string()));
}

/// Kafka's `asJsonSchema` key order; `field` (a struct field's name) last.
fn write_schema(out: &mut String, s: &Schema, field: Option<&str>) {
    out.push_str("{\"type\":\"");
    out.push_str(s.kind.name());
    out.push('"');
    match s.kind {
        SchemaType::Struct => {
            out.push_str(",\"fields\":[");
            for (i, (name, fs)) in s.fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_schema(out, fs, Some(name));
            }
            out.push(']');
        }
        SchemaType::Array => {
            if let Some(items) = &s.items {
                out.push_str(",\"items\":");
                write_schema(out, items, None);
            }
        }
        SchemaType::Map => {
            if let Some(keys) = &s.keys {
                out.push_str(",\"keys\":");
                write_schema(out, keys, None);
            }
            if let Some(values) = &s.items {
                out.push_str(",\"values\":");
                write_schema(out, values, None);
            }
        }
        _ => {}
    }
    out.push_str(",\"optional\":");
    out.push_str(if s.optional { "true" } else { "false" });
    if let Some(name) = &s.name {
        out.push_str(",\"name\":");
        push_json_string(out, name);
    }
    if let Some(v) = s.version {
        out.push_str(&format!(",\"version\":{v}"));
    }
    if let Some(f) = field {
        out.push_str(",\"field\":");
        push_json_string(out, f);
    }
    out.push('}');
}

fn write_value(out: &mut String, v: &Data) {
    match v {
        Data::Null => out.push_str("null"),
        Data::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Data::Int(i) => out.push_str(&i.to_string()),
        Data::Float(x) => out.push_str(&serde_json::Number::from_f64(*x).map_or("null".to_string(), |n| n.to_string())),
        Data::String(s) => push_json_string(out, s),
        Data::Bytes(b) => push_json_string(out, &base64_encode(b)),
        Data::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Data::Map(entries) => {
            // Kafka writes string-keyed maps as objects, others as [[k,v],…].
            if entries.iter().all(|(k, _)| matches!(k, Data::String(_))) {
                out.push('{');
                for (i, (k, val)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    push_json_string(out, &k.to_string());
                    out.push(':');
                    write_value(out, val);
                }
                out.push('}');
            } else {
                out.push('[');
                for (i, (k, val)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('[');
                    write_value(out, k);
                    out.push(',');
                    write_value(out, val);
                    out.push(']');
                }
                out.push(']');
            }
        }
        Data::Struct(fields) => {
            out.push('{');
            for (i, (n, val)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_json_string(out, n);
                out.push(':');
                write_value(out, val);
            }
            out.push('}');
        }
    }
}

fn parse_schema(v: &Value) -> Result<Schema> {
    let bad = |m: &str| ConnectError::Converter(format!("Unknown schema: {m}"));
    let kind = v.get("type").and_then(Value::as_str).ok_or_else(|| bad("schema must contain 'type' field"))?;
    let kind = SchemaType::parse(kind).ok_or_else(|| bad(&format!("Unknown schema type: {kind}")))?;
    let mut s = Schema::of(kind, v.get("optional").and_then(Value::as_bool).unwrap_or(false));
    s.name = v.get("name").and_then(Value::as_str).map(str::to_string);
    s.version = v.get("version").and_then(Value::as_i64).and_then(|x| i32::try_from(x).ok());
    match kind {
        SchemaType::Struct => {
            let fields = v
                .get("fields")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("struct schema's \"fields\" is not an array"))?;
            for f in fields {
                let name = f
                    .get("field")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("struct schema's field name not specified properly"))?;
                s.fields.push((name.to_string(), parse_schema(f)?));
            }
        }
        SchemaType::Array => {
            let items = v.get("items").ok_or_else(|| bad("array schema did not specify the items type"))?;
            s.items = Some(Box::new(parse_schema(items)?));
        }
        SchemaType::Map => {
            let keys = v.get("keys").ok_or_else(|| bad("map schema did not specify the key type"))?;
            let values = v.get("values").ok_or_else(|| bad("map schema did not specify the value type"))?;
            s.keys = Some(Box::new(parse_schema(keys)?));
            s.items = Some(Box::new(parse_schema(values)?));
        }
        _ => {}
    }
    Ok(s)
}

/// The payload read by its schema.
fn typed(s: &Schema, v: &Value) -> Result<Data> {
    let wrong = || ConnectError::Converter(format!("Invalid type for {}: {v}", s.kind.name().to_uppercase()));
    if v.is_null() {
        return if s.optional {
            Ok(Data::Null)
        } else {
            Err(ConnectError::Converter(format!(
                "Invalid null value for required {} field",
                s.kind.name().to_uppercase()
            )))
        };
    }
    Ok(match s.kind {
        SchemaType::Int8 | SchemaType::Int16 | SchemaType::Int32 | SchemaType::Int64 => {
            Data::Int(v.as_i64().ok_or_else(wrong)?)
        }
        SchemaType::Float32 | SchemaType::Float64 => Data::Float(v.as_f64().ok_or_else(wrong)?),
        SchemaType::Boolean => Data::Boolean(v.as_bool().ok_or_else(wrong)?),
        SchemaType::String => Data::String(v.as_str().ok_or_else(wrong)?.to_string()),
        SchemaType::Bytes => Data::Bytes(Bytes::from(base64_decode(v.as_str().ok_or_else(wrong)?).ok_or_else(wrong)?)),
        SchemaType::Array => {
            let items = s.items.as_deref().ok_or_else(wrong)?;
            Data::Array(v.as_array().ok_or_else(wrong)?.iter().map(|x| typed(items, x)).collect::<Result<_>>()?)
        }
        SchemaType::Map => {
            let (ks, vs) = (s.keys.as_deref().ok_or_else(wrong)?, s.items.as_deref().ok_or_else(wrong)?);
            match v {
                Value::Object(o) => Data::Map(
                    o.iter().map(|(k, x)| Ok((Data::String(k.clone()), typed(vs, x)?))).collect::<Result<_>>()?,
                ),
                Value::Array(pairs) => Data::Map(
                    pairs
                        .iter()
                        .map(|p| match p.as_array().map(Vec::as_slice) {
                            Some([k, x]) => Ok((typed(ks, k)?, typed(vs, x)?)),
                            _ => Err(wrong()),
                        })
                        .collect::<Result<_>>()?,
                ),
                _ => return Err(wrong()),
            }
        }
        SchemaType::Struct => {
            let o = v.as_object().ok_or_else(wrong)?;
            Data::Struct(
                s.fields
                    .iter()
                    .map(|(n, fs)| Ok((n.clone(), typed(fs, o.get(n).unwrap_or(&Value::Null))?)))
                    .collect::<Result<_>>()?,
            )
        }
    })
}

/// Schemaless JSON as Kafka reads it: objects become string-keyed maps.
fn infer(v: &Value) -> Data {
    match v {
        Value::Null => Data::Null,
        Value::Bool(b) => Data::Boolean(*b),
        Value::Number(n) => n.as_i64().map(Data::Int).unwrap_or_else(|| Data::Float(n.as_f64().unwrap_or(0.0))),
        Value::String(s) => Data::String(s.clone()),
        Value::Array(a) => Data::Array(a.iter().map(infer).collect()),
        Value::Object(o) => Data::Map(o.iter().map(|(k, x)| (Data::String(k.clone()), infer(x))).collect()),
    }
}

/// Bytes in JSON: standard base64, as Java's `Base64` writes it (padded)
/// and reads it (padding optional).
const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

fn base64_encode(data: &[u8]) -> String {
    use base64::Engine;
    BASE64.encode(data)
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    BASE64.decode(s).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn json_envelope_is_kafkas_byte_for_byte() {
        let c = JsonConverter { schemas_enable: true };
        let b = c.to_bytes("t", Some(&Schema::string()), &Data::String("foo".into())).unwrap().unwrap();
        assert_eq!(&b[..], br#"{"schema":{"type":"string","optional":false},"payload":"foo"}"#);
        let (s, v) = c.to_connect("t", Some(&b)).unwrap();
        assert_eq!((s.unwrap(), v), (Schema::string(), Data::String("foo".into())));
        let row = Schema::structure(
            Some("row"),
            vec![("id".into(), Schema::of(SchemaType::Int32, false)), ("name".into(), Schema::optional_string())],
            false,
        );
        let value = Data::Struct(vec![("id".into(), Data::Int(1)), ("name".into(), Data::Null)]);
        let b = c.to_bytes("t", Some(&row), &value).unwrap().unwrap();
        assert_eq!(
            std::str::from_utf8(&b).unwrap(),
            r#"{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"string","optional":true,"field":"name"}],"optional":false,"name":"row"},"payload":{"id":1,"name":null}}"#
        );
        assert_eq!(c.to_connect("t", Some(&b)).unwrap(), (Some(row), value));
        assert!(c.to_connect("t", Some(b"{\"a\":1}")).unwrap_err().to_string().contains("schemas.enable=false"));
        assert_eq!(c.to_bytes("t", None, &Data::Null).unwrap(), None);
        let plain = JsonConverter { schemas_enable: false };
        assert_eq!(
            &plain.to_bytes("t", Some(&Schema::string()), &Data::String("x".into())).unwrap().unwrap()[..],
            b"\"x\""
        );
        assert_eq!(plain.to_connect("t", Some(b"7")).unwrap(), (None, Data::Int(7)));
        let bytes = c
            .to_bytes("t", Some(&Schema::of(SchemaType::Bytes, false)), &Data::Bytes(Bytes::from_static(b"hi!?")))
            .unwrap()
            .unwrap();
        assert_eq!(&bytes[..], br#"{"schema":{"type":"bytes","optional":false},"payload":"aGkhPw=="}"#);
        assert_eq!(c.to_connect("t", Some(&bytes)).unwrap().1, Data::Bytes(Bytes::from_static(b"hi!?")));
    }

    #[test]
    fn converters_by_kafkas_class_names() {
        let mut worker = Config::new();
        worker.insert("value.converter".into(), "org.apache.kafka.connect.storage.StringConverter".into());
        worker.insert("key.converter".into(), "org.apache.kafka.connect.json.JsonConverter".into());
        worker.insert("key.converter.schemas.enable".into(), "maybe".into());
        let v = from_configs(&worker, &Config::new(), "value").unwrap();
        assert_eq!(v.to_connect("t", Some(b"abc")).unwrap().1, Data::String("abc".into()));
        let err = from_configs(&worker, &Config::new(), "key").err().unwrap().to_string();
        assert!(err.contains("schemas.enable"), "{err}");
        let mut conn = Config::new();
        conn.insert("key.converter".into(), "com.example.Nope".into());
        assert!(from_configs(&worker, &conn, "key").err().unwrap().to_string().contains("com.example.Nope"));
        assert!(from_configs(&Config::new(), &Config::new(), "key").is_err());
        let b = ByteArrayConverter;
        assert!(b.to_bytes("t", None, &Data::String("x".into())).is_err());
    }
}
